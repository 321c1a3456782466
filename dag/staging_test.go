package dag

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"indexd/feedtree"
)

// TestStagingOverlay checks that records a feed commits while an Ingest
// stages them are readable (Get, Has, Scan merged with what badger holds,
// deletions hidden) before the transaction commits, and from badger after.
func TestStagingOverlay(t *testing.T) {
	db := openDB(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	s := &stagingStore{BadgerStore: feedtree.NewBadgerStore(db, []byte("x/"))}
	feed := testKey(3)
	key := func(i int) []byte { return fmt.Appendf(nil, "b%02d", i) }
	var stored feedtree.Batch
	for _, i := range []int{1, 3, 5, 7} {
		stored.Set(key(i), []byte(fmt.Sprint("stored ", i)))
	}
	if err := s.Commit(feed, &stored); err != nil {
		t.Fatal(err)
	}
	d := &DAG{db: db, store: s}
	a := &applier{d: d, txn: db.NewTransaction(true)}
	s.a = a
	var b feedtree.Batch
	for _, i := range []int{2, 3, 8} {
		b.Set(key(i), []byte(fmt.Sprint("staged ", i)))
	}
	b.Delete(key(5))
	if err := s.Commit(feed, &b); err != nil {
		t.Fatal(err)
	}
	s.a = nil
	want := "b01=stored 1 b02=staged 2 b03=staged 3 b07=stored 7 b08=staged 8 "
	check := func(when string) {
		t.Helper()
		var got bytes.Buffer
		if err := s.Scan(feed, key(0), key(9), func(k, v []byte) error {
			fmt.Fprintf(&got, "%s=%s ", k, v)
			return nil
		}); err != nil || got.String() != want {
			t.Errorf("%s: Scan = %q, %v; want %q", when, got.String(), err, want)
		}
		if v, err := s.Get(feed, key(2), nil); err != nil || string(v) != "staged 2" {
			t.Errorf("%s: Get staged = %q, %v", when, v, err)
		}
		if _, err := s.Get(feed, key(5), nil); !errors.Is(err, feedtree.ErrNotFound) {
			t.Errorf("%s: Get deleted = %v; want ErrNotFound", when, err)
		}
		if ok, _ := s.Has(feed, key(8)); !ok {
			t.Errorf("%s: Has staged = false", when)
		}
		// A scan stopped early stops, whichever side the record is on.
		n := 0
		stop := errors.New("stop")
		if err := s.Scan(feed, key(0), key(9), func(k, v []byte) error {
			if n++; n == 2 {
				return stop
			}
			return nil
		}); err != stop || n != 2 {
			t.Errorf("%s: stopped Scan = %v after %d; want stop after 2", when, err, n)
		}
	}
	check("staged")
	if err := a.commit(); err != nil {
		t.Fatal(err)
	}
	a.txn.Discard()
	if len(s.overlay[feed]) != 0 {
		t.Errorf("overlay holds %d records after the commit", len(s.overlay[feed]))
	}
	check("committed")
}
