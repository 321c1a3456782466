package dag

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"

	"indexd/feedtree"
)

// Append writes ops as new nodes of a's author log for idx and applies them.
// If the log is new it first registers it and writes its certificate as
// block 0. All blocks go into one feed Append (one signature). Node k links
// node k−1 of the log first, then the current heads of the index, oldest
// applied first, up to MaxLinks per node; heads beyond the cap are linked by
// the following nodes of the batch or by later writes. It returns the IDs
// of the new nodes (for a put, the entry id).
func (d *DAG) Append(ctx context.Context, idx IndexKey, a Author, ops ...Op) ([]ID, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		return nil, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	ix, err := d.index(idx)
	if err != nil {
		return nil, err
	}
	return d.appendLocked(ix, a, ops)
}

func (d *DAG) appendLocked(ix *indexState, a Author, ops []Op) ([]ID, error) {
	if a.Identity.IsZero() {
		return nil, errors.New("dag: append with a zero identity key")
	}
	logKey := a.Log.Public()
	if logKey.IsZero() {
		return nil, errors.New("dag: append with a zero log key pair")
	}
	id := a.Identity.Public()
	l := d.logs[logKey]
	if l != nil && l.ix != ix {
		return nil, fmt.Errorf("appending to %v: %w", logKey, ErrWrongIndex)
	}
	if l != nil && l.identity != id {
		return nil, fmt.Errorf("dag: log %v belongs to %v, not %v", logKey, l.identity, id)
	}
	if l == nil {
		f, err := feedtree.OpenFeed(d.store, logKey, &a.Log)
		if err != nil {
			return nil, fmt.Errorf("dag: opening log %v: %w", logKey, err)
		}
		if l, err = d.register(ix, logKey, id, f); err != nil {
			f.Close()
			return nil, err
		}
		l.held = f.Length()
	} else if !l.feed.Writable() {
		l.feed.Close()
		f, err := feedtree.OpenFeed(d.store, logKey, &a.Log)
		if err != nil {
			return nil, fmt.Errorf("dag: opening log %v: %w", logKey, err)
		}
		l.feed = f
	}
	if l.forked {
		return nil, fmt.Errorf("appending to %v: %w", logKey, ErrForked)
	}
	if l.held > l.applied {
		if _, err := d.apply(ix, []*logState{l}); err != nil {
			return nil, err
		}
		l = d.logs[logKey]
	}
	if l.broken || l.held > l.applied {
		return nil, fmt.Errorf("dag: log %v holds nodes it cannot apply", logKey)
	}

	var blocks [][]byte
	if l.held == 0 {
		c, err := NewCert(a.Identity, ix.key, logKey, d.opts.Now().UnixMilli())
		if err != nil {
			return nil, err
		}
		b, err := c.Marshal()
		if err != nil {
			return nil, err
		}
		blocks = append(blocks, b)
	}
	heads := d.headsByAge(ix, logKey)
	seq := max(l.held, 1)
	prev := Link{Log: logKey, Seq: l.applied - 1, Hash: l.lastHash}
	// A node's time is never earlier than a node it links: later writes
	// then win "highest (time, hash)" rules even when this device's clock
	// runs behind the writer it merges (a Lamport-style floor).
	now := max(d.opts.Now().UnixMilli(), d.linkedTime(ix, heads, l)+1)
	ids := make([]ID, 0, len(ops))
	var fresh map[uint64]freshNode
	for _, op := range ops {
		n := &Node{Index: ix.key, Log: logKey, Seq: seq, Time: now, Op: op}
		if seq >= 2 {
			n.Links = append(n.Links, prev)
		}
		take := min(len(heads), MaxLinks-len(n.Links))
		sel := heads[:take]
		heads = heads[take:]
		slices.SortFunc(sel, func(a, b Link) int { return keyCmp(a.Log, b.Log) })
		n.Links = append(n.Links, sel...)
		b, err := n.Marshal()
		if err != nil {
			return nil, err
		}
		h := HashNode(b)
		if fresh == nil {
			fresh = make(map[uint64]freshNode, len(ops))
		}
		fresh[seq] = freshNode{n, h}
		ids = append(ids, h)
		blocks = append(blocks, b)
		prev = Link{Log: logKey, Seq: seq, Hash: h}
		seq++
	}
	if _, err := l.feed.Append(blocks...); err != nil {
		return nil, fmt.Errorf("dag: appending to log %v: %w", logKey, err)
	}
	l.held += uint64(len(blocks))
	l.fresh = fresh
	ix.pending += len(ops)
	if _, err := d.apply(ix, []*logState{l}); err != nil {
		return ids, err
	}
	if l = d.logs[logKey]; l.applied != l.held {
		return ids, fmt.Errorf("dag: applied %d of %d blocks of own log %v", l.applied, l.held, logKey)
	}
	return ids, nil
}

