package feedtree

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// feedRecords is what a store holds of one feed's blocks.
type feedRecords struct {
	runs   [][2]uint64       // [first, last] of each run, in key order
	b      []uint64          // indexes of the 'b' records, in order
	blocks map[uint64][]byte // every block stored, whatever the record
}

// readRecords reads every block record of feed k in s, decoding runs with
// a literal decoder of the format (not decodeRun).
func readRecords(t testing.TB, s Store, k Key) feedRecords {
	t.Helper()
	fr := feedRecords{blocks: map[uint64][]byte{}}
	put := func(i uint64, b []byte) {
		if old, ok := fr.blocks[i]; ok && !bytes.Equal(old, b) {
			t.Fatalf("block %d stored twice, differently", i)
		}
		fr.blocks[i] = bytes.Clone(b)
	}
	err := s.Iterate(k, nil, func(key, v []byte) error {
		switch {
		case len(key) == 9 && key[0] == 'b':
			i := binary.BigEndian.Uint64(key[1:])
			fr.b = append(fr.b, i)
			put(i, v)
		case len(key) == 9 && key[0] == 'r':
			last := binary.BigEndian.Uint64(key[1:])
			count, n := binary.Uvarint(v)
			if n <= 0 || count == 0 || count > last+1 {
				return fmt.Errorf("run %d: count %d", last, count)
			}
			lens := make([]uint64, count)
			for j := range lens {
				l, m := binary.Uvarint(v[n:])
				if m <= 0 {
					return fmt.Errorf("run %d: length %d", last, j)
				}
				lens[j], n = l, n+m
			}
			data := v[n:]
			first := last + 1 - count
			for j, l := range lens {
				if uint64(len(data)) < l {
					return fmt.Errorf("run %d: truncated", last)
				}
				put(first+uint64(j), data[:l])
				data = data[l:]
			}
			if len(data) != 0 {
				return fmt.Errorf("run %d: %d bytes left over", last, len(data))
			}
			fr.runs = append(fr.runs, [2]uint64{first, last})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fr
}

// checkRecords checks the invariants of feed f's block records in s:
// runs do not overlap and lie below Held(), Held() is exactly the number
// of leading blocks stored (up to the length), every block stored is
// want's, and every run is within the size bounds.
func checkRecords(t testing.TB, f *Feed, s Store, want [][]byte) feedRecords {
	t.Helper()
	fr := readRecords(t, s, f.Key())
	for j, r := range fr.runs {
		if j > 0 && r[0] <= fr.runs[j-1][1] {
			t.Fatalf("runs [%d, %d] and [%d, %d] overlap", fr.runs[j-1][0], fr.runs[j-1][1], r[0], r[1])
		}
		if r[1] >= f.Held() {
			t.Fatalf("run [%d, %d] lies beyond Held() = %d", r[0], r[1], f.Held())
		}
		if r[1]-r[0] >= runMaxBlocks {
			t.Fatalf("run [%d, %d] holds over runMaxBlocks", r[0], r[1])
		}
		size := 0
		for i := r[0]; i <= r[1]; i++ {
			if len(fr.blocks[i]) > runBlockMax {
				t.Fatalf("block %d of %d bytes in a run", i, len(fr.blocks[i]))
			}
			size += len(fr.blocks[i])
		}
		if size > runMaxBytes {
			t.Fatalf("run [%d, %d] holds %d bytes", r[0], r[1], size)
		}
	}
	for i, b := range fr.blocks {
		if i >= uint64(len(want)) || !bytes.Equal(b, want[i]) {
			t.Fatalf("block %d stored as %.20x; want %.20x", i, b, want[min(i, uint64(len(want)-1))])
		}
	}
	h := uint64(0)
	for _, ok := fr.blocks[h]; ok && h < f.Length(); _, ok = fr.blocks[h] {
		h++
	}
	if f.Held() != h {
		t.Fatalf("Held() = %d; the store holds blocks [0, %d)", f.Held(), h)
	}
	return fr
}

// checkReads reads every block of f every way and compares with want
// (nil: not held).
func checkReads(t testing.TB, f *Feed, want [][]byte) {
	t.Helper()
	n := uint64(len(want))
	for i := range n + 2 {
		var w []byte
		if i < n {
			w = want[i]
		}
		got, err := f.Get(i)
		switch {
		case w == nil && !errors.Is(err, ErrNotFound):
			t.Fatalf("Get(%d) = %.20x, %v; want ErrNotFound", i, got, err)
		case w != nil && (err != nil || !bytes.Equal(got, w)):
			t.Fatalf("Get(%d) = %.20x, %v; want %.20x", i, got, err, w)
		}
		if f.Has(i) != (w != nil) {
			t.Fatalf("Has(%d) = %v; want %v", i, f.Has(i), w != nil)
		}
	}
	for _, span := range []uint64{1, 3, 16, 33, n + 5} {
		for start := uint64(0); start < n+1; start += max(1, span/2) {
			got, err := f.GetRange(start, start+span, nil)
			if err != nil {
				t.Fatalf("GetRange(%d, %d): %v", start, start+span, err)
			}
			j := start
			for j < min(start+span, n) && want[j] != nil {
				j++
			}
			if uint64(len(got)) != j-start {
				t.Fatalf("GetRange(%d, %d) = %d blocks; want %d", start, start+span, len(got), j-start)
			}
			for k, b := range got {
				if !bytes.Equal(b, want[start+uint64(k)]) {
					t.Fatalf("GetRange(%d, %d): block %d differs", start, start+span, start+uint64(k))
				}
			}
		}
	}
}

// mixedBlocks returns n blocks of sizes around the run bounds.
func mixedBlocks(r *rand.Rand, n int) [][]byte {
	sizes := []int{235, 0, 1, 300, runBlockMax, runBlockMax + 1, 64 << 10, 3000, 235, 235}
	bs := make([][]byte, n)
	for i := range bs {
		bs[i] = make([]byte, sizes[r.IntN(len(sizes))])
		for j := range bs[i] {
			bs[i][j] = byte(r.Uint32())
		}
	}
	return bs
}

func TestRunRecord(t *testing.T) {
	blocks := [][]byte{[]byte("a"), {}, bytes.Repeat([]byte{7}, 300)}
	v := appendRun(nil, blocks)
	r, err := decodeRun(v)
	if err != nil || r.count != 3 {
		t.Fatalf("decodeRun(appendRun) = %d blocks, %v", r.count, err)
	}
	if got := r.appendBlocks(nil, 0, 3, true); fmt.Sprint(got) != fmt.Sprint(blocks) {
		t.Errorf("appendBlocks = %q; want %q", got, blocks)
	}
	for j := range blocks {
		if got := r.block(j); !bytes.Equal(got, blocks[j]) {
			t.Errorf("block(%d) = %q; want %q", j, got, blocks[j])
		}
	}
	for i := range v {
		if _, err := decodeRun(v[:i]); err == nil {
			t.Errorf("decodeRun of the first %d of %d bytes succeeded", i, len(v))
		}
	}
	big := bytes.Repeat([]byte{1}, runBlockMax)
	for _, tc := range []struct {
		name string
		v    []byte
	}{
		{"trailing-byte", append(bytes.Clone(v), 0)},
		{"count-0", []byte{0}},
		{"count-over-max", binary.AppendUvarint(nil, runMaxBlocks+1)},
		{"non-minimal-count", []byte{0x81, 0x00, 1, 'x'}},
		{"non-minimal-length", []byte{1, 0x81, 0x00, 'x'}},
		{"length-over-max", append([]byte{1, 0x81, 0x80, 0x01}, bytes.Repeat([]byte{1}, runBlockMax+1)...)},
		{"over-max-bytes", appendRun(nil, [][]byte{big, big, big, big, {1}})},
		{"lengths-past-end", []byte{2, 1, 5, 'x', 'y'}},
		{"huge-length", []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
	} {
		if _, err := decodeRun(tc.v); !errors.Is(err, ErrBadEncoding) {
			t.Errorf("decodeRun(%s) = %v; want ErrBadEncoding", tc.name, err)
		}
	}
	// A run of runMaxBytes in runMaxBlocks-bounded blocks decodes.
	if _, err := decodeRun(appendRun(nil, [][]byte{big, big, big, big})); err != nil {
		t.Errorf("decodeRun of a full run: %v", err)
	}
	// The key must leave room for the count.
	if _, _, err := parseRun(runKey(nil, 1), v); err == nil {
		t.Error("parseRun of a 3-block run ending at block 1 succeeded")
	}
	if _, first, err := parseRun(runKey(nil, 2), v); err != nil || first != 0 {
		t.Errorf("parseRun of a 3-block run ending at block 2 = %d, %v; want 0", first, err)
	}
}

// FuzzDecodeRun: decodeRun never panics, and what it accepts re-encodes to
// the same bytes (one encoding per record) and reads the same blockwise.
func FuzzDecodeRun(f *testing.F) {
	// Small seeds: the fuzzer mutates and minimizes them fast; the bounds
	// on sizes are TestRunRecord's.
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 5, 16} {
		bs := make([][]byte, n)
		for j := range bs {
			bs[j] = make([]byte, r.IntN(12))
			for k := range bs[j] {
				bs[j][k] = byte(r.Uint32())
			}
		}
		f.Add(appendRun(nil, bs), uint64(n+5))
	}
	f.Add([]byte{1, 0x80, 0x80, 0x01}, uint64(3)) // a block of runBlockMax, missing
	f.Add(appendRun(nil, blocksN(0, 16)), uint64(15))
	f.Add([]byte{}, uint64(0))
	f.Add([]byte{1, 0}, uint64(0))
	f.Fuzz(func(t *testing.T, v []byte, last uint64) {
		rec, err := decodeRun(v)
		if err != nil {
			return
		}
		if rec.count < 1 || rec.count > runMaxBlocks {
			t.Fatalf("decoded %d blocks", rec.count)
		}
		blocks := rec.appendBlocks(nil, 0, rec.count, false)
		total := 0
		for j, b := range blocks {
			if len(b) > runBlockMax {
				t.Fatalf("block %d of %d bytes", j, len(b))
			}
			if !bytes.Equal(rec.block(j), b) {
				t.Fatalf("block(%d) differs from appendBlocks", j)
			}
			total += len(b)
		}
		if total > runMaxBytes {
			t.Fatalf("%d bytes of blocks", total)
		}
		if enc := appendRun(nil, blocks); !bytes.Equal(enc, v) {
			t.Fatalf("re-encoded as %x; decoded from %x", enc, v)
		}
		if from := rec.count / 3; rec.count > 0 {
			part := rec.appendBlocks(nil, from, rec.count, true)
			if fmt.Sprint(part) != fmt.Sprint(blocks[from:]) {
				t.Fatalf("appendBlocks(%d, %d) = %q; want %q", from, rec.count, part, blocks[from:])
			}
		}
		_, first, err := parseRun(runKey(nil, last), v)
		if ok := last < MaxLength && uint64(rec.count) <= last+1; (err == nil) != ok || ok && first != last+1-uint64(rec.count) {
			t.Fatalf("parseRun(%d) = %d, %v", last, first, err)
		}
	})
}

// TestFeedRuns: a writer's small blocks go in runs, each larger block in
// its own 'b' record between them; every read agrees with the blocks, on
// the open feed and reopened, in memory and in badger.
func TestFeedRuns(t *testing.T) {
	db := openBadger(t, t.TempDir())
	defer db.Close()
	for name, s := range map[string]Store{"mem": NewMemStore(), "badger": NewBadgerStore(db, []byte("x"))} {
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 8))
			kp := KeyPairFromSeed([32]byte{31})
			w, err := OpenFeed(s, kp.Public(), &kp)
			if err != nil {
				t.Fatal(err)
			}
			var blocks [][]byte
			for _, n := range []int{1, 16, 7, 300, 2, 40, 1, 1, 64} {
				bs := mixedBlocks(r, n)
				if len(blocks) >= 320 {
					bs = benchBlocks(n, 20) // a run capped by runMaxBlocks, not bytes
				}
				if _, err := w.Append(bs...); err != nil {
					t.Fatal(err)
				}
				blocks = append(blocks, bs...)
				if w.Held() != w.Length() {
					t.Fatalf("writer Held() = %d; Length() = %d", w.Held(), w.Length())
				}
			}
			tiny := make([][]byte, runMaxBlocks+5)
			for i := range tiny {
				tiny[i] = []byte{byte(i)}
			}
			if _, err := w.Append(tiny...); err != nil {
				t.Fatal(err)
			}
			blocks = append(blocks, tiny...)
			fr := checkRecords(t, w, s, blocks)
			for _, i := range fr.b {
				if len(blocks[i]) <= runBlockMax {
					t.Errorf("writer stores small block %d (%d bytes) in a 'b' record", i, len(blocks[i]))
				}
			}
			if len(fr.runs) > len(blocks)/4 {
				t.Errorf("%d runs for %d blocks", len(fr.runs), len(blocks))
			}
			checkReads(t, w, blocks)
			// Reopened, as the writer and as a read-only feed.
			for _, kp := range []*KeyPair{&kp, nil} {
				f, err := OpenFeed(s, w.Key(), kp)
				if err != nil {
					t.Fatal(err)
				}
				if f.Held() != w.Length() || f.runLo.Load() > fr.runs[0][0] || f.sparse.Load() {
					t.Fatalf("reopened: Held() = %d, runLo %d, sparse %v; want %d, at most %d, false", f.Held(), f.runLo.Load(), f.sparse.Load(), w.Length(), fr.runs[0][0])
				}
				checkReads(t, f, blocks)
				p, err := f.Proof(0, f.Length(), 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := VerifyProof(f.Key(), p, nil, blocks); err != nil {
					t.Fatalf("proof of every block: %v", err)
				}
			}
		})
	}
}

