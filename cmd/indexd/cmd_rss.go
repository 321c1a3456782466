package main

import (
	"fmt"
	"time"

	"indexd/node"
)

func init() {
	register(&command{name: "rss", args: "fetch URL | add URL | list | remove URL",
		summary: "publish the torrents of an RSS or Torznab feed, once (fetch) or as it grows (add: the daemon polls it)", run: cmdRSS})
}

func cmdRSS(c *cli, args []string) error {
	fs := c.flags().withJSON()
	idx := fs.String("index", "", "fetch, add: the index to publish into (default: the default index)")
	category := fs.String("category", "", "fetch, add: category for every item (default: the item's Torznab category)")
	every := fs.String("every", "30m", "add: how often the daemon fetches the feed")
	var tags stringList
	fs.Var(&tags, "tag", "fetch, add: tag for every item (repeatable, or comma-separated)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if len(c.args) == 0 {
		return usageError("want a subcommand: fetch URL, add URL, list, remove URL")
	}
	sub, rest := c.args[0], c.args[1:]
	want := 1
	if sub == "list" {
		want = 0
	}
	if len(rest) != want {
		return usageError("rss %s wants %d argument(s)", sub, want)
	}
	switch sub {
	case "fetch", "add", "list", "remove":
	default:
		return usageError("unknown rss subcommand %q", sub)
	}
	b, closeFn, err := c.open(fs.dir())
	if err != nil {
		return err
	}
	defer closeFn()
	req := node.RSSRequest{Index: *idx, Category: *category, Tags: tags, Every: *every}
	if want == 1 {
		req.URL = rest[0]
	}
	switch sub {
	case "fetch":
		res, err := b.RSSFetch(c.ctx, req)
		if err != nil {
			return err
		}
		if fs.asJSON() {
			return writeJSON(c.stdout, res)
		}
		fmt.Fprintf(c.stdout, "%d items: %d published, %d already here, %d failed\n", res.Items, res.Published, res.Skipped, len(res.Failed))
		for _, f := range res.Failed {
			fmt.Fprintf(c.stderr, "  %s: %s\n", printable(f.Item), printable(f.Error))
		}
		return nil
	case "add":
		f, err := b.RSSAdd(c.ctx, req)
		if err != nil {
			return err
		}
		if fs.asJSON() {
			return writeJSON(c.stdout, f)
		}
		fmt.Fprintf(c.stdout, "subscribed to %s every %s (the daemon fetches it; without one, the next 'indexd serve' does)\n", f.URL, f.Every)
		return nil
	case "remove":
		if err := b.RSSRemove(c.ctx, req.URL); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "unsubscribed from %s\n", req.URL)
		return nil
	}
	feeds, err := b.RSSFeeds(c.ctx)
	if err != nil {
		return err
	}
	if fs.asJSON() {
		if feeds == nil {
			feeds = []node.RSSFeed{}
		}
		return writeJSON(c.stdout, feeds)
	}
	if len(feeds) == 0 {
		fmt.Fprintln(c.stderr, "no RSS subscriptions")
	}
	for _, f := range feeds {
		last := "never fetched"
		if !f.LastFetch.IsZero() {
			last = "fetched " + f.LastFetch.Local().Format(time.DateTime)
			if r := f.LastResult; r != nil {
				last += fmt.Sprintf(": %d items, %d published, %d failed", r.Items, r.Published, len(r.Failed))
			}
		}
		if f.LastError != "" {
			last += "; error: " + printable(f.LastError)
		}
		fmt.Fprintf(c.stdout, "%s  every %s  %s\n", f.URL, f.Every, last)
	}
	return nil
}
