package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"indexd/node"
)

func init() {
	register(&command{name: "init", summary: "create the identity key, data directory and default index", run: cmdInit})
	register(&command{name: "publish", args: "FILE.torrent|MAGNET...", summary: "publish torrent entries into an index", run: cmdPublish})
	register(&command{name: "amend", args: "ID", summary: "change fields of an entry you published", run: cmdAmend})
	register(&command{name: "retract", args: "ID", summary: "withdraw an entry you published", run: cmdRetract})
	register(&command{name: "show", args: "ID", summary: "show one entry in full", run: cmdShow})
	register(&command{name: "import", args: "FILE|-", summary: "publish entries from JSON Lines (the format of export)", run: cmdImport})
	register(&command{name: "export", summary: "write an index's entries as JSON Lines", run: cmdExport})
	register(&command{name: "reindex", summary: "rebuild the search index from the stored entries", run: cmdReindex})
}

func cmdInit(c *cli, args []string) error {
	fs := c.flags().withJSON()
	if err := c.parse(fs, args); err != nil {
		return err
	}
	res, err := node.Init(c.ctx, fs.dir())
	if err != nil {
		return err
	}
	if fs.asJSON() {
		return writeJSON(c.stdout, res)
	}
	if res.Created {
		fmt.Fprintf(c.stdout, "created identity %s\n", res.Identity)
	} else {
		fmt.Fprintf(c.stdout, "identity %s already exists; kept it\n", res.Identity)
	}
	fmt.Fprintf(c.stdout, "data directory: %s\ndefault index:  %s\n", res.Dir, res.Index)
	return nil
}

// entryFields are the flags publish and amend share.
type entryFields struct {
	title, description, category *string
	tags                         stringList
	meta                         stringList
}

func addEntryFlags(fs *flagSet) *entryFields {
	e := &entryFields{}
	e.title = fs.String("title", "", "title shown in results (default: the torrent's name)")
	e.description = fs.String("description", "", "description")
	e.category = fs.String("category", "", "Torznab category: number (2000, 5040) or name (movies, tv/hd)")
	fs.Var(&e.tags, "tag", "tag (repeatable, or comma-separated)")
	fs.Var(&e.meta, "meta", "extra field key=value, e.g. imdb=tt0133093 (repeatable)")
	return e
}

func (e *entryFields) metaMap() (map[string]string, error) {
	if len(e.meta) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, kv := range e.meta {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageError("--meta wants key=value, got %q", kv)
		}
		m[k] = v
	}
	return m, nil
}

func cmdPublish(c *cli, args []string) error {
	fs := c.flags().withJSON()
	idx := fs.String("index", "", "index key or name (default: the default index)")
	f := addEntryFlags(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if len(c.args) == 0 {
		return usageError("want a .torrent file or magnet link (or several)")
	}
	if len(c.args) > 1 && (*f.title != "" || *f.description != "") {
		return usageError("--title and --description name one entry; publish it alone (other flags apply to every entry)")
	}
	meta, err := f.metaMap()
	if err != nil {
		return err
	}
	b, closeFn, err := c.open(fs.dir())
	if err != nil {
		return err
	}
	defer closeFn()
	var lines *json.Encoder
	if fs.asJSON() && len(c.args) > 1 {
		lines = jsonLines(c.stdout)
	}
	failed := 0
	for _, src := range c.args {
		req := node.PublishRequest{Index: *idx, Title: *f.title, Description: *f.description, Category: *f.category, Tags: f.tags, Meta: meta}
		v, err := publishOne(c, b, req, src)
		switch {
		case errors.Is(err, node.ErrExists):
			// Publishing again is a no-op, so that 'publish *.torrent'
			// can run over a folder as it grows.
			fmt.Fprintf(c.stderr, "indexd publish: %s: skipped: %s\n", src, strings.TrimPrefix(oneLine(err.Error()), "already published: "))
		case err != nil && len(c.args) == 1:
			return err
		case err != nil:
			// One bad file does not stop the rest; each failure is named.
			failed++
			fmt.Fprintf(c.stderr, "indexd publish: %s: %s\n", src, oneLine(err.Error()))
		case lines != nil:
			if err := lines.Encode(v); err != nil {
				return err
			}
		case fs.asJSON():
			return writeJSON(c.stdout, v)
		default:
			fmt.Fprintf(c.stdout, "published %s\n  id:     %s\n  magnet: %s\n", printable(v.Title), v.ID, v.Magnet)
		}
	}
	if failed > 0 {
		fmt.Fprintf(c.stderr, "indexd publish: %d of %d not published\n", failed, len(c.args))
		return exitError{code: 1}
	}
	return nil
}

// publishOne publishes the .torrent file or magnet link src with req's
// fields.
func publishOne(c *cli, b backend, req node.PublishRequest, src string) (*node.EntryView, error) {
	if strings.HasPrefix(strings.ToLower(src), "magnet:") {
		req.Magnet = src
	} else {
		var err error
		if req.Torrent, err = readLimited(src, maxTorrentFile); err != nil {
			return nil, err
		}
	}
	return b.Publish(c.ctx, req)
}

// maxTorrentFile bounds a .torrent read from disk.
const maxTorrentFile = 10 << 20

func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d MiB; not a .torrent file", path, max>>20)
	}
	return b, nil
}

