package dag

import (
	"context"
	"errors"
	"slices"
	"testing"

	"indexd/feedtree"
)

// TestCrashRecovery: blocks committed to an author log's feed but never
// applied (a crash between the feed commit and the apply) are applied on
// the next Open; state survives reopening badger.
func TestCrashRecovery(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	m := testManifest(t)
	idx := m.Key()
	a := testAuthor(1)
	d, err := Open(db, testPrefix, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d.PutManifest(m)
	ids := mustAppend(t, d, idx, a, putOp(1), putOp(2))
	d.Close()

	// Write two more nodes straight into the feed, as Append does before
	// it applies.
	f, err := feedtree.OpenFeed(feedtree.NewBadgerStore(db, append(slices.Clone(testPrefix), tagFeeds)), a.Log.Public(), &a.Log)
	if err != nil {
		t.Fatal(err)
	}
	prev := Link{Log: a.Log.Public(), Seq: 2, Hash: ids[1]}
	var blocks [][]byte
	for i := range 2 {
		n := &Node{Index: idx, Log: a.Log.Public(), Seq: uint64(3 + i), Links: []Link{prev}, Time: 5, Op: putOp(3 + i)}
		b, err := n.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b)
		prev = Link{Log: n.Log, Seq: n.Seq, Hash: HashNode(b)}
		ids = append(ids, prev.Hash)
	}
	if _, err := f.Append(blocks...); err != nil {
		t.Fatal(err)
	}
	f.Close()

	d, err = Open(db, testPrefix, Options{})
	if err != nil {
		t.Fatal(err)
	}
	as, err := d.Applied(idx, 0, 0)
	if err != nil || len(as) != 4 {
		t.Fatalf("after reopen Applied = %d, %v; want 4", len(as), err)
	}
	for i, x := range as {
		if x.Hash != ids[i] {
			t.Errorf("Applied[%d] = %v; want %v", i, x.Hash, ids[i])
		}
	}
	more := mustAppend(t, d, idx, a, putOp(5))
	d.Close()
	db.Close()

	db = openDB(t, dir)
	defer db.Close()
	d, err = Open(db, testPrefix, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	heads, _ := d.Heads(idx)
	if len(heads) != 1 || heads[0].Hash != more[0] || heads[0].Seq != 5 {
		t.Errorf("after reopening badger Heads = %v; want node 5 %v", heads, more[0])
	}
	if ks, _ := d.Indexes(); len(ks) != 1 || ks[0] != idx {
		t.Errorf("Indexes = %v; want [%v]", ks, idx)
	}
	if got, err := d.Manifest(idx); err != nil || got.Key() != idx {
		t.Errorf("Manifest = %v, %v", got, err)
	}
	if as, _ := d.Applied(idx, 4, 0); len(as) != 1 || as[0].Seq != 5 {
		t.Errorf("apply counter did not survive: %+v", as)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Heads(idx); !errors.Is(err, ErrClosed) {
		t.Errorf("Heads after Close = %v; want ErrClosed", err)
	}
	if err := d.WaitApplied(context.Background(), idx, 100); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitApplied after Close = %v; want ErrClosed", err)
	}
}
