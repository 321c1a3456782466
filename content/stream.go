package content

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"indexd/feedtree"
)

// StreamOptions tunes Stream. The zero value means defaults.
type StreamOptions struct {
	// Fetch makes missing blocks present. Default: nil (use held blocks only).
	Fetch FetchFunc
	// Once writes what the current manifest holds and returns, instead of
	// following the feed. Default: false (follow until ctx is done).
	Once bool
}

// Stream writes the bytes of file name of feed f to w, from the start,
// then follows f live: each time the signed length grows (f.Wait) it reads
// the new manifest and writes the file's new bytes. An empty name means the
// feed's only file. It waits for the file to appear. It returns ctx.Err()
// when ctx is done, ErrRewritten if the file changes other than by
// appending, and an error wrapping ErrNoFile if it disappears.
func Stream(ctx context.Context, f *feedtree.Feed, name string, w io.Writer, opts StreamOptions) error {
	var (
		written uint64
		prev    *File
		tail    []byte // bytes of the file's last partial block already written
		length  uint64
		bs      uint64
	)
	for {
		if l := f.Length(); l > length || prev == nil {
			m, err := readManifestAt(ctx, f, l, opts.Fetch)
			switch {
			case errors.Is(err, ErrNoManifest):
			case err != nil:
				return fmt.Errorf("streaming: %w", err)
			default:
				file, err := pickFile(m, name)
				if err != nil && (prev != nil || name == "" && len(m.Files) > 1) {
					return fmt.Errorf("streaming: %w", err)
				}
				if file != nil {
					if prev != nil {
						full := prev.Size / bs
						if file.Size < prev.Size || !slices.Equal(truncateBlocks(prev.Blocks, full), truncateBlocks(file.Blocks, full)) {
							return fmt.Errorf("streaming %s: %w", file.Path, ErrRewritten)
						}
					}
					bs = m.BlockSize
					written, tail, err = streamFile(ctx, f, file, bs, written, tail, w, opts.Fetch)
					if err != nil {
						return fmt.Errorf("streaming %s: %w", file.Path, err)
					}
					c := *file
					prev = &c
				}
			}
			length = l
		}
		if opts.Once {
			if prev == nil {
				return fmt.Errorf("streaming: %w: %q", ErrNoFile, name)
			}
			return nil
		}
		if _, err := f.Wait(ctx, length); err != nil {
			return err
		}
	}
}

func pickFile(m *Manifest, name string) (*File, error) {
	if name == "" {
		if len(m.Files) == 1 {
			return &m.Files[0], nil
		}
		return nil, fmt.Errorf("%w: no file name given and the feed holds %d files", ErrNoFile, len(m.Files))
	}
	if file := m.File(name); file != nil {
		return file, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrNoFile, name)
}

// streamFile writes bytes [written, file.Size) of file to w and returns
// the new written count and partial-block tail.
func streamFile(ctx context.Context, f *feedtree.Feed, file *File, bs, written uint64, tail []byte, w io.Writer, fetch FetchFunc) (uint64, []byte, error) {
	for k := written / bs; k*bs < file.Size; k++ {
		i, ok := blockAt(file.Blocks, k)
		if !ok {
			return written, tail, fmt.Errorf("%w: block %d of the file missing from the manifest", ErrBadManifest, k)
		}
		b, err := getBlock(ctx, f, i, i+1, fetch)
		if err != nil {
			return written, tail, fmt.Errorf("reading block %d: %w", i, err)
		}
		if want := blockLen(file.Size, bs, k); uint64(len(b)) != want {
			return written, tail, fmt.Errorf("%w: block %d is %d bytes, want %d", ErrCorrupt, i, len(b), want)
		}
		skip := written - k*bs
		if skip > uint64(len(b)) || !bytes.Equal(b[:skip], tail[:min(int(skip), len(tail))]) || uint64(len(tail)) != skip {
			return written, tail, ErrRewritten
		}
		if _, err := w.Write(b[skip:]); err != nil {
			return written, tail, err
		}
		written = k*bs + uint64(len(b))
		tail = tail[:0]
		if uint64(len(b)) < bs {
			tail = append(tail, b...)
		}
	}
	return written, tail, nil
}
