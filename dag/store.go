package dag

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"
)

// Store and the applier. Ingest verifies a range, decodes its nodes and
// applies them before it returns; a peer catching up a large index then
// receives only as fast as it applies. Store does what replication needs
// for a range to be held — check it against one signed head and commit its
// blocks — and leaves decoding and applying to the DAG's applier, which
// takes stored ranges in the order they arrived (a sync session sends them
// in time order, so links mostly point to what is applied already) and
// applies them in steps behind the network. What the applier finds invalid
// stops its log, as Ingest would have refused it; what waits for missing
// ancestors is pending, as with Ingest. The applied set is the same either
// way: it depends only on the blocks held.

// Defaults of Options.MaxQueued and Options.MaxQueuedBytes: what is
// queued is on disk already (the queue itself is a few words per range),
// and the applier stops yielding to a bulk Store once the queue is half
// full, so half the bounds is how large a catch-up a fresh follower stores
// before it applies: a million entries of up to 1 KiB.
const (
	DefaultMaxQueued      = 1 << 21
	DefaultMaxQueuedBytes = 2 << 30
)

// applyStep is how many nodes the applier applies between two Hold calls
// (and two releases of the DAG's lock, which Store and reads wait for).
const applyStep = 1024

// The applier yields to a bulk Store: while Options.Bulk says one is under
// way, or Stores of an index keep coming (the last less than storeQuiet
// ago) and queue more than one step, it applies one step per applyEvery,
// until the queue is half full (yieldTo). What a small sync brings (a
// gossip message too large, or missed) applies at once. Dear future reader: Store and
// the applier share the DAG's lock and two cores; run side by side, a
// fresh follower stored a catch-up no faster than it applied it (200k
// entries: stored and applied in the same 5.6 s, against badger's raw
// write of the same bytes in 0.86 s). Held back, the transfer runs at the
// speed of verification and the disk, the source peer is free sooner,
// and the follower can serve the whole index to others while it applies;
// the applying costs the same CPU either way, after.
//
// While a bulk Store is fast (fastStore nodes or more a second) the
// applier does not take even its step a second: a catch-up at that speed
// is soon stored, and indexing those steps beside it took a sixth of the
// CPU of a 1M catch-up's store phase. A slow one (a peer far away) still
// shows its entries a step a second.
//
// Bulk is a promise (node: what authors' signed heads say peers could
// still send), not a transfer: once no Store has come for bulkQuiet, the
// applier applies flat out whatever Bulk says, so a head that promises
// more than anyone serves (a hostile author's, or a peer that went away)
// cannot hold the applier to a step a second until its session ends.
const (
	storeQuiet = 50 * time.Millisecond
	applyEvery = time.Second
	fastStore  = 8 * applyStep
	bulkQuiet  = 2 * applyEvery
)

// loadStep is how many nodes of a log Open queues at a time, the logs
// taking turns, for the applier of a backlog left by a restart.
const loadStep = 64

// openApplyLimit is how many unapplied nodes of an index Open applies
// before it returns; beyond it (a large catch-up was stored but not yet
// applied when the process stopped) the applier takes them in the
// background. A variable for tests.
var openApplyLimit = 1 << 16

// queuedRange is a stored range waiting for the applier: log l up to end.
type queuedRange struct {
	l     *logState
	end   uint64
	nodes int
	bytes int64
}

// blocked is how many of ix's held nodes wait for missing ancestors (or
// follow an invalid node): those not applied that the applier has taken.
// A node applied early by Ingest while its range waits in the queue
// leaves it an underestimate until the applier takes that range.
func (ix *indexState) blocked() int {
	return max(0, ix.pending-ix.queuedNodes)
}

// push queues what Store held of l up to end for the applier.
func (ix *indexState) push(q queuedRange) {
	ix.queue = append(ix.queue, q)
	ix.queuedNodes += q.nodes
	ix.queuedBytes += q.bytes
	q.l.queued += q.nodes
}

// pop takes the oldest queued range.
func (ix *indexState) pop() queuedRange {
	q := ix.queue[0]
	ix.queue[0] = queuedRange{}
	ix.queue = ix.queue[1:]
	if len(ix.queue) == 0 {
		ix.queue = nil // let the drained backing array go
	}
	ix.queuedNodes -= q.nodes
	ix.queuedBytes -= q.bytes
	q.l.queued -= q.nodes
	q.l.takenTo = max(q.l.takenTo, q.end)
	return q
}