// putRanges puts blocks [start, end) of w into f in ranges of k at w's
// head, with Put or PutContiguous.
func putRanges(t testing.TB, w, f *Feed, blocks [][]byte, start, end, k uint64, contiguous bool) {
	t.Helper()
	if start == end { // the head alone
		p, err := w.Proof(start, end, f.Length())
		if err == nil {
			err = f.Put(p, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for s := start; s < end; s += k {
		e := min(end, s+k)
		p, err := w.Proof(s, e, f.Length())
		if err != nil {
			t.Fatal(err)
		}
		put := f.Put
		if contiguous {
			put = f.PutContiguous
		}
		if err := put(p, blocks[s:e]); err != nil {
			t.Fatalf("Put [%d, %d): %v", s, e, err)
		}
	}
}

// TestFeedPutHeld: a replica stores in runs the part of each range from
// Held() on, not the blocks it already holds, and a range beyond Held() in
// 'b' records, which Held() moves over when the prefix reaches them.
func TestFeedPutHeld(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	kp := KeyPairFromSeed([32]byte{32})
	w, _ := OpenFeed(NewMemStore(), kp.Public(), &kp)
	blocks := mixedBlocks(r, 120)
	for j := range blocks {
		if j%10 != 7 {
			blocks[j] = blocks[j][:min(len(blocks[j]), 200)] // mostly small, some large
		}
	}
	w.Append(blocks...)
	s := NewMemStore()
	f, _ := OpenFeed(s, w.Key(), nil)
	want := make([][]byte, len(blocks))
	held := func(lo, hi uint64) {
		for i := lo; i < hi; i++ {
			want[i] = blocks[i]
		}
	}
	for _, step := range []struct {
		start, end uint64
		held       uint64
	}{
		{0, 16, 16},
		{8, 24, 24},  // [8, 16) held: only [16, 24) is stored
		{40, 50, 24}, // beyond: 'b' records
		{60, 61, 24}, // beyond
		{30, 40, 24}, // beyond, next to [40, 50)
		{20, 30, 50}, // reaches [30, 50): held moves over it
		{50, 60, 61}, // and over 60
		{0, 61, 61},  // all held: nothing stored
		{61, 120, 120},
	} {
		before := readRecords(t, s, w.Key())
		putRanges(t, w, f, blocks, step.start, step.end, step.end-step.start, false)
		held(step.start, step.end)
		if f.Held() != step.held {
			t.Fatalf("after Put [%d, %d): Held() = %d; want %d", step.start, step.end, f.Held(), step.held)
		}
		after := checkRecords(t, f, s, blocks)
		// Blocks held before are not written again.
		newRecs := 0
		for _, rg := range after.runs {
			if !slices.Contains(before.runs, rg) {
				newRecs++
				if rg[0] < before.heldPrefix() {
					t.Errorf("Put [%d, %d) wrote run [%d, %d] over blocks already held", step.start, step.end, rg[0], rg[1])
				}
			}
		}
		for _, i := range after.b {
			if !slices.Contains(before.b, i) {
				newRecs++
				if i < before.heldPrefix() {
					t.Errorf("Put [%d, %d) wrote 'b' record %d, already held", step.start, step.end, i)
				}
			}
		}
		if step.start == 0 && step.end == 61 && newRecs != 0 {
			t.Errorf("Put of held blocks wrote %d block records", newRecs)
		}
		checkReads(t, f, want)
	}
	// Reopened, it finds the same.
	g, err := OpenFeed(s, w.Key(), nil)
	if err != nil || g.Held() != 120 {
		t.Fatalf("reopened: Held() = %d, %v", g.Held(), err)
	}
	checkReads(t, g, blocks)
}

// heldPrefix is the number of leading blocks in fr.
func (fr feedRecords) heldPrefix() uint64 {
	h := uint64(0)
	for _, ok := fr.blocks[h]; ok; _, ok = fr.blocks[h] {
		h++
	}
	return h
}

// TestOpenHeld: OpenFeed finds Held() from the records, cheaply, for
// replicas at every stage of a catch-up, sparse ones included.
func TestOpenHeld(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	kp := KeyPairFromSeed([32]byte{33})
	w, _ := OpenFeed(NewMemStore(), kp.Public(), &kp)
	const n = 300
	blocks := mixedBlocks(r, n)
	for j := range blocks {
		if j%17 != 3 {
			blocks[j] = blocks[j][:min(len(blocks[j]), 100)]
		}
	}
	w.Append(blocks...)
	for _, tc := range []struct {
		name   string
		ranges [][2]uint64
	}{
		{"empty", nil},
		{"head-only", [][2]uint64{{0, 0}}},
		{"one", [][2]uint64{{0, 1}}},
		{"prefix", [][2]uint64{{0, 16}, {16, 32}, {32, 100}}},
		{"all-but-one", [][2]uint64{{0, n - 1}}},
		{"all", [][2]uint64{{0, 100}, {100, n}}},
		{"sparse", [][2]uint64{{5, 10}, {200, 210}}},
		{"prefix-and-sparse", [][2]uint64{{0, 50}, {60, 70}, {51, 55}}},
		{"sparse-then-prefix", [][2]uint64{{60, 70}, {0, 50}, {50, 60}}},
		{"sparse-at-end", [][2]uint64{{0, 40}, {n - 1, n}}},
		{"singles", [][2]uint64{{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 6}, {6, 7}, {7, 8}, {8, 9}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewMemStore()
			f, _ := OpenFeed(s, w.Key(), nil)
			want := make([][]byte, n)
			for _, rg := range tc.ranges {
				putRanges(t, w, f, blocks, rg[0], rg[1], max(1, rg[1]-rg[0]), false)
				for i := rg[0]; i < rg[1]; i++ {
					want[i] = blocks[i]
				}
			}
			if tc.ranges != nil && f.Length() != n {
				t.Fatalf("length %d", f.Length())
			}
			checkRecords(t, f, s, blocks)
			g, err := OpenFeed(s, w.Key(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if g.Held() != f.Held() {
				t.Fatalf("reopened Held() = %d; the open feed says %d", g.Held(), f.Held())
			}
			if g.runLo.Load() > f.runLo.Load() {
				t.Fatalf("reopened runLo = %d; the first run starts at %d", g.runLo.Load(), f.runLo.Load())
			}
			checkRecords(t, g, s, blocks)
			checkReads(t, g, want)
			// It goes on: the rest, in ranges of 16.
			h := g.Held()
			putRanges(t, w, g, blocks, h, n, 16, true)
			for i := range want {
				if want[i] == nil && uint64(i) >= h {
					want[i] = blocks[i]
				}
			}
			checkRecords(t, g, s, blocks)
			checkReads(t, g, want)
		})
	}
}

// legacyCopy copies feed k's records from src into dst as a store written
// before run records holds them: each block in its own 'b' record, written
// by hand.
func legacyCopy(t testing.TB, src, dst Store, k Key) {
	t.Helper()
	var b Batch
	err := src.Iterate(k, nil, func(key, v []byte) error {
		if len(key) == 9 && key[0] == 'r' {
			rec, first, err := parseRun(key, v)
			if err != nil {
				return err
			}
			for j, blk := range rec.appendBlocks(nil, 0, rec.count, true) {
				b.Set(blockKey(nil, first+uint64(j)), blk)
			}
			return nil
		}
		b.Set(bytes.Clone(key), bytes.Clone(v))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := dst.Commit(k, &b); err != nil {
		t.Fatal(err)
	}
}

// TestFeedLegacyStore: a store written before run records, every block in
// a 'b' record, opens and reads as before, and takes new blocks in runs:
// a writer's, a replica's and a sparse replica's.
func TestFeedLegacyStore(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	kp := KeyPairFromSeed([32]byte{34})
	w, _ := OpenFeed(NewMemStore(), kp.Public(), &kp)
	const n = 200
	blocks := mixedBlocks(r, n)
	for j := range blocks {
		blocks[j] = blocks[j][:min(len(blocks[j]), 500)]
	}
	w.Append(blocks[:120]...)
	db := openBadger(t, t.TempDir())
	defer db.Close()

	t.Run("writer", func(t *testing.T) {
		s := NewBadgerStore(db, []byte("w"))
		legacyCopy(t, w.store, s, w.Key())
		if fr := readRecords(t, s, w.Key()); len(fr.runs) != 0 || len(fr.b) != 120 {
			t.Fatalf("legacy store: %d runs, %d 'b' records", len(fr.runs), len(fr.b))
		}
		f, err := OpenFeed(s, kp.Public(), &kp)
		if err != nil {
			t.Fatal(err)
		}
		if f.Held() != 120 || f.runLo.Load() != noRun {
			t.Fatalf("Held() = %d, runLo %d; want 120, none", f.Held(), f.runLo.Load())
		}
		checkReads(t, f, blocks[:120])
		if _, err := f.Append(blocks[120:]...); err != nil {
			t.Fatal(err)
		}
		fr := checkRecords(t, f, s, blocks)
		if len(fr.runs) == 0 || fr.runs[0][0] != 120 || len(fr.b) != 120 {
			t.Fatalf("after Append: runs %v, %d 'b' records", fr.runs, len(fr.b))
		}
		checkReads(t, f, blocks)
		g, _ := OpenFeed(s, kp.Public(), nil)
		if g.Held() != n || g.runLo.Load() != 120 {
			t.Fatalf("reopened: Held() = %d, runLo %d; want %d, 120", g.Held(), g.runLo.Load(), n)
		}
		checkReads(t, g, blocks)
	})
	w.Append(blocks[120:]...)

	t.Run("sparse replica", func(t *testing.T) {
		src := NewMemStore()
		sr, _ := OpenFeed(src, w.Key(), nil)
		putRanges(t, w, sr, blocks, 0, 40, 16, true)
		putRanges(t, w, sr, blocks, 50, 56, 6, false)
		putRanges(t, w, sr, blocks, 90, 91, 1, false)
		s := NewBadgerStore(db, []byte("r"))
		legacyCopy(t, src, s, w.Key())
		f, err := OpenFeed(s, w.Key(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if f.Held() != 40 || !f.sparse.Load() {
			t.Fatalf("Held() = %d, sparse %v; want 40, true", f.Held(), f.sparse.Load())
		}
		want := make([][]byte, n)
		for _, rg := range [][2]int{{0, 40}, {50, 56}, {90, 91}} {
			copy(want[rg[0]:rg[1]], blocks[rg[0]:rg[1]])
		}
		checkReads(t, f, want)
		putRanges(t, w, f, blocks, 40, 50, 16, true)
		if f.Held() != 56 {
			t.Fatalf("after Put [40, 50): Held() = %d; want 56", f.Held())
		}
		copy(want[40:50], blocks[40:50])
		checkReads(t, f, want)
		putRanges(t, w, f, blocks, 56, n, 16, true)
		fr := checkRecords(t, f, s, blocks)
		if fr.runs[0][0] != 40 {
			t.Errorf("first run %v; want one from 40", fr.runs[0])
		}
		checkReads(t, f, blocks)
		g, _ := OpenFeed(s, w.Key(), nil)
		if g.Held() != n || g.runLo.Load() != 40 {
			t.Fatalf("reopened: Held() = %d, runLo %d; want %d, 40", g.Held(), g.runLo.Load(), n)
		}
		checkReads(t, g, blocks)
		if p, err := g.Proof(0, n, 0); err != nil {
			t.Fatal(err)
		} else if _, err := VerifyProof(g.Key(), p, nil, blocks); err != nil {
			t.Fatal(err)
		}
	})
}

// TestOpenDropsRunsBeyondHead: runs past the stored head, as a commit
// split over badger transactions leaves when interrupted before its head,
// are deleted at open: the writer appends other blocks there.
func TestOpenDropsRunsBeyondHead(t *testing.T) {
	kp := KeyPairFromSeed([32]byte{35})
	s := NewMemStore()
	w, _ := OpenFeed(s, kp.Public(), &kp)
	blocks := blocksN(0, 40)
	w.Append(blocks[:20]...)
	// The interrupted append of 20 other blocks: its run, no head.
	var b Batch
	b.Set(runKey(nil, 39), appendRun(nil, blocksN(500, 20)))
	b.Set(runKey(nil, 60), appendRun(nil, blocksN(600, 21)))
	s.Commit(w.Key(), &b)
	f, err := OpenFeed(s, kp.Public(), &kp)
	if err != nil {
		t.Fatal(err)
	}
	if fr := readRecords(t, s, f.Key()); len(fr.runs) != 1 {
		t.Fatalf("runs after open: %v", fr.runs)
	}
	for i := 20; i < 40; i += 3 {
		f.Append(blocks[i:min(40, i+3)]...)
	}
	checkRecords(t, f, s, blocks)
	checkReads(t, f, blocks)
}

// TestFeedConcurrentRuns: goroutines Put overlapping ranges of one replica
// at once, under a head it trusts (the shared-lock path); whichever order
// they commit in, no two runs overlap, every block reads back and Held()
// ends at the length. Run with -race.
func TestFeedConcurrentRuns(t *testing.T) {
	db := openBadger(t, t.TempDir())
	defer db.Close()
	r := rand.New(rand.NewPCG(15, 16))
	kp := KeyPairFromSeed([32]byte{36})
	w, _ := OpenFeed(NewMemStore(), kp.Public(), &kp)
	const n = 600
	blocks := mixedBlocks(r, n)
	for j := range blocks {
		if j%50 != 0 {
			blocks[j] = blocks[j][:min(len(blocks[j]), 240)]
		}
	}
	w.Append(blocks...)
	for round := range 6 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			var s Store = NewMemStore()
			if round%2 == 1 {
				s = NewBadgerStore(db, []byte{byte(round)})
			}
			f, _ := OpenFeed(s, w.Key(), nil)
			hp, _ := w.Proof(0, 0, 0)
			if err := f.Put(hp, nil); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for g := range 8 {
				rg := rand.New(rand.NewPCG(uint64(round), uint64(g)))
				wg.Add(1)
				go func() {
					defer wg.Done()
					// Each covers [0, n) in ranges of its own sizes, from
					// its own offset, overlapping the others'.
					start := uint64(rg.IntN(40))
					if g == 0 {
						start = 0
					}
					for s := start; s < n; {
						e := min(n, s+uint64(1+rg.IntN(24)))
						lo := s - min(s, uint64(rg.IntN(8))) // overlap the range before
						p, err := w.Proof(lo, e, n)
						if err == nil {
							if g == 0 { // the one that goes in order from 0
								err = f.PutContiguous(p, blocks[lo:e])
							} else {
								err = f.Put(p, blocks[lo:e])
							}
						}
						if err != nil {
							errs <- fmt.Errorf("Put [%d, %d): %w", lo, e, err)
							return
						}
						s = e
					}
					if start > 0 { // and the start it skipped
						p, _ := w.Proof(0, start, n)
						if err := f.Put(p, blocks[:start]); err != nil {
							errs <- err
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if f.Held() != n {
				t.Fatalf("Held() = %d; want %d", f.Held(), n)
			}
			fr := checkRecords(t, f, s, blocks)
			t.Logf("%d runs, %d 'b' records (ranges stored beyond the prefix)", len(fr.runs), len(fr.b))
			checkReads(t, f, blocks)
			g, _ := OpenFeed(s, w.Key(), nil)
			if g.Held() != n {
				t.Fatalf("reopened: Held() = %d; want %d", g.Held(), n)
			}
			checkReads(t, g, blocks)
		})
	}
}

// BenchmarkOpenLegacy: OpenFeed of feeds in a store written before run
// records (every block in a 'b' record), which walks their 'b' records:
// a log replica of 4097 small blocks and a content replica of 64 × 64 KiB.
func BenchmarkOpenLegacy(b *testing.B) {
	db := openBenchBadger(b)
	for _, c := range benchStores(b) {
		if c.kp != nil {
			continue
		}
		s := NewBadgerStore(db, []byte("legacy-"+c.name))
		legacyCopy(b, c.s, s, c.k)
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				f, err := OpenFeed(s, c.k, nil)
				if err != nil || f.Held() != c.n {
					b.Fatalf("OpenFeed = held %d, %v", f.Held(), err)
				}
			}
		})
	}
}

// TestGetRangeCopiesRun: blocks GetRange reads out of one run share one
// fresh copy, yet each is its own: appending to one (within the copy's
// capacity, were it not capped) leaves the next as it was, and writing
// into one leaves the store as it was.
func TestGetRangeCopiesRun(t *testing.T) {
	kp, _ := GenerateKeyPair(nil)
	f, err := OpenFeed(NewMemStore(), kp.Public(), &kp)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]byte{[]byte("alpha"), []byte("beta"), []byte("gamma")}
	if _, err := f.Append(want...); err != nil {
		t.Fatal(err)
	}
	got, err := f.GetRange(0, 3, nil)
	if err != nil || len(got) != 3 {
		t.Fatalf("GetRange = %q, %v", got, err)
	}
	_ = append(got[0], "XXXX"...)
	got[2][0] = 'G'
	if string(got[1]) != "beta" {
		t.Errorf("appending to block 0 changed block 1 to %q", got[1])
	}
	if b, _ := f.Get(2); string(b) != "gamma" {
		t.Errorf("writing into a returned block changed the store: block 2 reads %q", b)
	}
}