// linkedTime is the latest time among the heads and this log's last node,
// or 0 when none can be read.
func (d *DAG) linkedTime(ix *indexState, heads []Link, own *logState) int64 {
	var t int64
	read := func(l *logState, seq uint64, h ID) {
		if l == nil || h.IsZero() {
			return
		}
		if n, err := d.readNode(l, seq, h); err == nil {
			t = max(t, n.Time)
		}
	}
	if own.applied >= 2 {
		read(own, own.applied-1, own.lastHash)
	}
	for _, h := range heads {
		read(d.logs[h.Log], h.Seq, h.Hash)
	}
	return t
}

// headsByAge returns the heads of ix except the one of log skip, oldest
// applied first.
func (d *DAG) headsByAge(ix *indexState, skip feedtree.Key) []Link {
	type aged struct {
		link Link
		at   uint64
	}
	hs := make([]aged, 0, len(ix.heads))
	for log, h := range ix.heads {
		if log != skip {
			hs = append(hs, aged{Link{Log: log, Seq: h.seq, Hash: h.hash}, h.applySeq})
		}
	}
	slices.SortFunc(hs, func(a, b aged) int {
		if a.at != b.at {
			if a.at < b.at {
				return -1
			}
			return 1
		}
		return keyCmp(a.link.Log, b.link.Log)
	})
	out := make([]Link, len(hs))
	for i, h := range hs {
		out[i] = h.link
	}
	return out
}

// Ingest takes a verified range of author log log of idx from replication:
// p proves blocks [p.Start, p.End) against one signed head. The log must be
// new with the range starting at its certificate (block 0, checked against
// idx and log), or the range must start within the prefix already held.
// Every node in the range is decoded and checked (index, log, seq, first
// link) before anything is stored; then the feed stores the range
// atomically and every node now applicable is applied. Nodes waiting for
// missing ancestors stay pending (see Missing), at most Options.MaxPending
// per index (ErrPendingFull beyond). A conflicting signed head returns the
// *feedtree.ForkError after recording the fork and, with
// Options.ForkAuthor, appending a fork-proof node. It returns how many
// nodes were applied, in any log.
func (d *DAG) Ingest(ctx context.Context, idx IndexKey, log feedtree.Key, p *feedtree.Proof, blocks [][]byte) (int, error) {
	n, errs := d.IngestMany(ctx, idx, []Range{{Log: log, Proof: p, Blocks: blocks}})
	return n, errs[0]
}

// Range is one verified-on-ingest run of blocks of an author log: blocks
// [Proof.Start, Proof.End) and the proof against a signed head.
type Range struct {
	Log    feedtree.Key
	Proof  *feedtree.Proof
	Blocks [][]byte
}

