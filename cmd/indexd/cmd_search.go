package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"indexd/node"
	"indexd/search"
)

func init() {
	register(&command{name: "search", args: "QUERY", summary: "search the local index (bleve query syntax); --json prints one object per hit, then {total, facets}", run: cmdSearch})
}

func cmdSearch(c *cli, args []string) error {
	fs := c.flags().withJSON()
	var cats, tags, authors, idxs stringList
	fs.Var(&cats, "category", "category number or name; a parent matches its subcategories (repeatable)")
	fs.Var(&tags, "tag", "tag (repeatable)")
	fs.Var(&authors, "author", "author identity (repeatable)")
	fs.Var(&idxs, "index", "index key or name (repeatable; default: all)")
	sortBy := fs.String("sort", "relevance", "relevance, date or size")
	limit := fs.Int("limit", 20, "hits per page")
	offset := fs.Int("offset", 0, "hits to skip")
	follow := fs.Bool("follow", false, "after the results, keep printing new matching entries as they arrive")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	req := node.SearchRequest{
		Query: strings.Join(c.args, " "), Index: idxs, Categories: cats, Tags: tags, Authors: authors,
		Sort: *sortBy, Limit: *limit, Offset: *offset, Facets: fs.asJSON(), Highlight: !fs.asJSON(),
	}
	b, closeFn, err := c.open(fs.dir())
	if err != nil {
		return err
	}
	defer closeFn()
	var live <-chan *node.EntryView
	if *follow {
		// Subscribed before searching, so that nothing arriving in between
		// is missed; what the results show already is not printed again.
		if live, err = b.Subscribe(c.ctx, node.Watch{Query: req}); err != nil {
			return err
		}
	}
	res, err := b.Search(c.ctx, req)
	if err != nil {
		return err
	}
	if fs.asJSON() {
		enc := jsonLines(c.stdout)
		for _, h := range res.Hits {
			if err := enc.Encode(h); err != nil {
				return err
			}
		}
		// The last line carries the facets and the total: it has no "id",
		// so a reader of hits can tell it apart.
		summary := struct {
			Total  uint64 `json:"total"`
			Facets struct {
				Categories map[string]int `json:"categories"`
				Tags       map[string]int `json:"tags"`
			} `json:"facets"`
			Syncing *node.Syncing `json:"syncing,omitempty"`
		}{Total: res.Total, Syncing: res.Syncing}
		summary.Facets.Categories, summary.Facets.Tags = res.Categories, res.Tags
		if err := enc.Encode(summary); err != nil {
			return err
		}
	} else {
		for _, h := range res.Hits {
			fmt.Fprintln(c.stdout, hitLine(h))
			for _, field := range sortedKeys(h.Fragments) {
				for _, frag := range h.Fragments[field] {
					fmt.Fprintf(c.stdout, "    %s: %s\n", field, terminalHighlight(frag))
				}
			}
		}
		shown := len(res.Hits)
		fmt.Fprintf(c.stderr, "%d of %d results (%.1f ms)\n", shown, res.Total, res.TookMS)
		if s := res.Syncing; s != nil {
			fmt.Fprintf(c.stderr, "still syncing: about %d more entries on the way, so results may be incomplete\n", s.Remaining)
		}
	}
	if !*follow {
		return nil
	}
	shown := map[string]time.Time{}
	for _, h := range res.Hits {
		shown[h.ID] = h.Updated
	}
	fmt.Fprintln(c.stderr, "waiting for new entries (Ctrl-C to stop)")
	return printLive(c, live, fs.asJSON(), func(v *node.EntryView) bool {
		u, ok := shown[v.ID]
		return ok && u.Equal(v.Updated)
	})
}

func sortedKeys(m map[string][]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// terminalHighlight turns a fragment into printable text with its marks
// in bold.
func terminalHighlight(frag string) string {
	var b strings.Builder
	for _, p := range search.SplitMarks(frag) {
		if p.Marked {
			b.WriteString("\x1b[1m" + printable(p.Text) + "\x1b[0m")
		} else {
			b.WriteString(printable(p.Text))
		}
	}
	return b.String()
}

// printLive prints entries from a subscription until it ends.
func printLive(c *cli, ch <-chan *node.EntryView, asJSON bool, skip func(*node.EntryView) bool) error {
	enc := jsonLines(c.stdout)
	for {
		select {
		case <-c.ctx.Done():
			return nil
		case v, ok := <-ch:
			if !ok {
				return nil
			}
			if skip != nil && skip(v) {
				continue
			}
			if asJSON {
				if err := enc.Encode(v); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintln(c.stdout, hitLine(v))
		}
	}
}
