package dag

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"indexd/feedtree"
)

// rangeOf is rangeFor, failing t on an error.
func rangeOf(t testing.TB, src, dst *DAG, idx IndexKey, log feedtree.Key, end uint64) *Range {
	t.Helper()
	r, err := rangeFor(src, dst, idx, log, end)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// storeRange is syncLog through Store.
func storeRange(t testing.TB, src, dst *DAG, idx IndexKey, log feedtree.Key, end uint64) error {
	t.Helper()
	r := rangeOf(t, src, dst, idx, log, end)
	if r == nil {
		return nil
	}
	return dst.Store(context.Background(), idx, []Range{*r})[0]
}

// heldDAG opens a DAG whose applier waits (in Options.Hold) until release
// is called; opts sets the rest.
func heldDAG(t testing.TB, opts Options) (d *DAG, release func()) {
	ch := make(chan struct{})
	var once sync.Once
	opts.Hold = func(ctx context.Context, _ IndexKey) {
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
	return testDAG(t, opts), func() { once.Do(func() { close(ch) }) }
}

// drained waits until the applier has taken everything Store queued for
// idx in d (what it takes it applies under the same hold of the lock).
func drained(t testing.TB, d *DAG, idx IndexKey) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		q, _, err := d.Queued(idx)
		if err != nil {
			t.Fatal(err)
		}
		if q == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the applier still has %d nodes queued", q)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestStoreConvergence is TestConvergence with the ranges arriving through
// Store (and now and then Ingest, which applies at once): whatever the order,
// once the applier is done every replica holds the reference's applied set
// and heads, in a topological apply order, and nothing is missing.
func TestStoreConvergence(t *testing.T) {
	seed := uint64(20261207)
	rng := rand.New(rand.NewPCG(seed, 2))
	h := newHistory(t, rng)
	m, idx, ref, want, wantHeads, logs := h.m, h.idx, h.ref, h.want, h.heads, h.logs
	for trial, z := range replicas(t, 6, m) {
		stored := 0
		for _, c := range arrivalOrder(rng, logs) {
			if rng.IntN(4) == 0 {
				syncLog(t, ref, z, idx, c.log, c.end)
				continue
			}
			if err := storeRange(t, ref, z, idx, c.log, c.end); err != nil {
				t.Fatalf("trial %d: Store: %v", trial, err)
			}
			stored++
		}
		if stored == 0 {
			t.Fatal("no range went through Store; the test proves nothing")
		}
		drained(t, z, idx)
		if got := appliedIDs(t, z, idx); !slices.Equal(got, want) {
			t.Fatalf("seed %d trial %d: applied %d nodes; want the reference's %d", seed, trial, len(got), len(want))
		}
		if heads, _ := z.Heads(idx); !slices.Equal(heads, wantHeads) {
			t.Fatalf("seed %d trial %d: heads %v; want %v", seed, trial, heads, wantHeads)
		}
		if miss, _ := z.Missing(idx); len(miss) != 0 {
			t.Fatalf("seed %d trial %d: Missing = %v after everything arrived", seed, trial, miss)
		}
		if _, pending, _ := z.Queued(idx); pending != 0 {
			t.Fatalf("seed %d trial %d: %d nodes pending after everything arrived", seed, trial, pending)
		}
	}
}

// TestStoreHeldBeforeApplied: Store holds a range (Held, Logs' Length)
// before the applier applies it; a Hold that waits keeps it unapplied, and
// releasing it applies it.
func TestStoreHeldBeforeApplied(t *testing.T) {
	m := testManifest(t)
	idx := m.Key()
	src := replicas(t, 1, m)[0]
	a := testAuthor(1)
	for i := range 5 {
		mustAppend(t, src, idx, a, putOp(3*i), putOp(3*i+1), putOp(3*i+2))
	}
	dst, release := heldDAG(t, Options{})
	dst.PutManifest(m)
	if err := storeRange(t, src, dst, idx, a.Log.Public(), 16); err != nil {
		t.Fatal(err)
	}
	if h, _ := dst.Held(idx); h != 15 {
		t.Errorf("Held = %d; want 15", h)
	}
	if c, _ := dst.Counter(idx); c != 0 {
		t.Errorf("applied %d nodes while the applier is held; want 0", c)
	}
	if q, p, _ := dst.Queued(idx); q != 15 || p != 0 {
		t.Errorf("Queued = %d, %d pending; want 15, 0", q, p)
	}
	release()
	drained(t, dst, idx)
	if got, want := appliedIDs(t, dst, idx), appliedIDs(t, src, idx); !slices.Equal(got, want) {
		t.Errorf("applied %d nodes; want the source's %d", len(got), len(want))
	}
}

// TestStoreInvalidNode: a block its author signed that is no node of its
// log at its place (here: of another index) is refused by Store, as by
// Ingest, and nothing of the range is held. One that passes that check but
// not the applier's (its first link names another hash) is held — the
// signature verifies — and the applier stops the log before it; Store
// then refuses the stuck log's later ranges, and other logs apply.
func TestStoreInvalidNode(t *testing.T) {
	m := testManifest(t)
	idx := m.Key()
	store := func(d *DAG, w *writer, start, end, have uint64) error {
		p, _ := w.feed.Proof(start, end, have)
		blocks, _ := w.feed.GetRange(start, end, nil)
		return d.Store(context.Background(), idx, []Range{{Log: w.a.Log.Public(), Proof: p, Blocks: blocks}})[0]
	}

	d := testDAG(t, Options{})
	d.PutManifest(m)
	w := newWriter(t, testAuthor(1))
	log := w.a.Log.Public()
	n1 := w.node(idx, 1, nil, putOp(1))
	w.append(w.cert(idx), n1, w.node(IndexKeyFromBytes([32]byte{1}), 2, []Link{{Log: log, Seq: 1, Hash: HashNode(n1)}}, putOp(2)))
	if err := store(d, w, 0, 3, 0); !errors.Is(err, ErrBadNode) {
		t.Fatalf("Store of a range with a node of another index = %v; want ErrBadNode", err)
	}
	if h, _ := d.Held(idx); h != 0 {
		t.Errorf("Held = %d after a refused range; want 0", h)
	}

	d = testDAG(t, Options{})
	d.PutManifest(m)
	w = newWriter(t, testAuthor(2))
	log = w.a.Log.Public()
	n1 = w.node(idx, 1, nil, putOp(1))
	bad := w.node(idx, 2, []Link{{Log: log, Seq: 1, Hash: testID(9)}}, putOp(2)) // names another hash
	w.append(w.cert(idx), n1, bad)
	if err := store(d, w, 0, 3, 0); err != nil {
		t.Fatalf("Store of a signed range: %v", err)
	}
	drained(t, d, idx)
	ls, _ := d.Logs(idx)
	if len(ls) != 1 || ls[0].Length != 3 || ls[0].Applied != 2 {
		t.Fatalf("log = %+v; want 3 held, applied up to the invalid node (2)", ls)
	}
	w.append(w.node(idx, 3, []Link{{Log: log, Seq: 2, Hash: HashNode(bad)}}, putOp(3)))
	if err := store(d, w, 3, 4, 3); !errors.Is(err, ErrBadNode) {
		t.Errorf("Store after the invalid node = %v; want ErrBadNode", err)
	}
	// Another author's log is not held up by it.
	src := replicas(t, 1, m)[0]
	mustAppend(t, src, idx, testAuthor(3), putOp(9))
	if err := storeRange(t, src, d, idx, testAuthor(3).Log.Public(), 2); err != nil {
		t.Fatal(err)
	}
	drained(t, d, idx)
	if c, _ := d.Counter(idx); c != 2 {
		t.Errorf("applied %d nodes; want 2 (one of each log)", c)
	}
}

// TestStoreBackPressure: with the applier held and MaxQueued reached, Store
// waits for room until its context ends, storing nothing; once the applier
// moves, it goes through.
func TestStoreBackPressure(t *testing.T) {
	m := testManifest(t)
	idx := m.Key()
	src := replicas(t, 1, m)[0]
	a, b := testAuthor(1), testAuthor(2)
	mustAppend(t, src, idx, a, putOp(1), putOp(2), putOp(3))
	mustAppend(t, src, idx, b, putOp(4), putOp(5), putOp(6))
	dst, release := heldDAG(t, Options{MaxQueued: 5})
	dst.PutManifest(m)
	if err := storeRange(t, src, dst, idx, a.Log.Public(), 4); err != nil {
		t.Fatal(err)
	}
	r := rangeOf(t, src, dst, idx, b.Log.Public(), 4)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if errs := dst.Store(ctx, idx, []Range{*r}); !errors.Is(errs[0], context.DeadlineExceeded) {
		t.Fatalf("Store over MaxQueued with the applier held = %v; want the context's deadline", errs[0])
	}
	if h, _ := dst.Held(idx); h != 3 {
		t.Errorf("Held = %d after the refused Store; want 3", h)
	}
	done := make(chan error, 1)
	go func() { done <- dst.Store(context.Background(), idx, []Range{*r})[0] }()
	release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Store still waits after the applier was released")
	}
	drained(t, dst, idx)
	if c, _ := dst.Counter(idx); c != 6 {
		t.Errorf("applied %d; want 6", c)
	}
}

// TestStorePendingBound: nodes that wait for a missing ancestor count
// against MaxPending once the applier took them; past it Store refuses
// ranges that do not unblock one, and the missing ancestor still goes in
// and applies everything.
func TestStorePendingBound(t *testing.T) {
	m := testManifest(t)
	idx := m.Key()
	src := replicas(t, 1, m)[0]
	dst := testDAG(t, Options{MaxPending: 2})
	dst.PutManifest(m)
	y, x, z := testAuthor(1), testAuthor(2), testAuthor(3)
	mustAppend(t, src, idx, y, putOp(1))
	mustAppend(t, src, idx, x, putOp(2), putOp(3)) // x links y's node 1
	mustAppend(t, src, idx, z, putOp(4))           // z links x's node 2
	if err := storeRange(t, src, dst, idx, x.Log.Public(), 3); err != nil {
		t.Fatal(err)
	}
	drained(t, dst, idx)
	if _, p, _ := dst.Queued(idx); p != 2 {
		t.Fatalf("pending = %d; want x's 2 nodes", p)
	}
	if err := storeRange(t, src, dst, idx, z.Log.Public(), 2); !errors.Is(err, ErrPendingFull) {
		t.Errorf("Store with 2 pending and MaxPending 2 = %v; want ErrPendingFull", err)
	}
	if miss, _ := dst.Missing(idx); len(miss) != 1 || miss[0].Log != y.Log.Public() {
		t.Errorf("Missing = %v; want y's node 1", miss)
	}
	if err := storeRange(t, src, dst, idx, y.Log.Public(), 2); err != nil {
		t.Fatalf("Store of the missing ancestor: %v", err)
	}
	drained(t, dst, idx)
	if err := storeRange(t, src, dst, idx, z.Log.Public(), 2); err != nil {
		t.Fatal(err)
	}
	drained(t, dst, idx)
	if got, want := appliedIDs(t, dst, idx), appliedIDs(t, src, idx); !slices.Equal(got, want) {
		t.Errorf("applied %d; want %d", len(got), len(want))
	}
}

// TestStoreQueueSurvivesReopen: what Store held but the applier had not
// applied when the DAG closed is applied after Open — at once when small,
// in the background beyond openApplyLimit — and Close does not wait for a
// held applier.
func TestStoreQueueSurvivesReopen(t *testing.T) {
	for _, limit := range []int{1 << 16, 4} {
		m := testManifest(t)
		idx := m.Key()
		src := replicas(t, 1, m)[0]
		a, b := testAuthor(1), testAuthor(2)
		for i := range 4 {
			mustAppend(t, src, idx, a, putOp(10*i), putOp(10*i+1))
			mustAppend(t, src, idx, b, putOp(10*i+2))
		}
		db := openDB(t, t.TempDir())
		held := func(ctx context.Context, _ IndexKey) { <-ctx.Done() }
		dst, err := Open(db, testPrefix, Options{Hold: held})
		if err != nil {
			t.Fatal(err)
		}
		dst.PutManifest(m)
		logs, _ := src.Logs(idx)
		for _, l := range logs {
			if err := storeRange(t, src, dst, idx, l.Key, l.Length); err != nil {
				t.Fatal(err)
			}
		}
		if c, _ := dst.Counter(idx); c != 0 {
			t.Fatalf("applied %d with the applier held", c)
		}
		closed := make(chan error, 1)
		go func() { closed <- dst.Close() }()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatal("Close waits for a held applier")
		}
		openApplyLimit = limit
		dst, err = Open(db, testPrefix, Options{})
		openApplyLimit = 1 << 16
		if err != nil {
			t.Fatal(err)
		}
		if q, _, _ := dst.Queued(idx); limit > 12 && q != 0 {
			t.Errorf("limit %d: %d nodes queued after Open; want them applied by Open", limit, q)
		}
		drained(t, dst, idx)
		if got, want := appliedIDs(t, dst, idx), appliedIDs(t, src, idx); !slices.Equal(got, want) {
			t.Errorf("limit %d: applied %d after reopening; want %d", limit, len(got), len(want))
		}
		dst.Close()
		db.Close()
	}
}

