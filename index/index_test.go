package index

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"indexd/dag"
)

func TestPutAmendRetract(t *testing.T) {
	db := openDB(t)
	alice, bob := testAuthor(1, 0), testAuthor(2, 0)
	m := testManifest(t, dag.PolicyOpen, alice)
	idx := m.Key()
	r := newReplica(t, db, "a", m, nil)

	p := testPut(1)
	p.Title, p.Tags, p.Category = "Some Release", []string{"hd"}, 2040
	p.Meta = map[string]string{"imdb": "tt0000001", "year": "1999"}
	ids := mustAppend(t, r.d, idx, alice, dag.Op{Kind: dag.OpPut, Put: p})
	id := ids[0]
	if n := mustSync(t, r.x, idx); n != 1 {
		t.Errorf("Sync changed %d; want 1", n)
	}
	e := mustEntry(t, r.x, id)
	if e.ID != id || e.Author != alice.Identity.Public() || e.Index != idx || e.Log != alice.Log.Public() ||
		e.Title != "Some Release" || e.Retracted || len(e.History) != 1 || e.Published == 0 || e.Updated != e.Published {
		t.Fatalf("entry after put = %+v", e)
	}
	if got, _ := r.x.ByInfohash(p.InfohashV1); !slices.Equal(got, []dag.ID{id}) {
		t.Errorf("ByInfohash = %v; want [%v]", got, id)
	}
	d1, _ := r.x.Digest(idx)

	// Bob's amend of Alice's entry is ignored; Alice's counts.
	mustAppend(t, r.d, idx, bob, dag.Op{Kind: dag.OpAmend, Target: id, Amend: &dag.Amend{Title: strp("hijacked")}})
	mustAppend(t, r.d, idx, alice, dag.Op{Kind: dag.OpAmend, Target: id, Amend: &dag.Amend{
		Description: strp("better"), Category: u32p(2045), Tags: &[]string{"uhd", "hdr"},
		Meta: map[string]string{"year": "", "tmdb": "42"}}})
	mustSync(t, r.x, idx)
	e = mustEntry(t, r.x, id)
	if e.Title != "Some Release" || e.Description != "better" || e.Category != 2045 ||
		!slices.Equal(e.Tags, []string{"uhd", "hdr"}) || len(e.Meta) != 2 || e.Meta["tmdb"] != "42" || e.Meta["imdb"] != "tt0000001" {
		t.Errorf("entry after amends = %+v", e)
	}
	if len(e.History) != 2 || e.History[1].Kind != dag.OpAmend || e.Updated <= e.Published {
		t.Errorf("history/updated after amend = %+v, %d", e.History, e.Updated)
	}
	d2, _ := r.x.Digest(idx)
	if d1 == d2 {
		t.Error("digest did not change with an amend")
	}
	st, err := r.x.Stats(idx)
	if err != nil || st.Entries != 1 || st.Retracted != 0 || st.Authors != 1 || st.Logs != 2 || st.Heads < 1 {
		t.Errorf("Stats = %+v, %v", st, err)
	}

	// Bob cannot retract; Alice can, and it is final.
	mustAppend(t, r.d, idx, bob, dag.Op{Kind: dag.OpRetract, Target: id})
	mustSync(t, r.x, idx)
	if e := mustEntry(t, r.x, id); e.Retracted {
		t.Fatal("Bob retracted Alice's entry")
	}
	mustAppend(t, r.d, idx, alice, dag.Op{Kind: dag.OpRetract, Target: id})
	mustAppend(t, r.d, idx, alice, dag.Op{Kind: dag.OpAmend, Target: id, Amend: &dag.Amend{Title: strp("too late")}})
	mustSync(t, r.x, idx)
	e = mustEntry(t, r.x, id)
	if !e.Retracted || e.Title != "" || e.Description != "" || e.Name != p.Name || !bytes.Equal(e.InfohashV1, p.InfohashV1) || e.Files != nil {
		t.Errorf("tombstone = %+v", e)
	}
	if len(e.History) != 2 || e.History[0].Kind != dag.OpPut || e.History[1].Kind != dag.OpRetract {
		t.Errorf("tombstone history = %+v", e.History)
	}
	if got, _ := r.x.ByInfohash(p.InfohashV1); len(got) != 0 {
		t.Errorf("ByInfohash after retract = %v; want none", got)
	}
	st, _ = r.x.Stats(idx)
	if st.Entries != 0 || st.Retracted != 1 || st.Authors != 0 {
		t.Errorf("Stats after retract = %+v", st)
	}
	var n int
	r.x.Each(idx, func(*Entry) error { n++; return nil })
	if n != 1 {
		t.Errorf("Each visited %d; want the tombstone", n)
	}
	if _, err := r.x.Entry(dag.IDFromBytes([32]byte{1})); !errors.Is(err, ErrNotFound) {
		t.Errorf("Entry(unknown) = %v; want ErrNotFound", err)
	}
	// The change log holds the id once, at its latest change.
	ch, err := r.x.Changes(idx, 0, 0)
	if err != nil || len(ch) != 1 || ch[0].ID != id {
		t.Errorf("Changes = %v, %v", ch, err)
	}
	if ch2, _ := r.x.Changes(idx, ch[0].Seq, 0); len(ch2) != 0 {
		t.Errorf("Changes after the last = %v", ch2)
	}
}

