package dag

import (
	"errors"
	"testing"

	"indexd/feedtree"
)

// TestForkProof: a log that signs two conflicting histories is detected on
// ingest; the local author appends a fork-proof node, and a replica that
// applies that node records the fork too. Two heads do not show where the
// histories part, so nothing of the log counts (ForkAt 0).
func TestForkProof(t *testing.T) {
	m := testManifest(t)
	idx := m.Key()
	rs := replicas(t, 1, m)
	local := testAuthor(1)
	db := openDB(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	d := testDAGOn(t, db, testPrefix, Options{ForkAuthor: func(k IndexKey) (Author, bool) { return local, k == idx }})
	d.PutManifest(m)
	peer := rs[0]

	bad := testAuthor(2)
	w1, w2 := newWriter(t, bad), newWriter(t, bad)
	w1.append(w1.cert(idx), w1.node(idx, 1, nil, putOp(1)))
	w2.append(w2.cert(idx), w2.node(idx, 1, nil, putOp(2)))
	if n, err := w1.ingest(d, idx, 0, 2, 0); err != nil || n != 1 {
		t.Fatalf("Ingest(history 1) = %d, %v", n, err)
	}
	if _, err := w1.ingest(peer, idx, 0, 2, 0); err != nil {
		t.Fatal(err)
	}
	_, err := w2.ingest(d, idx, 0, 2, 2)
	var fe *feedtree.ForkError
	if !errors.As(err, &fe) {
		t.Fatalf("Ingest(history 2) = %v; want *feedtree.ForkError", err)
	}
	checkForked := func(d *DAG, who string) {
		t.Helper()
		ls, _ := d.Logs(idx)
		for _, l := range ls {
			if l.Key == bad.Log.Public() && (!l.Forked || l.ForkAt != 0) {
				t.Errorf("%s: log state %+v; want forked at 0", who, l)
			}
		}
	}
	checkForked(d, "detector")
	heads, _ := d.Heads(idx)
	if len(heads) != 1 || heads[0].Log != local.Log.Public() {
		t.Fatalf("Heads = %v; want the fork-proof node of the local author", heads)
	}
	n, _, err := d.Node(heads[0].Hash)
	if err != nil || n.Op.Kind != OpForkProof || n.Op.ForkProof.Log != bad.Log.Public() {
		t.Fatalf("head node = %+v, %v; want a fork-proof against %v", n, err, bad.Log.Public())
	}
	syncLogs(t, d, peer, idx)
	checkForked(peer, "peer")

	// A replica that learnt the fork from that node and then finds it
	// itself appends no second fork-proof node.
	other := testAuthor(3)
	d2 := testDAG(t, Options{ForkAuthor: func(IndexKey) (Author, bool) { return other, true }})
	d2.PutManifest(m)
	syncLogs(t, d, d2, idx)
	checkForked(d2, "second detector")
	if _, err := w2.ingest(d2, idx, 0, 2, 2); !errors.As(err, &fe) {
		t.Fatalf("Ingest(history 2) on a replica that knows the fork = %v; want *feedtree.ForkError", err)
	}
	ls, _ := d2.Logs(idx)
	for _, l := range ls {
		if l.Key == other.Log.Public() {
			t.Errorf("the second detector appended a fork-proof node too (its log holds %d)", l.Length)
		}
	}
}

// TestIngestOtherHistory: a range of another history of a log, whose first
// node does not follow the node held before it, is a fork when its head is
// no longer than the head the replica trusts (the head is checked before
// the node is called invalid), and with a longer head ErrOtherHistory,
// which is not the sender's fault: an honest peer relays the author's
// other history.
func TestIngestOtherHistory(t *testing.T) {
	m := testManifest(t)
	idx := m.Key()
	bad := testAuthor(2)
	w1, w2 := newWriter(t, bad), newWriter(t, bad)
	n1 := w1.node(idx, 1, nil, putOp(1)) // shared
	after1 := []Link{{Log: bad.Log.Public(), Seq: 1, Hash: HashNode(n1)}}
	a2 := w1.node(idx, 2, after1, putOp(2))
	a3 := w1.node(idx, 3, []Link{{Log: bad.Log.Public(), Seq: 2, Hash: HashNode(a2)}}, putOp(3))
	w1.append(w1.cert(idx), n1, a2, a3, w1.node(idx, 4, []Link{{Log: bad.Log.Public(), Seq: 3, Hash: HashNode(a3)}}, putOp(4)))
	w2.append(w2.cert(idx), n1)
	n2 := w2.node(idx, 2, after1, putOp(9))
	w2.append(n2, w2.node(idx, 3, []Link{{Log: bad.Log.Public(), Seq: 2, Hash: HashNode(n2)}}, putOp(10)))

	offer := func(have uint64, want error) {
		t.Helper()
		d := testDAG(t, Options{})
		d.PutManifest(m)
		if _, err := w1.ingest(d, idx, 0, 3, 0); err != nil {
			t.Fatal(err)
		}
		_, err := w2.ingest(d, idx, 3, 4, have)
		if !errors.Is(err, want) || errors.Is(err, ErrBadNode) {
			t.Errorf("Ingest of history 2 (head %d) = %v; want %v", w2.feed.Length(), err, want)
		}
	}
	// The replica holds 3 blocks of history 1 under its head at 5.
	offer(4, feedtree.ErrForked)
	for seq := uint64(4); seq <= 5; seq++ {
		prev := HashNode(mustGet(t, w2.feed, seq-1))
		w2.append(w2.node(idx, seq, []Link{{Log: bad.Log.Public(), Seq: seq - 1, Hash: prev}}, putOp(int(seq)+10)))
	}
	offer(5, ErrOtherHistory)
}
