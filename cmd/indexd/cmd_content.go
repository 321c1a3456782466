package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"indexd/node"
)

func init() {
	register(&command{name: "share", args: "PATH | --live - [--name N]", summary: "share a file or folder as a content feed (again: append what changed); prints the feed key", run: cmdShare})
	register(&command{name: "get", args: "FEED_KEY [OUTDIR]", summary: "download a content feed from peers, verified block by block (resumes; only missing blocks)", run: cmdGet})
	register(&command{name: "stream", args: "FEED_KEY", summary: "write a content feed's file to stdout, following it live", run: cmdStream})
	register(&command{name: "append", args: "FEED_KEY", summary: "append stdin to a content feed you write, as it arrives", run: cmdAppend})
}

// contentBackend is what the content commands need: *node.Node when no
// daemon runs, *httpapi.Client when one does.
type contentBackend interface {
	Share(ctx context.Context, req node.ShareRequest) (*node.ShareResult, error)
	Get(ctx context.Context, req node.GetRequest, progress node.GetProgress) (*node.GetResult, error)
	StreamFeed(ctx context.Context, req node.StreamRequest, w io.Writer) error
	CreateFeed(ctx context.Context) (string, error)
	AppendFeed(ctx context.Context, key, name string, r io.Reader) (uint64, error)
}

func (c *cli) openContent(dir string) (contentBackend, func(), error) {
	b, closeFn, err := c.open(dir)
	if err != nil {
		return nil, nil, err
	}
	cb, ok := b.(contentBackend)
	if !ok {
		closeFn()
		return nil, nil, fmt.Errorf("this backend cannot move content")
	}
	return cb, closeFn, nil
}

// fetchFlags are the flags get and stream share.
type fetchFlags struct {
	peers     stringList
	dht, mdns *bool
}

func addFetchFlags(fs *flagSet) *fetchFlags {
	f := &fetchFlags{}
	fs.Var(&f.peers, "peer", "multiaddr (with /p2p/ID) of a peer holding the feed (repeatable)")
	f.dht = fs.Bool("dht", true, "look for peers holding the feed on the DHT (reveals the feed's discovery key)")
	f.mdns = fs.Bool("mdns", false, "find peers on the LAN by mDNS")
	return f
}

func (f *fetchFlags) options() node.FetchOptions {
	return node.FetchOptions{Peers: f.peers, DHT: *f.dht, MDNS: *f.mdns}
}

func cmdShare(c *cli, args []string) error {
	fs := c.flags().withJSON()
	publish := fs.Bool("publish", false, "also publish an index entry linking the feed (amended to the new length on later shares)")
	idx := fs.String("index", "", "index for --publish (default: the default index)")
	live := fs.Bool("live", false, "with PATH '-': create a feed and append stdin to it as it arrives")
	name := fs.String("name", "stream", "with --live: the file name in the feed")
	e := addEntryFlags(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if len(c.args) != 1 {
		return usageError("want one PATH (or --live -)")
	}
	b, closeFn, err := c.openContent(fs.dir())
	if err != nil {
		return err
	}
	defer closeFn()
	if *live || c.args[0] == "-" {
		if c.args[0] != "-" {
			return usageError("--live reads stdin: give '-' as PATH")
		}
		key, err := b.CreateFeed(c.ctx)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, key)
		if f, ok := c.stdout.(*os.File); ok {
			f.Sync()
		}
		_, err = b.AppendFeed(c.ctx, key, *name, c.stdin)
		return err
	}
	abs, err := filepath.Abs(c.args[0])
	if err != nil {
		return err
	}
	res, err := b.Share(c.ctx, node.ShareRequest{Path: abs, Publish: *publish, Index: *idx,
		Title: *e.title, Description: *e.description, Category: *e.category, Tags: e.tags})
	if err != nil {
		return err
	}
	if fs.asJSON() {
		return writeJSON(c.stdout, res)
	}
	fmt.Fprintln(c.stdout, res.Feed)
	fmt.Fprintf(c.stderr, "%d files, %d bytes, length %d (%d blocks appended)\n", res.Files, res.Size, res.Length, res.Appended)
	if res.Entry != "" {
		fmt.Fprintf(c.stderr, "entry %s\n", res.Entry)
	}
	return nil
}

