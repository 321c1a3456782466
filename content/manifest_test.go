package content

import (
	"context"
	"errors"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

func TestCheckPath(t *testing.T) {
	good := []string{"a", "a/b", "été/日本.mkv", "a b/c-d_e.f", ".hidden", "..a", "a..", "ab:c", "x/C_drive"}
	for _, p := range good {
		if err := CheckPath(p); err != nil {
			t.Errorf("CheckPath(%q) = %v; want nil", p, err)
		}
	}
	bad := []string{"", "/a", "../a", "a/..", "a/../b", ".", "./a", "a/./b", "a//b", "a/", `a\b`, "a\x00b",
		"a\nb", "C:", "c:/x", "a/D:x", "a:b", "\xff", "e\u0301", strings.Repeat("a", 256), strings.Repeat("a/", 64) + "a",
		strings.Repeat(strings.Repeat("b", 200)+"/", 21) + "c"}
	for _, p := range bad {
		if err := CheckPath(p); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("CheckPath(%q) = %v; want ErrUnsafePath", p, err)
		}
	}
}

func TestCheckPathAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { CheckPath("some/folder/file name.mkv") }); n != 0 {
		t.Errorf("CheckPath allocates %v times; want 0", n)
	}
}

func validManifest() *Manifest {
	return &Manifest{Version: Version, BlockSize: bs, Created: 1, Updated: 2, Name: "x", TotalSize: bs + 3,
		Files: []File{
			{Path: "a", Size: 0, Mode: 0o644, Blocks: []Range{}},
			{Path: "b/c", Size: bs + 3, Mode: 0o755, Blocks: []Range{{Start: 0, End: 1}, {Start: 5, End: 6}}, SHA256: make([]byte, 32)},
		}}
}

func TestManifestRoundTrip(t *testing.T) {
	m := validManifest()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeManifest(b)
	if err != nil {
		t.Fatalf("DecodeManifest(Marshal(m)) = %v", err)
	}
	b2, _ := got.Marshal()
	if string(b) != string(b2) {
		t.Fatalf("round trip changed bytes")
	}
	if r, _ := got.BlocksFor("b/c"); len(r) != 2 {
		t.Errorf("BlocksFor(b/c) = %v", r)
	}
	if _, err := got.BlocksFor("nope"); !errors.Is(err, ErrNoFile) {
		t.Errorf("BlocksFor(nope) = %v; want ErrNoFile", err)
	}
}

func TestManifestRejects(t *testing.T) {
	cases := map[string]func(m *Manifest){
		"version":         func(m *Manifest) { m.Version = 2 },
		"block-size":      func(m *Manifest) { m.BlockSize = 10 },
		"total":           func(m *Manifest) { m.TotalSize++ },
		"unsorted":        func(m *Manifest) { m.Files[0].Path = "z" },
		"duplicate":       func(m *Manifest) { m.Files[0].Path = "b/c"; m.Files[0].Size = 0 },
		"file-is-folder":  func(m *Manifest) { m.Files[0].Path = "b" },
		"mode":            func(m *Manifest) { m.Files[0].Mode = 0o4755 },
		"sha-length":      func(m *Manifest) { m.Files[1].SHA256 = []byte{1} },
		"too-few-blocks":  func(m *Manifest) { m.Files[1].Blocks = m.Files[1].Blocks[:1] },
		"empty-range":     func(m *Manifest) { m.Files[1].Blocks[1] = Range{Start: 5, End: 5} },
		"unmerged-ranges": func(m *Manifest) { m.Files[1].Blocks[1] = Range{Start: 1, End: 2} },
		"unsafe-path":     func(m *Manifest) { m.Files[0].Path = "../a" },
		"name-has-slash":  func(m *Manifest) { m.Name = "a/b" },
		"updated-early":   func(m *Manifest) { m.Updated = 0 },
	}
	for name, mutate := range cases {
		m := validManifest()
		mutate(m)
		if _, err := m.Marshal(); !errors.Is(err, ErrBadManifest) {
			t.Errorf("%s: Marshal = %v; want ErrBadManifest", name, err)
		}
		raw, err := encMode.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeManifest(raw); !errors.Is(err, ErrBadManifest) {
			t.Errorf("%s: DecodeManifest = %v; want ErrBadManifest", name, err)
		}
	}
}

