package main

import (
	"fmt"
	"strings"

	"indexd/node"
)

func init() {
	register(&command{name: "status", summary: "show identity, network and per-index state (with digests)", run: cmdStatus})
	register(&command{name: "index", args: "create NAME | list | link [INDEX] | remove INDEX | grant|revoke INDEX AUTHOR... | members [INDEX]", summary: "create, list, share or remove indexes (remove: unfollow and delete its data here); grant authors in allowlist ones", run: cmdIndex})
	register(&command{name: "follow", args: "[INDEX_KEY|LINK]", summary: "subscribe to an index (persisted); --watch prints new entries; alone, lists what you follow", run: cmdFollow})
	register(&command{name: "unfollow", args: "INDEX", summary: "stop following an index", run: cmdUnfollow})
	register(&command{name: "peers", args: "[add MULTIADDR]", summary: "list connected peers, or dial one", run: cmdPeers})
	register(&command{name: "mute", args: "[AUTHOR]", summary: "hide an author's entries on this node (local only); alone, lists who you mute", run: cmdMute(true)})
	register(&command{name: "unmute", args: "AUTHOR", summary: "show a muted author's entries again", run: cmdMute(false)})
}

func cmdStatus(c *cli, args []string) error {
	fs := c.flags().withJSON()
	if err := c.parse(fs, args); err != nil {
		return err
	}
	b, closeFn, err := c.open(fs.dir())
	if err != nil {
		return err
	}
	defer closeFn()
	st, err := b.Status(c.ctx)
	if err != nil {
		return err
	}
	if fs.asJSON() {
		return writeJSON(c.stdout, st)
	}
	w := c.stdout
	fmt.Fprintf(w, "identity:  %s\ndata:      %s\n", st.Identity, st.Dir)
	fmt.Fprintf(w, "torznab:   apikey %s\n", st.APIKey)
	fmt.Fprintf(w, "disk:      %s (store %s, search index %s)\n", humanSize(st.Disk.Total), humanSize(st.Disk.Store), humanSize(st.Disk.Search))
	if st.Serving {
		fmt.Fprintf(w, "serving:   peer %s, %d peers connected\n", st.PeerID, st.Peers)
		for _, a := range st.Addrs {
			fmt.Fprintf(w, "           %s\n", a)
		}
	} else {
		fmt.Fprintln(w, "serving:   no (start 'indexd serve')")
	}
	for _, is := range st.Indexes {
		flags := []string{is.Policy}
		if is.Policy == "allowlist" {
			flags[0] = fmt.Sprintf("allowlist: the creator and %d granted", is.Granted)
		}
		if is.Default {
			flags = append(flags, "default")
		}
		if is.Followed {
			flags = append(flags, "followed")
		}
		fmt.Fprintf(w, "\nindex %s (%s)\n  key:     %s\n", printable(is.Name), strings.Join(flags, ", "), is.Key)
		fmt.Fprintf(w, "  entries: %d (%d retracted)  authors: %d  logs: %d  heads: %d\n", is.Entries, is.Retracted, is.Authors, is.Logs, is.Heads)
		if is.Forked > 0 {
			fmt.Fprintf(w, "  FORKED logs: %d (their authors signed two histories: only entries from before they part count)\n", is.Forked)
			for _, f := range is.Forks {
				if f.Located {
					fmt.Fprintf(w, "    %s: its first %d log nodes count (the certificate included); the histories part there\n", f.Author, f.Counted)
				} else {
					fmt.Fprintf(w, "    %s: where the histories part is not known yet; all its entries are hidden\n", f.Author)
				}
			}
		}
		if is.Pending > 0 {
			fmt.Fprintf(w, "  waiting for %d missing ancestors\n", is.Pending)
		}
		if c := is.CatchUp; c != nil {
			peers := "1 peer"
			if c.Peers != 1 {
				peers = fmt.Sprintf("%d peers", c.Peers)
			}
			fmt.Fprintf(w, "  syncing: about %d nodes to go, from %s\n", c.Remaining, peers)
		}
		if is.Unindexed > 0 {
			fmt.Fprintf(w, "  indexing: %d received nodes not searchable yet\n", is.Unindexed)
		}
		fmt.Fprintf(w, "  digest:  %s\n", is.Digest)
	}
	for _, k := range st.Awaiting {
		fmt.Fprintf(w, "\nindex ? (followed, name not known yet)\n  key:     %s\n  waiting for its manifest from a peer that has it ('indexd peers add ADDR', or follow its link, which names peers)\n", k)
	}
	if st.RSSFeeds > 0 || st.Scraping {
		fmt.Fprintf(w, "\ningest:    %d RSS subscriptions ('indexd rss list'); background scrape %s\n", st.RSSFeeds, map[bool]string{true: "on", false: "off"}[st.Scraping])
	}
	if len(st.Muted) > 0 || st.Blocked > 0 || st.Lists > 0 {
		fmt.Fprintf(w, "\nhidden on this node: %d muted authors ('indexd mute'), %d blocked infohashes ('indexd block --list'), %d blocklists ('indexd blocklist list')\n", len(st.Muted), st.Blocked, st.Lists)
	}
	return nil
}

