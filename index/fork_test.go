package index

import (
	"context"
	"errors"
	"testing"

	"indexd/dag"
	"indexd/feedtree"
)

// TestForkProof: once a fork-proof node against an equivocating log is
// applied, that log's nodes from the fork length on count nowhere, and the
// state is the same whether the proof came before or after them.
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
	w, err := dag.Open(db, []byte("w/d/"), dag.Options{Now: clockFrom(200),
		ForkAuthor: func(dag.IndexKey) (dag.Author, bool) { return honest, true }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.PutManifest(m); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, w, idx, honest, dag.Op{Kind: dag.OpPut, Put: testPut(1)})
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
	logs, _ := w.Logs(idx)
	var forkAt uint64
	for _, l := range logs {
		if l.Key == logKey {
			forkAt = l.ForkAt
		}
	}
	if forkAt == 0 || forkAt >= 6 {
		t.Fatalf("fork length %d; the test needs nodes of the evil log past it", forkAt)
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
	if want := 5 - int(forkAt-1); gone != want {
		t.Errorf("%d removed entries reported in Changes; want %d", gone, want)
	}
}
