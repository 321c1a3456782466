package index

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"golang.org/x/crypto/blake2b"
	"maps"
	"math"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"indexd/dag"
	"indexd/feedtree"
)

// Sync materialises the nodes of idx the DAG applied since the last Sync,
// in the DAG's apply order, and returns how many entries changed. It
// commits in large badger transactions, each with the cursor, so a crash
// loses no work and repeats none. It returns when caught up with what
// d.Applied returned, or on ctx's end (the work committed so far stays).
// Applying a fork-proof that changes which nodes count triggers a Rebuild.
func (x *Index) Sync(ctx context.Context, idx dag.IndexKey) (changed int, err error) {
	changed, _, err = x.SyncSome(ctx, idx, 0)
	return changed, err
}

// SyncSome is Sync that stops, once its work is committed, after about
// nodes applied nodes (rounded up to whole chunks of Options.ChunkNodes;
// nodes ≤ 0: no limit). more reports that it stopped there, not caught up,
// so that a caller can hand what changed so far to the next stage and come
// back. A Rebuild it triggers runs to the end.
func (x *Index) SyncSome(ctx context.Context, idx dag.IndexKey, nodes int) (changed int, more bool, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	var pending bool
	err = x.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(x.k.rebuild(idx))
		pending = err == nil
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return 0, false, err
	}
	if pending {
		changed, err = x.rebuildLocked(ctx, idx)
		return changed, false, err
	}
	return x.syncLocked(ctx, idx, nodes)
}

// Rebuild drops the materialised state of idx and builds it again from every
// node the DAG applied, with the fork set computed first from all applied
// fork-proof nodes (so a forked log's nodes from the fork length on count
// nowhere, whatever the order). Every entry that existed before or after is
// reported in Changes. A crash mid-way resumes at the next Sync.
func (x *Index) Rebuild(ctx context.Context, idx dag.IndexKey) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	_, err := x.rebuildLocked(ctx, idx)
	return err
}