// Store takes verified ranges of author logs of idx from replication, as
// IngestMany does, but only stores them: each range is checked against its
// signed head, then all of them are committed in one badger commit and
// queued for the DAG's applier (see Options.Hold), which decodes and
// applies them in arrival order. A node the applier finds invalid stops
// its log there; nodes waiting for missing ancestors stay pending.
//
// While more than Options.MaxQueued nodes or MaxQueuedBytes bytes of idx
// wait for the applier, Store waits for room (until ctx ends): the
// back-pressure that slows a sender down to what this replica applies.
// While Options.MaxPending held nodes are found pending it refuses ranges
// (ErrPendingFull) that do not unblock one. errs[i] is the outcome of
// rs[i]; a range that fails leaves the others as they are.
func (d *DAG) Store(ctx context.Context, idx IndexKey, rs []Range) []error {
	errs := make([]error, len(rs))
	fill := func(err error) []error {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return errs
	}
	var nodes int
	var bytes int64
	for _, r := range rs {
		nodes += len(r.Blocks)
		for _, b := range r.Blocks {
			bytes += int64(len(b))
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	ix, err := d.waitRoom(ctx, idx, nodes, bytes)
	if err != nil {
		return fill(err)
	}
	a := &applier{d: d, txn: d.db.NewTransaction(true)}
	queued := make([]queuedRange, 0, len(rs))
	var storeErr error
	for i, r := range rs {
		var q queuedRange
		q, errs[i], storeErr = d.storeLocked(ix, r, a)
		if q.nodes > 0 {
			queued = append(queued, q)
		}
		if storeErr == nil && a.staged > maxStagedBytes {
			storeErr = a.commit() // at a range boundary, as IngestMany
		}
		if storeErr != nil {
			break
		}
	}
	if storeErr == nil {
		storeErr = a.txn.Commit()
	}
	a.txn.Discard()
	d.store.settle()
	if storeErr != nil {
		// Nothing since the last commit is stored: state from badger, which
		// queues whatever the feeds hold beyond what is applied.
		if rerr := d.reload(); rerr != nil {
			storeErr = fmt.Errorf("%w (and reloading state: %v)", storeErr, rerr)
		}
		for i := range errs {
			errs[i] = storeErr
		}
		return errs
	}
	queuedNodes := 0
	for _, q := range queued {
		ix.push(q)
		queuedNodes += q.nodes
	}
	if len(queued) > 0 {
		now := time.Now()
		ix.lastStore = now
		if age := now.Sub(ix.windowStart); age >= applyEvery {
			ix.lastWindowNodes = 0
			if age < 2*applyEvery {
				ix.lastWindowNodes = ix.windowNodes
			}
			ix.windowStart, ix.windowNodes = now, 0
		}
		ix.windowNodes += queuedNodes
		d.kick(idx)
	}
	return errs
}

// recentStored is about how many nodes Store queued for ix in the last
// applyEvery: the current window's or the one before's, whichever is
// more, while they are recent.
func (ix *indexState) recentStored(now time.Time) int {
	switch age := now.Sub(ix.windowStart); {
	case age < applyEvery:
		return max(ix.windowNodes, ix.lastWindowNodes)
	case age < 2*applyEvery:
		return ix.windowNodes
	default:
		return 0
	}
}

// waitRoom returns idx's state once its queue has room for nodes and
// bytes more (or holds nothing: a batch larger than the bounds still goes
// in alone). Caller holds d.mu, which it releases while waiting.
func (d *DAG) waitRoom(ctx context.Context, idx IndexKey, nodes int, bytes int64) (*indexState, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ix, err := d.index(idx)
		if err != nil {
			return nil, err
		}
		if ix.queuedNodes == 0 || (ix.queuedNodes+nodes <= d.opts.MaxQueued && ix.queuedBytes+bytes <= d.opts.MaxQueuedBytes) {
			return ix, nil
		}
		ch := ix.changed
		d.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		case <-d.done:
		}
		d.mu.Lock()
	}
}

