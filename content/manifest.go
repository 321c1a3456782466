package content

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// Format constants and bounds. Every bound is checked when decoding.
const (
	// Version is the manifest format version this package writes and reads.
	Version = 1
	// DefaultBlockSize is the content block size of a new feed: 64 KiB.
	DefaultBlockSize = 64 << 10
	// MinBlockSize and MaxBlockSize bound the block size a manifest may declare.
	MinBlockSize = 1 << 10
	MaxBlockSize = 1 << 20
	// MaxManifestSize bounds the encoded manifest (16 MiB): about 100k files
	// with short paths. It keeps a reader's memory bounded.
	MaxManifestSize = MaxManifestBlocks * ManifestChunkSize
	// MaxFiles bounds the number of files in one manifest.
	MaxFiles = 1 << 20
	// maxArray bounds any CBOR array while decoding (files, ranges).
	maxArray = 1 << 21
)

// Range is a half-open range [Start, End) of block indexes of a feed.
// It encodes as the CBOR array [start, end].
type Range struct {
	_          struct{} `cbor:",toarray"`
	Start, End uint64
}

// Len returns End-Start.
func (r Range) Len() uint64 { return r.End - r.Start }

// File is one file of a manifest. Its bytes are the concatenation of its
// blocks, in the order of Blocks; every block but the last is exactly the
// manifest's block size, the last holds the rest (1..block size bytes), and
// an empty file has no blocks. So the blocks count ceil(Size / BlockSize).
type File struct {
	// Path is relative, clean, '/'-separated and NFC (CheckPath).
	Path string `cbor:"1,keyasint"`
	// Size is the file length in bytes.
	Size uint64 `cbor:"2,keyasint"`
	// Mode is 0o644 or 0o755.
	Mode uint32 `cbor:"3,keyasint"`
	// Blocks lists the feed blocks holding the bytes, in file order.
	// Adjacent ranges are merged.
	Blocks []Range `cbor:"4,keyasint"`
	// SHA256 is the SHA-256 of the whole file, or empty when the writer did
	// not compute it (while a file is still being appended, for instance).
	// The feed's merkle proofs already authenticate every byte.
	SHA256 []byte `cbor:"5,keyasint,omitempty"`
}

// BlockCount returns the number of blocks listed in f.Blocks.
func (f *File) BlockCount() uint64 {
	var n uint64
	for _, r := range f.Blocks {
		n += r.Len()
	}
	return n
}

// Manifest describes the files of a content feed at one length. It is
// encoded as core deterministic CBOR with integer keys (docs/content-feed.md).
type Manifest struct {
	// Version is the format version; always Version.
	Version uint64 `cbor:"1,keyasint"`
	// BlockSize is the size of content blocks; fixed for the life of a feed.
	BlockSize uint64 `cbor:"2,keyasint"`
	// Files are sorted by Path (byte order), with no duplicates and no file
	// that is also a folder of another.
	Files []File `cbor:"3,keyasint"`
	// TotalSize is the sum of the files' sizes.
	TotalSize uint64 `cbor:"4,keyasint"`
	// Created and Updated are Unix times in milliseconds: the first share of
	// the feed and the batch that wrote this manifest.
	Created uint64 `cbor:"5,keyasint"`
	Updated uint64 `cbor:"6,keyasint"`
	// Name is a display name (the shared folder's or file's base name), one
	// path segment, or empty.
	Name string `cbor:"7,keyasint,omitempty"`

	// Length is the feed length this manifest was read at (the manifest's
	// last block is Length-1), and Start its first block. Zero when the
	// manifest was not read from a feed. Not encoded.
	Length uint64 `cbor:"-"`
	Start  uint64 `cbor:"-"`
}

var (
	encMode = func() cbor.EncMode {
		o := cbor.CoreDetEncOptions()
		o.NilContainers = cbor.NilContainerAsEmpty
		m, err := o.EncMode()
		if err != nil {
			panic(err) // unreachable: static options
		}
		return m
	}()
	decMode = func() cbor.DecMode {
		m, err := cbor.DecOptions{
			DupMapKey:         cbor.DupMapKeyEnforcedAPF,
			IndefLength:       cbor.IndefLengthForbidden,
			TagsMd:            cbor.TagsForbidden,
			ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
			MaxNestedLevels:   8,
			MaxArrayElements:  maxArray,
			MaxMapPairs:       16,
			UTF8:              cbor.UTF8RejectInvalid,
		}.DecMode()
		if err != nil {
			panic(err) // unreachable: static options
		}
		return m
	}()
)

// Marshal checks m (as DecodeManifest would) and returns its canonical bytes.
func (m *Manifest) Marshal() ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	b, err := encMode.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding manifest: %w", err)
	}
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %d bytes, max %d", ErrBadManifest, len(b), MaxManifestSize)
	}
	return b, nil
}

// DecodeManifest decodes and checks one manifest. It rejects input that is
// not the canonical encoding of a valid manifest (so one manifest has one
// encoding), is larger than MaxManifestSize, or breaks a rule of File and
// Manifest. Errors wrap ErrBadManifest (or ErrUnsafePath for a path). It
// never panics.
func DecodeManifest(b []byte) (*Manifest, error) {
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %d bytes, max %d", ErrBadManifest, len(b), MaxManifestSize)
	}
	m := new(Manifest)
	if err := decMode.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%w: decoding: %v", ErrBadManifest, err)
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	re, err := encMode.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%w: re-encoding: %v", ErrBadManifest, err)
	}
	if !bytes.Equal(re, b) {
		return nil, fmt.Errorf("%w: not canonical CBOR", ErrBadManifest)
	}
	return m, nil
}

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadManifest}, args...)...)
}