func cmdIndex(c *cli, args []string) error {
	fs := c.flags().withJSON()
	policy := fs.String("policy", "open", "create: open (anyone may publish) or allowlist (only granted authors)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if len(c.args) == 0 {
		return usageError("want a subcommand: create NAME, list, link [INDEX], remove INDEX, grant|revoke INDEX AUTHOR..., members [INDEX]")
	}
	b, closeFn, err := c.open(fs.dir())
	if err != nil {
		return err
	}
	defer func() { closeFn() }()
	switch c.args[0] {
	case "remove":
		if len(c.args) != 2 {
			return usageError("index remove wants one INDEX (key or name)")
		}
		res, err := b.RemoveIndex(c.ctx, c.args[1])
		if err != nil {
			return err
		}
		if _, local := b.(*node.Node); local {
			// No daemon: the records go when the directory next opens,
			// which is now.
			fmt.Fprintf(c.stderr, "deleting the records of %d entries (about 40 s per million)…\n", res.Entries)
			closeFn()
			closeFn = func() {}
			n, err := node.Open(c.ctx, node.Options{Dir: fs.dir()})
			if err != nil {
				return err
			}
			if err := n.Close(); err != nil {
				return err
			}
			res.Pending = false
		}
		if fs.asJSON() {
			return writeJSON(c.stdout, res)
		}
		if res.Pending {
			fmt.Fprintf(c.stdout, "removed index %s (%s, %d entries): hidden and no longer replicated; its data is deleted when the daemon next starts\n", printable(res.Name), res.Index, res.Entries)
		} else {
			fmt.Fprintf(c.stdout, "removed index %s (%s): %d entries deleted\n", printable(res.Name), res.Index, res.Entries)
		}
		return nil
	case "create":
		if len(c.args) != 2 {
			return usageError("index create wants one NAME")
		}
		info, err := b.CreateIndex(c.ctx, c.args[1], *policy)
		if err != nil {
			return err
		}
		if fs.asJSON() {
			return writeJSON(c.stdout, info)
		}
		fmt.Fprintln(c.stdout, info.Key)
		return nil
	case "list":
		list, err := b.Indexes(c.ctx)
		if err != nil {
			return err
		}
		if fs.asJSON() {
			return writeJSON(c.stdout, list)
		}
		for _, i := range list {
			mark := " "
			if i.Default {
				mark = "*"
			}
			fmt.Fprintf(c.stdout, "%s %-20s %-9s %7d entries  %s\n", mark, printable(i.Name), i.Policy, i.Entries, i.Key)
		}
		return nil
	case "link":
		which := ""
		if len(c.args) > 1 {
			which = c.args[1]
		}
		link, err := b.IndexLink(c.ctx, which)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, link)
		return nil
	case "grant", "revoke":
		if len(c.args) < 3 {
			return usageError("index %s wants INDEX and one or more AUTHOR identities", c.args[0])
		}
		for _, a := range c.args[2:] {
			if err := b.SetMember(c.ctx, c.args[1], a, c.args[0] == "grant"); err != nil {
				return err
			}
		}
		return printMembers(c, b, c.args[1], fs.asJSON())
	case "members":
		if len(c.args) > 2 {
			return usageError("index members wants at most one INDEX")
		}
		which := ""
		if len(c.args) == 2 {
			which = c.args[1]
		}
		return printMembers(c, b, which, fs.asJSON())
	default:
		return usageError("unknown index subcommand %q", c.args[0])
	}
}

// printMembers prints who may publish in the index which names.
func printMembers(c *cli, b backend, which string, asJSON bool) error {
	ml, err := b.Members(c.ctx, which)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(c.stdout, ml)
	}
	if ml.Policy != "allowlist" {
		fmt.Fprintf(c.stdout, "%s is %s: anyone may publish in it\n", ml.Index, ml.Policy)
		return nil
	}
	fmt.Fprintf(c.stdout, "%s (creator)\n", ml.Creator)
	for _, m := range ml.Members {
		fmt.Fprintln(c.stdout, m)
	}
	fmt.Fprintf(c.stderr, "%d granted besides the creator\n", len(ml.Members))
	return nil
}

// indexNameOrPending is an index's name, or a note that its manifest has
// not arrived yet.
func indexNameOrPending(name string) string {
	if name == "" {
		return "(manifest not fetched yet)"
	}
	return name
}