// storeLocked checks range r and stages its blocks in a's transaction
// (see Store). q is what to queue for the applier (q.nodes == 0: nothing
// new); err is the range's own failure, storeErr a storage failure.
func (d *DAG) storeLocked(ix *indexState, r Range, a *applier) (q queuedRange, err, storeErr error) {
	c, err := d.checkRange(ix, r)
	if err != nil {
		return q, err, nil
	}
	if err := checkHeaders(ix.key, r, c.held); err != nil {
		return q, err, nil
	}
	if ix.blocked() >= d.opts.MaxPending {
		var applied uint64 = 1
		if c.l != nil {
			applied = c.l.applied
		}
		if !d.unblocks(ix, r.Proof.Start, applied, r.Blocks) {
			return q, fmt.Errorf("storing %v: %d pending nodes, limit %d: %w", r.Log, ix.blocked(), d.opts.MaxPending, ErrPendingFull), nil
		}
	}
	l, err, storeErr := d.putRange(ix, r, c, a)
	if err != nil || storeErr != nil {
		return q, err, storeErr
	}
	// New blocks from the first not held before, less a new log's
	// certificate, which registering it applied.
	from := max(c.held, l.applied)
	q = queuedRange{l: l, end: l.held}
	if l.held > from {
		q.nodes = int(l.held - from)
	}
	for i, b := range r.Blocks {
		if r.Proof.Start+uint64(i) >= from {
			q.bytes += int64(len(b))
		}
	}
	return q, nil, nil
}

// Each index with queued ranges has its own applier goroutine, started by
// kick and ending when the queue is empty: one index's bulk store (which
// its applier yields to) or its pump (Hold) never holds up another's.

// kick starts the applier of idx unless it runs. Caller holds d.mu.
func (d *DAG) kick(idx IndexKey) {
	if d.closed || d.applying[idx] {
		return
	}
	d.applying[idx] = true
	d.appliers.Add(1)
	go d.runApplier(idx)
}

// kickAll starts the applier of every index with queued ranges. Caller
// holds d.mu.
func (d *DAG) kickAll() {
	for k, ix := range d.indexes {
		if len(ix.queue) > 0 {
			d.kick(k)
		}
	}
}

// runApplier applies what Store queued for idx until the queue is empty or
// the DAG closes.
func (d *DAG) runApplier(idx IndexKey) {
	defer d.appliers.Done()
	for {
		wait, more := d.applyQueued(idx)
		if !more {
			return
		}
		if wait > 0 {
			select {
			case <-time.After(wait):
			case <-d.done:
				return
			}
		}
	}
}

