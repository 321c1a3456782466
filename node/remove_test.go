package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"indexd/dag"
	"indexd/index"
)

// foreignIndex puts an index created by another identity into n's DAG with
// puts (one per magnet) by that identity, as replication would, and brings
// n's index and search up to date.
func foreignIndex(t *testing.T, n *Node, name string, magnets ...string) (dag.IndexKey, dag.Author) {
	t.Helper()
	ctx := context.Background()
	a, err := dag.GenerateAuthor(nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := dag.NewManifest(name, dag.PolicyOpen, a.Identity, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.dag.PutManifest(m); err != nil {
		t.Fatal(err)
	}
	for _, mg := range magnets {
		put, err := index.FromMagnet(mg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.dag.Append(ctx, m.Key(), a, dag.Op{Kind: dag.OpPut, Put: put}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.refresh(ctx, m.Key()); err != nil {
		t.Fatal(err)
	}
	return m.Key(), a
}

// recordsOf counts the badger records that still name idx or the log:
// DAG records keyed by the index, the log's feed, index records keyed by
// the index, and the follow, cursor and remove markers.
func recordsOf(t *testing.T, n *Node, idx dag.IndexKey, log []byte) int {
	t.Helper()
	ib := idx.Bytes()
	count := 0
	err := n.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if bytes.HasPrefix(k, []byte("n/remove/")) {
				continue // the marker is checked on its own
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			// Values too: node locations are keyed by the node's hash.
			if bytes.Contains(k, ib[:]) || bytes.Contains(k, log) || bytes.Contains(v, ib[:]) {
				count++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return count
}

// TestRemoveIndex: removing a followed index hides it at once, deletes
// every record of it when the node next opens (its feeds, entries,
// infohash records, search documents), keeps every other index as it was
// (digest, shared infohashes), and refuses the indexes this node writes.
func TestRemoveIndex(t *testing.T) {
	ctx := context.Background()
	n := openOfflineNode(t)
	mShared, _ := magnetOf("5a", "shared.release")
	mine := publishMagnet(t, n, "", mShared)
	m1, _ := magnetOf("6b", "foreign.one")
	m2, _ := magnetOf("7c", "foreign.two")
	idx, a := foreignIndex(t, n, "theirs", mShared, m1, m2)
	if _, err := n.Follow(ctx, FollowRequest{Index: idx.String()}); err != nil {
		t.Fatal(err)
	}
	own, err := n.CreateIndex(ctx, "my-films", "open")
	if err != nil {
		t.Fatal(err)
	}
	if ids, total := hitIDs(t, n, SearchRequest{Query: "release foreign"}); total != 0 || len(ids) != 0 {
		t.Fatalf("nonsense query matched %v", ids)
	}
	if _, total := hitIDs(t, n, SearchRequest{}); total != 4 {
		t.Fatalf("before removal: %d entries searchable, want 4", total)
	}
	if v, err := n.Entry(ctx, mine.ID); err != nil || v.Publishers != 2 {
		t.Fatalf("shared infohash before removal: %+v, %v; want 2 publishers", v, err)
	}
	defIdx, err := n.ResolveIndex("")
	if err != nil {
		t.Fatal(err)
	}
	defDigest, err := n.idx.Digest(defIdx)
	if err != nil {
		t.Fatal(err)
	}

	for _, which := range []string{"", own.Key} {
		if _, err := n.RemoveIndex(ctx, which); !errors.Is(err, ErrBadRequest) {
			t.Errorf("RemoveIndex(%q) error = %v; want ErrBadRequest (this node writes it)", which, err)
		}
	}
	res, err := n.RemoveIndex(ctx, "theirs")
	if err != nil {
		t.Fatalf("RemoveIndex: %v", err)
	}
	if res.Entries != 3 || res.Name != "theirs" || !res.Pending {
		t.Errorf("RemoveIndex = %+v; want 3 entries of theirs, pending until the next open", res)
	}
	// Hidden at once, before any record goes.
	if ids, total := hitIDs(t, n, SearchRequest{}); total != 1 || len(ids) != 1 || ids[0] != mine.ID {
		t.Errorf("after RemoveIndex: hits %v of %d; want only %s", ids, total, mine.ID)
	}
	if v, err := n.Entry(ctx, mine.ID); err != nil || v.Publishers != 1 {
		t.Errorf("shared infohash after RemoveIndex: %+v, %v; want 1 publisher", v, err)
	}
	if list, err := n.Indexes(ctx); err != nil || len(list) != 2 {
		t.Errorf("Indexes = %+v, %v; want the default and my-films", list, err)
	}
	if f, err := n.Follows(ctx); err != nil || len(f) != 0 {
		t.Errorf("Follows = %+v, %v; want none", f, err)
	}
	log := a.Log.Public().Bytes()
	if got := recordsOf(t, n, idx, log[:]); got == 0 {
		t.Fatal("no records of the index before the purge: the check below would prove nothing")
	}

	// The next open purges.
	dir := n.dir
	reopen := func() {
		t.Helper()
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if n, err = Open(ctx, Options{Dir: dir}); err != nil {
			t.Fatal(err)
		}
	}
	reopen()
	defer func() { n.Close() }()
	if got := recordsOf(t, n, idx, log[:]); got != 0 {
		t.Errorf("after the purge: %d records still name the index or its log", got)
	}
	if _, err := n.dag.Manifest(idx); !errors.Is(err, dag.ErrNotFound) {
		t.Errorf("manifest after the purge: %v; want ErrNotFound", err)
	}
	ih := bytes.Repeat([]byte{0x5a}, 20)
	if ids, err := n.idx.ByInfohash(ih); err != nil || len(ids) != 1 || ids[0].String() != mine.ID {
		t.Errorf("shared infohash after the purge: %v, %v; want only %s", ids, err, mine.ID)
	}
	if d, err := n.idx.Digest(defIdx); err != nil || d != defDigest {
		t.Errorf("default index digest changed by the purge")
	}
	if c, err := n.search.Count(); err != nil || c != 1 {
		t.Errorf("search documents after the purge: %d, %v; want 1", c, err)
	}
	if rs, _ := n.removals(); len(rs) != 1 {
		t.Errorf("markers after the purging open: %d; want 1 (kept until a clean open)", len(rs))
	}
	reopen()
	if rs, _ := n.removals(); len(rs) != 0 {
		t.Errorf("markers after a clean open: %d; want none", len(rs))
	}
	if _, total := hitIDs(t, n, SearchRequest{}); total != 1 {
		t.Errorf("after the purge: %d searchable, want 1", total)
	}

	// Following it again starts afresh, and cancels nothing it should not.
	if _, err := n.Follow(ctx, FollowRequest{Index: idx.String()}); err != nil {
		t.Fatal(err)
	}
	if f, err := n.Follows(ctx); err != nil || len(f) != 1 {
		t.Errorf("Follows after following again = %+v, %v", f, err)
	}
}

// TestRemoveIndexCancelled: following an index again before the node
// reopens cancels its removal; nothing is deleted.
func TestRemoveIndexCancelled(t *testing.T) {
	ctx := context.Background()
	n := openOfflineNode(t)
	m1, _ := magnetOf("6b", "foreign.one")
	idx, _ := foreignIndex(t, n, "theirs", m1)
	if _, err := n.RemoveIndex(ctx, idx.String()); err != nil {
		t.Fatal(err)
	}
	if _, total := hitIDs(t, n, SearchRequest{}); total != 0 {
		t.Fatalf("after RemoveIndex: %d searchable, want 0", total)
	}
	// Publishing into it now would create a log the purge would delete.
	m2, _ := magnetOf("7c", "foreign.two")
	if _, err := n.Publish(ctx, PublishRequest{Index: idx.String(), Magnet: m2}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("Publish into an index being removed: %v; want ErrBadRequest", err)
	}
	if _, err := n.Follow(ctx, FollowRequest{Index: idx.String()}); err != nil {
		t.Fatal(err)
	}
	dir := n.dir
	n.Close()
	n, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, total := hitIDs(t, n, SearchRequest{}); total != 1 {
		t.Errorf("removal cancelled by a follow: %d searchable, want 1", total)
	}
	if st, err := n.idx.Stats(idx); err != nil || st.Entries != 1 {
		t.Errorf("stats after a cancelled removal: %+v, %v; want 1 entry", st, err)
	}
}

// TestPurgeIdempotent: a purge cut short after the DAG's part (as by a
// crash) is finished by the next open, and a complete purge run again
// changes nothing.
func TestPurgeIdempotent(t *testing.T) {
	ctx := context.Background()
	n := openOfflineNode(t)
	m1, _ := magnetOf("6b", "foreign.one")
	m2, _ := magnetOf("7c", "foreign.two")
	idx, a := foreignIndex(t, n, "theirs", m1, m2)
	if _, err := n.RemoveIndex(ctx, idx.String()); err != nil {
		t.Fatal(err)
	}
	dir := n.dir
	n.Close()
	db, err := badger.Open(badgerOptions(dir + "/db"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the DAG's part, twice; the index's part never ran
		if err := dag.Purge(db, prefixDAG, idx); err != nil {
			t.Fatalf("dag.Purge run %d: %v", i+1, err)
		}
	}
	db.Close()
	if n, err = Open(ctx, Options{Dir: dir}); err != nil {
		t.Fatalf("open after a purge cut short: %v", err)
	}
	defer n.Close()
	log := a.Log.Public().Bytes()
	if got := recordsOf(t, n, idx, log[:]); got != 0 {
		t.Errorf("after the purge was finished: %d records name the index or its log", got)
	}
	if _, total := hitIDs(t, n, SearchRequest{}); total != 0 {
		t.Errorf("after the purge was finished: %d entries searchable, want 0", total)
	}
	if err := index.Purge(n.db, prefixIndex, idx); err != nil {
		t.Errorf("index.Purge again: %v", err)
	}
}

// BenchmarkRemoveIndex: the purge of a followed index of REMOVE_N entries
// (default 20,000) from REMOVE_AUTHORS authors (default 1) at the open
// after RemoveIndex, next to opening the same directory without a purge.
func BenchmarkRemoveIndex(b *testing.B) {
	ctx := context.Background()
	size := 20000
	if s := os.Getenv("REMOVE_N"); s != "" {
		fmt.Sscan(s, &size)
	}
	for b.Loop() {
		b.StopTimer()
		n := openOfflineNode(b)
		authors := 1
		if s := os.Getenv("REMOVE_AUTHORS"); s != "" {
			fmt.Sscan(s, &authors)
		}
		var as []dag.Author
		for range authors {
			a, err := dag.GenerateAuthor(nil)
			if err != nil {
				b.Fatal(err)
			}
			as = append(as, a)
		}
		a := as[0]
		m, err := dag.NewManifest("theirs", dag.PolicyOpen, a.Identity, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := n.dag.PutManifest(m); err != nil {
			b.Fatal(err)
		}
		per := max(1, min(1000, size/authors))
		ops := make([]dag.Op, 0, per)
		for i := range size {
			ih := make([]byte, 20)
			binary.BigEndian.PutUint64(ih, uint64(i+1))
			ops = append(ops, dag.Op{Kind: dag.OpPut, Put: &dag.Put{InfohashV1: ih, Name: fmt.Sprintf("bench.entry.%d.mkv", i), Size: uint64(i + 1)}})
			if len(ops) == cap(ops) || i == size-1 {
				if _, err := n.dag.Append(ctx, m.Key(), as[(i/per)%authors], ops...); err != nil {
					b.Fatal(err)
				}
				ops = ops[:0]
			}
		}
		if _, err := n.refresh(ctx, m.Key()); err != nil {
			b.Fatal(err)
		}
		if _, err := n.Follow(ctx, FollowRequest{Index: m.Key().String()}); err != nil {
			b.Fatal(err)
		}
		dir := n.dir
		n.Close()
		t0 := time.Now()
		if n, err = Open(ctx, Options{Dir: dir}); err != nil {
			b.Fatal(err)
		}
		plain := time.Since(t0)
		if _, err := n.RemoveIndex(ctx, m.Key().String()); err != nil {
			b.Fatal(err)
		}
		n.Close()
		b.StartTimer()
		t0 = time.Now()
		if n, err = Open(ctx, Options{Dir: dir}); err != nil {
			b.Fatal(err)
		}
		purge := time.Since(t0)
		b.StopTimer()
		if st, err := n.Status(ctx); err != nil || len(st.Indexes) != 1 {
			b.Fatalf("after the purge: %+v, %v", st, err)
		}
		n.Close()
		b.ReportMetric(plain.Seconds(), "plain-open-s")
		b.ReportMetric(purge.Seconds(), "purging-open-s")
		b.StartTimer()
	}
}
