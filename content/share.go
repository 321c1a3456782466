package content

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"indexd/feedtree"
)

// ShareOptions tunes Share and ShareBytes. The zero value means defaults.
type ShareOptions struct {
	// BlockSize is the content block size of a new feed; an existing feed
	// keeps its own, and a different non-zero value is an error.
	// Default: DefaultBlockSize (64 KiB).
	BlockSize int
	// BatchBlocks is how many data blocks are appended under one
	// signature, each batch ending with the manifest. Default: 256.
	BatchBlocks int
	// SkipSHA256 leaves File.SHA256 empty for files it appends (faster;
	// change detection then compares against the feed's blocks).
	// Default: false.
	SkipSHA256 bool
	// Now gives the time recorded in manifests. Default: time.Now.
	Now func() time.Time
	// OnSkip, if set, is told of each file a folder walk leaves out
	// (symbolic links, devices, names that are not safe manifest paths).
	// Default: nil (skip silently).
	OnSkip func(path, reason string)
}

// source is one file to share.
type source struct {
	path string
	mode uint32
	open func() (io.ReadSeekCloser, error)
}

// Share makes the feed f hold the file or folder at root: it reads the
// manifest at f's current length (if any), then appends, in batches that
// each end with the manifest as it stands, what changed since: new files,
// the new tail of a grown file (re-appending its old partial last block),
// and changed files whole. Unchanged files keep their blocks; files gone
// from root drop out of the manifest. If nothing changed it appends
// nothing and returns the current manifest and head.
//
// Symbolic links inside root are never followed (they are skipped), nor
// are devices, sockets and pipes. f must be writable and have no other
// writer while Share runs. The cost is one read of every file (hashing)
// plus the appended bytes.
func Share(ctx context.Context, f *feedtree.Feed, root string, opts ShareOptions) (*Manifest, feedtree.Head, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, feedtree.Head{}, fmt.Errorf("sharing: %w", err)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, feedtree.Head{}, fmt.Errorf("sharing: %w", err)
	}
	name, err := CleanPath(filepath.Base(abs))
	if err != nil || strings.Contains(name, "/") {
		name = ""
	}
	var srcs []source
	switch {
	case fi.Mode().IsRegular():
		if name == "" {
			return nil, feedtree.Head{}, fmt.Errorf("sharing %s: %w", root, ErrUnsafePath)
		}
		srcs = []source{fileSource(abs, name, fi.Mode())}
	case fi.IsDir():
		srcs, err = walk(abs, opts.OnSkip)
		if err != nil {
			return nil, feedtree.Head{}, fmt.Errorf("sharing %s: %w", root, err)
		}
	default:
		return nil, feedtree.Head{}, fmt.Errorf("sharing %s: not a regular file or folder", root)
	}
	return share(ctx, f, srcs, name, opts)
}

// ShareBytes makes f hold one file, name, with the bytes data: the form in
// which an entry's original .torrent travels. Like Share, it appends only
// if the content changed.
func ShareBytes(ctx context.Context, f *feedtree.Feed, name string, data []byte, opts ShareOptions) (*Manifest, feedtree.Head, error) {
	if err := CheckPath(name); err != nil {
		return nil, feedtree.Head{}, fmt.Errorf("sharing bytes: %w", err)
	}
	src := source{path: name, mode: 0o644, open: func() (io.ReadSeekCloser, error) {
		return nopCloser{bytes.NewReader(data)}, nil
	}}
	display := name
	if strings.Contains(name, "/") {
		display = ""
	}
	return share(ctx, f, []source{src}, display, opts)
}

type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }

func fileMode(m fs.FileMode) uint32 {
	if m&0o111 != 0 {
		return 0o755
	}
	return 0o644
}

func fileSource(osPath, p string, m fs.FileMode) source {
	return source{path: p, mode: fileMode(m), open: func() (io.ReadSeekCloser, error) {
		fh, err := os.OpenFile(osPath, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return nil, err
		}
		if st, err := fh.Stat(); err != nil || !st.Mode().IsRegular() {
			fh.Close()
			return nil, fmt.Errorf("%s: no longer a regular file", osPath)
		}
		return fh, nil
	}}
}