func TestInvalidPutsIgnored(t *testing.T) {
	db := openDB(t)
	alice := testAuthor(1, 0)
	m := testManifest(t, dag.PolicyOpen, alice)
	idx := m.Key()
	r := newReplica(t, db, "a", m, nil)
	zero := &dag.Put{InfohashV1: make([]byte, 20), Name: "zero"}
	ids := mustAppend(t, r.d, idx, alice, dag.Op{Kind: dag.OpPut, Put: zero}, dag.Op{Kind: dag.OpPut, Put: testPut(1)})
	mustSync(t, r.x, idx)
	if _, err := r.x.Entry(ids[0]); !errors.Is(err, ErrNotFound) {
		t.Errorf("a put with a zero infohash made an entry: %v", err)
	}
	mustEntry(t, r.x, ids[1])
}

// TestConcurrentAmends: per field, the amend with the highest (Time, hash)
// wins, whatever the apply order; amends made on another device of the
// same identity count.
func TestConcurrentAmends(t *testing.T) {
	db := openDB(t)
	alice, alice2 := testAuthor(1, 0), testAuthor(1, 1)
	m := testManifest(t, dag.PolicyOpen, alice)
	idx := m.Key()
	w1 := newReplica(t, db, "w1", m, clockFrom(0))
	w2 := newReplica(t, db, "w2", m, clockFrom(1000))
	id := mustAppend(t, w1.d, idx, alice, dag.Op{Kind: dag.OpPut, Put: testPut(1)})[0]
	syncLogs(t, w1.d, w2.d, idx)
	// Concurrent: w1 sets title (earlier time), w2 sets title and tags (later).
	mustAppend(t, w1.d, idx, alice, dag.Op{Kind: dag.OpAmend, Target: id, Amend: &dag.Amend{Title: strp("one"), Description: strp("d1")}})
	mustAppend(t, w2.d, idx, alice2, dag.Op{Kind: dag.OpAmend, Target: id, Amend: &dag.Amend{Title: strp("two"), Tags: &[]string{"x"}}})
	a := newReplica(t, db, "a", m, nil)
	b := newReplica(t, db, "b", m, nil)
	syncLogs(t, w1.d, a.d, idx)
	mustSync(t, a.x, idx)
	syncLogs(t, w2.d, a.d, idx)
	mustSync(t, a.x, idx)
	syncLogs(t, w2.d, b.d, idx)
	mustSync(t, b.x, idx)
	syncLogs(t, w1.d, b.d, idx)
	mustSync(t, b.x, idx)
	ea, eb := mustEntry(t, a.x, id), mustEntry(t, b.x, id)
	if ea.Title != "two" || ea.Description != "d1" || !slices.Equal(ea.Tags, []string{"x"}) {
		t.Errorf("entry = %+v; want title two, description d1, tags [x]", ea)
	}
	sa, da := state(t, a.x, idx)
	sb, db2 := state(t, b.x, idx)
	if da != db2 || !slices.EqualFunc(sa, sb, bytes.Equal) {
		t.Errorf("replicas differ:\n%+v\n%+v", ea, eb)
	}
}