func (x *Index) rebuildLocked(ctx context.Context, idx dag.IndexKey) (int, error) {
	x.inRebuild.Store(&idx)
	defer x.inRebuild.Store(nil)
	if err := x.db.Update(func(txn *badger.Txn) error { return txn.Set(x.k.rebuild(idx), nil) }); err != nil {
		return 0, err
	}
	// Was-records of a rebuild a crash cut short describe entries that may
	// be gone: only those of the entries present now count.
	if err := x.deleteWhere(x.k.idxTag(tagWas, idx, 0), nil); err != nil {
		return 0, err
	}
	// The fork set, from every applied fork proof.
	forks := map[feedtree.Key]dag.ForkCount{}
	for after := uint64(0); ; {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		as, err := x.d.Applied(idx, after, x.opts.ChunkNodes)
		if err != nil {
			return 0, err
		}
		if len(as) == 0 {
			break
		}
		for _, a := range as {
			if log, c, ok := forkOf(a.Node); ok {
				if cur, ok := forks[log]; !ok || c.Narrows(cur) {
					forks[log] = c
				}
			}
		}
		after = as[len(as)-1].Seq
	}
	// Old entries go away; each leaves a change-of record (id → seq of its
	// change record) that the sync below consumes when it writes the entry
	// again, so that the change log keeps one record per id. The records
	// left at the end are entries that no longer exist: they are noted as
	// changed then. A crash before the end leaves the marker, and the next
	// Sync starts the rebuild again from the records already written.
	wb := x.db.NewWriteBatch()
	defer wb.Cancel()
	err := x.db.View(func(txn *badger.Txn) error {
		prefix := x.k.idxTag(tagEntry, idx, 0)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != len(prefix)+32 {
				continue
			}
			id := dag.IDFromBytes([32]byte(k[len(prefix):]))
			err := it.Item().Value(func(v []byte) error {
				seq, b, err := splitEntryValue(v)
				if err != nil {
					return nil // a corrupt entry: nothing of it to keep
				}
				if err := wb.Set(x.k.changeOf(idx, id), u64(seq)); err != nil {
					return err
				}
				if err := wb.Set(x.k.was(idx, id), wasValue(seq, b)); err != nil {
					return err
				}
				e, err := DecodeEntry(b)
				if err != nil {
					return nil
				}
				for _, ih := range [][]byte{e.InfohashV1, e.InfohashV2} {
					if len(ih) > 0 {
						if err := wb.Delete(x.k.infohash(ih, id)); err != nil {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	x.written.Clear()
	defer x.wrote()
	if err := wb.Flush(); err != nil {
		return 0, err
	}
	for _, t := range []byte{tagEntry, tagRev, tagClock, tagGrant, tagFork, tagStats, tagAuthor, tagCursor} {
		if err := x.deleteWhere(x.k.idxTag(t, idx, 0), nil); err != nil {
			return 0, err
		}
	}
	err = x.db.Update(func(txn *badger.Txn) error {
		for log, c := range forks {
			if err := txn.Set(x.k.fork(idx, log), u64(forkValue(c))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	x.rebuilding = true
	changed, _, err := x.syncLocked(ctx, idx, 0)
	x.rebuilding = false
	if err != nil {
		return changed, err
	}
	// What is left of the change-of records: entries gone.
	var gone []Change
	err = x.db.View(func(txn *badger.Txn) error {
		return eachU64(txn, x.k.idxTag(tagChangeOf, idx, 0), "change-of", func(k []byte, seq uint64) error {
			if len(k) == 32 {
				gone = append(gone, Change{Seq: seq, ID: dag.IDFromBytes([32]byte(k))})
			}
			return nil
		})
	})
	if err != nil {
		return changed, err
	}
	s := x.newSyncer(idx, nil)
	defer s.discard()
	for _, c := range gone {
		if _, err := s.noteChange(c.ID, c.Seq); err != nil {
			return changed, err
		}
		if err := s.del(x.k.changeOf(idx, c.ID)); err != nil {
			return changed, err
		}
		if s.full() {
			if err := s.commit(); err != nil {
				return changed, err
			}
		}
	}
	if err := s.commit(); err != nil {
		return changed, err
	}
	if err := x.deleteWhere(x.k.idxTag(tagWas, idx, 0), nil); err != nil {
		return changed, err
	}
	if err := x.db.Update(func(txn *badger.Txn) error { return txn.Delete(x.k.rebuild(idx)) }); err != nil {
		return changed, err
	}
	return changed + len(gone), nil
}

// forkOf returns the log and fork count a fork-proof node establishes, as
// dag counts it (dag.ForkCountOf).
func forkOf(n *dag.Node) (feedtree.Key, dag.ForkCount, bool) {
	if n.Op.Kind != dag.OpForkProof || n.Op.ForkProof == nil {
		return feedtree.Key{}, dag.ForkCount{}, false
	}
	fp, err := feedtree.DecodeForkProof(n.Op.ForkProof.Proof)
	if err != nil {
		return feedtree.Key{}, dag.ForkCount{}, false
	}
	return n.Op.ForkProof.Log, dag.ForkCountOf(fp), true
}

// forkValue is how a fork count is stored: 0 while no proof located where
// the histories part, else At+1.
func forkValue(c dag.ForkCount) uint64 {
	if !c.Located {
		return 0
	}
	return c.At + 1
}

func forkCountOf(v uint64) dag.ForkCount {
	if v == 0 {
		return dag.ForkCount{}
	}
	return dag.ForkCount{At: v - 1, Located: true}
}

func (x *Index) syncLocked(ctx context.Context, idx dag.IndexKey, limit int) (int, bool, error) {
	m, err := x.d.Manifest(idx)
	if err != nil {
		return 0, false, err
	}
	changed := 0
	oneByOne := false // after ErrTxnTooBig: commit after every node
	for {
		s := x.newSyncer(idx, m)
		s.limit = limit
		n, rebuild, err := s.run(ctx, oneByOne)
		s.discard()
		changed += n
		if errors.Is(err, badger.ErrTxnTooBig) && !oneByOne {
			oneByOne = true
			continue
		}
		if err != nil {
			return changed, false, err
		}
		if rebuild {
			n, err := x.rebuildLocked(ctx, idx)
			return changed + n, false, err
		}
		return changed, s.stopped, nil
	}
}

// syncer applies nodes of one index inside one badger transaction at a
// time, reading its own writes.
type syncer struct {
	x        *Index
	idx      dag.IndexKey
	allow    bool
	creator  dag.Identity
	txn      *badger.Txn
	bytes    int64
	count    int64
	cursor   uint64
	forks    map[feedtree.Key]dag.ForkCount
	stats    statsRecord
	ctr      uint64 // change counter
	loaded   bool
	changes  map[dag.ID]bool   // entries changed in this transaction
	written  map[dag.ID]*Entry // entries written in this transaction, for Index.written
	commited int               // entries changed in committed transactions
	rebuild  bool              // a Rebuild runs: change-of records hold old change seqs
	limit    int               // run stops after about this many nodes (0: none)
	stopped  bool              // run stopped at limit, not caught up
}

func (x *Index) newSyncer(idx dag.IndexKey, m *dag.Manifest) *syncer {
	s := &syncer{x: x, idx: idx, txn: x.db.NewTransaction(true), changes: map[dag.ID]bool{}, written: map[dag.ID]*Entry{},
		rebuild: x.rebuilding}
	if m != nil {
		s.allow = m.Policy == dag.PolicyAllowlist
		s.creator = m.Creator
	}
	return s
}

func (s *syncer) discard() { s.txn.Discard() }

// load reads the cursor, counters and fork set.
func (s *syncer) load() error {
	var err error
	if s.cursor, err = s.x.readCursor(s.txn, s.idx); err != nil {
		return err
	}
	v, err := getValue(s.txn, s.x.k.stats(s.idx))
	if err == nil {
		if s.stats, err = decodeStats(v); err != nil {
			return err
		}
	} else if !errors.Is(err, badger.ErrKeyNotFound) {
		return err
	}
	s.forks = map[feedtree.Key]dag.ForkCount{}
	return eachU64(s.txn, s.x.k.idxTag(tagFork, s.idx, 0), "fork", func(k []byte, at uint64) error {
		log, err := feedtree.KeyFromBytes(k)
		if err != nil {
			return fmt.Errorf("index: corrupt fork key: %w", err)
		}
		s.forks[log] = forkCountOf(at)
		return nil
	})
}

// eachU64 calls fn with the rest of each key under prefix and its value,
// an integer record named what, in key order.
func eachU64(txn *badger.Txn, prefix []byte, what string, fn func(rest []byte, v uint64) error) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		k := it.Item().Key()
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return err
		}
		n, err := decodeU64(what, v)
		if err != nil {
			return err
		}
		if err := fn(k[len(prefix):], n); err != nil {
			return err
		}
	}
	return nil
}

func (s *syncer) ensureCtr() error {
	if s.loaded {
		return nil
	}
	v, err := getValue(s.txn, s.x.k.changeCtr(s.idx))
	if err == nil {
		if s.ctr, err = decodeU64("change counter", v); err != nil {
			return err
		}
	} else if !errors.Is(err, badger.ErrKeyNotFound) {
		return err
	}
	s.loaded = true
	return nil
}

func (s *syncer) set(k, v []byte) error {
	s.bytes += int64(len(k) + len(v) + 32)
	s.count++
	return s.txn.Set(k, v)
}

func (s *syncer) del(k []byte) error {
	s.bytes += int64(len(k) + 32)
	s.count++
	return s.txn.Delete(k)
}

func (s *syncer) full() bool {
	return s.bytes >= s.x.opts.BatchBytes || s.count >= s.x.db.MaxBatchCount()/4
}

// commit writes the change counter and commits; the syncer continues in a
// new transaction.
func (s *syncer) commit() error {
	if s.loaded {
		if err := s.set(s.x.k.changeCtr(s.idx), u64(s.ctr)); err != nil {
			return err
		}
	}
	err := s.txn.Commit()
	s.x.wrote()
	if err != nil {
		clear(s.written)
		return err
	}
	for id, e := range s.written {
		s.x.written.Put(id, e)
	}
	clear(s.written)
	s.commited += len(s.changes)
	clear(s.changes)
	s.txn = s.x.db.NewTransaction(true)
	s.bytes, s.count = 0, 0
	return nil
}

// commitAt records the cursor and stats with the batch and commits.
func (s *syncer) commitAt(cursor uint64) error {
	if err := s.set(s.x.k.cursor(s.idx), u64(cursor)); err != nil {
		return err
	}
	if err := s.set(s.x.k.stats(s.idx), s.stats.encode()); err != nil {
		return err
	}
	return s.commit()
}

// run applies nodes until caught up. It reports the entries changed in
// committed transactions and whether a Rebuild is needed.
func (s *syncer) run(ctx context.Context, oneByOne bool) (int, bool, error) {
	if err := s.load(); err != nil {
		return 0, false, err
	}
	cursor := s.cursor
	done := 0
	for {
		if err := ctx.Err(); err != nil {
			return s.commited, false, err
		}
		if s.limit > 0 && done >= s.limit {
			s.stopped = true
			return s.commited, false, nil
		}
		as, err := s.x.d.Applied(s.idx, cursor, s.x.opts.ChunkNodes)
		if err != nil {
			return s.commited, false, err
		}
		if len(as) == 0 {
			return s.commited, false, nil
		}
		done += len(as)
		for i := range as {
			a := &as[i]
			rebuild, err := s.apply(a)
			if err != nil {
				return s.commited, false, fmt.Errorf("index: applying node %v: %w", a.Hash, err)
			}
			cursor = a.Seq
			if rebuild {
				err := s.commitAt(cursor)
				return s.commited, err == nil, err
			}
			if oneByOne || s.full() || i == len(as)-1 {
				if err := s.commitAt(cursor); err != nil {
					return s.commited, false, err
				}
			}
		}
	}
}

// apply materialises one applied node. It reports whether the node changes
// the fork set (the caller then rebuilds).
func (s *syncer) apply(a *dag.Applied) (bool, error) {
	n := a.Node
	var c clock
	if s.allow {
		var err error
		if c, err = s.clockOf(a); err != nil {
			return false, err
		}
	}
	if log, fc, ok := forkOf(n); ok {
		cur, known := s.forks[log]
		if !known || fc.Narrows(cur) {
			s.forks[log] = fc
			return true, s.set(s.x.k.fork(s.idx, log), u64(forkValue(fc)))
		}
		return false, nil
	}
	if fc, ok := s.forks[n.Log]; ok && n.Seq >= fc.At {
		return false, nil // past the fork length of an equivocating log
	}
	switch n.Op.Kind {
	case dag.OpGrant, dag.OpRevoke:
		if !s.allow || a.Identity != s.creator || n.Op.Member == s.creator {
			return false, nil
		}
		g := grantRecord{kind: n.Op.Kind, time: n.Time, hash: a.Hash, log: n.Log, seq: n.Seq}
		return false, s.appendRecord(s.x.k.grants(s.idx, n.Op.Member), g.encode())
	case dag.OpPut:
		ok, err := s.allowed(c, a.Identity)
		if err != nil || !ok {
			return false, err
		}
		if ValidatePut(n.Op.Put) != nil {
			return false, nil
		}
		return false, s.put(a)
	case dag.OpAmend, dag.OpRetract:
		ok, err := s.allowed(c, a.Identity)
		if err != nil || !ok {
			return false, err
		}
		if n.Op.Kind == dag.OpAmend && n.Op.Amend == nil {
			return false, nil
		}
		return false, s.revise(a)
	}
	return false, nil
}

// clockOf computes and stores the clock of a node: the pointwise max of the
// clocks of the nodes it links, plus its own position if it is in a creator
// log.
func (s *syncer) clockOf(a *dag.Applied) (clock, error) {
	var c clock
	for _, l := range a.Node.Links {
		lc, err := s.readClock(l.Hash)
		if err != nil {
			return nil, err
		}
		c = c.merge(lc)
	}
	if a.Identity == s.creator {
		c = c.set(a.Node.Log.Bytes(), a.Node.Seq)
	}
	if len(c) == 0 {
		return nil, nil
	}
	return c, s.set(s.x.k.clock(s.idx, a.Hash), c.encode())
}

func (s *syncer) readClock(id dag.ID) (clock, error) {
	v, err := getValue(s.txn, s.x.k.clock(s.idx, id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeClock(v)
}

// allowed reports whether identity may write, judged in the causal past
// described by c. Open indexes allow everyone; allowlist indexes allow the
// creator, and any identity whose latest grant/revoke in that past is a
// grant. "Latest": within one creator log the higher seq; across logs, an
// event that the other's clock contains is earlier; events still concurrent
// are ordered by (Time, Hash).
func (s *syncer) allowed(c clock, id dag.Identity) (bool, error) {
	if !s.allow || id == s.creator {
		return true, nil
	}
	latest := map[feedtree.Key]*grantRecord{}
	recs, err := s.readList(s.x.k.grants(s.idx, id))
	if err != nil {
		return false, err
	}
	for _, rec := range recs {
		g, err := decodeGrantRecord(rec)
		if err != nil {
			return false, err
		}
		if g.seq > c.get(g.log.Bytes()) {
			continue
		}
		if fc, ok := s.forks[g.log]; ok && g.seq >= fc.At {
			continue // past the fork length of an equivocating log
		}
		if cur := latest[g.log]; cur == nil || g.seq > cur.seq {
			latest[g.log] = g
		}
	}
	if len(latest) == 0 {
		return false, nil
	}
	cands := slices.Collect(maps.Values(latest))
	clocks := make([]clock, len(cands))
	for i, g := range cands {
		var err error
		if clocks[i], err = s.readClock(g.hash); err != nil {
			return false, err
		}
	}
	var best *grantRecord
	for i, g := range cands {
		dominated := false
		for j, h := range cands {
			if i != j && clocks[j].get(g.log.Bytes()) >= g.seq {
				dominated = true // h saw g
				_ = h
				break
			}
		}
		if dominated {
			continue
		}
		if best == nil || revCmp(g.time, g.hash, best.time, best.hash) > 0 {
			best = g
		}
	}
	return best != nil && best.kind == dag.OpGrant, nil
}

// Members returns the identities that may publish in the allowlist index
// idx now, besides its creator: those whose latest grant or revoke, among
// all applied so far, is a grant (as allowed judges it, with every grant in
// the past). It returns none for an open index.
func (x *Index) Members(idx dag.IndexKey) ([]dag.Identity, error) {
	s, err := x.grantReader(idx)
	if s == nil || err != nil {
		return nil, err
	}
	defer s.discard()
	prefix := x.k.idxTag(tagGrant, idx, 0)
	var ids []dag.Identity
	it := s.txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	for it.Rewind(); it.Valid(); it.Next() {
		k := it.Item().Key()
		if len(k) != len(prefix)+32 {
			it.Close()
			return nil, fmt.Errorf("index: corrupt grant key")
		}
		ids = append(ids, dag.IdentityFromBytes([32]byte(k[len(prefix):])))
	}
	it.Close()
	var out []dag.Identity
	for _, id := range ids {
		ok, err := s.allowedNow(id)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, id)
		}
	}
	return out, nil
}

// MayWrite reports whether id may publish in idx now, as Members judges:
// anyone in an open index, the creator and the granted in an allowlist one.
func (x *Index) MayWrite(idx dag.IndexKey, id dag.Identity) (bool, error) {
	s, err := x.grantReader(idx)
	if s == nil || err != nil {
		return err == nil, err
	}
	defer s.discard()
	return s.allowedNow(id)
}

// grantReader returns a read-only syncer of the allowlist index idx with
// its forks loaded, to judge grants; nil for an open index.
func (x *Index) grantReader(idx dag.IndexKey) (*syncer, error) {
	m, err := x.d.Manifest(idx)
	if err != nil || m.Policy != dag.PolicyAllowlist {
		return nil, err
	}
	s := &syncer{x: x, idx: idx, allow: true, creator: m.Creator, txn: x.db.NewTransaction(false)}
	if err := s.load(); err != nil {
		s.discard()
		return nil, err
	}
	return s, nil
}

// allowedNow is allowed with a clock that has seen every grant record of
// id: whether id may write as things stand now.
func (s *syncer) allowedNow(id dag.Identity) (bool, error) {
	recs, err := s.readList(s.x.k.grants(s.idx, id))
	if err != nil {
		return false, err
	}
	var all clock
	for _, rec := range recs {
		g, err := decodeGrantRecord(rec)
		if err != nil {
			return false, err
		}
		if all.get(g.log.Bytes()) == 0 {
			all = append(all, clockEntry{log: g.log.Bytes(), seq: math.MaxUint64})
		}
	}
	return s.allowed(all, id)
}

// readList returns the records stored as a list under key (none if absent).
func (s *syncer) readList(key []byte) ([][]byte, error) {
	v, err := getValue(s.txn, key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return splitList(v)
}

// appendRecord adds rec to the list under key.
//
// TODO: an identity that amends one entry very often makes this list, read
// and rewritten on each amend, grow without bound (quadratic work). Keep
// per field only the winning amend's (Time, Hash) plus the MaxHistory
// latest revisions instead, once it matters.
func (s *syncer) appendRecord(key, rec []byte) error {
	v, err := getValue(s.txn, key)
	if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
		return err
	}
	return s.set(key, appendListItem(v, rec))
}

// readEntry returns the entry id and the seq of its change record, or nil.
func (s *syncer) readEntry(id dag.ID) (*Entry, uint64, error) {
	v, err := getValue(s.txn, s.x.k.entry(s.idx, id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	seq, b, err := splitEntryValue(v)
	if err != nil {
		return nil, 0, err
	}
	e, err := DecodeEntry(b)
	return e, seq, err
}

// readRevs returns the amends and retracts stored for target by identity,
// sorted by (Time, Hash).
func (s *syncer) readRevs(target dag.ID, by dag.Identity) ([]*revRecord, error) {
	var out []*revRecord
	recs, err := s.readList(s.x.k.revs(s.idx, target))
	if err != nil {
		return nil, err
	}
	for _, v := range recs {
		r, err := decodeRevRecord(v)
		if err != nil {
			return nil, err
		}
		if r.identity == by {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *revRecord) int { return revCmp(a.time, a.hash, b.time, b.hash) })
	return out, nil
}

// put creates the entry of a put node and applies the amends and retracts
// that arrived before it.
func (s *syncer) put(a *dag.Applied) error {
	n := a.Node
	e := &Entry{
		ID: a.Hash, Index: s.idx, Author: a.Identity, Log: n.Log,
		Published: n.Time, Updated: n.Time, Put: *n.Op.Put,
		History: []Revision{{Hash: a.Hash, Kind: dag.OpPut, Time: n.Time, Author: a.Identity}},
	}
	// The DAG shares its nodes with every reader; amends edit Meta in place.
	e.Meta = maps.Clone(e.Meta)
	revs, err := s.readRevs(a.Hash, a.Identity)
	if err != nil {
		return err
	}
	var retracts []*revRecord
	for _, r := range revs {
		if r.kind == dag.OpRetract {
			retracts = append(retracts, r)
		}
	}
	if len(retracts) > 0 {
		tombstone(e, retracts)
	} else {
		for _, r := range revs {
			applyAmend(e, r, func(string) bool { return true })
		}
	}
	if err := s.writeEntry(e, 0); err != nil {
		return err
	}
	if e.Retracted {
		s.stats.retracted++
		return nil
	}
	s.stats.live++
	if err := s.indexInfohashes(e, true); err != nil {
		return err
	}
	return s.addAuthor(e.Author, +1)
}

// revise records an amend or retract and applies it to its entry if the
// entry is here; otherwise it waits for the put.
func (s *syncer) revise(a *dag.Applied) error {
	n := a.Node
	target := n.Op.Target
	e, seq, err := s.readEntry(target)
	if err != nil {
		return err
	}
	if e != nil && e.Author != a.Identity {
		return nil // only the put's identity may change an entry, ever
	}
	r := &revRecord{kind: n.Op.Kind, time: n.Time, identity: a.Identity, hash: a.Hash, amend: n.Op.Amend}
	b, err := r.encode()
	if err != nil {
		return err
	}
	if err := s.appendRecord(s.x.k.revs(s.idx, target), b); err != nil {
		return err
	}
	if e == nil {
		return nil
	}
	if r.kind == dag.OpRetract {
		wasLive := !e.Retracted
		revs, err := s.readRevs(target, a.Identity)
		if err != nil {
			return err
		}
		var retracts []*revRecord
		for _, r := range revs {
			if r.kind == dag.OpRetract {
				retracts = append(retracts, r)
			}
		}
		if wasLive {
			if err := s.indexInfohashes(e, false); err != nil {
				return err
			}
			if err := s.addAuthor(e.Author, -1); err != nil {
				return err
			}
			s.stats.live--
			s.stats.retracted++
		}
		tombstone(e, retracts)
		return s.writeEntry(e, seq)
	}
	if e.Retracted {
		return nil // retract is final
	}
	// Each field takes the value of the (Time, Hash)-latest amend that sets
	// it: apply the new amend to the fields where no stored amend is later.
	revs, err := s.readRevs(target, a.Identity)
	if err != nil {
		return err
	}
	later := func(field string) bool {
		for _, o := range revs {
			if o.kind == dag.OpAmend && o.hash != r.hash && setsField(o.amend, field) &&
				revCmp(o.time, o.hash, r.time, r.hash) > 0 {
				return false
			}
		}
		return true
	}
	applyAmend(e, r, later)
	return s.writeEntry(e, seq)
}

// setsField reports whether a sets field ("title", "description",
// "category", "tags", "content" or "meta:KEY").
func setsField(a *dag.Amend, field string) bool {
	switch field {
	case "title":
		return a.Title != nil
	case "description":
		return a.Description != nil
	case "category":
		return a.Category != nil
	case "tags":
		return a.Tags != nil
	case "content":
		return a.Content != nil
	}
	if k, ok := cutMeta(field); ok {
		_, has := a.Meta[k]
		return has
	}
	return false
}

func cutMeta(field string) (string, bool) {
	if len(field) > 5 && field[:5] == "meta:" {
		return field[5:], true
	}
	return "", false
}

// applyAmend sets on e each field r's amend sets and wins reports true for,
// and records r in the history.
func applyAmend(e *Entry, r *revRecord, wins func(field string) bool) {
	a := r.amend
	if a.Title != nil && wins("title") {
		e.Title = *a.Title
	}
	if a.Description != nil && wins("description") {
		e.Description = *a.Description
	}
	if a.Category != nil && wins("category") {
		e.Category = *a.Category
	}
	if a.Tags != nil && wins("tags") {
		e.Tags = slices.Clone(*a.Tags)
		if len(e.Tags) == 0 {
			e.Tags = nil
		}
	}
	if a.Content != nil && wins("content") {
		c := *a.Content
		e.Content = &c
	}
	for _, k := range slices.Sorted(maps.Keys(a.Meta)) {
		if !wins("meta:" + k) {
			continue
		}
		v := a.Meta[k]
		if v == "" {
			delete(e.Meta, k)
			if len(e.Meta) == 0 {
				e.Meta = nil
			}
			continue
		}
		if e.Meta == nil {
			e.Meta = map[string]string{}
		}
		e.Meta[k] = v
	}
	e.Updated = max(e.Updated, r.time)
	e.History = addHistory(e.History, Revision{Hash: r.hash, Kind: dag.OpAmend, Time: r.time, Author: r.identity})
}

// tombstone turns e into the tombstone its retracts make: name and
// infohashes kept, other fields dropped, history = put + retracts, Updated
// = the latest of Published and the retract times.
func tombstone(e *Entry, retracts []*revRecord) {
	e.Put = dag.Put{InfohashV1: e.InfohashV1, InfohashV2: e.InfohashV2, Name: e.Name}
	e.Retracted = true
	e.Updated = e.Published
	var h []Revision
	for _, r := range e.History {
		if r.Kind == dag.OpPut {
			h = append(h, r)
		}
	}
	for _, r := range retracts {
		h = addHistory(h, Revision{Hash: r.hash, Kind: dag.OpRetract, Time: r.time, Author: r.identity})
		e.Updated = max(e.Updated, r.time)
	}
	e.History = h
}

// writeEntry stores e and moves it to the end of the change log; prior is
// the seq of its change record so far (0: none, a new entry).
func (s *syncer) writeEntry(e *Entry, prior uint64) error {
	b, err := e.MarshalBinary()
	if err != nil {
		return err
	}
	seq, kept, err := s.keepUnchanged(e.ID, prior, b)
	if err != nil {
		return err
	}
	if !kept {
		if seq, err = s.noteChange(e.ID, prior); err != nil {
			return err
		}
	}
	if err := s.set(s.x.k.entry(s.idx, e.ID), entryValue(seq, b)); err != nil {
		return err
	}
	// Dear future: e goes to Index.written as it is, for readers to
	// share; nothing may change it after this (the syncer reads an entry
	// it revises afresh from the transaction).
	s.written[e.ID] = e
	return nil
}

// keepUnchanged reports, while a Rebuild runs, whether the entry id it
// writes (b) is byte for byte what it was before the rebuild, and returns
// its change seq from then: that change record stays (or comes back, when
// an earlier write of the rebuild, before an amend, gave the entry a new
// one, prior), so that search and watchers see only what the rebuild
// changed. A forked log whose count moves rebuilds the index, and would
// otherwise re-index and re-announce every entry.
func (s *syncer) keepUnchanged(id dag.ID, prior uint64, b []byte) (uint64, bool, error) {
	if !s.rebuild {
		return 0, false, nil
	}
	v, err := getValue(s.txn, s.x.k.was(s.idx, id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if len(v) != 40 || blake2b.Sum256(b) != [32]byte(v[8:]) {
		return 0, false, nil
	}
	was := binary.BigEndian.Uint64(v)
	switch prior {
	case was:
	case 0: // the first write: its change-of record says the entry was here
		if err := s.del(s.x.k.changeOf(s.idx, id)); err != nil {
			return 0, false, err
		}
	default:
		if err := s.del(s.x.k.change(s.idx, prior)); err != nil {
			return 0, false, err
		}
		b := id.Bytes()
		if err := s.set(s.x.k.change(s.idx, was), b[:]); err != nil {
			return 0, false, err
		}
	}
	return was, true, nil
}

// noteChange moves id to the end of the change log and returns its new
// seq; prior is the seq of its record so far (0: none). While a Rebuild
// runs, a new entry may have a record from before: its change-of record
// says which, and goes.
func (s *syncer) noteChange(id dag.ID, prior uint64) (uint64, error) {
	if err := s.ensureCtr(); err != nil {
		return 0, err
	}
	s.changes[id] = true
	if prior == 0 && s.rebuild {
		k := s.x.k.changeOf(s.idx, id)
		v, err := getValue(s.txn, k)
		if err == nil {
			if prior, err = decodeU64("change-of", v); err != nil {
				return 0, err
			}
			if err := s.del(k); err != nil {
				return 0, err
			}
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return 0, err
		}
	}
	if prior != 0 {
		if err := s.del(s.x.k.change(s.idx, prior)); err != nil {
			return 0, err
		}
	}
	s.ctr++
	b := id.Bytes()
	return s.ctr, s.set(s.x.k.change(s.idx, s.ctr), b[:])
}

func (s *syncer) indexInfohashes(e *Entry, add bool) error {
	for _, ih := range [][]byte{e.InfohashV1, e.InfohashV2} {
		if len(ih) == 0 {
			continue
		}
		k := s.x.k.infohash(ih, e.ID)
		var err error
		if add {
			err = s.set(k, nil) // the key says it all; the DAG knows the index
		} else {
			err = s.del(k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// addAuthor adjusts the live-entry count of an author and the number of
// authors with live entries.
func (s *syncer) addAuthor(id dag.Identity, d int) error {
	k := s.x.k.author(s.idx, id)
	var n uint64
	v, err := getValue(s.txn, k)
	if err == nil {
		if n, err = decodeU64("author", v); err != nil {
			return err
		}
	} else if !errors.Is(err, badger.ErrKeyNotFound) {
		return err
	}
	switch {
	case d > 0:
		if n == 0 {
			s.stats.authors++
		}
		n++
	case n > 0:
		n--
		if n == 0 {
			s.stats.authors--
			return s.del(k)
		}
	}
	return s.set(k, u64(n))
}
