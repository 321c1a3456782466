// Command indexd is a decentralized torrent index: publish signed torrent
// entries into a merkle DAG kept in flat-tree feeds, replicate it over
// libp2p, and search it locally with bleve.
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

const usage = `indexd — a decentralized torrent index

Usage:
  indexd <command> [flags] [args]

Commands:
  version     print the version
  help        show this help

Run 'indexd <command> --help' for a command's flags.
`

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "help", "-h", "--help":
		fmt.Print(usage)
		return 0
	case "version", "--version":
		fmt.Println("indexd", version)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "indexd: unknown command %q (see 'indexd --help')\n", args[0])
		return 2
	}
}