// TestStoreReloadKicks: after a reload (what a storage failure in Ingest,
// Append, Store or the applier does) every unapplied node is queued again,
// and the applier takes them: the ancestor that arrives later by Ingest
// applies everything. (A review found nothing kicked the applier then.)
func TestStoreReloadKicks(t *testing.T) {
	m := testManifest(t)
	idx := m.Key()
	src := replicas(t, 1, m)[0]
	dst := testDAG(t, Options{})
	dst.PutManifest(m)
	y, x := testAuthor(1), testAuthor(2)
	mustAppend(t, src, idx, y, putOp(1))
	mustAppend(t, src, idx, x, putOp(2), putOp(3)) // x links y's node 1
	if err := storeRange(t, src, dst, idx, x.Log.Public(), 3); err != nil {
		t.Fatal(err)
	}
	drained(t, dst, idx)
	dst.mu.Lock()
	err := dst.reload() // as after a failed commit
	dst.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	drained(t, dst, idx)
	if miss, _ := dst.Missing(idx); len(miss) != 1 || miss[0].Log != y.Log.Public() {
		t.Errorf("Missing after the reload = %v; want y's node 1", miss)
	}
	syncLog(t, src, dst, idx, y.Log.Public(), 2) // the ancestor, by Ingest
	if c, _ := dst.Counter(idx); c != 3 {
		t.Errorf("applied %d of 3 once the ancestor arrived", c)
	}
}