// IngestMany is Ingest for several ranges of index idx, in order, with one
// badger commit for all of them instead of one each: a fresh peer's
// catch-up arrives as many small ranges (one per run of a log's nodes in
// time order). errs[i] is what Ingest would have returned for rs[i]; a range
// that fails leaves the others as they are. It returns how many nodes were
// applied, in any log.
func (d *DAG) IngestMany(ctx context.Context, idx IndexKey, rs []Range) (int, []error) {
	errs := make([]error, len(rs))
	fill := func(err error) (int, []error) {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return 0, errs
	}
	if err := ctx.Err(); err != nil {
		return fill(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	ix, err := d.index(idx)
	if err != nil {
		return fill(err)
	}
	a := &applier{d: d, txn: d.db.NewTransaction(true)}
	applied := 0
	var storeErr error
	for i, r := range rs {
		var n int
		n, errs[i], storeErr = d.ingestLocked(ix, r, a)
		applied += n
		if storeErr == nil && a.staged > maxStagedBytes {
			// Keep the transaction well under badger's size limit, which
			// applier.set does not handle; a range boundary is a node
			// boundary, where a commit leaves a consistent state.
			storeErr = a.commit()
		}
		if storeErr != nil {
			break
		}
	}
	for _, l := range a.touched {
		l.fresh = nil
	}
	if storeErr == nil {
		if storeErr = a.txn.Commit(); storeErr == nil {
			a.committed()
		}
	}
	a.txn.Discard()
	d.store.settle()
	if storeErr != nil {
		// Nothing since the last commit is stored: state from badger (reload
		// wakes WaitApplied callers).
		if rerr := d.reload(); rerr != nil {
			storeErr = fmt.Errorf("%w (and reloading state: %v)", storeErr, rerr)
		}
		for i := range errs {
			errs[i] = storeErr
		}
		return 0, errs
	}
	if applied > 0 {
		close(ix.changed)
		ix.changed = make(chan struct{})
	}
	if err := d.recordLower(ix); err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	return applied, errs
}

// maxStagedBytes bounds the feed records one IngestMany transaction
// gathers before it commits at the next range boundary.
const maxStagedBytes = 512 << 10

// ingestLocked checks range r, stages its blocks in a's transaction and
// applies what it makes applicable there (see IngestMany). err is the
// range's own failure, which stores nothing of it; storeErr a storage
// failure, after which a's transaction must be discarded.
func (d *DAG) ingestLocked(ix *indexState, r Range, a *applier) (applied int, err, storeErr error) {
	c, err := d.checkRange(ix, r)
	if err != nil {
		return 0, err, nil
	}
	idx, log, p, blocks, l := ix.key, r.Log, r.Proof, r.Blocks, c.l
	var prev ID
	var fresh map[uint64]freshNode
	for i, b := range blocks {
		seq := p.Start + uint64(i)
		if seq == 0 {
			continue
		}
		n, err := DecodeNode(b)
		if err != nil {
			return 0, fmt.Errorf("ingesting node %d of %v: %w", seq, log, err), nil
		}
		if n.Index != idx || n.Log != log || n.Seq != seq {
			return 0, fmt.Errorf("ingesting node %d of %v: it names index %v, log %v, seq %d: %w", seq, log, n.Index, n.Log, n.Seq, ErrBadNode), nil
		}
		if seq >= 2 {
			if i == 0 && l != nil && l.applied == seq {
				prev = l.lastHash // node seq-1 is the last applied
			} else if fn, ok := l.freshNode(seq - 1); i == 0 && ok {
				prev = fn.id // staged by an earlier range of this batch
			} else if i == 0 {
				pb, err := l.feed.Get(seq - 1)
				if err != nil {
					return 0, fmt.Errorf("reading node %d of %v: %w", seq-1, log, err), nil
				}
				prev = HashNode(pb)
			}
			if n.Links[0].Hash != prev {
				if i == 0 && l != nil {
					err, storeErr := d.otherHistory(ix, l, p, seq, a)
					return 0, err, storeErr
				}
				return 0, fmt.Errorf("ingesting node %d of %v: first link does not hash-match node %d: %w", seq, log, seq-1, ErrBadNode), nil
			}
		}
		prev = HashNode(b)
		if fresh == nil {
			fresh = make(map[uint64]freshNode, len(blocks))
		}
		fresh[seq] = freshNode{n, prev}
	}
	newHeld := max(c.held, p.End)
	var appliedTo uint64 = 1
	if l != nil {
		appliedTo = l.applied
	}
	before, after := pendingOf(c.held, appliedTo), pendingOf(newHeld, appliedTo)
	if ix.blocked()+after-before > d.opts.MaxPending && !d.unblocks(ix, p.Start, appliedTo, blocks) {
		return 0, fmt.Errorf("ingesting %v: %d pending nodes, limit %d: %w", log, ix.blocked()+after-before, d.opts.MaxPending, ErrPendingFull), nil
	}
	if l, err, storeErr = d.putRange(ix, r, c, a); err != nil || storeErr != nil {
		return 0, err, storeErr
	}
	// The nodes stay decoded until the batch commits: a later range may
	// unblock them, and their blocks are not readable from the store yet.
	if l.fresh == nil {
		l.fresh = fresh
	} else {
		maps.Copy(l.fresh, fresh)
	}
	a.touched = append(a.touched, l)
	n, err := d.applyLoop(ix, []*logState{l}, a)
	if err != nil {
		return n, nil, err
	}
	return n, nil, nil
}

// otherHistory says what a range of l under p.Head is whose first node,
// seq, does not follow node seq-1 as held here. Under a head no longer
// than this replica's the head shows it: a fork (recorded, as putRange
// records one), else the node is invalid. Under a longer head nothing here
// can tell (ErrOtherHistory): the range would come as an upgrade that
// trusts this replica's roots, so the peer asks for a proof that stands on
// its own (CheckFork). Dear future reader: judged by the node alone, an
// honest peer relaying the author's other history was penalised for it.
func (d *DAG) otherHistory(ix *indexState, l *logState, p *feedtree.Proof, seq uint64, a *applier) (err, storeErr error) {
	if p.Head.Length > l.feed.Length() {
		return fmt.Errorf("ingesting node %d of %v: it follows another node %d than the one held: %w", seq, l.key, seq-1, ErrOtherHistory), nil
	}
	herr := l.feed.PutHead(p.Head, nil)
	var fe *feedtree.ForkError
	if !errors.As(herr, &fe) {
		if herr != nil && !errors.Is(herr, feedtree.ErrForked) {
			return fmt.Errorf("ingesting %v: %w", l.key, herr), nil
		}
		return fmt.Errorf("ingesting node %d of %v: first link does not hash-match node %d: %w", seq, l.key, seq-1, ErrBadNode), nil
	}
	if cerr := a.commit(); cerr != nil {
		return herr, cerr
	}
	return fmt.Errorf("ingesting node %d of %v: %w", seq, l.key, d.forkFound(ix, l, herr)), nil
}

// checkedRange is what checkRange learnt of a range: its log (nil for a
// log this replica does not know yet), the contiguous blocks held before
// it, and the certificate the range starts with for a new log.
type checkedRange struct {
	l    *logState
	held uint64
	cert *Cert
}

// checkRange checks what Ingest and Store check of range r of ix before
// touching its blocks: the proof fits them, the log writes to ix, a new log
// starts with a valid certificate, the range starts within the held prefix
// and the log is not stuck on an invalid node.
func (d *DAG) checkRange(ix *indexState, r Range) (checkedRange, error) {
	idx, log, p, blocks := ix.key, r.Log, r.Proof, r.Blocks
	if p == nil || p.End < p.Start || uint64(len(blocks)) != p.End-p.Start {
		return checkedRange{}, fmt.Errorf("dag: ingest: %d blocks for the proof's range: %w", len(blocks), feedtree.ErrBadProof)
	}
	var c checkedRange
	c.l = d.logs[log]
	if c.l != nil && c.l.ix != ix {
		return c, fmt.Errorf("ingesting %v: %w", log, ErrWrongIndex)
	}
	if c.l != nil {
		c.held = c.l.held
	}
	if c.held == 0 {
		if p.Start != 0 || len(blocks) == 0 {
			return c, fmt.Errorf("ingesting %v from block %d: no certificate yet: %w", log, p.Start, ErrBadCert)
		}
		var err error
		if c.cert, err = checkCert(blocks[0], idx, log); err != nil {
			return c, err
		}
		if c.l != nil && c.l.identity != c.cert.Identity {
			return c, fmt.Errorf("ingesting %v: certificate of another identity: %w", log, ErrBadCert)
		}
	}
	if p.Start > c.held {
		return c, fmt.Errorf("ingesting %v blocks [%d,%d) with %d held: %w", log, p.Start, p.End, c.held, ErrNotContiguous)
	}
	if c.l != nil && c.l.broken {
		return c, fmt.Errorf("ingesting %v: log is stuck on an invalid node: %w", log, ErrBadNode)
	}
	return c, nil
}

// putRange verifies range r (checked by checkRange as c) against its
// signed head and stages its blocks in a's transaction, registering the
// log if it is new, and returns the log. err is the range's own failure,
// which stages nothing of it (a fork it reveals is recorded); storeErr a
// storage failure.
func (d *DAG) putRange(ix *indexState, r Range, c checkedRange, a *applier) (l *logState, err, storeErr error) {
	log, p, blocks := r.Log, r.Proof, r.Blocks
	l = c.l
	var f *feedtree.Feed
	if l != nil {
		f = l.feed
	} else if f, err = feedtree.OpenFeed(d.store, log, nil); err != nil {
		return nil, fmt.Errorf("dag: opening log %v: %w", log, err), nil
	}
	// The feed's writes go into a's transaction (see stagingStore). The
	// log holds every block before p.Start (held is contiguous and the
	// range starts within it), so the feed need not store the parents that
	// join the range to them.
	d.store.a = a
	err = f.PutContiguous(p, blocks)
	d.store.a = nil
	if err != nil {
		// Put stages nothing of a range that fails; a fork it detected is
		// recorded in the feed's keyspace and must be kept, and recordFork
		// may append a node with its own transaction: commit what is
		// staged first.
		if fe := (*feedtree.ForkError)(nil); errors.As(err, &fe) {
			if cerr := a.commit(); cerr != nil {
				return nil, err, cerr
			}
			if l != nil {
				err = d.forkFound(ix, l, err)
			}
		}
		if l == nil {
			f.Close()
		}
		return nil, fmt.Errorf("ingesting %v blocks [%d,%d): %w", log, p.Start, p.End, err), nil
	}
	if l == nil {
		if l, err = d.register(ix, log, c.cert.Identity, f); err != nil {
			f.Close()
			return nil, nil, err // the staged blocks belong to a feed no one holds
		}
	}
	before := pendingOf(l.held, l.applied)
	l.held = max(c.held, p.End)
	for l.feed.Has(l.held) {
		l.held++
	}
	ix.pending += pendingOf(l.held, l.applied) - before
	return l, nil, nil
}

// freshNode returns node seq of l if an Ingest in progress holds it decoded.
func (l *logState) freshNode(seq uint64) (freshNode, bool) {
	if l == nil {
		return freshNode{}, false
	}
	fn, ok := l.fresh[seq]
	return fn, ok && fn.node != nil
}

// unblocks reports whether the next node to apply of a log (seq applied)
// is among blocks (which start at seq start) and has every link satisfied,
// so that a range piling onto a full pending set will at least partly apply.
func (d *DAG) unblocks(ix *indexState, start, applied uint64, blocks [][]byte) bool {
	if applied < start || applied >= start+uint64(len(blocks)) {
		return false
	}
	n, err := DecodeNode(blocks[applied-start])
	if err != nil {
		return false
	}
	ok := true
	_ = d.db.View(func(txn *badger.Txn) error {
		for _, l := range n.Links {
			if st, err := d.checkLink(ix, txn, l); err != nil || st != linkOK {
				ok = false
				return nil
			}
		}
		return nil
	})
	return ok
}

func pendingOf(held, applied uint64) int {
	if held > applied {
		return int(held - applied)
	}
	return 0
}

func checkCert(b []byte, idx IndexKey, log feedtree.Key) (*Cert, error) {
	c, err := DecodeCert(b)
	if err != nil {
		return nil, fmt.Errorf("certificate of %v: %v: %w", log, err, ErrBadCert)
	}
	if c.Index != idx || c.Log != log {
		return nil, fmt.Errorf("certificate of %v names index %v, log %v: %w", log, c.Index, c.Log, ErrBadCert)
	}
	if err := c.Verify(); err != nil {
		return nil, fmt.Errorf("certificate of %v: %v: %w", log, err, ErrBadCert)
	}
	return c, nil
}

// CheckFork checks a head of log longer than this replica's, whose upgrade
// did not fit the history held here, against that history: p proves
// blocks from the log's length on for a verifier that trusts nothing
// (feedtree.Feed.CheckFork). A fork is recorded as Ingest records one and
// returned as *feedtree.ForkError; nil means the head extends this
// history (or the log is not held here).
func (d *DAG) CheckFork(idx IndexKey, log feedtree.Key, p *feedtree.Proof, blocks [][]byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	ix, err := d.index(idx)
	if err != nil {
		return err
	}
	l := ix.logs[log]
	if l == nil {
		return nil
	}
	return d.forkFound(ix, l, l.feed.CheckFork(p, blocks))
}

// forkFound records the fork of l that err reveals (a *feedtree.ForkError)
// with recordFork, and returns err, noting a failure to record it. Other
// errors pass through.
func (d *DAG) forkFound(ix *indexState, l *logState, err error) error {
	var fe *feedtree.ForkError
	if !errors.As(err, &fe) {
		return err
	}
	if ferr := d.recordFork(ix, l, fe); ferr != nil {
		return fmt.Errorf("%w (recording it: %v)", err, ferr)
	}
	return err
}

// Fork is a fork this replica found in an author log (the proof the log's
// feed recorded), to show peers.
type Fork struct {
	Log   feedtree.Key
	Proof *feedtree.ForkProof
	// Counted is how far the log counts here; a Proof whose count Narrows
	// it is not counted yet (a coarse point waiting to be pinned down).
	Counted ForkCount
	// Deferred: this replica holds back its fork-proof node while a peer
	// is asked where the histories part (Options.DeferUnlocated).
	Deferred bool
}

// Forks returns the forks this replica found in the author logs of idx.
func (d *DAG) Forks(idx IndexKey) ([]Fork, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ix, err := d.index(idx)
	if err != nil {
		return nil, err
	}
	var out []Fork
	for _, l := range ix.logs {
		if fp := l.feed.Fork(); fp != nil {
			out = append(out, Fork{Log: l.key, Proof: fp, Counted: l.count(), Deferred: l.deferred != nil})
		}
	}
	slices.SortFunc(out, func(a, b Fork) int { return keyCmp(a.Log, b.Log) })
	return out, nil
}

// AddForkProof records a fork of log that a peer found, as if this replica
// had found it (recordFork): fp must verify against log. It reports false,
// doing nothing, when the log is not held here or fp does not lower how
// far it counts.
func (d *DAG) AddForkProof(idx IndexKey, log feedtree.Key, fp *feedtree.ForkProof) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ix, err := d.index(idx)
	if err != nil {
		return false, err
	}
	l := ix.logs[log]
	if l == nil {
		return false, nil
	}
	return d.addForkProof(ix, l, fp)
}

// addForkProof is AddForkProof for log l of ix. Caller holds d.mu.
func (d *DAG) addForkProof(ix *indexState, l *logState, fp *feedtree.ForkProof) (bool, error) {
	if l.forked && !ForkCountOf(fp).Narrows(l.count()) {
		return false, nil
	}
	if err := l.feed.AddForkProof(fp); err != nil {
		return false, err
	}
	return true, d.recordFork(ix, l, &feedtree.ForkError{Proof: *fp})
}

// recordFork marks l forked and, when Options.ForkAuthor gives a local
// author, appends a fork-proof node so every replica learns it.
func (d *DAG) recordFork(ix *indexState, l *logState, fe *feedtree.ForkError) error {
	if !d.markForked(l, ForkCountOf(&fe.Proof)) {
		return nil // a fork-proof node already says as much (or this replica appended one)
	}
	if err := d.db.Update(func(txn *badger.Txn) error {
		return txn.Set(d.keys.log(ix.key, l.key), l.record().encode())
	}); err != nil {
		return err
	}
	// Logs that waited on l's other history apply now (checkLink).
	if _, err := d.apply(ix, ix.wake(l.key)); err != nil {
		return err
	}
	if d.opts.ForkAuthor == nil {
		return nil
	}
	a, ok := d.opts.ForkAuthor(ix.key)
	if !ok || a.Log.Public() == l.key {
		return nil
	}
	pb, err := fe.Proof.AppendBinary(nil)
	if err != nil {
		return fmt.Errorf("encoding fork proof: %w", err)
	}
	op := &ForkProofOp{Log: l.key, Proof: pb}
	if d.opts.DeferUnlocated && fe.Proof.Div == nil {
		l.deferred, l.deferredAt = op, time.Now()
		return nil
	}
	l.deferred = nil
	_, err = d.appendLocked(ix, a, []Op{{Kind: OpForkProof, ForkProof: op}})
	return err
}

// FlushForks appends the fork-proof nodes of idx held back
// (Options.DeferUnlocated) for at least age: no peer said where those
// histories part in time.
func (d *DAG) FlushForks(idx IndexKey, age time.Duration) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ix, err := d.index(idx)
	if err != nil {
		return 0, err
	}
	var ops []Op
	for _, l := range ix.logs {
		if l.deferred != nil && time.Since(l.deferredAt) >= age {
			ops = append(ops, Op{Kind: OpForkProof, ForkProof: l.deferred})
			l.deferred = nil
		}
	}
	if len(ops) == 0 || d.opts.ForkAuthor == nil {
		return 0, nil
	}
	// Only now: ForkAuthor may create this replica's log in the index.
	a, ok := d.opts.ForkAuthor(ix.key)
	if !ok {
		return 0, nil
	}
	slices.SortFunc(ops, func(x, y Op) int { return keyCmp(x.ForkProof.Log, y.ForkProof.Log) })
	_, err = d.appendLocked(ix, a, ops)
	return len(ops), err
}
