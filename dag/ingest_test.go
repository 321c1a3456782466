package dag

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"indexd/feedtree"
)

// writer builds an author log by hand, including logs a correct DAG would
// never write, in a feed of its own.
type writer struct {
	t    *testing.T
	a    Author
	feed *feedtree.Feed
}

func newWriter(t *testing.T, a Author) *writer {
	f, err := feedtree.OpenFeed(feedtree.NewMemStore(), a.Log.Public(), &a.Log)
	if err != nil {
		t.Fatal(err)
	}
	return &writer{t: t, a: a, feed: f}
}

func (w *writer) cert(idx IndexKey) []byte {
	c, err := NewCert(w.a.Identity, idx, w.a.Log.Public(), 1)
	if err != nil {
		w.t.Fatal(err)
	}
	b, _ := c.Marshal()
	return b
}

func (w *writer) node(idx IndexKey, seq uint64, links []Link, op Op) []byte {
	n := &Node{Index: idx, Log: w.a.Log.Public(), Seq: seq, Links: links, Time: 1, Op: op}
	b, err := n.Marshal()
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

func (w *writer) append(blocks ...[]byte) {
	if _, err := w.feed.Append(blocks...); err != nil {
		w.t.Fatal(err)
	}
}

// ingest sends blocks [start, end) to d, proved for a replica that trusts
// length have.
func (w *writer) ingest(d *DAG, idx IndexKey, start, end, have uint64) (int, error) {
	p, err := w.feed.Proof(start, end, have)
	if err != nil {
		w.t.Fatal(err)
	}
	var blocks [][]byte
	for i := start; i < end; i++ {
		b, _ := w.feed.Get(i)
		blocks = append(blocks, b)
	}
	return d.Ingest(context.Background(), idx, w.a.Log.Public(), p, blocks)
}

func TestIngestRejects(t *testing.T) {
	m := testManifest(t)
	idx := m.Key()
	other, _ := NewManifest("other", PolicyOpen, testAuthor(1).Identity, nil)
	rs := replicas(t, 1, m)
	d := rs[0]
	d.PutManifest(other)

	cases := []struct {
		name  string
		build func(w *writer)
		start uint64
		want  error
	}{
		{"cert-of-other-index", func(w *writer) { w.append(w.cert(other.Key()), w.node(other.Key(), 1, nil, putOp(1))) }, 0, ErrBadCert},
		{"no-cert", func(w *writer) { w.append(w.cert(idx), w.node(idx, 1, nil, putOp(1))) }, 1, ErrBadCert},
		{"bad-cert-signature", func(w *writer) {
			c, _ := NewCert(w.a.Identity, idx, w.a.Log.Public(), 1)
			c.Created = 2
			b, _ := c.Marshal()
			w.append(b)
		}, 0, ErrBadCert},
		{"wrong-seq", func(w *writer) {
			w.append(w.cert(idx), w.node(idx, 2, []Link{{w.a.Log.Public(), 1, testID(1)}}, putOp(1)))
		}, 0, ErrBadNode},
		{"wrong-index", func(w *writer) { w.append(w.cert(idx), w.node(other.Key(), 1, nil, putOp(1))) }, 0, ErrBadNode},
		{"bad-first-link", func(w *writer) {
			w.append(w.cert(idx), w.node(idx, 1, nil, putOp(1)), w.node(idx, 2, []Link{{w.a.Log.Public(), 1, testID(1)}}, putOp(2)))
		}, 0, ErrBadNode},
		{"non-canonical-node", func(w *writer) {
			b := w.node(idx, 1, nil, putOp(1))
			w.append(w.cert(idx), append(b, 0))
		}, 0, ErrNonCanonical},
		{"cert-as-node", func(w *writer) { w.append(w.cert(idx), w.cert(idx)) }, 0, ErrMalformed},
	}
	for i, c := range cases {
		w := newWriter(t, testAuthor(500+i))
		c.build(w)
		n, err := w.ingest(d, idx, c.start, w.feed.Length(), 0)
		if !errors.Is(err, c.want) || n != 0 {
			t.Errorf("%s: Ingest = %d, %v; want %v", c.name, n, err, c.want)
		}
		if ls, _ := d.Logs(idx); len(ls) != 0 {
			t.Errorf("%s: a rejected log was registered: %+v", c.name, ls)
		}
	}

	// Gaps and wrong index for a known log.
	w := newWriter(t, testAuthor(600))
	w.append(w.cert(idx), w.node(idx, 1, nil, putOp(1)))
	prev := HashNode(w.node(idx, 1, nil, putOp(1)))
	w.append(w.node(idx, 2, []Link{{w.a.Log.Public(), 1, prev}}, putOp(2)))
	if n, err := w.ingest(d, idx, 0, 1, 0); err != nil || n != 0 {
		t.Fatalf("Ingest(cert) = %d, %v", n, err)
	}
	if _, err := w.ingest(d, idx, 2, 3, 3); !errors.Is(err, ErrNotContiguous) {
		t.Errorf("Ingest past a gap = %v; want ErrNotContiguous", err)
	}
	if _, err := w.ingest(d, other.Key(), 0, 3, 0); !errors.Is(err, ErrWrongIndex) {
		t.Errorf("Ingest into another index = %v; want ErrWrongIndex", err)
	}
	if n, err := w.ingest(d, idx, 1, 3, 3); err != nil || n != 2 {
		t.Errorf("Ingest(rest) = %d, %v; want 2 applied", n, err)
	}
}

// TestPendingAndMissing: nodes whose ancestors are absent wait, bounded by
// MaxPending, and Missing names what to fetch.
func TestPendingAndMissing(t *testing.T) {
	m := testManifest(t)
	idx := m.Key()
	rs := replicas(t, 2, m)
	src := rs[0]
	db := openDB(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	dst := testDAGOn(t, db, testPrefix, Options{MaxPending: 2})
	dst.PutManifest(m)

	y, x := testAuthor(1), testAuthor(2)
	yid := mustAppend(t, src, idx, y, putOp(1))
	mustAppend(t, src, idx, x, putOp(2), putOp(3), putOp(4)) // x's node 1 links y's node 1

	if _, err := ingestRange(src, dst, idx, x.Log.Public(), 4); !errors.Is(err, ErrPendingFull) {
		t.Fatalf("Ingest of 3 unapplicable nodes with MaxPending 2 = %v; want ErrPendingFull", err)
	}
	if n, err := ingestRange(src, dst, idx, x.Log.Public(), 3); err != nil || n != 0 {
		t.Fatalf("Ingest(2 pending) = %d, %v; want 0 applied", n, err)
	}
	miss, err := dst.Missing(idx)
	if err != nil || len(miss) != 1 || miss[0] != (Link{Log: y.Log.Public(), Seq: 1, Hash: yid[0]}) {
		t.Fatalf("Missing = %v, %v; want y's node 1", miss, err)
	}
	if n, err := ingestRange(src, dst, idx, y.Log.Public(), 2); err != nil || n != 3 {
		t.Fatalf("Ingest(ancestor) = %d, %v; want 3 applied (it and the two waiting)", n, err)
	}
	if n, err := ingestRange(src, dst, idx, x.Log.Public(), 4); err != nil || n != 1 {
		t.Fatalf("Ingest(last) = %d, %v; want 1", n, err)
	}
	if miss, _ := dst.Missing(idx); len(miss) != 0 {
		t.Errorf("Missing = %v; want none", miss)
	}
	if got, want := appliedIDs(t, dst, idx), appliedIDs(t, src, idx); len(got) != len(want) || len(got) != 4 {
		t.Errorf("applied %d; want %d", len(got), len(want))
	}
}

// TestIngestLinksToOlderNodes checks links to nodes that are applied but no
// longer the last of their log: the right hash applies, the hash of a node
// applied elsewhere stops the linking log for good, an unknown hash (what
// a link into the other history of an equivocating log looks like) holds
// it until that log is known forked, and all survive a reopen.
func TestIngestLinksToOlderNodes(t *testing.T) {
	m := testManifest(t)
	idx := m.Key()
	dir := t.TempDir()
	db := openDB(t, dir)
	d := testDAGOn(t, db, testPrefix, Options{})
	d.PutManifest(m)
	y := testAuthor(1)
	yids := mustAppend(t, d, idx, y, putOp(1), putOp(2), putOp(3)) // y's nodes 1..3; 3 is last
	for _, tc := range []struct {
		name    string
		link    Link
		applied int
	}{
		{"right hash", Link{Log: y.Log.Public(), Seq: 1, Hash: yids[0]}, 1},
		{"hash of another node", Link{Log: y.Log.Public(), Seq: 1, Hash: yids[1]}, 0},
		{"unknown hash", Link{Log: y.Log.Public(), Seq: 2, Hash: testID(9)}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newWriter(t, testAuthor(10+len(tc.name)))
			x.append(x.cert(idx), x.node(idx, 1, []Link{tc.link}, putOp(7)))
			n, err := x.ingest(d, idx, 0, 2, 0)
			if err != nil || n != tc.applied {
				t.Fatalf("Ingest = %d, %v; want %d applied", n, err, tc.applied)
			}
			if tc.applied == 0 {
				// The log is stuck on that node: nothing more of it applies.
				x.append(x.node(idx, 2, []Link{{Log: x.a.Log.Public(), Seq: 1, Hash: HashNode(mustGet(t, x.feed, 1))}}, putOp(8)))
				n, err := x.ingest(d, idx, 2, 3, 2)
				if tc.name == "unknown hash" {
					if err != nil || n != 0 {
						t.Fatalf("Ingest after a link to an unknown hash = %d, %v; want held, 0 applied", n, err)
					}
				} else if !errors.Is(err, ErrBadNode) {
					t.Fatalf("Ingest after a bad link = %v; want ErrBadNode", err)
				}
			}
		})
	}
	want := appliedIDs(t, d, idx)
	if len(want) != 4 {
		t.Fatalf("applied %d nodes; want y's 3 and one of x's", len(want))
	}
	// Reopen: the last applied hash of each log is recovered from its feed.
	d.Close()
	d2 := testDAGOn(t, db, testPrefix, Options{})
	if got := appliedIDs(t, d2, idx); len(got) != len(want) {
		t.Fatalf("after reopen %d applied; want %d", len(got), len(want))
	}
	ids := mustAppend(t, d2, idx, y, putOp(4)) // links y's node 3 by the recovered hash
	if n, _, err := d2.Node(ids[0]); err != nil || n.Links[0] != (Link{Log: y.Log.Public(), Seq: 3, Hash: yids[2]}) {
		t.Fatalf("node appended after reopen: %v, first link %v; want y's node 3", err, n.Links[0])
	}
}

func mustGet(t *testing.T, f *feedtree.Feed, i uint64) []byte {
	t.Helper()
	b, err := f.Get(i)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestIngestMany ingests ranges of several logs in one call: the good ones
// apply (in causal order across them), a corrupt one and one without its
// log's certificate fail on their own, and the result equals the source's.
func TestIngestMany(t *testing.T) {
	m := testManifest(t)
	idx := m.Key()
	rs := replicas(t, 2, m)
	src, dst := rs[0], rs[1]
	x, y := testAuthor(1), testAuthor(2)
	mustAppend(t, src, idx, x, putOp(1), putOp(2))
	mustAppend(t, src, idx, y, putOp(3)) // links x's node 2
	mustAppend(t, src, idx, x, putOp(4)) // links y's node 1
	rng := func(a Author, start, end, have uint64) Range {
		f, err := src.Feed(a.Log.Public())
		if err != nil {
			t.Fatal(err)
		}
		p, err := f.Proof(start, end, have)
		if err != nil {
			t.Fatal(err)
		}
		var blocks [][]byte
		for i := start; i < end; i++ {
			blocks = append(blocks, mustGet(t, f, i))
		}
		return Range{Log: a.Log.Public(), Proof: p, Blocks: blocks}
	}
	corrupt := rng(y, 0, 2, 0)
	corrupt.Blocks = [][]byte{corrupt.Blocks[0], append([]byte(nil), corrupt.Blocks[1]...)}
	corrupt.Blocks[1][len(corrupt.Blocks[1])-1] ^= 1
	batch := []Range{
		rng(x, 0, 3, 0), // x's cert and nodes 1, 2
		corrupt,         // y, a flipped bit
		rng(y, 1, 2, 0), // y's node 1 before y's certificate
		rng(x, 3, 4, 4), // x's node 3 links y's node 1: waits, its block staged
		rng(y, 0, 2, 0), // y's cert and node 1: applies, then x's node 3
	}
	n, errs := dst.IngestMany(context.Background(), idx, batch)
	if n != 4 {
		t.Errorf("applied %d; want 4", n)
	}
	if c, err := dst.Counter(idx); err != nil || c != 4 {
		t.Errorf("Counter = %d, %v; want 4", c, err)
	}
	for i, want := range []error{nil, feedtree.ErrBadProof, ErrBadCert, nil, nil} {
		if (want == nil) != (errs[i] == nil) || (want != nil && !errors.Is(errs[i], want) && !errors.As(errs[i], new(*feedtree.MismatchError))) {
			t.Errorf("range %d: %v; want %v", i, errs[i], want)
		}
	}
	if got, want := appliedIDs(t, dst, idx), appliedIDs(t, src, idx); len(got) != len(want) {
		t.Fatalf("applied %d; want the source's %d", len(got), len(want))
	}
	ds, _ := dst.Heads(idx)
	ss, _ := src.Heads(idx)
	if fmt.Sprint(ds) != fmt.Sprint(ss) {
		t.Errorf("heads %v; want %v", ds, ss)
	}
}

// TestIngestManyLarge ingests a batch whose blocks add up to several times
// maxStagedBytes in one call: it commits along the way at range boundaries,
// applies everything, and the state survives a reopen.
func TestIngestManyLarge(t *testing.T) {
	m := testManifest(t)
	idx := m.Key()
	rs := replicas(t, 2, m)
	src, dst := rs[0], rs[1]
	x := testAuthor(1)
	desc := string(bytes.Repeat([]byte("d"), MaxDescriptionLen-100))
	for i := range 64 { // ~2 MiB of nodes
		op := putOp(i)
		op.Put.Description = desc
		mustAppend(t, src, idx, x, op)
	}
	f, _ := src.Feed(x.Log.Public())
	var batch []Range
	for s := uint64(0); s < f.Length(); s += 4 {
		e := min(s+4, f.Length())
		p, err := f.Proof(s, e, min(s, 1)*f.Length()) // the first range upgrades, the rest are under the head
		if err != nil {
			t.Fatal(err)
		}
		var blocks [][]byte
		for i := s; i < e; i++ {
			blocks = append(blocks, mustGet(t, f, i))
		}
		batch = append(batch, Range{Log: x.Log.Public(), Proof: p, Blocks: blocks})
	}
	n, errs := dst.IngestMany(context.Background(), idx, batch)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("range %d: %v", i, err)
		}
	}
	if n != 64 {
		t.Fatalf("applied %d; want 64", n)
	}
	if got, want := appliedIDs(t, dst, idx), appliedIDs(t, src, idx); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatal("applied nodes differ from the source's")
	}
}
