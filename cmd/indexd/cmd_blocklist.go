package main

import (
	"fmt"
	"strings"
	"time"

	"indexd/node"
)

func init() {
	register(&command{name: "blocklist", args: "publish | subscribe LINK|KEY | unsubscribe KEY | list",
		summary: "share moderation: publish this node's blocklist as a signed feed, or follow others' lists live", run: cmdBlocklist})
}

func cmdBlocklist(c *cli, args []string) error {
	fs := c.flags().withJSON()
	name := fs.String("name", "", "subscribe: a local label for the list")
	var peers stringList
	fs.Var(&peers, "peer", "subscribe: an address of a peer holding the list, ending in /p2p/PEER_ID (repeatable)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if len(c.args) == 0 {
		return usageError("want a subcommand: publish, subscribe LINK|KEY, unsubscribe KEY, list")
	}
	sub, rest := c.args[0], c.args[1:]
	want := 0
	switch sub {
	case "publish", "list":
	case "subscribe", "unsubscribe":
		want = 1
	default:
		return usageError("unknown blocklist subcommand %q", sub)
	}
	if len(rest) != want {
		return usageError("blocklist %s wants %d argument(s)", sub, want)
	}
	if sub != "subscribe" && (*name != "" || len(peers) > 0) {
		return usageError("--name and --peer go with subscribe")
	}
	b, closeFn, err := c.open(fs.dir())
	if err != nil {
		return err
	}
	defer closeFn()
	switch sub {
	case "publish":
		bl, err := b.PublishBlocklist(c.ctx)
		if err != nil {
			return err
		}
		if fs.asJSON() {
			return writeJSON(c.stdout, bl)
		}
		fmt.Fprintf(c.stdout, "publishing %d blocked infohashes as %s; every block and unblock is appended to it\n", bl.Infohashes, bl.Feed)
		fmt.Fprintf(c.stdout, "others subscribe with: indexd blocklist subscribe %s\n", bl.Link)
		fmt.Fprintln(c.stderr, "note: the list, and the reason given with each block, are public to anyone who has its key")
		return nil
	case "subscribe":
		bl, err := b.SubscribeBlocklist(c.ctx, node.BlocklistRequest{List: rest[0], Name: *name, Peers: peers})
		if bl == nil {
			return err
		}
		if fs.asJSON() {
			if werr := writeJSON(c.stdout, bl); werr != nil {
				return werr
			}
		} else {
			fmt.Fprintf(c.stdout, "subscribed to %s: it blocks %d infohashes\n", bl.Feed, bl.Infohashes)
		}
		if err != nil {
			// Kept: the daemon (or the next 'indexd serve') keeps trying.
			fmt.Fprintf(c.stderr, "warning: %s\n", printable(err.Error()))
		}
		return nil
	case "unsubscribe":
		if err := b.UnsubscribeBlocklist(c.ctx, rest[0]); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "unsubscribed from %s\n", rest[0])
		return nil
	}
	lists, err := b.Blocklists(c.ctx)
	if err != nil {
		return err
	}
	if fs.asJSON() {
		if lists == nil {
			lists = []node.Blocklist{}
		}
		return writeJSON(c.stdout, lists)
	}
	if len(lists) == 0 {
		fmt.Fprintln(c.stderr, "no blocklist published or subscribed ('indexd blocklist publish', 'indexd blocklist subscribe LINK')")
		return nil
	}
	for _, l := range lists {
		fmt.Fprintln(c.stdout, blocklistLine(l))
	}
	return nil
}

// blocklistLine is one line of 'blocklist list'.
func blocklistLine(l node.Blocklist) string {
	var sb strings.Builder
	sb.WriteString(l.Feed)
	if l.Own {
		sb.WriteString("  published here")
	} else if l.Name != "" {
		sb.WriteString("  " + printable(l.Name))
	}
	fmt.Fprintf(&sb, "  %d infohashes, feed length %d", l.Infohashes, l.Length)
	if l.Rejected > 0 {
		fmt.Fprintf(&sb, ", %d lines ignored", l.Rejected)
	}
	if !l.Updated.IsZero() {
		sb.WriteString(", updated " + l.Updated.Local().Format(time.DateTime))
	}
	if l.Error != "" {
		sb.WriteString("  error: " + printable(l.Error))
	}
	if l.Own && l.Link != "" {
		sb.WriteString("\n  link: " + l.Link)
	}
	return sb.String()
}