// TestAmendBeforePut: an amend and a retract whose put is not in their
// causal past wait for it.
func TestAmendBeforePut(t *testing.T) {
	db := openDB(t)
	alice, alice2 := testAuthor(1, 0), testAuthor(1, 1)
	m := testManifest(t, dag.PolicyOpen, alice)
	idx := m.Key()
	w := newReplica(t, db, "w", m, nil)
	id := mustAppend(t, w.d, idx, alice, dag.Op{Kind: dag.OpPut, Put: testPut(7)})[0]
	// Another device amends without having the put: the amend names the
	// id it was told out of band.
	w2 := newReplica(t, db, "w2", m, clockFrom(500))
	mustAppend(t, w2.d, idx, alice2, dag.Op{Kind: dag.OpAmend, Target: id, Amend: &dag.Amend{Title: strp("early")}})
	r := newReplica(t, db, "r", m, nil)
	syncLogs(t, w2.d, r.d, idx)
	mustSync(t, r.x, idx)
	if _, err := r.x.Entry(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("entry before its put: %v", err)
	}
	syncLogs(t, w.d, r.d, idx)
	mustSync(t, r.x, idx)
	if e := mustEntry(t, r.x, id); e.Title != "early" || len(e.History) != 2 {
		t.Errorf("entry = %+v; want the early amend applied", e)
	}
}

// putsWithRevisions returns a replica "a" of an open index holding puts
// puts of one author (one node each), then a retract and an amend, synced.
func putsWithRevisions(t *testing.T, db *badger.DB, puts int) (*replica, dag.IndexKey) {
	t.Helper()
	alice := testAuthor(1, 0)
	m := testManifest(t, dag.PolicyOpen, alice)
	idx := m.Key()
	r := newReplica(t, db, "a", m, nil)
	var ids []dag.ID
	for i := range puts {
		ids = append(ids, mustAppend(t, r.d, idx, alice, dag.Op{Kind: dag.OpPut, Put: testPut(i)})[0])
	}
	mustAppend(t, r.d, idx, alice, dag.Op{Kind: dag.OpRetract, Target: ids[3]},
		dag.Op{Kind: dag.OpAmend, Target: ids[4], Amend: &dag.Amend{Title: strp("x")}})
	mustSync(t, r.x, idx)
	return r, idx
}

func TestRebuildKeepsState(t *testing.T) {
	db := openDB(t)
	r, idx := putsWithRevisions(t, db, 20)
	before, d1 := state(t, r.x, idx)
	st1, _ := r.x.Stats(idx)
	ch1, _ := r.x.Changes(idx, 0, 0)
	if err := r.x.Rebuild(context.Background(), idx); err != nil {
		t.Fatal(err)
	}
	after, d2 := state(t, r.x, idx)
	st2, _ := r.x.Stats(idx)
	if d1 != d2 || !slices.EqualFunc(before, after, bytes.Equal) || st1 != st2 {
		t.Errorf("Rebuild changed the state: %v %v / %+v %+v", d1, d2, st1, st2)
	}
	// Nothing changed, so nothing is new for search and watchers.
	ch2, _ := r.x.Changes(idx, ch1[len(ch1)-1].Seq, 0)
	if len(ch2) != 0 {
		t.Errorf("Rebuild reported %d changes; want none", len(ch2))
	}
	oneChangePerID(t, r.x, idx, 20)
	// Reopening with the same schema keeps the state; with a stale schema
	// it drops it and Sync builds it again.
	x2, err := Open(db, []byte("a/i/"), r.d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, d3 := state(t, x2, idx); d3 != d1 {
		t.Error("reopen changed the digest")
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set(x2.k.schema(), u64(schemaVersion+1)) }); err != nil {
		t.Fatal(err)
	}
	x3, err := Open(db, []byte("a/i/"), r.d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := x3.Stats(idx); st.Entries != 0 {
		t.Errorf("stale schema kept %d entries", st.Entries)
	}
	mustSync(t, x3, idx)
	if _, d4 := state(t, x3, idx); d4 != d1 {
		t.Error("Sync after a schema reset gave another digest")
	}
	oneChangePerID(t, x3, idx, 20)
}

// oneChangePerID checks that the change log of idx holds exactly one
// record for each of want ids, and no change-of record is left.
func oneChangePerID(t *testing.T, x *Index, idx dag.IndexKey, want int) {
	t.Helper()
	ch, err := x.Changes(idx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[dag.ID]bool{}
	for _, c := range ch {
		if seen[c.ID] {
			t.Errorf("change log holds %v twice", c.ID)
		}
		seen[c.ID] = true
	}
	if len(seen) != want {
		t.Errorf("change log holds %d ids; want %d", len(seen), want)
	}
	left := 0
	x.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: x.k.idxTag(tagChangeOf, idx, 0)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			left++
		}
		return nil
	})
	if left != 0 {
		t.Errorf("%d change-of records left after the rebuild", left)
	}
}

