package dag

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"indexd/feedtree"
)

// linkState says whether a link is satisfied.
type linkState int

const (
	linkOK       linkState = iota
	linkWaiting            // the linked node is not applied yet
	linkConflict           // another node is applied at the link's (log, seq)
	linkBad                // the link's hash names a node applied elsewhere
)

// checkLink reports whether link is satisfied in ix. txn sees the writes of
// the apply in progress.
//
// A link into a forked log at or past the length it counts up to holds
// whatever this replica applied there: replicas that hold different
// histories of that log must apply the same nodes of every other log. A
// link that names another node than the one applied at its (log, seq) is
// what an honest writer's link into the other history of an equivocating
// log looks like before the fork is known here: the linking log waits
// (linkConflict) rather than stops, and goes on once the fork is recorded.
func (d *DAG) checkLink(ix *indexState, txn *badger.Txn, link Link) (linkState, error) {
	t := ix.logs[link.Log]
	if t != nil && t.pastFork(link.Seq) {
		return linkOK, nil
	}
	if t == nil || t.applied <= link.Seq {
		return linkWaiting, nil
	}
	if link.Seq == t.applied-1 {
		if t.lastHash == link.Hash {
			return linkOK, nil
		}
		return linkConflict, nil
	}
	// Node (log, seq) is applied; the link holds iff the node with the
	// link's hash is applied there. A node's hash fixes its index, log and
	// seq, so its location record answers without a (log, seq) -> hash
	// record per node.
	v, err := getValue(txn, d.keys.nodeLoc(link.Hash))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return linkConflict, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the location of node %d of %v: %w", link.Seq, link.Log, err)
	}
	if bytes.Equal(v, nodeLocValue(ix.key, link.Log, link.Seq)) {
		return linkOK, nil
	}
	return linkBad, nil
}

// applier batches the badger writes of an apply; it commits every
// applyChunk nodes so transactions stay small.
type applier struct {
	d       *DAG
	txn     *badger.Txn
	nodes   int
	touched []*logState // logs whose fresh nodes wait for the commit
	staged  int         // bytes of feed records staged in txn since its last commit
	done    []doneNode  // nodes applied in txn, for DAG.applied once it commits
	// queued: this is the applier (store.go), which applies a log only as
	// far as the ranges it took from the queue, not into those still
	// queued, so that logs apply in arrival order.
	queued bool
	// ahead holds blocks of one log read in one ordered read, from seq
	// start on, for nodes not decoded already (applied after Store).
	ahead struct {
		l      *logState
		start  uint64
		blocks [][]byte
	}
}

// block returns block seq of l, reading ahead up to lim in one ordered
// read when it is not among the blocks read last.
func (a *applier) block(l *logState, seq, lim uint64) ([]byte, error) {
	r := &a.ahead
	if r.l == l && seq >= r.start && seq < r.start+uint64(len(r.blocks)) {
		return r.blocks[seq-r.start], nil
	}
	end := min(lim, seq+maxReadRun)
	if end <= seq+1 {
		return l.feed.Get(seq)
	}
	blocks, err := l.feed.GetRange(seq, end, r.blocks[:0])
	if err != nil {
		return nil, err
	}
	if len(blocks) == 0 {
		return nil, fmt.Errorf("dag: node %d of %v is held but cannot be read", seq, l.key)
	}
	r.l, r.start, r.blocks = l, seq, blocks
	return blocks[0], nil
}

// limit is how far applyLoop applies l: every held block, or for the
// applier those of the ranges it took from the queue.
func (a *applier) limit(l *logState) uint64 {
	if a.queued {
		return l.taken()
	}
	return l.held
}

// taken is how far the applier may apply l: every held block when none of
// its ranges is queued, else up to the end of those it took (Ingest may
// have stored and applied beyond them meanwhile).
func (l *logState) taken() uint64 {
	if l.queued == 0 {
		return l.held
	}
	return max(l.applied, min(l.held, l.takenTo))
}

type doneNode struct {
	ref nodeRef
	n   appliedNode
}

