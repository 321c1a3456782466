package content

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"indexd/feedtree"
)

// AppendOptions tunes AppendStream. The zero value means defaults.
type AppendOptions struct {
	// BlockSize is the block size of a new feed (see ShareOptions).
	// Default: DefaultBlockSize.
	BlockSize int
	// Now gives the time recorded in manifests. Default: time.Now.
	Now func() time.Time
	// OnAppend, if set, is called after each append with the new head.
	// Default: nil.
	OnAppend func(feedtree.Head)
}

// AppendStream appends what it reads from r to file name of feed f, as it
// arrives: after each read that returns data it appends the new full
// blocks, the file's partial last block (re-appended, with what follows,
// by the next append) and the manifest, under one signature. Other files
// of the feed are kept. It returns nil at EOF of r, or the first error.
//
// Each append adds a block range to the file's entry, so a long-running
// stream makes manifests grow by about 10 bytes per append; they are
// bounded by MaxManifestSize.
func AppendStream(ctx context.Context, f *feedtree.Feed, name string, r io.Reader, opts AppendOptions) error {
	if err := CheckPath(name); err != nil {
		return fmt.Errorf("appending stream: %w", err)
	}
	old, err := ReadManifest(ctx, f, nil)
	if errors.Is(err, ErrNoManifest) {
		old, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("appending stream: reading the current manifest: %w", err)
	}
	w, err := newWriter(f, old, uint64(max(0, opts.BlockSize)), 0, opts.Now)
	if err != nil {
		return fmt.Errorf("appending stream: %w", err)
	}
	var files []File
	if old != nil {
		files = slices.Clone(old.Files)
	}
	pos, found := slices.BinarySearchFunc(files, name, func(a File, p string) int {
		switch {
		case a.Path < p:
			return -1
		case a.Path > p:
			return 1
		}
		return 0
	})
	if !found {
		files = slices.Insert(files, pos, File{Path: name, Mode: 0o644})
	}
	cur := &files[pos]
	cur.SHA256 = nil // a live file has no whole-file hash
	full := cur.Size / w.bs
	var buf []byte // bytes after the file's last full block
	if rem := cur.Size % w.bs; rem != 0 {
		i, _ := blockAt(cur.Blocks, full)
		b, err := f.Get(i)
		if err != nil {
			return fmt.Errorf("appending stream: reading block %d: %w", i, err)
		}
		buf = append(make([]byte, 0, w.bs), b...)
	}
	cur.Blocks = truncateBlocks(cur.Blocks, full)
	fullSize := full * w.bs
	rbuf := make([]byte, 16*w.bs)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := r.Read(rbuf)
		if n > 0 {
			buf = append(buf, rbuf[:n]...)
			for uint64(len(buf)) >= w.bs {
				idx := w.add(buf[:w.bs:w.bs])
				cur.Blocks = addRange(cur.Blocks, idx, idx+1)
				fullSize += w.bs
				buf = append(make([]byte, 0, w.bs), buf[w.bs:]...)
			}
			blocks := cur.Blocks
			if len(buf) > 0 {
				idx := w.add(slices.Clone(buf))
				cur.Blocks = addRange(slices.Clone(cur.Blocks), idx, idx+1)
			}
			cur.Size = fullSize + uint64(len(buf))
			h := w.head
			if _, err := w.flush(files); err != nil {
				return fmt.Errorf("appending stream: %w", err)
			}
			cur.Blocks = blocks // drop the partial block: the next append repeats it
			if opts.OnAppend != nil && w.head != h {
				opts.OnAppend(w.head)
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("appending stream: reading: %w", rerr)
		}
	}
}