func TestManifestRejectsNonCanonical(t *testing.T) {
	b, _ := validManifest().Marshal()
	// The same map with its keys in a non-canonical order.
	var generic map[uint64]any
	if err := cbor.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	loose, _ := cbor.EncOptions{Sort: cbor.SortNone}.EncMode()
	for range 20 {
		nb, err := loose.Marshal(generic)
		if err != nil {
			t.Fatal(err)
		}
		if string(nb) == string(b) {
			continue // the random map order happened to be canonical
		}
		if _, err := DecodeManifest(nb); !errors.Is(err, ErrBadManifest) {
			t.Fatalf("DecodeManifest(non-canonical) = %v; want ErrBadManifest", err)
		}
		break
	}
	for name, nb := range map[string][]byte{
		"trailing":   append(append([]byte{}, b...), 0),
		"truncated":  b[:len(b)-1],
		"indefinite": append([]byte{0xbf}, append(b[1:], 0xff)...),
		"empty":      {},
		"null-files": []byte{0xa6, 1, 1, 2, 0x19, 0x04, 0x00, 3, 0xf6, 4, 0, 5, 0, 6, 0},
	} {
		if _, err := DecodeManifest(nb); !errors.Is(err, ErrBadManifest) {
			t.Errorf("%s: DecodeManifest = %v; want ErrBadManifest", name, err)
		}
	}
}

func TestEverySignedLengthEndsWithManifest(t *testing.T) {
	ctx := context.Background()
	src := testTree(t)
	f := writerFeed(t, testStore(t))
	final, _, err := Share(ctx, f, src, ShareOptions{BatchBlocks: 3})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for i := range f.Length() {
		b, _ := f.Get(i)
		ci, cn, _, err := parseManifestBlock(b)
		if err != nil || ci != cn-1 {
			continue
		}
		m, err := readManifestAt(ctx, f, i+1, nil)
		if err != nil {
			t.Fatalf("manifest ending at %d: %v", i, err)
		}
		// Every file shown is a prefix of its final content.
		for _, file := range m.Files {
			fin := final.File(file.Path)
			for k := range blocksFor(file.Size, bs) - min(1, file.Size%bs) {
				a, _ := blockAt(file.Blocks, k)
				c, _ := blockAt(fin.Blocks, k)
				if a != c {
					t.Errorf("length %d: %s block %d at %d, final at %d", i+1, file.Path, k, a, c)
				}
			}
		}
		seen++
	}
	if seen < 4 {
		t.Errorf("saw %d manifests with batches of 3 blocks; want several", seen)
	}
	out := t.TempDir()
	if err := Extract(ctx, f, final, out, ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	sameTree(t, src, out)
}

// FuzzDecodeManifest: decoding never panics, and whatever decodes
// re-encodes to the same bytes and passes the path checks.
func FuzzDecodeManifest(f *testing.F) {
	b, _ := validManifest().Marshal()
	f.Add(b)
	empty, _ := (&Manifest{Version: Version, BlockSize: bs}).Marshal()
	f.Add(empty)
	f.Add([]byte{0xa0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			return
		}
		re, err := m.Marshal()
		if err != nil || string(re) != string(b) {
			t.Fatalf("decoded manifest re-encodes to %x, %v; want %x", re, err, b)
		}
		for _, file := range m.Files {
			if !filepath.IsLocal(file.Path) || path.Clean(file.Path) != file.Path {
				t.Fatalf("accepted unsafe path %q", file.Path)
			}
		}
	})
}

// FuzzCheckPath: an accepted path is local, clean and stays local when
// joined under a folder.
func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../a", "/a", "a//b", `a\b`, "C:x", "é", "e\u0301", "a/.", ".a", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if CheckPath(p) != nil {
			return
		}
		if !filepath.IsLocal(p) || path.Clean(p) != p || strings.ContainsAny(p, "\\\x00") || strings.HasPrefix(p, "/") {
			t.Fatalf("CheckPath accepted %q", p)
		}
		if j := filepath.Join("/base", p); !strings.HasPrefix(j, "/base/") {
			t.Fatalf("%q escapes: %s", p, j)
		}
	})
}

// FuzzManifestBlock: parsing a manifest block never panics and accepts
// only what manifestBlocks could produce.
func FuzzManifestBlock(f *testing.F) {
	for _, blk := range manifestBlocks([]byte{0xa0}) {
		f.Add(blk)
	}
	f.Add([]byte("IXM\x01\x00\x00\x00\x01"))
	f.Add([]byte("IXM\x01\x00\x01\x00\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		i, n, chunk, err := parseManifestBlock(b)
		if err != nil {
			return
		}
		if i >= n || n > MaxManifestBlocks || len(chunk) > ManifestChunkSize || len(b) != manifestHeaderLen+len(chunk) {
			t.Fatalf("accepted block %d of %d with %d bytes", i, n, len(chunk))
		}
	})
}