// committed hands the nodes of the transaction just committed to the
// DAG's cache.
func (a *applier) committed() {
	if a.d.applied != nil {
		for _, x := range a.done {
			a.d.applied.Put(x.ref, x.n)
		}
	}
	a.done = a.done[:0]
}

// commit commits the writes so far and goes on in a new transaction.
func (a *applier) commit() error {
	if err := a.txn.Commit(); err != nil {
		return err
	}
	a.committed()
	a.d.store.settle()
	a.txn = a.d.db.NewTransaction(true)
	a.staged = 0
	return nil
}

func (a *applier) set(k, v []byte) error { return a.txn.Set(k, v) }

func (a *applier) del(k []byte) error { return a.txn.Delete(k) }

func (a *applier) nodeDone() error {
	a.nodes++
	if a.nodes%applyChunk != 0 {
		return nil
	}
	return a.commit()
}

// apply applies every node now applicable in ix, starting from the logs in
// queue and following the logs that wait on them. It returns how many nodes
// it applied. On a storage error the in-memory state is reloaded.
func (d *DAG) apply(ix *indexState, queue []*logState) (int, error) {
	if len(queue) == 0 {
		return 0, nil
	}
	return d.applyIn(ix, queue, &applier{d: d, txn: d.db.NewTransaction(true)})
}

// applyIn is apply in a's transaction, which may already hold writes (an
// Ingest's verified blocks): it commits them with the apply, or discards
// them with it on a storage error.
func (d *DAG) applyIn(ix *indexState, queue []*logState, a *applier) (int, error) {
	n, err := d.applyLoop(ix, queue, a)
	for _, l := range queue {
		l.fresh = nil
	}
	if err == nil {
		if err = a.txn.Commit(); err == nil {
			a.committed()
			err = d.recordLower(ix)
		}
	} else {
		a.txn.Discard()
	}
	if n > 0 {
		close(ix.changed)
		ix.changed = make(chan struct{})
	}
	if err != nil {
		if rerr := d.reload(); rerr != nil {
			return n, fmt.Errorf("%w (and reloading state: %v)", err, rerr)
		}
		return n, err
	}
	return n, nil
}

func (d *DAG) applyLoop(ix *indexState, queue []*logState, a *applier) (int, error) {
	applied := 0
	for len(queue) > 0 {
		l := queue[0]
		queue = queue[1:]
		lim := a.limit(l)
	log:
		for !l.broken && l.applied < lim {
			seq := l.applied
			n, id := l.fresh[seq].node, l.fresh[seq].id
			if n == nil {
				b, err := a.block(l, seq, lim)
				if err != nil {
					return applied, fmt.Errorf("reading node %d of %v: %w", seq, l.key, err)
				}
				if n, err = DecodeNode(b); err != nil {
					n = nil
				}
				id = HashNode(b)
			}
			if n == nil || n.Index != ix.key || n.Log != l.key || n.Seq != seq {
				// Ingest checks this before storing; only a damaged store gets here.
				l.broken = true
				break
			}
			for i := 0; i < len(n.Links); i++ {
				link := n.Links[i]
				st, err := d.checkLink(ix, a.txn, link)
				if err != nil {
					return applied, err
				}
				if st == linkConflict && link.Log == l.key {
					st = linkBad // its own log: no other history excuses it
				}
				switch st {
				case linkWaiting, linkConflict:
					if ok, err := d.forkEvidence(ix, l, n, link, st == linkConflict, a); err != nil {
						return applied, err
					} else if ok {
						i-- // the link's log is forked now: check it again
						continue
					}
					if w := ix.waiters[link.Log]; !slices.Contains(w, l) {
						ix.waiters[link.Log] = append(w, l)
					}
					break log
				case linkBad:
					l.broken = true
					break log
				}
			}
			if err := d.applyNode(ix, l, n, id, a); err != nil {
				return applied, err
			}
			applied++
			queue = append(queue, ix.wake(l.key)...)
			if n.Op.Kind == OpForkProof && n.Op.ForkProof != nil {
				queue = append(queue, ix.wake(n.Op.ForkProof.Log)...)
			}
		}
	}
	return applied, nil
}