// TestConcurrentReads runs readers while Sync writes; go test -race checks
// it. Readers see whole batches: every entry Each shows decodes.
func TestConcurrentReads(t *testing.T) {
	db := openDB(t)
	alice := testAuthor(1, 0)
	m := testManifest(t, dag.PolicyOpen, alice)
	idx := m.Key()
	r := newReplica(t, db, "a", m, nil)
	x, err := Open(db, []byte("small/"), r.d, Options{ChunkNodes: 7, BatchBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		mustAppend(t, r.d, idx, alice, dag.Op{Kind: dag.OpPut, Put: testPut(i)})
	}
	done := make(chan error, 1)
	go func() {
		_, err := x.Sync(context.Background(), idx)
		done <- err
	}()
	for finished := false; !finished; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished = true
		default:
		}
		if _, err := x.Digest(idx); err != nil {
			t.Fatal(err)
		}
		if err := x.Each(idx, func(*Entry) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := x.Changes(idx, 0, 10); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := x.Stats(idx); st.Entries != 200 {
		t.Errorf("%d entries after Sync; want 200", st.Entries)
	}
	// Small batches give the same state as one big one.
	mustSync(t, r.x, idx)
	_, d1 := state(t, r.x, idx)
	_, d2 := state(t, x, idx)
	if d1 != d2 {
		t.Error("batch size changed the state")
	}
}

// TestMaterialisingLeavesNodesAlone applies an amend that deletes a meta
// field before the put it amends arrives: the entry loses the field, the
// DAG's node (which the DAG shares with its readers) keeps it, and a
// Rebuild, reading the nodes again, gives the same state.
func TestMaterialisingLeavesNodesAlone(t *testing.T) {
	db := openDB(t)
	alice, alice2 := testAuthor(1, 0), testAuthor(1, 1)
	m := testManifest(t, dag.PolicyOpen, alice)
	idx := m.Key()
	w := newReplica(t, db, "w", m, nil)
	p := testPut(7)
	p.Meta = map[string]string{"year": "1999", "imdb": "tt0000001"}
	id := mustAppend(t, w.d, idx, alice, dag.Op{Kind: dag.OpPut, Put: p})[0]
	w2 := newReplica(t, db, "w2", m, clockFrom(500))
	mustAppend(t, w2.d, idx, alice2, dag.Op{Kind: dag.OpAmend, Target: id, Amend: &dag.Amend{Meta: map[string]string{"year": ""}}})
	r := newReplica(t, db, "r", m, nil)
	syncLogs(t, w2.d, r.d, idx)
	mustSync(t, r.x, idx)
	syncLogs(t, w.d, r.d, idx)
	mustSync(t, r.x, idx)
	if e := mustEntry(t, r.x, id); len(e.Meta) != 1 || e.Meta["imdb"] != "tt0000001" {
		t.Fatalf("entry meta = %v; want only imdb", e.Meta)
	}
	n, _, err := r.d.Node(id)
	if err != nil {
		t.Fatal(err)
	}
	if n.Op.Put.Meta["year"] != "1999" {
		t.Errorf("the put node's meta became %v: materialising changed a shared node", n.Op.Put.Meta)
	}
	_, before := state(t, r.x, idx)
	if err := r.x.Rebuild(context.Background(), idx); err != nil {
		t.Fatal(err)
	}
	if _, after := state(t, r.x, idx); after != before {
		t.Error("Rebuild gave another digest")
	}
}

// TestSyncSomeStopsAndResumes checks that SyncSome stops after about the
// nodes asked for, says there is more, and that steps reach the state one
// Sync reaches.
func TestSyncSomeStopsAndResumes(t *testing.T) {
	db := openDB(t)
	r, idx := putsWithRevisions(t, db, 40)
	want, wantDigest := state(t, r.x, idx)

	x, err := Open(db, []byte("steps/"), r.d, Options{ChunkNodes: 7})
	if err != nil {
		t.Fatal(err)
	}
	counter, err := r.d.Counter(idx)
	if err != nil {
		t.Fatal(err)
	}
	steps := 0
	for more := true; more; steps++ {
		if steps > 20 {
			t.Fatal("SyncSome never caught up")
		}
		before, _ := x.Cursor(idx)
		if _, more, err = x.SyncSome(context.Background(), idx, 10); err != nil {
			t.Fatal(err)
		}
		after, _ := x.Cursor(idx)
		if more && (after-before < 10 || after-before > 14) {
			t.Errorf("step %d applied %d nodes; want 10 rounded up to chunks of 7", steps, after-before)
		}
		if !more && after != counter {
			t.Errorf("step %d: not more, but cursor %d of %d", steps, after, counter)
		}
	}
	if steps < 3 {
		t.Errorf("caught up in %d steps of 10 nodes out of %d", steps, counter)
	}
	got, gotDigest := state(t, x, idx)
	if gotDigest != wantDigest || !slices.EqualFunc(got, want, bytes.Equal) {
		t.Error("steps of SyncSome reached another state than one Sync")
	}
}

// countdownCtx is a context that ends after its Err has been asked n times:
// a crash at a chosen point of a long Sync or Rebuild.
type countdownCtx struct {
	context.Context
	n int
}

func (c *countdownCtx) Err() error {
	if c.n--; c.n < 0 {
		return context.Canceled
	}
	return nil
}

// TestRebuildInterruptedResumes stops a Rebuild part way through its sync
// at each point in turn and checks that the next Sync finishes it: same
// state, one change record per id, no change-of record left.
func TestRebuildInterruptedResumes(t *testing.T) {
	db := openDB(t)
	r, idx := putsWithRevisions(t, db, 40)
	want, wantDigest := state(t, r.x, idx)
	x, err := Open(db, []byte("a/i/"), r.d, Options{ChunkNodes: 7})
	if err != nil {
		t.Fatal(err)
	}
	interrupted := 0
	for stop := 0; stop < 30; stop++ {
		err := x.Rebuild(&countdownCtx{Context: context.Background(), n: stop}, idx)
		if err == nil {
			break // the rebuild got to the end before the countdown
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("stop %d: %v", stop, err)
		}
		interrupted++
		mustSync(t, x, idx)
		got, gotDigest := state(t, x, idx)
		if gotDigest != wantDigest || !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("stop %d: the Sync after an interrupted Rebuild reached another state", stop)
		}
		oneChangePerID(t, x, idx, 40)
	}
	t.Logf("interrupted at %d points", interrupted)
	if interrupted < 10 { // about 7 in the fork scan, 7 in the sync
		t.Errorf("only %d interruption points: the test no longer reaches into the rebuild's sync", interrupted)
	}
}