func cmdFollow(c *cli, args []string) error {
	fs := c.flags().withJSON()
	var authors stringList
	fs.Var(&authors, "author", "only show and notify entries of this author (repeatable); the whole index still replicates")
	watch := fs.Bool("watch", false, "keep running and print new entries as they arrive (with no index: in every index)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if len(c.args) > 1 || (len(c.args) == 0 && len(authors) > 0 && !*watch) {
		return usageError("want one index key or link (or nothing, to list what you follow; with --watch, to watch them all)")
	}
	b, closeFn, err := c.open(fs.dir())
	if err != nil {
		return err
	}
	defer closeFn()
	if len(c.args) == 0 && *watch {
		// Every index here, each shown as its follow's --author list says.
		return watchLive(c, b, node.Watch{Query: node.SearchRequest{Authors: authors}}, "waiting for new entries in every index", fs.asJSON())
	}
	if len(c.args) == 0 {
		list, err := b.Follows(c.ctx)
		if err != nil {
			return err
		}
		if fs.asJSON() {
			if list == nil {
				list = []node.Follow{}
			}
			return writeJSON(c.stdout, list)
		}
		if len(list) == 0 {
			fmt.Fprintln(c.stderr, "you follow no index")
		}
		for _, f := range list {
			line := f.Index + "  " + printable(indexNameOrPending(f.Name))
			if len(f.Authors) > 0 {
				line += fmt.Sprintf("  (%d authors shown)", len(f.Authors))
			}
			fmt.Fprintln(c.stdout, line)
		}
		return nil
	}
	f, err := b.Follow(c.ctx, node.FollowRequest{Index: c.args[0], Authors: authors})
	if err != nil {
		return err
	}
	if fs.asJSON() && !*watch {
		return writeJSON(c.stdout, f)
	}
	if !*watch {
		fmt.Fprintf(c.stdout, "following %s %s\n", f.Index, printable(f.Name))
		return nil
	}
	return watchLive(c, b, node.Watch{Index: f.Index, Query: node.SearchRequest{Authors: authors}}, "following "+f.Index+"; waiting for new entries", fs.asJSON())
}

// watchLive subscribes to w, says so on stderr with what, and prints the
// entries that arrive until the command is stopped.
func watchLive(c *cli, b backend, w node.Watch, what string, asJSON bool) error {
	ch, err := b.Subscribe(c.ctx, w)
	if err != nil {
		return err
	}
	// Only now: a reader of this line may publish and expect to see it.
	fmt.Fprintf(c.stderr, "%s (Ctrl-C to stop)\n", what)
	return printLive(c, ch, asJSON, nil)
}

func cmdUnfollow(c *cli, args []string) error {
	return c.oneArgCommand(args, "one index", func(b backend, arg string) error { return b.Unfollow(c.ctx, arg) })
}

// oneArgCommand runs a command that takes exactly one argument (named by
// want in the usage error) and reports only success or failure.
func (c *cli) oneArgCommand(args []string, want string, do func(backend, string) error) error {
	fs := c.flags()
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if len(c.args) != 1 {
		return usageError("want %s", want)
	}
	b, closeFn, err := c.open(fs.dir())
	if err != nil {
		return err
	}
	defer closeFn()
	return do(b, c.args[0])
}

func cmdPeers(c *cli, args []string) error {
	fs := c.flags().withJSON()
	if err := c.parse(fs, args); err != nil {
		return err
	}
	b, closeFn, err := c.open(fs.dir())
	if err != nil {
		return err
	}
	defer closeFn()
	if len(c.args) > 0 {
		if c.args[0] != "add" || len(c.args) != 2 {
			return usageError("peers add wants one MULTIADDR")
		}
		if err := b.AddPeer(c.ctx, c.args[1]); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "connected to %s\n", c.args[1])
		return nil
	}
	peers, err := b.Peers(c.ctx)
	if err != nil {
		return err
	}
	if fs.asJSON() {
		return writeJSON(c.stdout, peers)
	}
	if len(peers) == 0 {
		fmt.Fprintln(c.stderr, "no peers connected")
	}
	names := map[string]string{}
	if list, err := b.Indexes(c.ctx); err == nil {
		for _, i := range list {
			names[i.Key] = i.Name
		}
	}
	for _, p := range peers {
		fmt.Fprintf(c.stdout, "%s  %.1f ms  shares %d of your indexes\n", p.ID, p.LatencyMS, len(p.Indexes))
		for _, k := range p.Indexes {
			fmt.Fprintf(c.stdout, "    index %s  %s\n", printable(indexNameOrPending(names[k])), k)
		}
		for _, a := range p.Addrs {
			fmt.Fprintf(c.stdout, "    %s\n", a)
		}
	}
	return nil
}

func cmdMute(mute bool) func(c *cli, args []string) error {
	return func(c *cli, args []string) error {
		fs := c.flags().withJSON()
		if err := c.parse(fs, args); err != nil {
			return err
		}
		if len(c.args) > 1 || len(c.args) == 0 && !mute {
			return usageError("want one author identity")
		}
		b, closeFn, err := c.open(fs.dir())
		if err != nil {
			return err
		}
		defer closeFn()
		if len(c.args) == 1 {
			return b.Mute(c.ctx, c.args[0], mute)
		}
		// 'mute' alone lists, as 'follow' alone does.
		list, err := b.Muted(c.ctx)
		if err != nil {
			return err
		}
		if fs.asJSON() {
			if list == nil {
				list = []string{}
			}
			return writeJSON(c.stdout, list)
		}
		if len(list) == 0 {
			fmt.Fprintln(c.stderr, "you mute no author")
		}
		for _, id := range list {
			fmt.Fprintln(c.stdout, id)
		}
		return nil
	}
}