func cmdAmend(c *cli, args []string) error {
	fs := c.flags().withJSON()
	f := addEntryFlags(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if len(c.args) != 1 {
		return usageError("want one entry id")
	}
	req := node.AmendRequest{ID: c.args[0]}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if set["title"] {
		req.Title = f.title
	}
	if set["description"] {
		req.Description = f.description
	}
	if set["category"] {
		req.Category = f.category
	}
	if set["tag"] {
		t := []string(f.tags)
		req.Tags = &t
	}
	var err error
	if req.Meta, err = f.metaMap(); err != nil {
		return err
	}
	b, closeFn, err := c.open(fs.dir())
	if err != nil {
		return err
	}
	defer closeFn()
	v, err := b.Amend(c.ctx, req)
	if err != nil {
		return err
	}
	if fs.asJSON() {
		return writeJSON(c.stdout, v)
	}
	fmt.Fprintf(c.stdout, "amended %s\n", v.ID)
	printEntry(c.stdout, v)
	return nil
}

func cmdRetract(c *cli, args []string) error {
	return c.entryCommand(args, func(b backend, id string) (*node.EntryView, error) { return b.Retract(c.ctx, id) },
		func(v *node.EntryView) { fmt.Fprintf(c.stdout, "retracted %s (%s)\n", v.ID, printable(v.Title)) })
}

func cmdShow(c *cli, args []string) error {
	return c.entryCommand(args, func(b backend, id string) (*node.EntryView, error) { return b.Entry(c.ctx, id) },
		func(v *node.EntryView) { printEntry(c.stdout, v) })
}

// entryCommand runs a command that takes one entry id and prints the
// entry it gets back: as JSON with --json, else with text.
func (c *cli) entryCommand(args []string, do func(backend, string) (*node.EntryView, error), text func(*node.EntryView)) error {
	fs := c.flags().withJSON()
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if len(c.args) != 1 {
		return usageError("want one entry id")
	}
	b, closeFn, err := c.open(fs.dir())
	if err != nil {
		return err
	}
	defer closeFn()
	v, err := do(b, c.args[0])
	if err != nil {
		return err
	}
	if fs.asJSON() {
		return writeJSON(c.stdout, v)
	}
	text(v)
	return nil
}

func cmdImport(c *cli, args []string) error {
	fs := c.flags()
	idx := fs.String("index", "", "index key or name (default: the default index)")
	quiet := fs.Bool("quiet", false, "no progress output")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if len(c.args) != 1 {
		return usageError("want one file (or - for standard input)")
	}
	var r io.Reader = c.stdin
	if c.args[0] != "-" {
		f, err := os.Open(c.args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	b, closeFn, err := c.open(fs.dir())
	if err != nil {
		return err
	}
	defer closeFn()
	bar := newProgress(c.stderr, *quiet)
	lines := &lineCounter{r: r}
	n, err := b.Import(c.ctx, lines, *idx, bar.update)
	bar.done()
	if err != nil {
		return fmt.Errorf("after %d entries: %w", n, err)
	}
	fmt.Fprintf(c.stdout, "imported %d entries\n", n)
	if skipped := lines.n - n; skipped > 0 {
		fmt.Fprintf(c.stderr, "%d %s skipped: entries you published in this index already, or retracted ones\n", skipped, map[bool]string{true: "line", false: "lines"}[skipped == 1])
	}
	return nil
}

// lineCounter counts the non-empty lines read through it.
type lineCounter struct {
	r       io.Reader
	n       int
	midLine bool // the last byte read was not a newline
}

func (l *lineCounter) Read(p []byte) (int, error) {
	k, err := l.r.Read(p)
	for _, c := range p[:k] {
		if c == '\n' {
			l.midLine = false
		} else if !l.midLine {
			l.midLine = true
			l.n++
		}
	}
	return k, err
}

func cmdExport(c *cli, args []string) error {
	fs := c.flags()
	idx := fs.String("index", "", "index key or name (default: the default index)")
	out := fs.String("o", "-", "output file (- for standard output)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	w := c.stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	b, closeFn, err := c.open(fs.dir())
	if err != nil {
		return err
	}
	defer closeFn()
	n, err := b.Export(c.ctx, w, *idx)
	if err != nil {
		return err
	}
	if *out != "-" {
		fmt.Fprintf(c.stderr, "exported %d entries to %s\n", n, *out)
	}
	return nil
}

func cmdReindex(c *cli, args []string) error {
	fs := c.flags()
	if err := c.parse(fs, args); err != nil {
		return err
	}
	b, closeFn, err := c.open(fs.dir())
	if err != nil {
		return err
	}
	defer closeFn()
	if err := b.Reindex(c.ctx); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, "search index rebuilt")
	return nil
}