// TestCachedEntryEqualsStored: Entry serves the entries a Sync just wrote
// from memory, as the syncer built them; they must equal what a reader
// decodes from badger, nil and empty alike, or search and views would
// depend on whether a read came right after a write.
func TestCachedEntryEqualsStored(t *testing.T) {
	db := openDB(t)
	alice := testAuthor(1, 0)
	m := testManifest(t, dag.PolicyOpen, alice)
	idx := m.Key()
	r := newReplica(t, db, "a", m, nil)
	full := fullEntry().Put
	full.Content, full.Torrent = nil, nil
	full.InfohashV1, full.InfohashV2 = testPut(7).InfohashV1, append(make([]byte, 31), 1)
	empty := &dag.Put{InfohashV1: testPut(8).InfohashV1, Name: "bare", Tags: []string{}, Meta: map[string]string{}}
	ids := mustAppend(t, r.d, idx, alice,
		dag.Op{Kind: dag.OpPut, Put: &full}, dag.Op{Kind: dag.OpPut, Put: empty},
		dag.Op{Kind: dag.OpPut, Put: testPut(1)}, dag.Op{Kind: dag.OpPut, Put: testPut(2)})
	// Revisions in the same Sync as their put and in a later one, and one
	// that empties the tags and a meta key.
	mustAppend(t, r.d, idx, alice,
		dag.Op{Kind: dag.OpAmend, Target: ids[0], Amend: &dag.Amend{Title: strp("new"), Tags: &[]string{}, Meta: map[string]string{"imdb": ""}}},
		dag.Op{Kind: dag.OpRetract, Target: ids[2]})
	mustSync(t, r.x, idx)
	mustAppend(t, r.d, idx, alice,
		dag.Op{Kind: dag.OpAmend, Target: ids[1], Amend: &dag.Amend{Description: strp("d"), Meta: map[string]string{"k": "v"}}})
	ids = append(ids, mustAppend(t, r.d, idx, alice, dag.Op{Kind: dag.OpPut, Put: testPut(3)})...)
	mustSync(t, r.x, idx)
	cold, err := Open(db, []byte("a/i/"), r.d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if _, err := cold.Entry(id); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if _, ok := r.x.written.Get(id); !ok {
			t.Fatalf("entry %d is not in the cache of entries just written", i)
		}
		if got, want := mustEntry(t, r.x, id), mustEntry(t, cold, id); !reflect.DeepEqual(got, want) {
			t.Errorf("entry %d from the cache:\n%+v\nfrom badger:\n%+v", i, got, want)
		}
	}
}

