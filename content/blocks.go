package content

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"indexd/feedtree"
)

// Manifest blocks. A manifest is cut into chunks of at most
// ManifestChunkSize bytes; each chunk is one feed block:
//
//	"IXM" 0x01 | u16be i | u16be n | chunk i of n
//
// The last chunk (i = n-1) is always the feed's last block, so a reader
// holding only a signed length L reads block L-1, learns n from it, and
// reads blocks L-n .. L-2 for the rest.
const (
	// ManifestChunkSize bounds the manifest bytes held by one block.
	ManifestChunkSize = 64 << 10
	// MaxManifestBlocks bounds the number of blocks of one manifest.
	MaxManifestBlocks = 256
	// manifestHeaderLen is the length of a manifest block's header.
	manifestHeaderLen = 8
)

var manifestMagic = [4]byte{'I', 'X', 'M', 1}

// FetchFunc makes blocks [start, end) of a feed present locally, for
// instance by downloading them from peers and verifying them into the feed
// (feedtree.Feed.Put). It returns once they are held or fails.
type FetchFunc func(ctx context.Context, start, end uint64) error

// manifestBlocks cuts encoded manifest b into blocks.
func manifestBlocks(b []byte) [][]byte {
	n := max(1, (len(b)+ManifestChunkSize-1)/ManifestChunkSize)
	out := make([][]byte, 0, n)
	for i := range n {
		chunk := b[i*ManifestChunkSize : min(len(b), (i+1)*ManifestChunkSize)]
		blk := make([]byte, manifestHeaderLen, manifestHeaderLen+len(chunk))
		copy(blk, manifestMagic[:])
		binary.BigEndian.PutUint16(blk[4:], uint16(i))
		binary.BigEndian.PutUint16(blk[6:], uint16(n))
		out = append(out, append(blk, chunk...))
	}
	return out
}

// parseManifestBlock splits a manifest block into its header fields and
// chunk. It never panics.
func parseManifestBlock(b []byte) (i, n int, chunk []byte, err error) {
	if len(b) < manifestHeaderLen || [4]byte(b[:4]) != manifestMagic {
		return 0, 0, nil, fmt.Errorf("%w: not a manifest block", ErrBadManifest)
	}
	i = int(binary.BigEndian.Uint16(b[4:]))
	n = int(binary.BigEndian.Uint16(b[6:]))
	chunk = b[manifestHeaderLen:]
	switch {
	case n < 1 || n > MaxManifestBlocks:
		return 0, 0, nil, fmt.Errorf("%w: manifest of %d blocks, max %d", ErrBadManifest, n, MaxManifestBlocks)
	case i >= n:
		return 0, 0, nil, fmt.Errorf("%w: manifest block %d of %d", ErrBadManifest, i, n)
	case len(chunk) > ManifestChunkSize:
		return 0, 0, nil, fmt.Errorf("%w: manifest chunk of %d bytes, max %d", ErrBadManifest, len(chunk), ManifestChunkSize)
	case i < n-1 && len(chunk) != ManifestChunkSize:
		return 0, 0, nil, fmt.Errorf("%w: short manifest chunk %d of %d", ErrBadManifest, i, n)
	}
	return i, n, chunk, nil
}

// ReadManifest reads the manifest ending at f's current signed length,
// fetching missing manifest blocks with fetch (nil: use only blocks f
// holds; a missing block then fails with an error wrapping
// feedtree.ErrNotFound). It checks that every file's blocks lie before
// the manifest. An empty feed gives ErrNoManifest.
func ReadManifest(ctx context.Context, f *feedtree.Feed, fetch FetchFunc) (*Manifest, error) {
	return readManifestAt(ctx, f, f.Length(), fetch)
}

func readManifestAt(ctx context.Context, f *feedtree.Feed, length uint64, fetch FetchFunc) (*Manifest, error) {
	if length == 0 {
		return nil, ErrNoManifest
	}
	last, err := getBlock(ctx, f, length-1, length, fetch)
	if err != nil {
		return nil, fmt.Errorf("reading manifest block %d: %w", length-1, err)
	}
	i, n, chunk, err := parseManifestBlock(last)
	if err != nil {
		return nil, fmt.Errorf("reading manifest block %d: %w", length-1, err)
	}
	if i != n-1 || uint64(n) > length {
		return nil, fmt.Errorf("%w: last block is chunk %d of %d at length %d", ErrBadManifest, i, n, length)
	}
	start := length - uint64(n)
	var b []byte
	if n > 1 {
		if fetch != nil {
			if err := fetchMissing(ctx, f, start, length-1, fetch); err != nil {
				return nil, fmt.Errorf("fetching manifest blocks [%d, %d): %w", start, length-1, err)
			}
		}
		b = make([]byte, 0, n*ManifestChunkSize)
		for k := range n - 1 {
			blk, err := f.Get(start + uint64(k))
			if err != nil {
				return nil, fmt.Errorf("reading manifest block %d: %w", start+uint64(k), err)
			}
			ci, cn, c, err := parseManifestBlock(blk)
			if err != nil {
				return nil, fmt.Errorf("reading manifest block %d: %w", start+uint64(k), err)
			}
			if ci != k || cn != n {
				return nil, fmt.Errorf("%w: block %d is chunk %d of %d, want %d of %d", ErrBadManifest, start+uint64(k), ci, cn, k, n)
			}
			b = append(b, c...)
		}
	}
	b = append(b, chunk...)
	m, err := DecodeManifest(b)
	if err != nil {
		return nil, err
	}
	for _, file := range m.Files {
		for _, r := range file.Blocks {
			if r.End > start {
				return nil, fmt.Errorf("%w: %q: blocks [%d, %d) not before the manifest at %d", ErrBadManifest, file.Path, r.Start, r.End, start)
			}
		}
	}
	m.Length, m.Start = length, start
	return m, nil
}

// getBlock returns block i, fetching it first (as [i, end)) when missing.
func getBlock(ctx context.Context, f *feedtree.Feed, i, end uint64, fetch FetchFunc) ([]byte, error) {
	b, err := f.Get(i)
	if err == nil || fetch == nil || !errors.Is(err, feedtree.ErrNotFound) {
		return b, err
	}
	if err := fetch(ctx, i, end); err != nil {
		return nil, err
	}
	return f.Get(i)
}

// fetchMissing calls fetch for each maximal run of missing blocks in [start, end).
func fetchMissing(ctx context.Context, f *feedtree.Feed, start, end uint64, fetch FetchFunc) error {
	for i := start; i < end; {
		if f.Has(i) {
			i++
			continue
		}
		j := i + 1
		for j < end && !f.Has(j) {
			j++
		}
		if err := fetch(ctx, i, j); err != nil {
			return err
		}
		i = j
	}
	return nil
}