// applyQueued applies up to applyStep queued nodes of idx, first calling
// Options.Hold without the lock, unless the applier should yield to a bulk
// Store or back off after a storage failure (wait). more is false once the
// queue is empty (the applier then ends) or the DAG closed.
func (d *DAG) applyQueued(idx IndexKey) (wait time.Duration, more bool) {
	bulk := d.opts.Bulk != nil && d.opts.Bulk(idx)
	d.mu.Lock()
	ix, err := d.index(idx)
	if err != nil || len(ix.queue) == 0 {
		delete(d.applying, idx)
		d.mu.Unlock()
		return 0, false
	}
	if w := d.yieldTo(ix, bulk); w > 0 {
		d.mu.Unlock()
		return w, true
	}
	d.mu.Unlock()
	if d.opts.Hold != nil {
		d.opts.Hold(d.ctx, idx)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if ix, err = d.index(idx); err != nil || len(ix.queue) == 0 {
		delete(d.applying, idx)
		return 0, false
	}
	ix.lastStep = time.Now()
	a := &applier{d: d, txn: d.db.NewTransaction(true), queued: true}
	var logs []*logState
	for taken := 0; taken < applyStep && len(ix.queue) > 0; {
		q := ix.pop()
		taken += q.nodes
		if !slices.Contains(logs, q.l) {
			logs = append(logs, q.l)
		}
	}
	n, err := d.applyIn(ix, logs, a)
	if err != nil {
		// A storage failure: applyIn reloaded the state from badger, which
		// queued again what the feeds hold and woke every waiter. Try again
		// after a pause that grows while the failures go on.
		d.applyFailures[idx]++
		wait := min(applyRetryMax, applyRetry<<min(d.applyFailures[idx]-1, 10))
		d.opts.Logger.Warn("dag: applying stored nodes", "index", idx.String(), "err", err, "retry_in", wait)
		return wait, true
	}
	delete(d.applyFailures, idx)
	if n == 0 {
		// Room for a waiting Store also when nothing applied (what was
		// taken waits for missing ancestors); applyIn wakes them otherwise.
		close(ix.changed)
		ix.changed = make(chan struct{})
	}
	return 0, true
}

// After a storage failure the applier tries again after applyRetry,
// doubling up to applyRetryMax while the failures go on.
const (
	applyRetry    = 100 * time.Millisecond
	applyRetryMax = 5 * time.Second
)

// yieldTo returns how long the applier should leave ix to a bulk Store in
// progress (0: apply now), applying one step per applyEvery until the
// queue is half full: while bulk (Options.Bulk) says a bulk transfer is
// under way (and a Store came less than bulkQuiet ago), and else while
// Stores keep coming (the last less than storeQuiet ago) with more than a
// step queued. Caller holds d.mu.
//
// Dear future reader: before bulk, a fresh follower whose sender (another
// process on the same two cores) was the slower side applied and indexed
// what each Store brought at once, beside the transfer, and every pause of
// the sender's over storeQuiet let the applier take a step, whose indexing
// then slowed the transfer into more pauses: of 1M entries 153k were
// indexed before the last was stored. And a queue of less than a step
// must apply at once when nothing bulk is under way: small syncs during
// live traffic (a gossip message missed) come every few milliseconds, and
// waiting a second for each took live p99 from 103 to 154 ms.
func (d *DAG) yieldTo(ix *indexState, bulk bool) time.Duration {
	now := time.Now()
	bulk = bulk && now.Sub(ix.lastStore) < bulkQuiet
	if 2*ix.queuedNodes >= d.opts.MaxQueued || 2*ix.queuedBytes >= d.opts.MaxQueuedBytes {
		return 0
	}
	if bulk && ix.recentStored(now) >= fastStore {
		return storeQuiet // soon done: apply after
	}
	if now.Sub(ix.lastStep) >= applyEvery {
		return 0
	}
	if bulk {
		return storeQuiet
	}
	if quiet := now.Sub(ix.lastStore); ix.queuedNodes >= applyStep && quiet < storeQuiet {
		return storeQuiet - quiet
	}
	return 0
}

// Queued returns how many nodes of idx are stored but not yet taken by
// the applier, and how many of the held nodes wait for missing ancestors
// (or follow an invalid node).
func (d *DAG) Queued(idx IndexKey) (queued, pending int, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ix, err := d.index(idx)
	if err != nil {
		return 0, 0, err
	}
	return ix.queuedNodes, ix.blocked(), nil
}

// Held returns how many nodes of idx this replica holds in its author logs
// (verified and stored, applied or not), certificates not counted.
func (d *DAG) Held(idx IndexKey) (uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ix, err := d.index(idx)
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, l := range ix.logs {
		if l.held > 0 {
			n += l.held - 1
		}
	}
	return n, nil
}

// checkHeaders checks, without decoding them, the blocks of r not held
// before (the certificate aside): each at most MaxNodeSize bytes, and
// starting as a node of index idx, of r's log, at its own seq does in
// canonical CBOR — a map of four to six fields whose first three are the
// index, the log and the seq (fields 0, 1, 2). Store refuses what fails, as
// Ingest would; what passes may still not decode, and the applier then
// stops the log there. It keeps blocks of other indexes, logs and places,
// and random bytes, out of the store without the cost of decoding.
func checkHeaders(idx IndexKey, r Range, held uint64) error {
	var want []byte
	for i, b := range r.Blocks {
		seq := r.Proof.Start + uint64(i)
		if seq == 0 || seq < held {
			continue
		}
		if len(b) > MaxNodeSize {
			return fmt.Errorf("storing node %d of %v: %d bytes: %w", seq, r.Log, len(b), ErrTooLarge)
		}
		if want == nil {
			lb := r.Log.Bytes()
			want = make([]byte, 0, 80)
			for _, v := range []any{0, idx.b[:], 1, lb[:], 2} {
				want = appendCBOR(want, v)
			}
		}
		w := appendCBOR(want, seq)
		if len(b) < 1+len(w) || b[0] < 0xa4 || b[0] > 0xa6 || !bytes.Equal(b[1:1+len(w)], w) {
			return fmt.Errorf("storing node %d of %v: not a node of index %v, that log, at that seq: %w", seq, r.Log, idx, ErrBadNode)
		}
	}
	return nil
}

// appendCBOR appends the canonical CBOR encoding of v (an integer or a
// byte string here, which always encode).
func appendCBOR(dst []byte, v any) []byte {
	b, _ := encMode.Marshal(v)
	return append(dst, b...)
}