// TestStoreIndexesApart: an index whose applier waits (its Hold, as node's
// pump does) and keeps receiving bulk stores does not hold up another
// index's applier. (A review found one applier for all indexes, which
// waited on the first index with a queue.)
func TestStoreIndexesApart(t *testing.T) {
	busy, quiet := testManifest(t), testManifestNamed(t, "quiet")
	release := make(chan struct{})
	defer close(release)
	d := testDAG(t, Options{Hold: func(ctx context.Context, idx IndexKey) {
		if idx == busy.Key() {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
	}})
	src := replicas(t, 1, busy)[0]
	src.PutManifest(quiet)
	for _, m := range []*Manifest{busy, quiet} {
		d.PutManifest(m)
	}
	a := testAuthor(1)
	ops := make([]Op, 2*applyStep)
	for i := range ops {
		ops[i] = putOp(i)
	}
	mustAppend(t, src, busy.Key(), a, ops...)
	mustAppend(t, src, quiet.Key(), testAuthor(2), putOp(1))
	if err := storeRange(t, src, d, busy.Key(), a.Log.Public(), uint64(len(ops)+1)); err != nil {
		t.Fatal(err)
	}
	if err := storeRange(t, src, d, quiet.Key(), testAuthor(2).Log.Public(), 2); err != nil {
		t.Fatal(err)
	}
	drained(t, d, quiet.Key())
	if c, _ := d.Counter(quiet.Key()); c != 1 {
		t.Errorf("the quiet index applied %d of 1 while the busy one waits", c)
	}
	if c, _ := d.Counter(busy.Key()); c != 0 {
		t.Errorf("the busy index applied %d while its Hold waits", c)
	}
}

// TestYieldToBulk: the applier leaves the cores to a bulk transfer while
// Options.Bulk says one is under way, and else to Stores still coming with
// more than a step queued; never once a second passed since its last step
// or the queue is half full. A small queue with nothing bulk applies at
// once (live traffic's small syncs), as does any once Stores pause. While
// a bulk Store is fast the applier does not take its step a second.
func TestYieldToBulk(t *testing.T) {
	d := &DAG{opts: Options{MaxQueued: 1 << 20, MaxQueuedBytes: 1 << 30}}
	for _, c := range []struct {
		name            string
		queued          int
		stored, stepped time.Duration // how long ago
		bulk, wantYield bool
	}{
		{"small queue, live", 10, time.Millisecond, 10 * time.Millisecond, false, false},
		{"small queue, bulk", 10, time.Millisecond, 10 * time.Millisecond, true, true},
		{"big queue", 4 * applyStep, time.Millisecond, 10 * time.Millisecond, false, true},
		{"big queue, bulk", 4 * applyStep, time.Millisecond, 10 * time.Millisecond, true, true},
		{"stores paused", 4 * applyStep, storeQuiet, 10 * time.Millisecond, false, false},
		{"stores paused, bulk", 4 * applyStep, storeQuiet, 10 * time.Millisecond, true, true},
		{"a step a second", 4 * applyStep, time.Millisecond, applyEvery, true, false},
		{"half full", 1 << 19, time.Millisecond, 10 * time.Millisecond, true, false},
		{"bulk and fast: no step a second", 4 * applyStep, time.Millisecond, applyEvery, true, true},
		{"fast but not bulk", 4 * applyStep, time.Millisecond, applyEvery, false, false},
		{"bulk and fast, half full", 1 << 19, time.Millisecond, applyEvery, true, false},
		{"bulk, stores stalled", 4 * applyStep, bulkQuiet, 10 * time.Millisecond, true, false},
		{"bulk, small queue, stores stalled", 10, bulkQuiet, 10 * time.Millisecond, true, false},
		{"bulk, stores slow", 4 * applyStep, bulkQuiet - time.Second/4, 10 * time.Millisecond, true, true},
	} {
		now := time.Now()
		ix := &indexState{queuedNodes: c.queued, lastStore: now.Add(-c.stored), lastStep: now.Add(-c.stepped)}
		if strings.Contains(c.name, "fast") {
			ix.windowStart, ix.windowNodes = now.Add(-applyEvery/2), fastStore
		}
		if got := d.yieldTo(ix, c.bulk) > 0; got != c.wantYield {
			t.Errorf("%s: yield = %v; want %v", c.name, got, c.wantYield)
		}
	}
}

// TestStoreBulkApplies: an applier told that a bulk transfer is under way
// for good still applies everything (a step per applyEvery while Stores
// come, flat out once they stop).
func TestStoreBulkApplies(t *testing.T) {
	m := testManifest(t)
	idx := m.Key()
	src := replicas(t, 1, m)[0]
	a := testAuthor(1)
	var asked atomic.Bool
	dst := testDAG(t, Options{Bulk: func(IndexKey) bool { asked.Store(true); return true }})
	dst.PutManifest(m)
	for i := range 10 {
		mustAppend(t, src, idx, a, putOp(i))
		if err := storeRange(t, src, dst, idx, a.Log.Public(), uint64(i+2)); err != nil {
			t.Fatal(err)
		}
	}
	drained(t, dst, idx)
	if !asked.Load() {
		t.Error("the applier never asked Options.Bulk")
	}
	if got, want := appliedIDs(t, dst, idx), appliedIDs(t, src, idx); !slices.Equal(got, want) {
		t.Errorf("applied %d nodes; want the source's %d", len(got), len(want))
	}
}

// TestRecentStored: how many nodes Store queued in about the last second
// is the current window's or the one before's while the current one is
// young, the current one's for a second after it, then nothing.
func TestRecentStored(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		age  time.Duration
		want int
	}{
		{applyEvery / 2, 300},
		{applyEvery + applyEvery/2, 100},
		{3 * applyEvery, 0},
	} {
		ix := &indexState{windowStart: now.Add(-c.age), windowNodes: 100, lastWindowNodes: 300}
		if got := ix.recentStored(now); got != c.want {
			t.Errorf("window %v old: recentStored = %d; want %d", c.age, got, c.want)
		}
	}
}
