// Command indexd is a decentralized torrent index: publish signed torrent
// entries into a merkle DAG kept in flat-tree feeds, replicate it over
// libp2p, and search it locally with bleve.
//
// main.go only dispatches; each command lives in a file named for it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand.
type command struct {
	name    string
	args    string // usage of positional arguments
	summary string
	run     func(c *cli, args []string) error
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// cli carries what every command needs.
type cli struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	cmd    *command
	args   []string // positional arguments after parse
}

// exitError carries a specific exit status.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func usage(w io.Writer) {
	fmt.Fprint(w, `indexd — a decentralized torrent index

Usage:
  indexd <command> [flags] [args]

Commands:
`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, `
Every command takes --data DIR (default $INDEXD_DATA, else $XDG_DATA_HOME/indexd).
Run 'indexd <command> --help' for a command's flags.
`)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "help", "-h", "--help":
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				return run(ctx, []string{c.name, "--help"}, stdin, stdout, stderr)
			}
		}
		usage(stdout)
		return 0
	case "--version":
		args[0] = "version"
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "indexd: unknown command %q (see 'indexd --help')\n", args[0])
		return 2
	}
	x := &cli{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, cmd: c}
	err := c.run(x, args[1:])
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "indexd %s: %s\n", c.name, oneLine(err.Error()))
		return 2
	default:
		fmt.Fprintf(stderr, "indexd %s: %s\n", c.name, oneLine(err.Error()))
		return 1
	}
}

// oneLine keeps error output to the one line the CLI promises. The
// node's own "node: " prefix goes, so that an error reads the same whether
// a daemon answered (its API drops it) or the CLI opened the directory.
func oneLine(s string) string {
	s = strings.TrimPrefix(strings.TrimSpace(s), "node: ")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func init() {
	register(&command{name: "version", summary: "print the version", run: func(c *cli, args []string) error {
		fs := c.flags()
		if err := c.parse(fs, args); err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, "indexd", version)
		return nil
	}})
}
