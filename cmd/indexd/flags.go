package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"indexd/node"
)

var (
	errHelp  = errors.New("help shown")
	errUsage = errors.New("usage")
)

// usageError is a bad invocation: exit status 2 with a one-line reason.
func usageError(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}

// flagSet wraps flag.FlagSet with the flags every command shares.
type flagSet struct {
	*flag.FlagSet
	data *string
	json *bool
}

func (c *cli) flags() *flagSet {
	fs := flag.NewFlagSet("indexd "+c.cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := &flagSet{FlagSet: fs}
	f.data = fs.String("data", "", "data directory (default $INDEXD_DATA or $XDG_DATA_HOME/indexd)")
	return f
}

// withJSON adds --json.
func (f *flagSet) withJSON() *flagSet {
	f.json = f.Bool("json", false, "print data as JSON")
	return f
}

func (f *flagSet) dir() string {
	if *f.data != "" {
		return *f.data
	}
	return node.DefaultDir()
}

func (f *flagSet) asJSON() bool { return f.json != nil && *f.json }

// parse parses flags that may come before, between or after positional
// arguments, and prints help for --help.
func (c *cli) parse(fs *flagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.help(fs)
				return errHelp
			}
			return usageError("%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			pos = append(pos, rest[1:]...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if c.cmd != nil && c.cmd.args == "" && len(pos) > 0 {
		// A command without positional arguments would ignore them
		// silently: 'indexd export music' is not 'export --index music'.
		return usageError("takes no arguments, only flags (got %q; see 'indexd %s --help')", pos[0], c.cmd.name)
	}
	c.args = pos
	return nil
}

func (c *cli) help(fs *flagSet) {
	w := c.stdout
	fmt.Fprintf(w, "Usage: indexd %s [flags] %s\n\n%s\n\nFlags:\n", c.cmd.name, c.cmd.args, c.cmd.summary)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}