// TestDigestCacheFollowsWrites checks that the cached digest is the one a
// fresh scan computes after every kind of write, and while syncs run
// beside readers.
func TestDigestCacheFollowsWrites(t *testing.T) {
	db := openDB(t)
	alice := testAuthor(1, 0)
	m := testManifest(t, dag.PolicyOpen, alice)
	idx := m.Key()
	r := newReplica(t, db, "a", m, nil)
	check := func(step string) [32]byte {
		t.Helper()
		got, err := r.x.Digest(idx)
		if err != nil {
			t.Fatal(err)
		}
		want, err := r.x.digest(idx)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%s: cached digest %x, scan %x", step, got, want)
		}
		return got
	}
	empty := check("empty")
	ids := mustAppend(t, r.d, idx, alice, dag.Op{Kind: dag.OpPut, Put: testPut(1)})
	if check("appended, not synced") != empty {
		t.Error("digest moved before Sync")
	}
	mustSync(t, r.x, idx)
	d1 := check("put")
	if d1 == empty {
		t.Error("digest did not change with a put")
	}
	mustAppend(t, r.d, idx, alice, dag.Op{Kind: dag.OpAmend, Target: ids[0], Amend: &dag.Amend{Title: strp("t")}})
	mustSync(t, r.x, idx)
	d2 := check("amend")
	mustAppend(t, r.d, idx, alice, dag.Op{Kind: dag.OpRetract, Target: ids[0]})
	mustSync(t, r.x, idx)
	if d3 := check("retract"); d3 == d2 || d2 == d1 {
		t.Error("digest did not change with an amend or a retract")
	}
	if err := r.x.Rebuild(context.Background(), idx); err != nil {
		t.Fatal(err)
	}
	check("rebuild")

	// Readers beside a writer: once the writer is done, the cache holds
	// the final state.
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := r.x.Digest(idx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := 2; i < 40; i++ {
		mustAppend(t, r.d, idx, alice, dag.Op{Kind: dag.OpPut, Put: testPut(i)})
		mustSync(t, r.x, idx)
	}
	close(done)
	wg.Wait()
	check("after concurrent syncs")
}