// applyNode writes the apply of node n (hash id) of log l and updates the
// in-memory state.
func (d *DAG) applyNode(ix *indexState, l *logState, n *Node, id ID, a *applier) error {
	ix.counter++
	k := d.keys
	if err := a.set(k.applied(ix.key, ix.counter), appliedValue(l.key, n.Seq, id)); err != nil {
		return err
	}
	if err := a.set(k.nodeLoc(id), nodeLocValue(ix.key, l.key, n.Seq)); err != nil {
		return err
	}
	for _, link := range n.Links {
		if h, ok := ix.heads[link.Log]; ok && h.seq == link.Seq {
			delete(ix.heads, link.Log)
			if err := a.del(k.head(ix.key, link.Log)); err != nil {
				return err
			}
		}
	}
	h := headRecord{seq: n.Seq, hash: id, applySeq: ix.counter}
	ix.heads[l.key] = h
	if err := a.set(k.head(ix.key, l.key), h.encode()); err != nil {
		return err
	}
	a.done = append(a.done, doneNode{nodeRef{l.key, n.Seq}, appliedNode{id, n}})
	l.applied = n.Seq + 1
	l.lastHash = id
	ix.pending--
	if err := a.set(k.log(ix.key, l.key), l.record().encode()); err != nil {
		return err
	}
	if n.Op.Kind == OpForkProof {
		if err := d.applyForkProof(ix, n.Op.ForkProof, a); err != nil {
			return err
		}
	}
	if err := a.set(k.counter(ix.key), binary.BigEndian.AppendUint64(nil, ix.counter)); err != nil {
		return err
	}
	return a.nodeDone()
}

func (l *logState) record() logRecord {
	return logRecord{identity: l.identity, applied: l.applied, forkAt: l.forkAt, forked: l.forked, located: l.located}
}

// ForkCount is how far a forked log counts: its nodes from seq At on count
// nowhere (and links into them hold on every replica). Located says that
// a proof located where the log's histories part; until one does, nothing
// of the log counts (At 0). Every replica computes it from the fork proofs
// it applied, whatever their order: At is the lowest of the located
// proofs'.
type ForkCount struct {
	At      uint64
	Located bool
}

// ForkCountOf returns the count fp alone establishes: below its
// divergence's At, which both histories hold alike, or nothing when fp
// only shows that two heads conflict.
func ForkCountOf(fp *feedtree.ForkProof) ForkCount {
	if fp.Div != nil {
		return ForkCount{At: fp.Div.At, Located: true}
	}
	return ForkCount{}
}

// Narrows reports whether c changes cur, the count of a log already
// forked: c is located and cur is not, or c's At is lower.
func (c ForkCount) Narrows(cur ForkCount) bool {
	return c.Located && (!cur.Located || c.At < cur.At)
}

func (d *DAG) applyForkProof(ix *indexState, op *ForkProofOp, a *applier) error {
	t := ix.logs[op.Log]
	if t == nil {
		return nil // a log this replica does not know: nothing of it counts anyway
	}
	fp, err := feedtree.DecodeForkProof(op.Proof)
	if err != nil {
		return nil // DecodeNode checked it; unreachable
	}
	t.deferred = nil // the fork is public: a node held back here says no more
	// The feed keeps the proof that says most (Forks shows it to peers;
	// a failure to store it costs that only). A replica of a third history
	// that parts from the proof's below its At proves so: the append of an
	// exact point waits for the apply's commit. A coarser one (a shared
	// root that differs) only goes to the feed: counted, it would hold the
	// count below the exact point for good, so replicate first asks peers
	// to pin it down and publishes it as it is only if none does (Forks).
	_ = t.feed.AddForkProof(fp)
	if lower, err := t.feed.CheckDivergence(fp); err == nil && lower != nil {
		if lower.Div.Exact() {
			ix.lower = append(ix.lower, lowerFork{log: t, proof: lower})
		} else {
			_ = t.feed.AddForkProof(lower)
		}
	}
	if !d.markForked(t, ForkCountOf(fp)) {
		return nil
	}
	return a.set(d.keys.log(ix.key, t.key), t.record().encode())
}

