package replicate

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"indexd/dag"
)

// testNode is one replica: badger in a temp dir, a DAG and a Host on loopback.
type testNode struct {
	db *badger.DB
	d  *dag.DAG
	h  *Host
}

// openDB opens a badger for a test host: small caches and files, and no
// compression, as a node's database (node.badgerOptions; its tables hold
// CBOR that snappy barely shrinks, so benchmarks here would otherwise time
// decompression a node never does).
func openDB(t testing.TB) *badger.DB {
	t.Helper()
	opts := badger.DefaultOptions(t.TempDir()).WithLogger(nil).WithMemTableSize(16 << 20).
		WithBlockCacheSize(1 << 20).WithIndexCacheSize(1 << 20).WithNumCompactors(2).WithValueLogFileSize(16 << 20).
		WithCompression(options.None)
	db, err := badger.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func quietLogger() *slog.Logger {
	if os.Getenv("REPLICATE_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newTestNode(t testing.TB) *testNode {
	t.Helper()
	return newTestNodeOpts(t, Options{})
}

func newTestNodeOpts(t testing.TB, opts Options) *testNode {
	t.Helper()
	return newTestNodeDAG(t, opts, dag.Options{})
}

func newTestNodeDAG(t testing.TB, opts Options, dopts dag.Options) *testNode {
	t.Helper()
	db := openDB(t)
	d, err := dag.Open(db, []byte("d/"), dopts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	opts.Logger = quietLogger()
	h, err := New(context.Background(), d, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close()
		d.Close()
		db.Close()
	})
	return &testNode{db: db, d: d, h: h}
}

func connect(t testing.TB, a, b *testNode) {
	t.Helper()
	if err := a.h.Connect(context.Background(), b.h.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
}

// newIndex makes an open index and returns its manifest.
func newIndex(t testing.TB) *dag.Manifest {
	t.Helper()
	id, err := dag.GenerateIdentity(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	m, err := dag.NewManifest("test", dag.PolicyOpen, id, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newAuthor(t testing.TB) dag.Author {
	t.Helper()
	a, err := dag.GenerateAuthor(nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func putOp(name string) dag.Op {
	ih := make([]byte, 20)
	rand.Read(ih)
	return dag.Op{Kind: dag.OpPut, Put: &dag.Put{InfohashV1: ih, Name: name, Size: 1}}
}

// publish appends n entries by a, announcing each.
func publish(t testing.TB, n *testNode, idx dag.IndexKey, a dag.Author, count int) {
	t.Helper()
	for i := range count {
		if _, err := n.d.Append(context.Background(), idx, a, putOp(fmt.Sprintf("entry %d", i))); err != nil {
			t.Error(err)
			return
		}
		if err := n.h.Announce(context.Background(), idx, a.Log.Public()); err != nil {
			t.Error(err)
			return
		}
	}
}

// digest summarises what a node holds of idx: the fingerprint of its logs.
func digest(t testing.TB, n *testNode, idx dag.IndexKey) (fingerprint, int) {
	s, err := n.h.items(idx)
	if err != nil {
		return fingerprint{}, 0
	}
	total := 0
	for _, it := range s.items {
		total += int(it.Length)
	}
	return s.all(), total
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval of a condition wait, not synchronisation
	}
}

func converged(t testing.TB, idx dag.IndexKey, want int, ns ...*testNode) func() bool {
	return func() bool {
		fp0, n0 := digest(t, ns[0], idx)
		if n0 != want {
			return false
		}
		for _, n := range ns[1:] {
			if fp, _ := digest(t, n, idx); fp != fp0 {
				return false
			}
		}
		return true
	}
}

func TestThreeHostsConvergeAndLateJoiner(t *testing.T) {
	m := newIndex(t)
	idx := m.Key()
	ns := []*testNode{newTestNode(t), newTestNode(t), newTestNode(t)}
	for _, n := range ns {
		if err := n.d.PutManifest(m); err != nil {
			t.Fatal(err)
		}
		if err := n.h.Follow(context.Background(), idx); err != nil {
			t.Fatal(err)
		}
	}
	connect(t, ns[0], ns[1])
	connect(t, ns[1], ns[2])
	connect(t, ns[2], ns[0])
	const per = 30
	var wg sync.WaitGroup
	for _, n := range ns {
		wg.Go(func() { publish(t, n, idx, newAuthor(t), per) })
	}
	wg.Wait()
	want := 3 * (per + 1) // each log: certificate + per nodes
	t.Cleanup(func() {
		if t.Failed() {
			dumpState(t, idx, ns...)
		}
	})
	waitFor(t, 20*time.Second, "three hosts to converge", converged(t, idx, want, ns...))
	// Sync stores first; each DAG's applier then applies all it holds.
	waitFor(t, 20*time.Second, "every host to apply what it holds", func() bool {
		for _, n := range ns {
			logs, _ := n.d.Logs(idx)
			for _, l := range logs {
				if l.Applied != l.Length {
					return false
				}
			}
		}
		return true
	})

	// A late joiner that knows only the index key fetches the manifest,
	// checks it and catches up.
	late := newTestNode(t)
	connect(t, late, ns[1])
	if err := late.h.Follow(context.Background(), idx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the late joiner to catch up", converged(t, idx, want, ns[0], late))
	if _, err := late.d.Manifest(idx); err != nil {
		t.Errorf("late joiner manifest: %v", err)
	}
	// Live after catch-up.
	publish(t, ns[2], idx, newAuthor(t), 5)
	waitFor(t, 20*time.Second, "live entries to reach everyone", converged(t, idx, want+6, append(ns, late)...))
	st := late.h.Stats()
	if st.Rounds == 0 || st.BytesIn == 0 {
		t.Errorf("late joiner stats %+v: want sync rounds and bytes", st)
	}
}

// TestSyncNowCursor checks that two peers that synced before need one small
// exchange when identical, and that the side behind gets pushed data in one
// round trip.
func TestSyncNowCursor(t *testing.T) {
	idx, a, b := followingPair(t)
	authors := []dag.Author{newAuthor(t), newAuthor(t), newAuthor(t)}
	for _, au := range authors {
		for range 10 {
			a.d.Append(context.Background(), idx, au, putOp("x"))
		}
	}
	connect(t, b, a)
	waitFor(t, 10*time.Second, "topic peers", func() bool { return len(b.h.Peers()) == 1 && len(b.h.Peers()[0].Indexes) == 1 })
	ctx := context.Background()
	if err := b.h.SyncNow(ctx, idx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "first sync", converged(t, idx, 33, a, b))
	// Identical: one small exchange.
	before := b.h.Stats()
	if err := b.h.SyncNow(ctx, idx); err != nil {
		t.Fatal(err)
	}
	after := b.h.Stats()
	if got := after.BytesOut - before.BytesOut + after.BytesIn - before.BytesIn; got > 256 {
		t.Errorf("identical sync moved %d bytes; want <= 256", got)
	}
	// Behind by 1 entry: pushed after one Hello.
	a.d.Append(ctx, idx, authors[1], putOp("y"))
	before = b.h.Stats()
	if err := b.h.SyncNow(ctx, idx); err != nil {
		t.Fatal(err)
	}
	after = b.h.Stats()
	if _, n := digest(t, b, idx); n != 34 {
		t.Fatalf("after incremental sync b holds %d blocks; want 34", n)
	}
	t.Logf("incremental sync of 1 entry: %d bytes out, %d bytes in", after.BytesOut-before.BytesOut, after.BytesIn-before.BytesIn)
}

// TestDHTRendezvous: two hosts that only know a bootstrap peer find each
// other through the rendezvous on the index's discovery key and replicate.
func TestDHTRendezvous(t *testing.T) {
	boot := newTestNodeOpts(t, Options{DHT: true})
	m := newIndex(t)
	idx := m.Key()
	b := newTestNodeOpts(t, Options{DHT: true, Bootstrap: boot.h.Addrs()[:1]})
	c := newTestNodeOpts(t, Options{DHT: true, Bootstrap: boot.h.Addrs()[:1]})
	b.d.PutManifest(m)
	au := newAuthor(t)
	for range 3 {
		b.d.Append(context.Background(), idx, au, putOp("via dht"))
	}
	for _, n := range []*testNode{b, c} {
		if err := n.h.Follow(context.Background(), idx); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "c to find b on the DHT and catch up", converged(t, idx, 4, b, c))
	if _, err := c.d.Manifest(idx); err != nil {
		t.Errorf("c has no manifest: %v", err)
	}
}

// TestCatchingUp holds a fresh follower's catch-up after its first stored
// batch — its applier waits and its queue takes one batch, so Store waits
// for room and the session with it — and checks that CatchingUp reports
// the peer and the blocks its signed head holds beyond what arrived, then
// nothing once converged.
func TestCatchingUp(t *testing.T) {
	m := newIndex(t)
	idx := m.Key()
	release := make(chan struct{})
	var once sync.Once
	defer once.Do(func() { close(release) })
	b := newTestNodeDAG(t, Options{}, dag.Options{MaxQueued: 1, Hold: func(ctx context.Context, _ dag.IndexKey) {
		select {
		case <-release:
		case <-ctx.Done():
		}
	}})
	a := newTestNode(t)
	for _, n := range []*testNode{a, b} {
		if err := n.d.PutManifest(m); err != nil {
			t.Fatal(err)
		}
	}
	// More blocks than one stored batch can carry (16 frames of at most
	// chunkBlocks), so the first batch cannot finish the log.
	const count = 16*chunkBlocks + 500
	ops := make([]dag.Op, count)
	for i := range ops {
		ops[i] = putOp(fmt.Sprintf("entry %d", i))
	}
	if _, err := a.d.Append(context.Background(), idx, newAuthor(t), ops...); err != nil {
		t.Fatal(err)
	}
	if got := b.h.CatchingUp(idx); got != (CatchUp{}) {
		t.Fatalf("before following: CatchingUp = %+v, want zero", got)
	}
	if err := a.h.Follow(context.Background(), idx); err != nil {
		t.Fatal(err)
	}
	if err := b.h.Follow(context.Background(), idx); err != nil {
		t.Fatal(err)
	}
	connect(t, b, a)
	var held uint64
	var got CatchUp
	waitFor(t, 20*time.Second, "the catch-up to stop at its first stored batch", func() bool {
		logs, err := b.d.Logs(idx)
		if err != nil || len(logs) != 1 {
			return false
		}
		held, got = logs[0].Length, b.h.CatchingUp(idx)
		return held > 0 && got == CatchUp{Peers: 1, Remaining: count + 1 - held}
	})
	if held >= count+1 {
		t.Fatalf("held %d of %d with the applier held; want part of it", held, count+1)
	}
	if c, _ := b.d.Counter(idx); c != 0 {
		t.Errorf("applied %d nodes with the applier held", c)
	}
	once.Do(func() { close(release) })
	waitFor(t, 20*time.Second, "the catch-up to finish", converged(t, idx, count+1, a, b))
	waitFor(t, 10*time.Second, "CatchingUp to report nothing", func() bool { return b.h.CatchingUp(idx) == CatchUp{} })
}

// TestNoSyncAfterUnfollow: a sync asked for before an Unfollow (a retry, a
// timer) that runs after it fetches nothing, and a session that is under
// way stores nothing more.
func TestNoSyncAfterUnfollow(t *testing.T) {
	idx, a, b := followingPair(t)
	au := newAuthor(t)
	publish(t, a, idx, au, 3)
	connect(t, b, a)
	waitFor(t, 10*time.Second, "first sync", converged(t, idx, 4, a, b))

	if err := b.h.Unfollow(idx); err != nil {
		t.Fatal(err)
	}
	publish(t, a, idx, au, 2)
	if err := b.h.syncWith(context.Background(), a.h.h.ID(), idx); !errors.Is(err, errNotFollowed) {
		t.Errorf("sync after Unfollow = %v; want errNotFollowed", err)
	}
	s := &session{x: b.h, idx: idx}
	if err := s.ingest(nil); !errors.Is(err, errNotFollowed) {
		t.Errorf("a session's ingest after Unfollow = %v; want errNotFollowed", err)
	}
	if _, n := digest(t, b, idx); n != 4 {
		t.Errorf("b holds %d blocks after Unfollow; want the 4 it had", n)
	}
}

// followingPair returns a new index and two test nodes that follow it, not
// connected yet.
func followingPair(t testing.TB) (dag.IndexKey, *testNode, *testNode) {
	m := newIndex(t)
	a, b := newTestNode(t), newTestNode(t)
	for _, n := range []*testNode{a, b} {
		n.d.PutManifest(m)
		if err := n.h.Follow(context.Background(), m.Key()); err != nil {
			t.Fatal(err)
		}
	}
	return m.Key(), a, b
}
