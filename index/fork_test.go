package index

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"indexd/dag"
	"indexd/feedtree"
)

// TestForkProof: once a fork-proof node against an equivocating log is
// applied, that log's nodes from the fork length on (the length both
// histories provably share: dag.ForkCount) count nowhere, and the state is the
// same whether the proof came before or after them.
func TestForkProof(t *testing.T) {
	db := openDB(t)
	honest, evil := testAuthor(1, 0), testAuthor(2, 0)
	m := testManifest(t, dag.PolicyOpen, honest)
	idx := m.Key()

	// Two replicas write the same evil log: a shared prefix, then different
	// histories.
	a := newReplica(t, db, "a", m, clockFrom(0))
	b := newReplica(t, db, "b", m, clockFrom(100))
	var evilIDs []dag.ID
	logKey := evil.Log.Public()
	for i := range 5 {
		evilIDs = append(evilIDs, mustAppend(t, a.d, idx, evil, dag.Op{Kind: dag.OpPut, Put: testPut(10 + i)})[0])
		if i == 1 {
			syncLogs(t, a.d, b.d, idx) // b holds the cert and 2 nodes
		}
	}
	mustAppend(t, b.d, idx, evil, dag.Op{Kind: dag.OpPut, Put: testPut(99)})

	// An honest writer holds a's history, is shown b's, and appends the
	// fork-proof.
	w := detector(t, db, m, honest)
	syncLogs(t, a.d, w, idx)
	bf, _ := b.d.Feed(logKey)
	p, err := bf.Proof(3, 4, 4) // no upgrade: w holds a longer head, and checks this one against it
	if err != nil {
		t.Fatal(err)
	}
	blk, err := bf.Get(3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Ingest(context.Background(), idx, logKey, p, [][]byte{blk}); !errors.Is(err, feedtree.ErrForked) {
		t.Fatalf("Ingest of the conflicting history = %v; want a fork", err)
	}
	forkAt := logOf(w, idx, logKey).ForkAt
	if forkAt >= 4 {
		t.Fatalf("fork length %d; the histories share only 3 blocks", forkAt)
	}

	// r1 materialises the evil history first, then learns of the proof.
	r1 := newReplica(t, db, "r1", m, nil)
	syncLogs(t, a.d, r1.d, idx)
	mustSync(t, r1.x, idx)
	if st, _ := r1.x.Stats(idx); st.Entries != 5 {
		t.Fatalf("before the proof: %d entries; want 5", st.Entries)
	}
	before, _ := r1.x.Changes(idx, 0, 0)
	syncLogs(t, w, r1.d, idx)
	mustSync(t, r1.x, idx)
	// r2 gets the proof and the honest log first.
	r2 := newReplica(t, db, "r2", m, nil)
	hl, _ := w.Logs(idx)
	for _, l := range hl {
		if l.Key != logKey {
			if err := ingestRange(w, r2.d, idx, l.Key, l.Length); err != nil {
				t.Fatal(err)
			}
		}
	}
	mustSync(t, r2.x, idx)
	syncLogs(t, a.d, r2.d, idx)
	mustSync(t, r2.x, idx)

	for i, id := range evilIDs {
		seq := uint64(i + 1)
		_, err1 := r1.x.Entry(id)
		want := seq < forkAt
		if got := err1 == nil; got != want {
			t.Errorf("evil node %d (fork at %d): entry on r1 exists = %v; want %v", seq, forkAt, got, want)
		}
	}
	s1, d1 := state(t, r1.x, idx)
	s2, d2 := state(t, r2.x, idx)
	as1, _ := r1.d.Applied(idx, 0, 0)
	as2, _ := r2.d.Applied(idx, 0, 0)
	checkSameState(t, "r1 vs reference", s1, referenceState(t, m, as1))
	checkSameState(t, "r2 vs reference", s2, referenceState(t, m, as2))
	if sameSet(as1, as2) && d1 != d2 {
		t.Error("equal node sets, different digests")
	}
	// The entries the fork removed are reported as changes.
	after, _ := r1.x.Changes(idx, before[len(before)-1].Seq, 0)
	gone := 0
	for _, c := range after {
		if _, err := r1.x.Entry(c.ID); errors.Is(err, ErrNotFound) {
			gone++
		}
	}
	if want := 5 - int(max(forkAt, 1)-1); gone != want { // evil nodes are seqs 1..5
		t.Errorf("%d removed entries reported in Changes; want %d", gone, want)
	}
}

// TestForkOtherHistories: replicas that hold different histories of an
// equivocating log converge. The honest detector's log links into the
// history it holds (a link naming another node than the one a replica of
// the other history applied there, and a link past all that replica
// holds) before its fork-proof node; a replica of the other history learns
// the fork from that node, or from its own detection, and applies every
// honest node.
func TestForkOtherHistories(t *testing.T) {
	db := openDB(t)
	honest, evil := testAuthor(1, 0), testAuthor(2, 0)
	m := testManifest(t, dag.PolicyOpen, honest)
	idx := m.Key()
	logKey := evil.Log.Public()

	// Two histories of the evil log share the certificate and 2 nodes.
	a := newReplica(t, db, "a", m, clockFrom(0))
	b := newReplica(t, db, "b", m, clockFrom(100))
	a4 := newReplica(t, db, "a4", m, nil) // history a at length 4
	c := newReplica(t, db, "c", m, clockFrom(300))
	for i := range 5 {
		mustAppend(t, a.d, idx, evil, dag.Op{Kind: dag.OpPut, Put: testPut(10 + i)})
		switch i {
		case 0:
			syncLogs(t, a.d, c.d, idx) // a third history, later
		case 1:
			syncLogs(t, a.d, b.d, idx)
		case 2:
			syncLogs(t, a.d, a4.d, idx)
		}
	}
	mustAppend(t, b.d, idx, evil, dag.Op{Kind: dag.OpPut, Put: testPut(99)})
	mustAppend(t, b.d, idx, evil, dag.Op{Kind: dag.OpPut, Put: testPut(98)})

	// The detector follows history a and publishes between: one node links
	// a's node 3 (b holds another node 3), one links a's node 5 (b holds
	// nodes up to 4).
	w := detector(t, db, m, honest)
	if err := ingestRange(a.d, w, idx, logKey, 4); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, w, idx, honest, dag.Op{Kind: dag.OpPut, Put: testPut(2)})
	syncLogs(t, a.d, w, idx)
	mustAppend(t, w, idx, honest, dag.Op{Kind: dag.OpPut, Put: testPut(3)})
	bf, _ := b.d.Feed(logKey)
	p, err := bf.Proof(3, 4, 5) // its first link names the last shared node
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := bf.Get(3)
	if _, err := w.Ingest(context.Background(), idx, logKey, p, [][]byte{blk}); !errors.Is(err, feedtree.ErrForked) {
		t.Fatalf("Ingest of the conflicting history = %v; want a fork", err)
	}

	honestLogs := func(dst *dag.DAG) {
		t.Helper()
		ls, _ := w.Logs(idx)
		for _, l := range ls {
			if l.Key != logKey {
				if err := ingestRange(w, dst, idx, l.Key, l.Length); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// r1 holds history a, r2 history b and learns the fork from the
	// detector's log, r3 history b and detects the fork itself first.
	r1 := newReplica(t, db, "r1", m, nil)
	syncLogs(t, a.d, r1.d, idx)
	honestLogs(r1.d)
	r2 := newReplica(t, db, "r2", m, nil)
	syncLogs(t, b.d, r2.d, idx)
	honestLogs(r2.d)
	r3 := newReplica(t, db, "r3", m, nil)
	syncLogs(t, b.d, r3.d, idx)
	// A head of history a no longer than r3's (a longer one would come as
	// an upgrade that does not verify against r3's history: no proof of a
	// fork without the roots a peer would have to send).
	af, _ := a4.d.Feed(logKey)
	if p, err = af.Proof(3, 4, 4); err != nil {
		t.Fatal(err)
	}
	blk, _ = af.Get(3)
	if _, err := r3.d.Ingest(context.Background(), idx, logKey, p, [][]byte{blk}); !errors.Is(err, feedtree.ErrForked) {
		t.Fatalf("r3: Ingest of the other history = %v; want a fork", err)
	}
	honestLogs(r3.d)
	// r4 holds history b and the detector's nodes up to the one linking
	// a's node 3, without the fork-proof: that node waits until r4 finds
	// the fork itself.
	r4 := newReplica(t, db, "r4", m, nil)
	syncLogs(t, b.d, r4.d, idx)
	if err := ingestRange(w, r4.d, idx, honest.Log.Public(), 3); err != nil {
		t.Fatal(err)
	}
	if n := logOf(r4.d, idx, honest.Log.Public()).Applied; n != 2 {
		t.Fatalf("r4: honest log applied %d before the fork is known; want 2", n)
	}
	if _, err := r4.d.Ingest(context.Background(), idx, logKey, p, [][]byte{blk}); !errors.Is(err, feedtree.ErrForked) {
		t.Fatalf("r4: Ingest of the other history = %v; want a fork", err)
	}
	if n := logOf(r4.d, idx, honest.Log.Public()).Applied; n != 3 {
		t.Errorf("r4: honest log applied %d once the fork is known; want 3", n)
	}

	var digests [][32]byte
	for i, r := range []*replica{r1, r2, r3} {
		mustSync(t, r.x, idx)
		ls, _ := r.d.Logs(idx)
		for _, l := range ls {
			switch {
			case l.Key == logKey && (!l.Forked || l.ForkAt != 0):
				t.Errorf("r%d: evil log %+v; want forked at 0", i+1, l)
			case l.Key == honest.Log.Public() && l.Applied != l.Length:
				t.Errorf("r%d: honest log applied %d of %d", i+1, l.Applied, l.Length)
			}
		}
		s, d := state(t, r.x, idx)
		if len(s) != 3 {
			t.Errorf("r%d: %d entries; want the 3 honest ones", i+1, len(s))
		}
		as, _ := r.d.Applied(idx, 0, 0)
		checkSameState(t, fmt.Sprintf("r%d vs reference", i+1), s, referenceState(t, m, as))
		digests = append(digests, d)
	}
	if digests[0] != digests[1] || digests[0] != digests[2] {
		t.Errorf("digests %x, %x, %x; want one", digests[0][:4], digests[1][:4], digests[2][:4])
	}

	// The detector locates where the histories part (at seq 3: the
	// certificate and two puts are shared) with probes of history b, and
	// publishes that: every replica then counts the shared puts.
	wf, _ := w.Feed(logKey)
	fp := locateFork(t, wf, bf)
	if fp.Div.At != 3 || !fp.Div.Exact() {
		t.Fatalf("located the fork at %d (span %d); want 3", fp.Div.At, fp.Div.Span)
	}
	if ok, err := w.AddForkProof(idx, logKey, fp); err != nil || !ok {
		t.Fatalf("AddForkProof = %v, %v; want true", ok, err)
	}
	if ok, err := w.AddForkProof(idx, logKey, fp); err != nil || ok {
		t.Errorf("AddForkProof again = %v, %v; want false: it says nothing new", ok, err)
	}
	converged := func(rs []*replica, at uint64, entries int) {
		t.Helper()
		var ds [][32]byte
		for i, r := range rs {
			mustSync(t, r.x, idx)
			ls, _ := r.d.Logs(idx)
			for _, l := range ls {
				if l.Key == logKey && (!l.Forked || l.ForkAt != at) {
					t.Errorf("replica %d: evil log %+v; want forked at %d", i, l, at)
				}
			}
			s, d := state(t, r.x, idx)
			if len(s) != entries {
				t.Errorf("replica %d: %d entries; want %d", i, len(s), entries)
			}
			as, _ := r.d.Applied(idx, 0, 0)
			checkSameState(t, fmt.Sprintf("replica %d vs reference", i), s, referenceState(t, m, as))
			ds = append(ds, d)
		}
		for i := range ds {
			if ds[i] != ds[0] {
				t.Errorf("replica %d: digest %x; replica 0 has %x", i, ds[i][:4], ds[0][:4])
			}
		}
	}
	for _, r := range []*replica{r1, r2, r3} {
		honestLogs(r.d)
	}
	converged([]*replica{r1, r2, r3}, 3, 5)

	// A third history parts from a and b at seq 2. Its replica, given the
	// located proof, proves that it parts earlier; the count drops to 2
	// everywhere.
	mustAppend(t, c.d, idx, evil, dag.Op{Kind: dag.OpPut, Put: testPut(77)})
	third := testAuthor(3, 0)
	r5 := detectorReplica(t, db, "r5", m, third, clockFrom(400))
	syncLogs(t, c.d, r5.d, idx)
	honestLogs(r5.d)
	r5f, _ := r5.d.Feed(logKey)
	if r5f.Fork() == nil || r5f.Fork().Div == nil || r5f.Fork().Div.At != 2 {
		t.Fatalf("r5 recorded fork %+v; want one located at 2", r5f.Fork())
	}
	for _, r := range []*replica{r1, r2, r3} {
		ls, _ := r5.d.Logs(idx)
		for _, l := range ls {
			if l.Key == third.Log.Public() {
				if err := ingestRange(r5.d, r.d, idx, l.Key, l.Length); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	converged([]*replica{r1, r2, r3, r5}, 2, 4)
}

// locateFork finds, from probes of w's history (self-contained proofs of
// one block), the exact point where r's history and w's part.
func locateFork(t *testing.T, r, w *feedtree.Feed) *feedtree.ForkProof {
	t.Helper()
	m := min(r.Length(), w.Length()) - 1
	for range 64 {
		p, err := w.Proof(m, m+1, 0)
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := w.Get(m)
		fp, err := r.Locate(p, [][]byte{blk})
		if err != nil || fp == nil {
			t.Fatalf("Locate from %d = %v, %v", m, fp, err)
		}
		next, ok := fp.Div.Probe()
		if !ok {
			return fp
		}
		m = next
	}
	t.Fatal("no exact point after 64 probes")
	return nil
}

// detector opens a DAG whose local author appends fork-proof nodes, with
// one entry of that author's published.
func detector(t *testing.T, db *badger.DB, m *dag.Manifest, author dag.Author) *dag.DAG {
	t.Helper()
	w := openDAG(t, db, "w", m, forkOpts(author, clockFrom(200)))
	mustAppend(t, w, m.Key(), author, dag.Op{Kind: dag.OpPut, Put: testPut(1)})
	return w
}

// twoHistories writes two histories of evil's log into m: replica a
// holds na puts, replica b the certificate and the first 2 of them, then
// nb puts of its own.
func twoHistories(t *testing.T, db *badger.DB, m *dag.Manifest, evil dag.Author, na, nb int) (a, b *replica) {
	t.Helper()
	idx := m.Key()
	a = newReplica(t, db, "a", m, clockFrom(0))
	b = newReplica(t, db, "b", m, clockFrom(100))
	for i := range na {
		mustAppend(t, a.d, idx, evil, dag.Op{Kind: dag.OpPut, Put: testPut(10 + i)})
		if i == 1 {
			syncLogs(t, a.d, b.d, idx)
		}
	}
	for j := range nb {
		mustAppend(t, b.d, idx, evil, dag.Op{Kind: dag.OpPut, Put: testPut(99 - j)})
	}
	return a, b
}

// detectorReplica is a replica whose DAG appends fork-proof nodes with
// author.
func detectorReplica(t *testing.T, db *badger.DB, name string, m *dag.Manifest, author dag.Author, now func() time.Time) *replica {
	t.Helper()
	return newReplicaOpts(t, db, name, m, forkOpts(author, now))
}

// TestForkArrivalOrders: an author signs three histories of one log (H1
// and H2 share 3 blocks, H3 shares 2 with both). Three honest detectors
// publish what they learn: d1 (holding H1) the exact point against H2, d2
// (H2) a proof that only shows the conflict, d3 (H3), shown d1's proof, the
// lower point its history proves. Replicas holding any of the histories
// receive the detectors' logs and the evil log in random orders and
// chunks: every one ends with the log counted up to 2, the same entries as
// the reference materialisation, and one digest.
func TestForkArrivalOrders(t *testing.T) {
	db := openDB(t)
	evil := testAuthor(2, 0)
	dets := []dag.Author{testAuthor(11, 0), testAuthor(12, 0), testAuthor(13, 0)}
	m := testManifest(t, dag.PolicyOpen, dets[0])
	idx := m.Key()
	logKey := evil.Log.Public()

	h1 := newReplica(t, db, "h1", m, clockFrom(0))
	h2 := newReplica(t, db, "h2", m, clockFrom(100))
	h3 := newReplica(t, db, "h3", m, clockFrom(200))
	for i := range 5 {
		mustAppend(t, h1.d, idx, evil, dag.Op{Kind: dag.OpPut, Put: testPut(10 + i)})
		switch i {
		case 0:
			syncLogs(t, h1.d, h3.d, idx) // cert and 1 node
		case 1:
			syncLogs(t, h1.d, h2.d, idx) // cert and 2 nodes
		}
	}
	for i := range 3 {
		mustAppend(t, h2.d, idx, evil, dag.Op{Kind: dag.OpPut, Put: testPut(20 + i)})
		mustAppend(t, h3.d, idx, evil, dag.Op{Kind: dag.OpPut, Put: testPut(30 + i)})
	}
	histories := []*replica{h1, h2, h3}
	feed := func(r *replica) *feedtree.Feed {
		f, err := r.d.Feed(logKey)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}

	// d1 holds H1 and locates the fork against H2.
	d1 := detectorReplica(t, db, "d1", m, dets[0], clockFrom(300))
	syncLogs(t, h1.d, d1.d, idx)
	mustAppend(t, d1.d, idx, dets[0], dag.Op{Kind: dag.OpPut, Put: testPut(1)})
	if ok, err := d1.d.AddForkProof(idx, logKey, locateFork(t, feed(d1), feed(h2))); err != nil || !ok {
		t.Fatalf("d1: AddForkProof = %v, %v", ok, err)
	}
	mustAppend(t, d1.d, idx, dets[0], dag.Op{Kind: dag.OpPut, Put: testPut(2)})
	// d2 holds H2 and is shown a range of H1 under a head as long as its
	// own: a conflict, not located.
	d2 := detectorReplica(t, db, "d2", m, dets[1], clockFrom(400))
	syncLogs(t, h2.d, d2.d, idx)
	mustAppend(t, d2.d, idx, dets[1], dag.Op{Kind: dag.OpPut, Put: testPut(3)})
	n1 := feed(h1).Length()
	if n2 := feed(d2).Length(); n2 != n1 {
		t.Fatalf("H1 has %d blocks, H2 %d; the test wants them alike", n1, n2)
	}
	p, err := feed(h1).Proof(3, 4, n1)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := feed(h1).Get(3)
	if _, err := d2.d.Ingest(context.Background(), idx, logKey, p, [][]byte{blk}); !errors.Is(err, feedtree.ErrForked) {
		t.Fatalf("d2: Ingest of H1 = %v; want a fork", err)
	}
	if fp := feed(d2).Fork(); fp == nil || fp.Div != nil {
		t.Fatalf("d2 recorded %+v; want a proof that does not locate", fp)
	}
	mustAppend(t, d2.d, idx, dets[1], dag.Op{Kind: dag.OpPut, Put: testPut(4)})
	// d3 holds H3 and is shown d1's log: it proves the lower point.
	d3 := detectorReplica(t, db, "d3", m, dets[2], clockFrom(500))
	syncLogs(t, h3.d, d3.d, idx)
	mustAppend(t, d3.d, idx, dets[2], dag.Op{Kind: dag.OpPut, Put: testPut(5)})
	if err := ingestRange(d1.d, d3.d, idx, dets[0].Log.Public(), logOf(d1.d, idx, dets[0].Log.Public()).Length); err != nil {
		t.Fatal(err)
	}
	if fp := feed(d3).Fork(); fp == nil || fp.Div == nil || fp.Div.At != 2 {
		t.Fatalf("d3 recorded %+v; want a proof located at 2", fp)
	}
	mustAppend(t, d3.d, idx, dets[2], dag.Op{Kind: dag.OpPut, Put: testPut(6)})
	detectors := []*replica{d1, d2, d3}

	var digest [32]byte
	for run := range 12 {
		rng := rand.New(rand.NewPCG(uint64(run), 77))
		hold := histories[run%3]
		r := newReplica(t, db, fmt.Sprintf("o%d", run), m, nil)
		// Sources of the logs, and how far each has come.
		type src struct {
			from *replica
			key  feedtree.Key
			at   uint64
			end  uint64
		}
		srcs := []*src{{from: hold, key: logKey, end: logOf(hold.d, idx, logKey).Length}}
		for i, d := range detectors {
			srcs = append(srcs, &src{from: d, key: dets[i].Log.Public(), end: logOf(d.d, idx, dets[i].Log.Public()).Length})
		}
		for len(srcs) > 0 {
			i := rng.IntN(len(srcs))
			s := srcs[i]
			s.at = min(s.end, s.at+1+uint64(rng.IntN(3)))
			if err := ingestRange(s.from.d, r.d, idx, s.key, s.at); err != nil {
				t.Fatalf("run %d: ingesting %v up to %d: %v", run, s.key, s.at, err)
			}
			if s.at == s.end {
				srcs = append(srcs[:i], srcs[i+1:]...)
			}
			if rng.IntN(3) == 0 {
				mustSync(t, r.x, idx)
			}
		}
		mustSync(t, r.x, idx)
		ls, _ := r.d.Logs(idx)
		for _, l := range ls {
			if l.Key == logKey && (!l.Forked || !l.Located || l.ForkAt != 2) {
				t.Errorf("run %d (holding H%d): evil log %+v; want located at 2", run, run%3+1, l)
			}
			if l.Key != logKey && l.Applied != l.Length {
				t.Errorf("run %d: detector log applied %d of %d", run, l.Applied, l.Length)
			}
		}
		st, d := state(t, r.x, idx)
		if len(st) != 7 { // the detectors' 6 and the put all histories share
			t.Errorf("run %d: %d entries; want 7", run, len(st))
		}
		as, _ := r.d.Applied(idx, 0, 0)
		checkSameState(t, fmt.Sprintf("run %d vs reference", run), st, referenceState(t, m, as))
		if run == 0 {
			digest = d
		} else if d != digest {
			t.Errorf("run %d (holding H%d): digest %x; run 0 has %x", run, run%3+1, d[:4], digest[:4])
		}
	}
}

// TestRebuildKeepsUnchanged: a rebuild that changes nothing leaves no
// changes for search and watchers, and keeps every change record where it
// was; one that hides a forked log's later entries reports only those.
func TestRebuildKeepsUnchanged(t *testing.T) {
	db := openDB(t)
	honest, evil := testAuthor(1, 0), testAuthor(2, 0)
	m := testManifest(t, dag.PolicyOpen, honest)
	idx := m.Key()
	a, b := twoHistories(t, db, m, evil, 4, 1)
	w := detector(t, db, m, honest)
	syncLogs(t, a.d, w, idx)
	for i := range 20 {
		mustAppend(t, w, idx, honest, dag.Op{Kind: dag.OpPut, Put: testPut(100 + i)})
	}

	r := newReplica(t, db, "r", m, nil)
	syncLogs(t, w, r.d, idx)
	mustSync(t, r.x, idx)
	before, _ := r.x.Changes(idx, 0, 0)
	last := before[len(before)-1].Seq
	if err := r.x.Rebuild(context.Background(), idx); err != nil {
		t.Fatal(err)
	}
	if after, _ := r.x.Changes(idx, last, 0); len(after) != 0 {
		t.Errorf("a rebuild that changes nothing left %d changes", len(after))
	}
	if again, _ := r.x.Changes(idx, 0, 0); len(again) != len(before) {
		t.Errorf("%d change records after the rebuild; %d before", len(again), len(before))
	} else {
		for i := range again {
			if again[i] != before[i] {
				t.Fatalf("change %d is %+v after the rebuild; %+v before", i, again[i], before[i])
			}
		}
	}
	_, d0 := state(t, r.x, idx)

	// The detector locates the fork at seq 3: the two later puts go.
	wf, _ := w.Feed(evil.Log.Public())
	bf, _ := b.d.Feed(evil.Log.Public())
	if _, err := w.AddForkProof(idx, evil.Log.Public(), locateFork(t, wf, bf)); err != nil {
		t.Fatal(err)
	}
	syncLogs(t, w, r.d, idx)
	mustSync(t, r.x, idx)
	after, _ := r.x.Changes(idx, last, 0)
	if len(after) != 2 {
		t.Fatalf("%d changes after the fork; want the 2 entries past it", len(after))
	}
	for _, c := range after {
		if _, err := r.x.Entry(c.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("changed entry %v: %v; want it gone", c.ID, err)
		}
	}
	if _, d1 := state(t, r.x, idx); d1 == d0 {
		t.Error("the digest did not change with the fork")
	}
	as, _ := r.d.Applied(idx, 0, 0)
	s, _ := state(t, r.x, idx)
	checkSameState(t, "after the fork", s, referenceState(t, m, as))
}

// TestDeferUnlocated: a detector that defers (dag.Options.DeferUnlocated)
// publishes no fork-proof node for a fork it cannot locate yet; the
// located proof that follows is the one it publishes, and FlushForks
// publishes what waited too long.
func TestDeferUnlocated(t *testing.T) {
	db := openDB(t)
	honest, evil := testAuthor(1, 0), testAuthor(2, 0)
	m := testManifest(t, dag.PolicyOpen, honest)
	idx := m.Key()
	logKey := evil.Log.Public()
	a, b := twoHistories(t, db, m, evil, 4, 2)
	bf, _ := b.d.Feed(logKey)

	detect := func(name string) (*dag.DAG, func() uint64) {
		t.Helper()
		opts := forkOpts(honest, clockFrom(200))
		opts.DeferUnlocated = true
		w := openDAG(t, db, name, m, opts)
		syncLogs(t, a.d, w, idx)
		mustAppend(t, w, idx, honest, dag.Op{Kind: dag.OpPut, Put: testPut(1)})
		p, err := bf.Proof(3, 4, 5) // b's head, as long as w's: a conflict
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := bf.Get(3)
		if _, err := w.Ingest(context.Background(), idx, logKey, p, [][]byte{blk}); !errors.Is(err, feedtree.ErrForked) {
			t.Fatalf("Ingest of the other history = %v; want a fork", err)
		}
		own := func() uint64 {
			f, _ := w.Feed(honest.Log.Public())
			return f.Length()
		}
		return w, own
	}

	w, own := detect("w1")
	before := own()
	if fs, _ := w.Forks(idx); len(fs) != 1 || !fs[0].Deferred {
		t.Fatalf("Forks = %+v; want one, deferred", fs)
	}
	if n, err := w.FlushForks(idx, time.Hour); err != nil || n != 0 || own() != before {
		t.Fatalf("FlushForks before its time = %d, %v; log %d → %d", n, err, before, own())
	}
	if n, err := w.FlushForks(idx, 0); err != nil || n != 1 || own() != before+1 {
		t.Fatalf("FlushForks = %d, %v; log %d → %d; want one node appended", n, err, before, own())
	}
	if fs, _ := w.Forks(idx); fs[0].Deferred {
		t.Error("still deferred after FlushForks")
	}

	// Located in time: the located proof is the only node published.
	w2, own2 := detect("w2")
	before = own2()
	wf, _ := w2.Feed(logKey)
	if ok, err := w2.AddForkProof(idx, logKey, locateFork(t, wf, bf)); err != nil || !ok {
		t.Fatalf("AddForkProof = %v, %v", ok, err)
	}
	if own2() != before+1 {
		t.Errorf("log %d → %d; want the located proof's node alone", before, own2())
	}
	if n, _ := w2.FlushForks(idx, 0); n != 0 {
		t.Errorf("FlushForks after the located proof = %d; want 0", n)
	}
}
