package dag

import (
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

// Defaults of Options.MaxQueued and Options.MaxQueuedBytes.
const (
	DefaultMaxQueued      = 1 << 21
	DefaultMaxQueuedBytes = 1 << 30
)

// applyStep is how many nodes the applier applies between two Hold calls
// (and two releases of the DAG's lock, which Store and reads wait for).
const applyStep = 1024

// The applier yields to a bulk Store: while Stores of an index keep coming
// (the last less than storeQuiet ago) and queue more than one step, it
// applies one step per applyEvery, until the queue is half full. What a
// small sync brings (a gossip message too large, or missed) applies at
// once. Dear future reader: Store and
// the applier share the DAG's lock and two cores; run side by side, a
// fresh follower stored a catch-up no faster than it applied it (200k
// entries: stored and applied in the same 5.6 s, against badger's raw
// write of the same bytes in 0.86 s). Held back, the transfer runs at the
// speed of verification and the disk, the source peer is free sooner,
// and the follower can serve the whole index to others while it applies;
// the applying costs the same CPU either way, after.
const (
	storeQuiet = 50 * time.Millisecond
	applyEvery = time.Second
)

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
		d.kick()
		for i := range errs {
			errs[i] = storeErr
		}
		return errs
	}
	for _, q := range queued {
		ix.push(q)
	}
	ix.lastStore = time.Now()
	if len(queued) > 0 {
		d.kick()
	}
	return errs
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

// kick wakes the applier. Caller holds d.mu.
func (d *DAG) kick() {
	select {
	case d.work <- struct{}{}:
	default:
	}
}

// runApplier applies what Store queued until Close.
func (d *DAG) runApplier() {
	defer close(d.applierDone)
	for {
		select {
		case <-d.work:
		case <-d.done:
			return
		}
		for d.applyQueued() {
		}
	}
}

// applyQueued applies up to applyStep queued nodes of one index, first
// calling Options.Hold without the lock. It reports whether it did
// anything (so there may be more).
func (d *DAG) applyQueued() bool {
	d.mu.Lock()
	var idx IndexKey
	found := false
	for _, ix := range d.sortedIndexes() {
		if len(ix.queue) > 0 {
			idx, found = ix.key, true
			break
		}
	}
	d.mu.Unlock()
	if !found {
		return false
	}
	if wait := d.yieldTo(idx); wait > 0 {
		select {
		case <-time.After(wait):
		case <-d.done:
		}
		return true
	}
	if d.opts.Hold != nil {
		d.opts.Hold(d.ctx, idx)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	ix, err := d.index(idx)
	if err != nil {
		return false // closed, or the index went
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
		// queued again what the feeds hold, and woke every waiter. The next
		// Store kicks the applier; a failing disk does not spin it.
		d.opts.Logger.Warn("dag: applying stored nodes", "index", idx.String(), "err", err)
		return false
	}
	if n == 0 {
		// Room for a waiting Store also when nothing applied (what was
		// taken waits for missing ancestors); applyIn wakes them otherwise.
		close(ix.changed)
		ix.changed = make(chan struct{})
	}
	return true
}

// yieldTo returns how long the applier should leave idx to a bulk Store in
// progress (0: apply now).
func (d *DAG) yieldTo(idx IndexKey) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	ix, err := d.index(idx)
	if err != nil {
		return 0
	}
	now := time.Now()
	quiet := now.Sub(ix.lastStore)
	if ix.queuedNodes < applyStep || quiet >= storeQuiet || now.Sub(ix.lastStep) >= applyEvery ||
		2*ix.queuedNodes >= d.opts.MaxQueued || 2*ix.queuedBytes >= d.opts.MaxQueuedBytes {
		return 0
	}
	return storeQuiet - quiet
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