// walk lists the regular files under root, sorted by manifest path.
func walk(root string, onSkip func(path, reason string)) ([]source, error) {
	skip := func(p, why string) {
		if onSkip != nil {
			onSkip(p, why)
		}
	}
	var srcs []source
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(osPath string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if osPath == root {
			return nil
		}
		t := d.Type()
		switch {
		case t&fs.ModeSymlink != 0:
			skip(osPath, "symbolic link (not followed)")
			return nil
		case d.IsDir():
			return nil
		case !t.IsRegular():
			skip(osPath, "not a regular file")
			return nil
		}
		rel, err := filepath.Rel(root, osPath)
		if err != nil {
			return err
		}
		p, err := CleanPath(rel)
		if err != nil {
			skip(osPath, err.Error())
			return nil
		}
		if seen[p] {
			skip(osPath, "same name as another file after Unicode normalization")
			return nil
		}
		seen[p] = true
		fi, err := d.Info()
		if err != nil {
			return err
		}
		srcs = append(srcs, fileSource(osPath, p, fi.Mode()))
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(srcs, func(a, b source) int { return strings.Compare(a.path, b.path) })
	return srcs, nil
}

// share appends what changed in srcs (sorted by path) since f's manifest.
func share(ctx context.Context, f *feedtree.Feed, srcs []source, name string, opts ShareOptions) (*Manifest, feedtree.Head, error) {
	old, err := ReadManifest(ctx, f, nil)
	if errors.Is(err, ErrNoManifest) {
		old, err = nil, nil
	}
	if err != nil {
		return nil, feedtree.Head{}, fmt.Errorf("reading the current manifest: %w", err)
	}
	w, err := newWriter(f, old, uint64(max(0, opts.BlockSize)), opts.BatchBlocks, opts.Now)
	if err != nil {
		return nil, feedtree.Head{}, err
	}
	w.name = name
	// state[i] is what the manifest says of srcs[i] right now: its old
	// entry until it is replaced, or nil.
	state := make([]*File, len(srcs))
	if old != nil {
		for i, s := range srcs {
			if e := old.File(s.path); e != nil {
				c := *e
				state[i] = &c
			}
		}
	}
	snapshot := func() []File {
		files := make([]File, 0, len(state))
		for _, e := range state {
			if e != nil {
				c := *e
				c.Blocks = slices.Clone(e.Blocks)
				files = append(files, c)
			}
		}
		return files
	}
	for i, s := range srcs {
		if err := w.shareFile(ctx, s, &state[i], !opts.SkipSHA256, snapshot); err != nil {
			return nil, feedtree.Head{}, fmt.Errorf("sharing %s: %w", s.path, err)
		}
	}
	files := snapshot()
	if old != nil && len(w.pending) == 0 && old.Name == name && filesEqual(old.Files, files) {
		return old, f.Head(), nil
	}
	m, err := w.flush(files)
	if err != nil {
		return nil, feedtree.Head{}, err
	}
	return m, w.head, nil
}

func filesEqual(a, b []File) bool {
	return slices.EqualFunc(a, b, func(x, y File) bool {
		return x.Path == y.Path && x.Size == y.Size && x.Mode == y.Mode &&
			slices.Equal(x.Blocks, y.Blocks) && bytes.Equal(x.SHA256, y.SHA256)
	})
}

// shareFile brings *slot up to date with s, queueing (and flushing) the
// blocks that must be appended.
func (w *writer) shareFile(ctx context.Context, s source, slot **File, withSHA bool, snapshot func() []File) error {
	r, err := s.open()
	if err != nil {
		return err
	}
	defer r.Close()
	var h hash.Hash
	if withSHA {
		h = sha256.New()
	}
	cur := &File{Path: s.path, Mode: s.mode}
	hashed := uint64(0) // bytes of the file already written to h
	if e := *slot; e != nil {
		same, hh, err := w.prefixMatches(r, e, h)
		if err != nil {
			return err
		}
		if same {
			var one [1]byte
			if n, _ := io.ReadFull(r, one[:]); n == 0 {
				// Unchanged: keep the blocks (the mode may change).
				c := *e
				c.Mode = s.mode
				if withSHA && len(c.SHA256) == 0 {
					c.SHA256 = hh.Sum(nil)
				}
				*slot = &c
				return nil
			}
			// Grown: keep the full old blocks, re-append from the partial one.
			full := e.Size / w.bs
			cur.Blocks = truncateBlocks(e.Blocks, full)
			cur.Size = full * w.bs
			if h != nil {
				h, hashed = hh, e.Size
			}
			*slot = cur
		} else if h != nil {
			h.Reset()
		}
		if _, err := r.Seek(int64(cur.Size), io.SeekStart); err != nil {
			return err
		}
	} else {
		*slot = cur // a new file shows as it grows
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		blk := make([]byte, w.bs)
		n, err := io.ReadFull(r, blk)
		if n > 0 {
			blk = blk[:n]
			if h != nil && cur.Size+uint64(n) > hashed {
				h.Write(blk[min(hashed-min(hashed, cur.Size), uint64(n)):]) // skip bytes already hashed
			}
			idx := w.add(blk)
			cur.Blocks = addRange(cur.Blocks, idx, idx+1)
			cur.Size += uint64(n)
			hashed = max(hashed, cur.Size)
			if w.full() {
				if _, err := w.flush(snapshot()); err != nil {
					return err
				}
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if h != nil {
		cur.SHA256 = h.Sum(nil)
	}
	*slot = cur
	return nil
}

// prefixMatches reports whether r starts with the old file e, reading
// e.Size bytes. It returns a SHA-256 state over those bytes (h, or a new
// one when h is nil and e has a SHA-256 to compare with).
func (w *writer) prefixMatches(r io.Reader, e *File, h hash.Hash) (bool, hash.Hash, error) {
	if len(e.SHA256) == 32 {
		if h == nil {
			h = sha256.New()
		}
		n, err := io.CopyN(h, r, int64(e.Size))
		if err == io.EOF || uint64(n) < e.Size {
			return false, h, nil
		}
		if err != nil {
			return false, h, err
		}
		return bytes.Equal(h.Sum(nil), e.SHA256), h, nil
	}
	// No hash in the manifest: compare with the feed's blocks.
	buf := make([]byte, w.bs)
	left := e.Size
	for k := uint64(0); left > 0; k++ {
		i, ok := blockAt(e.Blocks, k)
		if !ok {
			return false, h, nil
		}
		want, err := w.f.Get(i)
		if err != nil {
			return false, h, fmt.Errorf("reading block %d: %w", i, err)
		}
		n := min(left, w.bs)
		if _, err := io.ReadFull(r, buf[:n]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return false, h, nil
			}
			return false, h, err
		}
		if !bytes.Equal(buf[:n], want) {
			return false, h, nil
		}
		if h != nil {
			h.Write(buf[:n])
		}
		left -= n
	}
	return true, h, nil
}