func cmdGet(c *cli, args []string) error {
	fs := c.flags().withJSON()
	var files stringList
	fs.Var(&files, "file", "fetch only this path of the feed (repeatable; only its blocks are downloaded)")
	ff := addFetchFlags(fs)
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if len(c.args) < 1 || len(c.args) > 2 {
		return usageError("want FEED_KEY [OUTDIR]")
	}
	out := "."
	if len(c.args) == 2 {
		out = c.args[1]
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	b, closeFn, err := c.openContent(fs.dir())
	if err != nil {
		return err
	}
	defer closeFn()
	bar := newBar(c.stderr, *quiet || fs.asJSON())
	res, err := b.Get(c.ctx, node.GetRequest{Feed: c.args[0], Out: abs, Files: files, FetchOptions: ff.options()}, bar.update)
	bar.done()
	if err != nil {
		return err
	}
	if fs.asJSON() {
		return writeJSON(c.stdout, res)
	}
	fmt.Fprintf(c.stdout, "%d files, %d bytes in %s (length %d, %d blocks fetched from %d peers)\n", res.Files, res.Size, abs, res.Length, res.Fetched, res.Peers)
	return nil
}

func cmdStream(c *cli, args []string) error {
	fs := c.flags()
	file := fs.String("file", "", "path of the file to stream (default: the feed's only file)")
	once := fs.Bool("once", false, "write what the feed holds now and exit instead of following it")
	ff := addFetchFlags(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if len(c.args) != 1 {
		return usageError("want FEED_KEY")
	}
	b, closeFn, err := c.openContent(fs.dir())
	if err != nil {
		return err
	}
	defer closeFn()
	err = b.StreamFeed(c.ctx, node.StreamRequest{Feed: c.args[0], File: *file, Once: *once, FetchOptions: ff.options()}, c.stdout)
	if err != nil && c.ctx.Err() != nil {
		return nil // interrupted: a normal end for a live stream
	}
	return err
}

func cmdAppend(c *cli, args []string) error {
	fs := c.flags()
	name := fs.String("name", "stream", "file of the feed to append to")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if len(c.args) != 1 {
		return usageError("want FEED_KEY")
	}
	b, closeFn, err := c.openContent(fs.dir())
	if err != nil {
		return err
	}
	defer closeFn()
	n, err := b.AppendFeed(c.ctx, c.args[0], *name, c.stdin)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "length %d\n", n)
	return nil
}

// bar is a download progress bar on a terminal (quiet elsewhere).
type bar struct {
	p           *progress
	done_, tot  uint64
	lastPercent int
}

func newBar(w io.Writer, quiet bool) *bar { return &bar{p: newProgress(w, quiet), lastPercent: -1} }

func (b *bar) update(done, total uint64) {
	b.done_, b.tot = done, total
	if !b.p.on || time.Since(b.p.last) < 100*time.Millisecond || total == 0 {
		return
	}
	b.p.last = time.Now()
	const width = 30
	fill := int(done * width / total)
	bs := make([]byte, width)
	for i := range bs {
		if i < fill {
			bs[i] = '#'
		} else {
			bs[i] = '.'
		}
	}
	el := time.Since(b.p.start).Seconds()
	fmt.Fprintf(b.p.w, "\r[%s] %3d%%  %d/%d blocks  %.1f blocks/s", bs, done*100/total, done, total, float64(done)/max(el, 0.001))
}

func (b *bar) done() {
	if b.p.on && b.tot > 0 {
		b.p.last = time.Time{}
		b.update(b.done_, b.tot)
		fmt.Fprintln(b.p.w)
	}
}