// lowerFork is a fork proof this replica found while applying another
// (CheckDivergence), to record and publish once the apply commits.
type lowerFork struct {
	log   *logState
	proof *feedtree.ForkProof
}

// recordLower records the fork proofs the last apply found.
func (d *DAG) recordLower(ix *indexState) error {
	for len(ix.lower) > 0 {
		lf := ix.lower[0]
		ix.lower = ix.lower[1:]
		if _, err := d.addForkProof(ix, lf.log, lf.proof); err != nil {
			return err
		}
	}
	return nil
}

// markForked records that l is forked with count c; it reports whether
// l's count changed.
func (d *DAG) markForked(l *logState, c ForkCount) bool {
	switch {
	case !l.forked:
		l.forkAt, l.located = c.At, c.Located
	case c.Narrows(l.count()):
		l.forkAt, l.located = c.At, true
	default:
		return false
	}
	l.forked = true
	return true
}

func (l *logState) count() ForkCount { return ForkCount{At: l.forkAt, Located: l.located} }

// pastFork reports whether node seq of l counts nowhere: l is forked and
// seq at or past the length it counts up to.
func (l *logState) pastFork(seq uint64) bool { return l.forked && seq >= l.forkAt }

// wake returns the logs waiting on log (to apply again) and forgets them.
func (ix *indexState) wake(log feedtree.Key) []*logState {
	w := ix.waiters[log]
	delete(ix.waiters, log)
	return w
}

// forkEvidence looks, when node n of l cannot apply because of link, for a
// fork-proof against link's log that l itself carries: n, or one of the
// next nodes of l that this replica holds (each read once, at most
// forkScan past n). It records the fork and reports true if it finds one.
// A replica that holds the other history of an equivocating log thus
// learns the fork from the node that tells it even when that node's own
// links (or those of the nodes before it in its log) run into the history
// it lacks. It looks only when the link names another node than the one
// applied (linkConflict) or a node past every one held here (the wait
// cannot end with what is held). The fork is recorded as applying that
// node will (applyForkProof), in a's transaction.
func (d *DAG) forkEvidence(ix *indexState, l *logState, n *Node, link Link, conflict bool, a *applier) (bool, error) {
	t := ix.logs[link.Log]
	if t == nil || !conflict && t.applied < t.held {
		return false, nil
	}
	// DecodeNode verified a fork-proof op's proof. On a log known forked,
	// only one that lowers its count can free the link.
	proves := func(n *Node) bool {
		if n.Op.Kind != OpForkProof || n.Op.ForkProof == nil || n.Op.ForkProof.Log != link.Log {
			return false
		}
		if !t.forked {
			return true
		}
		fp, err := feedtree.DecodeForkProof(n.Op.ForkProof.Proof)
		return err == nil && ForkCountOf(fp).Narrows(t.count())
	}
	op := n.Op.ForkProof
	if !proves(n) {
		op = nil
		end := min(l.held, n.Seq+1+forkScan)
		for seq := max(n.Seq+1, l.scanned); seq < end && op == nil; seq++ {
			b, err := l.feed.Get(seq)
			if err != nil {
				return false, fmt.Errorf("reading node %d of %v: %w", seq, l.key, err)
			}
			if m, err := DecodeNode(b); err == nil && proves(m) {
				op = m.Op.ForkProof
			}
			l.scanned = seq + 1
		}
	}
	if op == nil {
		return false, nil
	}
	return true, d.applyForkProof(ix, op, a)
}

// forkScan bounds how many held nodes past a conflicting link forkEvidence
// reads: a detector appends its fork-proof node right after it finds the
// fork, a few nodes at most after the last that linked into its history.
const forkScan = 64

// reload rebuilds the in-memory state from badger after a failed apply.
func (d *DAG) reload() error {
	for _, ix := range d.indexes {
		close(ix.changed) // wake WaitApplied callers; they re-read the new state
	}
	d.closeFeeds()
	d.indexes = make(map[IndexKey]*indexState)
	d.logs = make(map[feedtree.Key]*logState)
	if err := d.load(); err != nil {
		return err
	}
	d.kickAll() // load queued whatever the feeds hold beyond what is applied
	return nil
}
