package content

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"indexd/feedtree"
)

const bs = DefaultBlockSize

// testTree writes a folder of random files: large ones over several
// blocks, empty ones, unicode names, nested folders, an executable.
func testTree(t *testing.T) string {
	dir := t.TempDir()
	writeFile(t, dir, "big.bin", 5*bs+1234, 0o644, 1)
	writeFile(t, dir, "exact.bin", 3*bs, 0o644, 2)
	writeFile(t, dir, "empty", 0, 0o644, 3)
	writeFile(t, dir, "a/b/c/deep.txt", 100, 0o644, 4)
	writeFile(t, dir, "a/empty-too", 0, 0o644, 5)
	writeFile(t, dir, "été/naïve 日本語 ✓.mkv", bs+1, 0o644, 6)
	writeFile(t, dir, "bin/run.sh", 300, 0o755, 7)
	writeFile(t, dir, "grow.log", bs+500, 0o644, 8)
	return dir
}

func TestShareExtractReplica(t *testing.T) {
	ctx := context.Background()
	src := testTree(t)
	s := testStore(t)
	f := writerFeed(t, s)
	m1, h1, err := Share(ctx, f, src, ShareOptions{})
	if err != nil {
		t.Fatalf("Share: %v", err)
	}
	if h1.Length != f.Length() || m1.Length != h1.Length {
		t.Fatalf("Share returned head %d, manifest at %d; feed length %d", h1.Length, m1.Length, f.Length())
	}
	if len(m1.Files) != 8 {
		t.Fatalf("manifest has %d files; want 8", len(m1.Files))
	}
	if got := m1.File("bin/run.sh"); got == nil || got.Mode != 0o755 {
		t.Errorf("bin/run.sh = %+v; want mode 0755", got)
	}

	// A replica filled only by proofs and Put.
	rs := testStore(t)
	r := replicaFeed(t, rs, f.Key())
	transfer(t, f, r, 0, f.Length(), 64)
	rm, err := ReadManifest(ctx, r, nil)
	if err != nil {
		t.Fatalf("ReadManifest(replica): %v", err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if err := Extract(ctx, r, rm, out, ExtractOptions{}); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	sameTree(t, src, out)

	// Sharing again unchanged appends nothing.
	if _, h, err := Share(ctx, f, src, ShareOptions{}); err != nil || h.Length != h1.Length {
		t.Fatalf("re-Share unchanged: length %d, err %v; want %d, nil", h.Length, err, h1.Length)
	}

	// Add a file and grow another: only their new blocks are appended.
	writeFile(t, src, "new/added.dat", 2*bs+7, 0o644, 9)
	old, _ := os.ReadFile(filepath.Join(src, "grow.log"))
	more := writeFile(t, t.TempDir(), "x", 2*bs, 0o644, 10)
	if err := os.WriteFile(filepath.Join(src, "grow.log"), append(old, more...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(src, "empty")); err != nil {
		t.Fatal(err)
	}
	m2, h2, err := Share(ctx, f, src, ShareOptions{})
	if err != nil {
		t.Fatalf("Share after changes: %v", err)
	}
	grownOld, grownNew := uint64(len(old)), uint64(len(old)+len(more))
	wantData := blocksFor(2*bs+7, bs) + blocksFor(grownNew, bs) - grownOld/bs
	if got := m2.Start - h1.Length; got != wantData {
		t.Errorf("appended %d data blocks; want %d (new file + grown tail)", got, wantData)
	}
	if m2.File("empty") != nil {
		t.Errorf("removed file still in manifest")
	}
	for _, p := range []string{"big.bin", "exact.bin", "été/naïve 日本語 ✓.mkv", "a/b/c/deep.txt"} {
		if !slices.Equal(m1.File(p).Blocks, m2.File(p).Blocks) {
			t.Errorf("%s: blocks %v -> %v; unchanged files keep their blocks", p, m1.File(p).Blocks, m2.File(p).Blocks)
		}
	}
	g1, g2 := m1.File("grow.log"), m2.File("grow.log")
	if first, _ := blockAt(g2.Blocks, 0); first != g1.Blocks[0].Start {
		t.Errorf("grown file: first block %d; want the old %d kept", first, g1.Blocks[0].Start)
	}

	// The replica fetches only the new range and re-extracts.
	transfer(t, f, r, h1.Length, h2.Length, 64)
	rm2, err := ReadManifest(ctx, r, nil)
	if err != nil {
		t.Fatalf("ReadManifest after update: %v", err)
	}
	if err := os.Remove(filepath.Join(out, "empty")); err != nil {
		t.Fatal(err)
	}
	if err := Extract(ctx, r, rm2, out, ExtractOptions{}); err != nil {
		t.Fatalf("Extract after update: %v", err)
	}
	sameTree(t, src, out)
}

func TestSparseSingleFile(t *testing.T) {
	ctx := context.Background()
	src := testTree(t)
	f := writerFeed(t, testStore(t))
	m, _, err := Share(ctx, f, src, ShareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := replicaFeed(t, testStore(t), f.Key())
	transfer(t, f, r, f.Length(), f.Length(), 64) // learn the signed length only
	x := &fetcher{tb: t, src: f, dst: r}
	rm, err := ReadManifest(ctx, r, x.fetch)
	if err != nil {
		t.Fatalf("ReadManifest(sparse): %v", err)
	}
	const want = "été/naïve 日本語 ✓.mkv"
	out := t.TempDir()
	if err := Extract(ctx, r, rm, out, ExtractOptions{Only: []string{want}, Fetch: x.fetch}); err != nil {
		t.Fatalf("Extract one file: %v", err)
	}
	got, _ := os.ReadFile(filepath.Join(out, want))
	orig, _ := os.ReadFile(filepath.Join(src, want))
	if string(got) != string(orig) {
		t.Fatalf("extracted file differs")
	}
	allowed := map[uint64]bool{}
	for i := m.Start; i < m.Length; i++ {
		allowed[i] = true
	}
	fr, _ := m.BlocksFor(want)
	for _, rg := range fr {
		for i := rg.Start; i < rg.End; i++ {
			allowed[i] = true
		}
	}
	for _, rg := range x.ranges {
		for i := rg.Start; i < rg.End; i++ {
			if !allowed[i] {
				t.Errorf("fetched block %d, which is neither the manifest nor %q", i, want)
			}
		}
	}
	for i := range f.Length() {
		if r.Has(i) != allowed[i] {
			t.Errorf("replica Has(%d) = %v; want %v", i, r.Has(i), allowed[i])
		}
	}
	if ents, _ := os.ReadDir(out); len(ents) != 1 {
		t.Errorf("out holds %d entries; want only the one file's folder", len(ents))
	}
}

// rawManifest encodes m without checking it, as a hostile writer would.
func rawManifest(t *testing.T, m *Manifest) []byte {
	b, err := encMode.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUnsafeManifestRefused(t *testing.T) {
	ctx := context.Background()
	for _, p := range []string{"../x", "/etc/x", "a/../../b", "a/./b", `a\..\b`, "C:/x", "a//b", "x\x00y"} {
		t.Run(p, func(t *testing.T) {
			f := writerFeed(t, testStore(t))
			// One honest file, then the hostile one, so a writer that checked
			// lazily would already have written something.
			data := []byte("hello")
			idx, _ := f.Append(data)
			_ = idx
			m := &Manifest{Version: Version, BlockSize: bs, TotalSize: 10, Files: []File{
				{Path: "0-fine", Size: 5, Mode: 0o644, Blocks: []Range{{Start: 0, End: 1}}},
				{Path: p, Size: 5, Mode: 0o644, Blocks: []Range{{Start: 0, End: 1}}},
			}}
			if _, err := f.Append(manifestBlocks(rawManifest(t, m))...); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadManifest(ctx, f, nil); !errors.Is(err, ErrUnsafePath) {
				t.Errorf("ReadManifest = %v; want ErrUnsafePath", err)
			}
			parent := t.TempDir()
			out := filepath.Join(parent, "out")
			err := Extract(ctx, f, m, out, ExtractOptions{})
			if !errors.Is(err, ErrUnsafePath) {
				t.Errorf("Extract = %v; want ErrUnsafePath", err)
			}
			if ents, _ := os.ReadDir(parent); len(ents) != 0 {
				t.Errorf("something was written: %v", ents)
			}
		})
	}
}

func TestExtractRefusesSymlinks(t *testing.T) {
	ctx := context.Background()
	f := writerFeed(t, testStore(t))
	m, _, err := ShareBytes(ctx, f, "sub/x", []byte("payload"), ShareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A symlinked folder inside OUTDIR.
	out, elsewhere := t.TempDir(), t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(out, "sub")); err != nil {
		t.Fatal(err)
	}
	if err := Extract(ctx, f, m, out, ExtractOptions{}); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("Extract through a symlinked folder = %v; want ErrUnsafePath", err)
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("wrote through the symlink: %v", ents)
	}
	// A symlink at the file's own name.
	out2, target := t.TempDir(), filepath.Join(t.TempDir(), "target")
	os.WriteFile(target, []byte("keep"), 0o644)
	os.Mkdir(filepath.Join(out2, "sub"), 0o755)
	if err := os.Symlink(target, filepath.Join(out2, "sub", "x")); err != nil {
		t.Fatal(err)
	}
	if err := Extract(ctx, f, m, out2, ExtractOptions{}); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("Extract onto a symlink = %v; want ErrUnsafePath", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("symlink target overwritten: %q", b)
	}
}

func TestExtractMissingBlocksLeavesNoFile(t *testing.T) {
	ctx := context.Background()
	src := testTree(t)
	f := writerFeed(t, testStore(t))
	if _, _, err := Share(ctx, f, src, ShareOptions{}); err != nil {
		t.Fatal(err)
	}
	r := replicaFeed(t, testStore(t), f.Key())
	transfer(t, f, r, f.Length(), f.Length(), 64)
	x := &fetcher{tb: t, src: f, dst: r}
	rm, err := ReadManifest(ctx, r, x.fetch)
	if err != nil {
		t.Fatal(err)
	}
	// Hold only the first block of big.bin: the extraction is interrupted.
	big := rm.File("big.bin")
	transfer(t, f, r, big.Blocks[0].Start, big.Blocks[0].Start+1, 64)
	out := t.TempDir()
	err = Extract(ctx, r, rm, out, ExtractOptions{Only: []string{"big.bin"}})
	if !errors.Is(err, feedtree.ErrNotFound) {
		t.Fatalf("Extract with missing blocks = %v; want ErrNotFound", err)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Fatalf("interrupted extraction left %v", ents)
	}
	// Resume: the held block is not fetched again.
	x.ranges = nil
	if err := Extract(ctx, r, rm, out, ExtractOptions{Only: []string{"big.bin"}, Fetch: x.fetch}); err != nil {
		t.Fatal(err)
	}
	for _, rg := range x.ranges {
		if rg.Start <= big.Blocks[0].Start && big.Blocks[0].Start < rg.End {
			t.Errorf("resume fetched block %d again", big.Blocks[0].Start)
		}
	}
}

func TestLargeManifestSpansBlocks(t *testing.T) {
	ctx := context.Background()
	f := writerFeed(t, testStore(t))
	m := &Manifest{Version: Version, BlockSize: bs, Created: 1, Updated: 2}
	for i := range 5000 {
		m.Files = append(m.Files, File{Path: filepath.Join("some/rather/long/folder/name", time.Duration(i).String()+"-file.bin"), Mode: 0o644, Blocks: []Range{}})
	}
	slices.SortFunc(m.Files, func(a, b File) int {
		if a.Path < b.Path {
			return -1
		}
		return 1
	})
	enc, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	mb := manifestBlocks(enc)
	if len(mb) < 3 {
		t.Fatalf("manifest of %d bytes fits %d blocks; want a test over several", len(enc), len(mb))
	}
	f.Append([]byte("data"))
	if _, err := f.Append(mb...); err != nil {
		t.Fatal(err)
	}
	got, err := ReadManifest(ctx, f, nil)
	if err != nil {
		t.Fatalf("ReadManifest: %v", err)
	}
	if got.Start != 1 || got.Length != f.Length() || len(got.Files) != 5000 {
		t.Fatalf("manifest at [%d, %d) with %d files; want [1, %d) with 5000", got.Start, got.Length, len(got.Files), f.Length())
	}
	// A data block last is not a manifest.
	f.Append([]byte("not a manifest"))
	if _, err := ReadManifest(ctx, f, nil); !errors.Is(err, ErrBadManifest) {
		t.Errorf("ReadManifest over a data block = %v; want ErrBadManifest", err)
	}
}

func TestShareBytes(t *testing.T) {
	ctx := context.Background()
	f := writerFeed(t, testStore(t))
	torrent := []byte("d4:infod6:lengthi1e4:name1:aee")
	m, h, err := ShareBytes(ctx, f, "x.torrent", torrent, ShareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h.Length != 2 || m.Name != "x.torrent" {
		t.Fatalf("ShareBytes: length %d name %q; want 2 blocks (data + manifest), name x.torrent", h.Length, m.Name)
	}
	var buf safeBuffer
	if err := Stream(ctx, f, "", &buf, StreamOptions{Once: true}); err != nil || buf.String() != string(torrent) {
		t.Fatalf("Stream once = %q, %v", buf.String(), err)
	}
}
