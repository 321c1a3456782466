package content

import (
	"fmt"
	"time"

	"indexd/feedtree"
)

// DefaultBatchBlocks is how many data blocks a writer gathers before it
// appends them, with the current manifest, under one signature.
const DefaultBatchBlocks = 256

// writer appends data blocks to a feed in batches, each batch ending with
// the manifest snapshot its caller gives. It assumes it is the feed's only
// writer while it runs.
type writer struct {
	f       *feedtree.Feed
	bs      uint64
	batch   int
	now     func() time.Time
	created uint64
	name    string

	pending [][]byte // data blocks not yet appended
	base    uint64   // feed length after the last append
	head    feedtree.Head
	mblocks int // blocks of the last manifest written

	dataBlocks, manifestBlocks uint64 // appended so far
}

func newWriter(f *feedtree.Feed, old *Manifest, bs uint64, batch int, now func() time.Time) (*writer, error) {
	if !f.Writable() {
		return nil, feedtree.ErrNotWritable
	}
	if old != nil {
		if bs != 0 && bs != old.BlockSize {
			return nil, fmt.Errorf("block size %d, but the feed uses %d", bs, old.BlockSize)
		}
		bs = old.BlockSize
	}
	if bs == 0 {
		bs = DefaultBlockSize
	}
	if bs < MinBlockSize || bs > MaxBlockSize {
		return nil, fmt.Errorf("block size %d out of [%d, %d]", bs, MinBlockSize, MaxBlockSize)
	}
	if batch <= 0 {
		batch = DefaultBatchBlocks
	}
	if now == nil {
		now = time.Now
	}
	w := &writer{f: f, bs: bs, batch: batch, now: now, base: f.Length(), head: f.Head()}
	if old != nil {
		w.created, w.name = old.Created, old.Name
	}
	return w, nil
}

// add queues data block b and returns the feed index it will have.
func (w *writer) add(b []byte) uint64 {
	w.pending = append(w.pending, b)
	return w.base + uint64(len(w.pending)) - 1
}

// full reports whether enough blocks are queued to append a batch. For a
// manifest over several blocks the threshold grows with it, so that
// manifests stay a small part of the feed.
func (w *writer) full() bool {
	if w.mblocks > 1 {
		return len(w.pending) >= max(w.batch, 8*w.mblocks)
	}
	return len(w.pending) >= w.batch
}

// flush appends the queued blocks followed by manifest m (files only; the
// writer fills in the other fields) under one signature.
func (w *writer) flush(files []File) (*Manifest, error) {
	now := uint64(max(0, w.now().UnixMilli()))
	if w.created == 0 || w.created > now {
		w.created = now
	}
	m := &Manifest{Version: Version, BlockSize: w.bs, Files: files, Created: w.created, Updated: now, Name: w.name}
	for _, f := range files {
		m.TotalSize += f.Size
	}
	enc, err := m.Marshal()
	if err != nil {
		return nil, fmt.Errorf("encoding manifest: %w", err)
	}
	mb := manifestBlocks(enc)
	blocks := append(w.pending, mb...)
	h, err := w.f.Append(blocks...)
	if err != nil {
		return nil, fmt.Errorf("appending %d blocks: %w", len(blocks), err)
	}
	if want := w.base + uint64(len(blocks)); h.Length != want {
		return nil, fmt.Errorf("appending: feed length %d, want %d (another writer?)", h.Length, want)
	}
	w.dataBlocks += uint64(len(w.pending))
	w.manifestBlocks += uint64(len(mb))
	clear(w.pending)
	w.pending = w.pending[:0]
	w.base, w.head, w.mblocks = h.Length, h, len(mb)
	m.Length, m.Start = h.Length, h.Length-uint64(len(mb))
	return m, nil
}