// check enforces every rule of the format except canonical bytes.
func (m *Manifest) check() error {
	if m.Version != Version {
		return badf("version %d, want %d", m.Version, Version)
	}
	if m.BlockSize < MinBlockSize || m.BlockSize > MaxBlockSize {
		return badf("block size %d out of [%d, %d]", m.BlockSize, MinBlockSize, MaxBlockSize)
	}
	if len(m.Files) > MaxFiles {
		return badf("%d files, max %d", len(m.Files), MaxFiles)
	}
	if m.Name != "" {
		if err := CheckPath(m.Name); err != nil || strings.Contains(m.Name, "/") {
			return badf("name %q is not one safe path segment", m.Name)
		}
	}
	if m.Updated < m.Created {
		return badf("updated %d before created %d", m.Updated, m.Created)
	}
	var total uint64
	paths := make(map[string]struct{}, len(m.Files))
	for i := range m.Files {
		f := &m.Files[i]
		if err := CheckPath(f.Path); err != nil {
			return fmt.Errorf("%w: file %d: %w", ErrBadManifest, i, err)
		}
		if i > 0 && m.Files[i-1].Path >= f.Path {
			return badf("files not sorted by path at %q", f.Path)
		}
		paths[f.Path] = struct{}{}
		if f.Mode != 0o644 && f.Mode != 0o755 {
			return badf("%q: mode %#o, want 0644 or 0755", f.Path, f.Mode)
		}
		if len(f.SHA256) != 0 && len(f.SHA256) != 32 {
			return badf("%q: sha256 of %d bytes", f.Path, len(f.SHA256))
		}
		var n uint64
		for j, r := range f.Blocks {
			if r.End <= r.Start {
				return badf("%q: empty or reversed block range [%d, %d)", f.Path, r.Start, r.End)
			}
			if j > 0 && f.Blocks[j-1].End == r.Start {
				return badf("%q: adjacent block ranges not merged", f.Path)
			}
			if n+r.Len() < n {
				return badf("%q: block count overflows", f.Path)
			}
			n += r.Len()
		}
		if want := blocksFor(f.Size, m.BlockSize); n != want {
			return badf("%q: %d blocks for %d bytes, want %d", f.Path, n, f.Size, want)
		}
		if total+f.Size < total {
			return badf("total size overflows")
		}
		total += f.Size
	}
	if total != m.TotalSize {
		return badf("total size %d, files sum to %d", m.TotalSize, total)
	}
	// A file must not also be a folder of another file ("a" and "a/b").
	for i := range m.Files {
		p := m.Files[i].Path
		for j := strings.LastIndexByte(p, '/'); j > 0; j = strings.LastIndexByte(p[:j], '/') {
			if _, ok := paths[p[:j]]; ok {
				return badf("%q is both a file and a folder of %q", p[:j], p)
			}
		}
	}
	return nil
}

// blocksFor returns ceil(size / bs).
func blocksFor(size, bs uint64) uint64 { return size/bs + min(size%bs, 1) }

// File returns the file of path p, or nil.
func (m *Manifest) File(p string) *File {
	lo, hi := 0, len(m.Files)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if m.Files[mid].Path < p {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(m.Files) && m.Files[lo].Path == p {
		return &m.Files[lo]
	}
	return nil
}

// BlocksFor returns the block ranges a sparse replica must hold to read the
// file at path p (the manifest's own blocks aside). The error wraps ErrNoFile.
func (m *Manifest) BlocksFor(p string) ([]Range, error) {
	f := m.File(p)
	if f == nil {
		return nil, fmt.Errorf("%w: %q", ErrNoFile, p)
	}
	return append([]Range(nil), f.Blocks...), nil
}

// ManifestBlocks returns the range of blocks holding m in its feed,
// [Start, Length); empty if m was not read from a feed.
func (m *Manifest) ManifestBlocks() Range { return Range{Start: m.Start, End: m.Length} }

// addRange appends block range [start, end) to rs, merging with the last
// range when adjacent.
func addRange(rs []Range, start, end uint64) []Range {
	if n := len(rs); n > 0 && rs[n-1].End == start {
		rs[n-1].End = end
		return rs
	}
	return append(rs, Range{Start: start, End: end})
}

// truncateBlocks returns the first n blocks of rs (a new slice).
func truncateBlocks(rs []Range, n uint64) []Range {
	var out []Range
	for _, r := range rs {
		if n == 0 {
			break
		}
		k := min(r.Len(), n)
		out = append(out, Range{Start: r.Start, End: r.Start + k})
		n -= k
	}
	return out
}

// blockAt returns the feed index of the k-th block of rs, or false.
func blockAt(rs []Range, k uint64) (uint64, bool) {
	for _, r := range rs {
		if k < r.Len() {
			return r.Start + k, true
		}
		k -= r.Len()
	}
	return 0, false
}
