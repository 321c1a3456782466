package index

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"indexd/dag"
	"indexd/feedtree"
)

func openDB(t testing.TB) *badger.DB {
	t.Helper()
	opts := badger.DefaultOptions(t.TempDir()).WithLogger(nil).WithMemTableSize(16 << 20).WithValueThreshold(1 << 10).
		WithBlockCacheSize(1 << 20).WithIndexCacheSize(1 << 20).WithNumCompactors(2).WithValueLogFileSize(16 << 20)
	db, err := badger.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// replica is a DAG and an Index over it, sharing one badger with other
// replicas under distinct prefixes.
type replica struct {
	d *dag.DAG
	x *Index
}

// clockFrom returns a fake clock: milliseconds from a fixed start, one
// tick per call, so times are distinct and deterministic.
func clockFrom(start int64) func() time.Time {
	tick := start
	return func() time.Time { tick++; return time.UnixMilli(1700000000000 + tick) }
}

func newReplica(t testing.TB, db *badger.DB, name string, m *dag.Manifest, now func() time.Time) *replica {
	t.Helper()
	return newReplicaOpts(t, db, name, m, dag.Options{Now: now})
}

// newReplicaOpts is newReplica with the DAG opened with opts.
func newReplicaOpts(t testing.TB, db *badger.DB, name string, m *dag.Manifest, opts dag.Options) *replica {
	t.Helper()
	d := openDAG(t, db, name, m, opts)
	x, err := Open(db, []byte(name+"/i/"), d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &replica{d: d, x: x}
}

// openDAG opens a DAG under name+"/d/" holding m, closed at the test's end;
// opts.Now defaults to clockFrom(0).
func openDAG(t testing.TB, db *badger.DB, name string, m *dag.Manifest, opts dag.Options) *dag.DAG {
	t.Helper()
	if opts.Now == nil {
		opts.Now = clockFrom(0)
	}
	d, err := dag.Open(db, []byte(name+"/d/"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.PutManifest(m); err != nil {
		t.Fatal(err)
	}
	return d
}

// forkOpts are DAG options whose fork-proof nodes author appends.
func forkOpts(author dag.Author, now func() time.Time) dag.Options {
	return dag.Options{Now: now, ForkAuthor: func(dag.IndexKey) (dag.Author, bool) { return author, true }}
}

func testAuthor(i, device int) dag.Author {
	var s [32]byte
	s[0], s[1] = byte(i), byte(i>>8)
	s[2] = 'i'
	id := dag.IdentityFromSeed(s)
	s[2], s[3] = 'l', byte(device)
	return dag.Author{Identity: id, Log: feedtree.KeyPairFromSeed(s)}
}

func testManifest(t testing.TB, policy dag.Policy, creator dag.Author) *dag.Manifest {
	t.Helper()
	m, err := dag.NewManifest("test", policy, creator.Identity, bytes.NewReader(make([]byte, 16)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testPut(i int) *dag.Put {
	ih := make([]byte, 20)
	ih[0], ih[1], ih[2] = byte(i), byte(i>>8), 1
	return &dag.Put{InfohashV1: ih, Name: fmt.Sprintf("Some.Release.%d.1080p.x264-GRP", i), Size: uint64(1000 + i),
		Files: []dag.File{{Path: fmt.Sprintf("Some.Release.%d/file.mkv", i), Size: uint64(1000 + i)}}}
}

func mustAppend(t testing.TB, d *dag.DAG, idx dag.IndexKey, a dag.Author, ops ...dag.Op) []dag.ID {
	t.Helper()
	ids, err := d.Append(context.Background(), idx, a, ops...)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return ids
}

func mustSync(t testing.TB, x *Index, idx dag.IndexKey) int {
	t.Helper()
	n, err := x.Sync(context.Background(), idx)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return n
}

func mustEntry(t testing.TB, x *Index, id dag.ID) *Entry {
	t.Helper()
	e, err := x.Entry(id)
	if err != nil {
		t.Fatalf("Entry(%v): %v", id, err)
	}
	return e
}

// syncLogs copies every log of idx from src to dst, as replication would.
func syncLogs(t testing.TB, src, dst *dag.DAG, idx dag.IndexKey) {
	t.Helper()
	logs, err := src.Logs(idx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range logs {
		if err := ingestRange(src, dst, idx, l.Key, l.Length); err != nil {
			t.Fatal(err)
		}
	}
}

// ingestRange copies blocks of log up to end (from what dst holds).
func ingestRange(src, dst *dag.DAG, idx dag.IndexKey, log feedtree.Key, end uint64) error {
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
		return nil
	}
	sf, err := src.Feed(log)
	if err != nil {
		return err
	}
	p, err := sf.Proof(start, end, have)
	if err != nil {
		return fmt.Errorf("proof [%d,%d) have %d: %w", start, end, have, err)
	}
	blocks := make([][]byte, 0, end-start)
	for i := start; i < end; i++ {
		b, err := sf.Get(i)
		if err != nil {
			return err
		}
		blocks = append(blocks, b)
	}
	_, err = dst.Ingest(context.Background(), idx, log, p, blocks)
	return err
}

// state returns the stored bytes of every entry of idx, in Each order, and
// the digest.
func state(t testing.TB, x *Index, idx dag.IndexKey) ([][]byte, [32]byte) {
	t.Helper()
	var out [][]byte
	err := x.Each(idx, func(e *Entry) error {
		b, err := e.MarshalBinary()
		out = append(out, b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := x.Digest(idx)
	if err != nil {
		t.Fatal(err)
	}
	return out, d
}

func strp(s string) *string { return &s }
func u32p(v uint32) *uint32 { return &v }

// logOf returns d's state of log key in idx (the zero LogState when d
// does not hold it).
func logOf(d *dag.DAG, idx dag.IndexKey, key feedtree.Key) dag.LogState {
	ls, _ := d.Logs(idx)
	for _, l := range ls {
		if l.Key == key {
			return l
		}
	}
	return dag.LogState{}
}
