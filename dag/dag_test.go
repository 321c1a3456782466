package dag

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"indexd/feedtree"
)

var testPrefix = []byte("d/")

func openDB(t testing.TB, dir string) *badger.DB {
	t.Helper()
	opts := badger.DefaultOptions(dir).WithLogger(nil).WithMemTableSize(16 << 20).WithValueThreshold(1 << 10).
		WithBlockCacheSize(1 << 20).WithIndexCacheSize(1 << 20).WithNumCompactors(2).WithValueLogFileSize(16 << 20)
	db, err := badger.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// testDAG is a DAG over badger in a temp dir, closed with the test.
func testDAG(t testing.TB, opts Options) *DAG {
	t.Helper()
	db := openDB(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	return testDAGOn(t, db, testPrefix, opts)
}

// testDAGOn opens a DAG on db under prefix, closed with the test. Several
// replicas can share one badger under distinct prefixes.
func testDAGOn(t testing.TB, db *badger.DB, prefix []byte, opts Options) *DAG {
	t.Helper()
	if opts.Now == nil {
		var tick int64
		opts.Now = func() time.Time { tick++; return time.UnixMilli(1700000000000 + tick) }
	}
	d, err := Open(db, prefix, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// replicas returns n DAGs sharing one badger, each holding manifest m.
func replicas(t testing.TB, n int, m *Manifest) []*DAG {
	db := openDB(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	out := make([]*DAG, n)
	for i := range out {
		out[i] = testDAGOn(t, db, fmt.Appendf(nil, "r%d/", i), Options{})
		if err := out[i].PutManifest(m); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func testAuthor(i int) Author {
	var s [32]byte
	s[0], s[1] = byte(i), byte(i>>8)
	s[2] = 'i'
	id := IdentityFromSeed(s)
	s[2] = 'l'
	return Author{Identity: id, Log: feedtree.KeyPairFromSeed(s)}
}

func testManifest(t testing.TB) *Manifest { return testManifestNamed(t, "test") }

// testManifestNamed is an open index of testAuthor(9999) named name.
func testManifestNamed(t testing.TB, name string) *Manifest {
	m, err := NewManifest(name, PolicyOpen, testAuthor(9999).Identity, bytes.NewReader(make([]byte, 16)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func putOp(i int) Op {
	ih := make([]byte, 20)
	ih[0], ih[1] = byte(i), byte(i>>8)
	return Op{Kind: OpPut, Put: &Put{InfohashV1: ih, Name: fmt.Sprintf("entry-%d", i), Size: uint64(i)}}
}

// sync copies every log of idx from src to dst, range by range, as
// replication would.
func syncLogs(t testing.TB, src, dst *DAG, idx IndexKey) {
	t.Helper()
	logs, err := src.Logs(idx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range logs {
		syncLog(t, src, dst, idx, l.Key, l.Length)
	}
}

// syncLog copies blocks of log up to end (from what dst holds) from src to dst.
func syncLog(t testing.TB, src, dst *DAG, idx IndexKey, log feedtree.Key, end uint64) {
	t.Helper()
	if _, err := ingestRange(src, dst, idx, log, end); err != nil {
		t.Fatalf("ingesting %v: %v", log, err)
	}
}

func ingestRange(src, dst *DAG, idx IndexKey, log feedtree.Key, end uint64) (int, error) {
	r, err := rangeFor(src, dst, idx, log, end)
	if r == nil || err != nil {
		return 0, err
	}
	return dst.Ingest(context.Background(), idx, log, r.Proof, r.Blocks)
}

// rangeFor builds the Range that brings dst's copy of log up to end from
// src, proved for the length dst trusts; nil when dst holds it already.
func rangeFor(src, dst *DAG, idx IndexKey, log feedtree.Key, end uint64) (*Range, error) {
	var start, have uint64
	if df, err := dst.Feed(log); err == nil {
		have = df.Length()
		ls, _ := dst.Logs(idx)
		for _, l := range ls {
			if l.Key == log {
				start = l.Length
			}
		}
	}
	if start >= end {
		return nil, nil
	}
	sf, err := src.Feed(log)
	if err != nil {
		return nil, err
	}
	p, err := sf.Proof(start, end, have)
	if err != nil {
		return nil, fmt.Errorf("proof [%d,%d) have %d: %w", start, end, have, err)
	}
	blocks, err := sf.GetRange(start, end, nil)
	if err != nil {
		return nil, err
	}
	if uint64(len(blocks)) != end-start {
		return nil, fmt.Errorf("src holds %d of blocks [%d,%d)", len(blocks), start, end)
	}
	return &Range{Log: log, Proof: p, Blocks: blocks}, nil
}

func mustAppend(t testing.TB, d *DAG, idx IndexKey, a Author, ops ...Op) []ID {
	t.Helper()
	ids, err := d.Append(context.Background(), idx, a, ops...)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return ids
}

func appliedIDs(t testing.TB, d *DAG, idx IndexKey) []ID {
	t.Helper()
	as, err := d.Applied(idx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// check the order is topological while at it
	seen := make(map[Link]bool)
	out := make([]ID, 0, len(as))
	for i, a := range as {
		if a.Seq != uint64(i+1) {
			t.Fatalf("Applied[%d].Seq = %d; want %d", i, a.Seq, i+1)
		}
		for _, l := range a.Node.Links {
			if !seen[l] {
				t.Fatalf("node %v applied before its link %v", a.Hash, l)
			}
		}
		seen[Link{Log: a.Node.Log, Seq: a.Node.Seq, Hash: a.Hash}] = true
		out = append(out, a.Hash)
	}
	slices.SortFunc(out, func(a, b ID) int { return bytes.Compare(a.b[:], b.b[:]) })
	return out
}

func TestAppendApply(t *testing.T) {
	d := testDAG(t, Options{})
	m := testManifest(t)
	if err := d.PutManifest(m); err != nil {
		t.Fatal(err)
	}
	if err := d.PutManifest(m); err != nil {
		t.Fatalf("PutManifest again = %v; want nil", err)
	}
	idx := m.Key()
	a := testAuthor(1)
	ids := mustAppend(t, d, idx, a, putOp(1), putOp(2))
	ids = append(ids, mustAppend(t, d, idx, a, Op{Kind: OpRetract, Target: ids[0]})...)
	as, err := d.Applied(idx, 0, 0)
	if err != nil || len(as) != 3 {
		t.Fatalf("Applied = %d nodes, %v; want 3", len(as), err)
	}
	for i, x := range as {
		if x.Hash != ids[i] || x.Node.Seq != uint64(i+1) || x.Identity != a.Identity.Public() {
			t.Errorf("Applied[%d] = %v seq %d by %v; want %v seq %d by %v", i, x.Hash, x.Node.Seq, x.Identity, ids[i], i+1, a.Identity.Public())
		}
	}
	if as[1].Node.Links[0] != (Link{Log: a.Log.Public(), Seq: 1, Hash: ids[0]}) {
		t.Errorf("node 2 first link = %v; want node 1", as[1].Node.Links[0])
	}
	heads, _ := d.Heads(idx)
	if len(heads) != 1 || heads[0].Hash != ids[2] {
		t.Errorf("Heads = %v; want [%v]", heads, ids[2])
	}
	n, who, err := d.Node(ids[1])
	if err != nil || n.Op.Put.Name != "entry-2" || who != a.Identity.Public() {
		t.Errorf("Node = %v, %v, %v", n, who, err)
	}
	if _, _, err := d.Node(testID(9)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Node(unknown) = %v; want ErrNotFound", err)
	}
	logs, _ := d.Logs(idx)
	if len(logs) != 1 || logs[0].Length != 4 || logs[0].Applied != 4 {
		t.Errorf("Logs = %+v; want one log of length 4", logs)
	}
	if as, _ := d.Applied(idx, 1, 1); len(as) != 1 || as[0].Seq != 2 {
		t.Errorf("Applied(after 1, limit 1) = %+v", as)
	}
	if _, err := d.Append(context.Background(), IndexKey{hash256(nil)}, a, putOp(3)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Append to unknown index = %v; want ErrNotFound", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := d.WaitApplied(ctx, idx, 3); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitApplied(3) = %v; want deadline", err)
	}
	if err := d.WaitApplied(context.Background(), idx, 2); err != nil {
		t.Errorf("WaitApplied(2) = %v", err)
	}
}

func TestAutoMerge(t *testing.T) {
	m := testManifest(t)
	idx := m.Key()
	rs := replicas(t, 2, m)
	a, b := rs[0], rs[1]
	mustAppend(t, a, idx, testAuthor(1), putOp(1))
	mustAppend(t, b, idx, testAuthor(2), putOp(2))
	syncLogs(t, a, b, idx)
	syncLogs(t, b, a, idx)
	for _, d := range []*DAG{a, b} {
		if h, _ := d.Heads(idx); len(h) != 2 {
			t.Fatalf("after concurrent writes Heads = %v; want 2", h)
		}
	}
	id := mustAppend(t, a, idx, testAuthor(1), putOp(3))[0]
	syncLogs(t, a, b, idx)
	for _, d := range []*DAG{a, b} {
		if h, _ := d.Heads(idx); len(h) != 1 || h[0].Hash != id {
			t.Fatalf("after merge Heads = %v; want [%v]", h, id)
		}
	}
	if !slices.Equal(appliedIDs(t, a, idx), appliedIDs(t, b, idx)) {
		t.Error("replicas hold different applied sets")
	}
}

func TestLinkCap(t *testing.T) {
	m := testManifest(t)
	idx := m.Key()
	const writers = MaxLinks + 8
	rs := replicas(t, 2*writers+2, m)
	x, y := rs[0], rs[1]
	for i := range writers {
		w := rs[2+i]
		mustAppend(t, w, idx, testAuthor(100+i), putOp(i))
		syncLogs(t, w, x, idx)
	}
	if h, _ := x.Heads(idx); len(h) != writers {
		t.Fatalf("Heads = %d; want %d", len(h), writers)
	}
	ids := mustAppend(t, x, idx, testAuthor(1), putOp(1000))
	n, _, _ := x.Node(ids[0])
	if len(n.Links) != MaxLinks {
		t.Errorf("first node links %d; want MaxLinks = %d", len(n.Links), MaxLinks)
	}
	if h, _ := x.Heads(idx); len(h) != writers-MaxLinks+1 {
		t.Errorf("after one capped write Heads = %d; want %d", len(h), writers-MaxLinks+1)
	}
	mustAppend(t, x, idx, testAuthor(1), putOp(1001))
	if h, _ := x.Heads(idx); len(h) != 1 {
		t.Errorf("after the next write Heads = %d; want 1 (the rest merged)", len(h))
	}
	// In one batch, heads beyond the cap are merged by the batch's next nodes.
	syncLogs(t, x, y, idx) // y holds all logs; heads = x's author log only
	for i := range writers {
		w := rs[2+writers+i]
		mustAppend(t, w, idx, testAuthor(200+i), putOp(i))
		syncLogs(t, w, y, idx)
	}
	mustAppend(t, y, idx, testAuthor(2), putOp(1), putOp(2))
	if h, _ := y.Heads(idx); len(h) != 1 {
		t.Errorf("after a 2-node batch Heads = %d; want 1", len(h))
	}
}

// TestConcurrentUse: a follower waits on WaitApplied and reads Applied while
// two authors append concurrently.
func TestConcurrentUse(t *testing.T) {
	d := testDAG(t, Options{})
	m := testManifest(t)
	d.PutManifest(m)
	idx := m.Key()
	const per = 40
	errc := make(chan error, 2)
	for w := range 2 {
		go func() {
			for i := range per {
				if _, err := d.Append(context.Background(), idx, testAuthor(w), putOp(w*1000+i)); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var after uint64
	for after < 2*per {
		if err := d.WaitApplied(ctx, idx, after); err != nil {
			t.Fatalf("WaitApplied(%d): %v", after, err)
		}
		as, err := d.Applied(idx, after, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			if a.Seq != after+1 {
				t.Fatalf("Applied seq %d after %d", a.Seq, after)
			}
			after = a.Seq
		}
	}
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if h, _ := d.Heads(idx); len(h) > 2 {
		t.Errorf("Heads = %d; want ≤ 2", len(h))
	}
}

// Applied reads nodes the cache of the last applies lacks from the feeds:
// alone, and in ordered runs of one log (shorter than minReadRun, between,
// longer than maxReadRun), with the same result as from the cache.
func TestAppliedReadsBack(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	m := testManifest(t)
	d := openWithManifest(t, db, m)
	idx := m.Key()
	as := []Author{testAuthor(1), testAuthor(2)}
	i := 0
	for k, run := range []int{1, 7, minReadRun, minReadRun + 1, maxReadRun + 44, 2, 1} {
		ops := make([]Op, run)
		for j := range ops {
			ops[j] = putOp(i)
			i++
		}
		mustAppend(t, d, idx, as[k%2], ops...)
	}
	want, err := d.Applied(idx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	d, err = Open(db, testPrefix, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.applied.Len() != 0 {
		t.Fatal("a reopened DAG has nodes in its cache: the test reads nothing back")
	}
	for _, after := range []uint64{0, 5, 17, 300} {
		got, err := d.Applied(idx, after, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want)-int(after) {
			t.Fatalf("Applied(after %d) = %d nodes; want %d", after, len(got), len(want)-int(after))
		}
		for j, g := range got {
			w := want[int(after)+j]
			gb, _ := g.Node.Marshal()
			wb, _ := w.Node.Marshal()
			if g.Seq != w.Seq || g.Hash != w.Hash || g.Identity != w.Identity || !bytes.Equal(gb, wb) {
				t.Fatalf("Applied(after %d)[%d] = seq %d %v; want seq %d %v", after, j, g.Seq, g.Hash, w.Seq, w.Hash)
			}
		}
	}
}

// A stored block that no longer hashes to its applied record is an error
// of Applied, read alone or in a run, never a node.
func TestAppliedDetectsCorruptBlock(t *testing.T) {
	for _, run := range []int{3, minReadRun + 3} { // 4 and 12 blocks: a full subtree covers block 1
		db := openDB(t, t.TempDir())
		m := testManifest(t)
		d := openWithManifest(t, db, m)
		a := testAuthor(1)
		ops := make([]Op, run)
		for j := range ops {
			ops[j] = putOp(j)
		}
		mustAppend(t, d, m.Key(), a, ops...)
		d.Close()
		// Flip the last byte of the record holding the last node: the end
		// of its own block record, or of the run record of the blocks
		// appended together (the last block's bytes come last).
		store := feedtree.NewBadgerStore(db, append(slices.Clone(testPrefix), tagFeeds))
		var b feedtree.Batch
		err := store.Scan(a.Log.Public(), []byte{'b'}, []byte{'s'}, func(k, v []byte) error {
			if len(k) == 9 && (k[0] == 'r' || k[0] == 'b' && binary.BigEndian.Uint64(k[1:]) == uint64(run)) {
				v = slices.Clone(v)
				v[len(v)-1] ^= 1
				b.Set(slices.Clone(k), v)
			}
			return nil
		})
		if err != nil || b.Len() != 1 {
			t.Fatalf("run %d: %d records hold the last node (%v); want 1", run, b.Len(), err)
		}
		if err := store.Commit(a.Log.Public(), &b); err != nil {
			t.Fatal(err)
		}
		d, err = Open(db, testPrefix, Options{})
		if err != nil {
			t.Fatal(err)
		}
		as, err := d.Applied(m.Key(), 0, 0)
		if err == nil || !strings.Contains(err.Error(), "no longer hashes") {
			t.Errorf("run %d: Applied = %d nodes, %v; want an error naming the hash", run, len(as), err)
		}
		d.Close()
		db.Close()
	}
}

// openWithManifest opens a DAG on db (the caller closes it) holding m.
func openWithManifest(t *testing.T, db *badger.DB, m *Manifest) *DAG {
	t.Helper()
	d, err := Open(db, testPrefix, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.PutManifest(m); err != nil {
		t.Fatal(err)
	}
	return d
}
