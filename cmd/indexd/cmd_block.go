package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"indexd/node"
)

func init() {
	register(&command{name: "block", args: "INFOHASH|MAGNET|ID... | --file LIST | --list",
		summary: "hide every entry carrying an infohash on this node (--list shows the blocklist; 'blocklist publish' shares it)", run: cmdBlock(true)})
	register(&command{name: "unblock", args: "INFOHASH|MAGNET|ID... | --file LIST",
		summary: "show a blocked infohash's entries again", run: cmdBlock(false)})
}

func cmdBlock(block bool) func(c *cli, args []string) error {
	return func(c *cli, args []string) error {
		fs := c.flags().withJSON()
		file := fs.String("file", "", "read items from this file ('-': stdin): the first word of each line; lines starting with '#' are comments")
		reason, show := new(string), new(bool)
		if block {
			reason = fs.String("reason", "", "why, kept with the new blocks")
			show = fs.Bool("list", false, "list the blocked infohashes")
		}
		if err := c.parse(fs, args); err != nil {
			return err
		}
		if *show {
			if len(c.args) > 0 || *file != "" {
				return usageError("--list takes no items")
			}
			return c.listBlocks(fs)
		}
		items, err := c.itemsFrom(*file)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return usageError("want infohashes, magnet links or entry ids (or --file LIST)")
		}
		b, closeFn, err := c.open(fs.dir())
		if err != nil {
			return err
		}
		defer closeFn()
		res, err := b.Block(c.ctx, items, *reason, block)
		if err != nil {
			return err
		}
		if fs.asJSON() {
			return writeJSON(c.stdout, res)
		}
		verb, was := "blocked", "already blocked"
		if !block {
			verb, was = "unblocked", "not blocked"
		}
		fmt.Fprintf(c.stdout, "%s %d of %d infohashes (%d %s); %d entries carry them\n",
			verb, res.Changed, len(res.Infohashes), len(res.Infohashes)-res.Changed, was, res.Entries)
		return nil
	}
}

func (c *cli) listBlocks(fs *flagSet) error {
	b, closeFn, err := c.open(fs.dir())
	if err != nil {
		return err
	}
	defer closeFn()
	bl, err := b.Blocked(c.ctx)
	if err != nil {
		return err
	}
	if fs.asJSON() {
		if bl == nil {
			bl = []node.Block{}
		}
		return writeJSON(c.stdout, bl)
	}
	if len(bl) == 0 {
		fmt.Fprintln(c.stderr, "nothing is blocked")
		return nil
	}
	for _, x := range bl {
		line := x.Infohash + "  "
		if x.Local {
			line += x.Added.Local().Format(time.DateOnly)
		} else {
			line += "list      "
		}
		if len(x.Lists) > 0 {
			line += "  by " + shortFeeds(x.Lists)
		}
		if x.Reason != "" {
			line += "  " + printable(x.Reason)
		}
		fmt.Fprintln(c.stdout, line)
	}
	return nil
}

// shortFeeds names blocklist feeds by their first 8 hex digits.
func shortFeeds(feeds []string) string {
	short := make([]string, len(feeds))
	for i, f := range feeds {
		f = strings.TrimPrefix(f, "feed:")
		if len(f) > 8 {
			f = f[:8]
		}
		short[i] = f
	}
	return strings.Join(short, ",")
}

// itemsFrom returns the positional arguments and, when file is set, the
// items of that list (readBlockList).
func (c *cli) itemsFrom(file string) ([]string, error) {
	items := c.args
	if file != "" {
		more, err := c.readBlockList(file)
		if err != nil {
			return nil, err
		}
		items = append(items, more...)
	}
	return items, nil
}

// maxBlockLine bounds one line of a block list (a long magnet link fits).
const maxBlockLine = 64 << 10

// readBlockList reads the items of a block list: the first word of each
// line, blank lines and '#' comments skipped (a list of bare infohashes, or
// of "INFOHASH name…" lines, or the output of `block --list`).
func (c *cli) readBlockList(path string) ([]string, error) {
	var r io.Reader = c.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxBlockLine)
	var items []string
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			items = append(items, f[0])
		}
		if len(items) > node.MaxBlockItems {
			return nil, fmt.Errorf("%s: more than %d items; split the list", path, node.MaxBlockItems)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return items, nil
}
