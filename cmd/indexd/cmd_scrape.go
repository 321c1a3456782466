package main

import (
	"fmt"

	"indexd/node"
)

func init() {
	register(&command{name: "scrape", args: "ID|INFOHASH|MAGNET... | --file LIST",
		summary: "ask the entries' trackers for seeders and leechers (shown by search, show, Torznab and the web UI)", run: cmdScrape})
}

func cmdScrape(c *cli, args []string) error {
	fs := c.flags().withJSON()
	file := fs.String("file", "", "read items from this file ('-': stdin): the first word of each line")
	private := fs.Bool("private", false, "also ask trackers on loopback or LAN addresses (by default only public ones: tracker URLs come from whoever published the torrent)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	items, err := c.itemsFrom(*file)
	if err != nil {
		return err
	}
	if len(items) == 0 {
		return usageError("want entry ids, infohashes or magnet links (or --file LIST)")
	}
	b, closeFn, err := c.open(fs.dir())
	if err != nil {
		return err
	}
	defer closeFn()
	out, err := b.Scrape(c.ctx, node.ScrapeRequest{Items: items, Private: *private})
	if err != nil {
		return err
	}
	if fs.asJSON() {
		if out == nil {
			out = []node.Swarm{}
		}
		return writeJSON(c.stdout, out)
	}
	for _, s := range out {
		if s.Error != "" {
			fmt.Fprintf(c.stdout, "%s  unknown: %s\n", s.Infohash, printable(s.Error))
			continue
		}
		fmt.Fprintf(c.stdout, "%s  %d seeders, %d leechers, %d completed (%d trackers answered)\n", s.Infohash, s.Seeders, s.Leechers, s.Complete, s.Trackers)
	}
	return nil
}
