package dag

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"indexd/feedtree"
	"indexd/internal/recent"
)

// DefaultMaxPending is Options.MaxPending's default: how many nodes of one
// index may wait for missing ancestors. Pending nodes live in the feeds; the
// bound keeps a peer from making this replica hold (and rescan) an unbounded
// amount of unapplicable data.
const DefaultMaxPending = 1 << 16

// applyChunk is how many nodes one badger transaction applies; a crash
// between chunks leaves a consistent prefix that Open continues from.
const applyChunk = 256

// Options configures Open. The zero value means defaults.
type Options struct {
	// MaxPending bounds the nodes per index held but not yet applicable.
	// Default: DefaultMaxPending.
	MaxPending int
	// Now is the clock for node times. Default: time.Now.
	Now func() time.Time
	// ForkAuthor, when set, returns the local author for an index; on
	// detecting an equivocating log, Ingest appends a fork-proof node with
	// it. Default: nil (the fork is recorded locally only).
	ForkAuthor func(idx IndexKey) (Author, bool)
	// DeferUnlocated, with ForkAuthor, holds back the fork-proof node of a
	// fork found here whose proof does not say where the histories part:
	// a peer is asked where (replicate), and the located proof that comes
	// a few seconds later is the one published, so that replicas rebuild
	// once, not twice. FlushForks publishes what was held too long; a
	// fork-proof node from elsewhere makes it moot.
	DeferUnlocated bool
	// MaxQueued and MaxQueuedBytes bound what Store holds of an index for
	// the applier before it waits for room. Defaults: DefaultMaxQueued,
	// DefaultMaxQueuedBytes.
	MaxQueued      int
	MaxQueuedBytes int64
	// Hold, when set, is called by the applier before each step of
	// applying what Store queued for idx, without the DAG's lock: it may
	// wait, to pace the applier to what reads the applied nodes (node
	// keeps it a step ahead of materialising entries, so they are read
	// from the cache of the nodes just applied). It must return when ctx
	// ends (at Close). Default: nil (the applier never waits).
	Hold func(ctx context.Context, idx IndexKey)
	// Bulk, when set, reports whether a bulk transfer into idx is under
	// way (node: peers' signed heads say many blocks are still to come).
	// While it is, the applier applies a step per second, whatever is
	// queued (see yieldTo). Called without the DAG's lock, before each
	// step. Default: nil (only Stores coming with more than a step queued
	// count as bulk).
	Bulk func(idx IndexKey) bool
	// Logger receives the applier's storage failures. Default: discard.
	Logger *slog.Logger
}

// Author is who writes: the identity key and the author log's key pair for
// one index on this device. The caller (node) keeps the key files.
type Author struct {
	Identity IdentityKey
	Log      feedtree.KeyPair
}

// GenerateAuthor returns a fresh identity with a fresh log key pair, from
// r (nil: crypto/rand).
func GenerateAuthor(r io.Reader) (Author, error) {
	id, err := GenerateIdentity(r)
	if err != nil {
		return Author{}, err
	}
	kp, err := feedtree.GenerateKeyPair(r)
	if err != nil {
		return Author{}, fmt.Errorf("dag: generating log key: %w", err)
	}
	return Author{Identity: id, Log: kp}, nil
}

// LogState describes one author log of an index. Length is the contiguous
// prefix this replica holds (what it can serve); Head is the newest signed
// head it verified (its Length may exceed the prefix). Applied counts the
// blocks taken into the DAG, the certificate included. Forked says a fork
// proof against the log has been applied or detected; its nodes count only
// below ForkAt, which is 0 until a proof located where its histories part
// (Located).
type LogState struct {
	Key      feedtree.Key
	Identity Identity
	Length   uint64
	Applied  uint64
	Head     feedtree.Head
	Forked   bool
	ForkAt   uint64
	Located  bool
}

// Applied is one applied node. Seq is the local apply counter (1, 2, ...):
// the apply order is a topological order of the DAG, but differs between
// replicas; only the applied set is the same. Node may be shared with
// other readers: do not modify it.
type Applied struct {
	Seq      uint64
	Hash     ID
	Node     *Node
	Identity Identity
}

// DAG holds the manifests, author logs and apply state of many indexes in
// one badger database. It is safe for concurrent use; writes are serialised.
type DAG struct {
	db    *badger.DB
	keys  keyBuf
	store *stagingStore
	opts  Options

	mu      sync.Mutex
	closed  bool
	done    chan struct{}
	indexes map[IndexKey]*indexState
	logs    map[feedtree.Key]*logState

	// The appliers (store.go): one goroutine per index with queued ranges
	// (applying), all waited for at Close; ctx ends their Hold at Close.
	applying      map[IndexKey]bool
	applyFailures map[IndexKey]uint
	appliers      sync.WaitGroup
	ctx           context.Context
	cancel        context.CancelFunc

	// applied holds the nodes of the last committed applies, so that
	// Applied, which the index reads right behind every apply, need not
	// read, hash and decode them again (at 200k entries that was 5 % of
	// an import's CPU).
	applied *recent.Cache[nodeRef, appliedNode]
}

// appliedCache is how many nodes DAG.applied holds: a few of the index's
// read chunks, and more than a node lets a catch-up run ahead of its pump
// (node's maxLead) plus one stored batch.
const appliedCache = 16384

type nodeRef struct {
	log feedtree.Key
	seq uint64
}

type appliedNode struct {
	id ID
	n  *Node
}

// stagingStore is the feeds' store. While an Ingest stages (a != nil, set
// under DAG.mu, which every write to a log feed holds), a feed's commit goes
// into the apply's transaction instead: the verified blocks and their apply
// then cost one badger commit, not two. A feed publishes its new head as
// soon as its commit returns, so until the transaction commits the staged
// records are also kept in an overlay that every read consults: whoever
// sees the head (a sync push, a proof) can read what it covers.
type stagingStore struct {
	*feedtree.BadgerStore
	a *applier

	mu      sync.RWMutex
	overlay map[feedtree.Key]map[string]staged
}

type staged struct {
	value []byte
	del   bool
}

func (s *stagingStore) Commit(feed feedtree.Key, b *feedtree.Batch) error {
	if s.a == nil {
		return s.BadgerStore.Commit(feed, b)
	}
	s.mu.Lock()
	if s.overlay == nil {
		s.overlay = map[feedtree.Key]map[string]staged{}
	}
	ov := s.overlay[feed]
	if ov == nil {
		ov = map[string]staged{}
		s.overlay[feed] = ov
	}
	b.Each(func(k, v []byte, del bool) {
		ov[string(k)] = staged{v, del}
		s.a.staged += len(k) + len(v)
	})
	s.mu.Unlock()
	txn, err := s.BadgerStore.CommitIn(s.a.txn, feed, b)
	s.a.txn = txn
	return err
}

// settle forgets the overlay once the staged records are committed (or
// discarded, before the state reloads from badger).
func (s *stagingStore) settle() {
	s.mu.Lock()
	clear(s.overlay)
	s.mu.Unlock()
}

func (s *stagingStore) lookup(feed feedtree.Key, key []byte) (staged, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.overlay[feed][string(key)]
	return v, ok
}

func (s *stagingStore) Get(feed feedtree.Key, key, dst []byte) ([]byte, error) {
	if v, ok := s.lookup(feed, key); ok {
		if v.del {
			return dst, feedtree.ErrNotFound
		}
		return append(dst, v.value...), nil
	}
	return s.BadgerStore.Get(feed, key, dst)
}

func (s *stagingStore) Has(feed feedtree.Key, key []byte) (bool, error) {
	if v, ok := s.lookup(feed, key); ok {
		return !v.del, nil
	}
	return s.BadgerStore.Has(feed, key)
}

func (s *stagingStore) Scan(feed feedtree.Key, from, to []byte, fn func(key, value []byte) error) error {
	var keys []string
	var vals []staged
	s.mu.RLock()
	for k := range s.overlay[feed] {
		if k >= string(from) && k < string(to) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		vals = append(vals, s.overlay[feed][k])
	}
	s.mu.RUnlock()
	if len(keys) == 0 {
		return s.BadgerStore.Scan(feed, from, to, fn)
	}
	i := 0
	emit := func() error {
		k, v := keys[i], vals[i]
		i++
		if v.del {
			return nil
		}
		return fn([]byte(k), v.value)
	}
	err := s.BadgerStore.Scan(feed, from, to, func(k, v []byte) error {
		for i < len(keys) && keys[i] < string(k) {
			if err := emit(); err != nil {
				return err
			}
		}
		if i < len(keys) && keys[i] == string(k) {
			return emit() // the staged record replaces the stored one
		}
		return fn(k, v)
	})
	for err == nil && i < len(keys) {
		err = emit()
	}
	return err
}

func (s *stagingStore) Iterate(feed feedtree.Key, prefix []byte, fn func(key, value []byte) error) error {
	to := slices.Clone(prefix)
	for len(to) > 0 && to[len(to)-1] == 0xff {
		to = to[:len(to)-1]
	}
	if len(to) == 0 {
		return s.BadgerStore.Iterate(feed, prefix, fn) // every key: no overlay for such scans
	}
	to[len(to)-1]++
	return s.Scan(feed, prefix, to, fn)
}

type indexState struct {
	key      IndexKey
	manifest *Manifest
	logs     map[feedtree.Key]*logState
	heads    map[feedtree.Key]headRecord
	counter  uint64
	pending  int
	waiters  map[feedtree.Key][]*logState // blocked log waits for key's log to advance
	lower    []lowerFork                  // fork proofs the apply found, to record after it commits
	changed  chan struct{}                // closed and replaced after each apply
	// queue holds the ranges Store held for the applier, oldest first
	// (store.go), with their nodes and bytes counted.
	queue       []queuedRange
	queuedNodes int
	queuedBytes int64
	// lastStore is when Store last queued a range, lastStep when the
	// applier last applied a step (the applier yields to a bulk Store).
	lastStore, lastStep time.Time
	// windowNodes counts the nodes Store queued since windowStart (a
	// window of applyEvery), lastWindowNodes those of the window before
	// (see recentStored).
	windowStart                  time.Time
	windowNodes, lastWindowNodes int
}

type logState struct {
	ix       *indexState
	key      feedtree.Key
	identity Identity
	applied  uint64 // blocks applied, cert included: the next seq to apply
	held     uint64 // contiguous blocks held in the feed
	lastHash ID     // hash of node applied-1 (zero while applied ≤ 1)
	forked   bool
	forkAt   uint64
	located  bool // a proof located where the histories part (ForkCount)
	// deferred is a fork-proof op held back (Options.DeferUnlocated), and
	// when.
	deferred   *ForkProofOp
	deferredAt time.Time
	broken     bool   // a node failed its checks: the log applies no further
	scanned    uint64 // forkEvidence read the held nodes below this
	queued     int    // nodes of this log in ix.queue (store.go)
	takenTo    uint64 // the end of the last range of it the applier took from ix.queue
	// fresh holds nodes Append or Ingest just decoded, by seq, so the apply
	// that follows need not read and decode them again; apply clears it.
	fresh map[uint64]freshNode
	feed  *feedtree.Feed
}

type freshNode struct {
	node *Node
	id   ID
}

func (l *logState) pending() int {
	if l.held > l.applied {
		return int(l.held - l.applied)
	}
	return 0
}

// Open opens the DAG kept in db under prefix, which it owns (doc.go lists
// the keys). It loads the state of every index and re-applies whatever the
// feeds hold beyond it. The caller keeps db open until after Close.
func Open(db *badger.DB, prefix []byte, opts Options) (*DAG, error) {
	if opts.MaxPending <= 0 {
		opts.MaxPending = DefaultMaxPending
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxQueued <= 0 {
		opts.MaxQueued = DefaultMaxQueued
	}
	if opts.MaxQueuedBytes <= 0 {
		opts.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := slices.Clone(prefix)
	d := &DAG{
		db:            db,
		keys:          keyBuf{prefix: p},
		store:         &stagingStore{BadgerStore: feedtree.NewBadgerStore(db, append(slices.Clone(p), tagFeeds))},
		opts:          opts,
		done:          make(chan struct{}),
		indexes:       make(map[IndexKey]*indexState),
		logs:          make(map[feedtree.Key]*logState),
		applied:       recent.New[nodeRef, appliedNode](appliedCache),
		applying:      make(map[IndexKey]bool),
		applyFailures: make(map[IndexKey]uint),
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	if err := d.load(); err != nil {
		d.cancel()
		d.closeFeeds()
		return nil, err
	}
	// What the feeds hold beyond the apply state (a crash between a
	// commit and its apply, nodes pending) is applied now, unless a large
	// stored catch-up is: then the applier takes it in the background.
	d.mu.Lock()
	for _, ix := range d.sortedIndexes() {
		if ix.queuedNodes > openApplyLimit {
			continue
		}
		var q []*logState
		for len(ix.queue) > 0 {
			if l := ix.pop().l; !slices.Contains(q, l) {
				q = append(q, l)
			}
		}
		if _, err := d.apply(ix, q); err != nil {
			d.mu.Unlock()
			d.Close() // an applier a reload started, and the feeds
			return nil, fmt.Errorf("dag: re-applying index %v: %w", ix.key, err)
		}
	}
	d.kickAll()
	d.mu.Unlock()
	return d, nil
}

func (d *DAG) load() error {
	return d.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: d.keys.tag(tagManifest)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			m, err := DecodeManifest(v)
			if err != nil {
				return fmt.Errorf("dag: stored manifest: %w", err)
			}
			d.addIndex(m)
		}
		it.Close()

		it = txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: d.keys.tag(tagLog)})
		defer it.Close()
		n := len(d.keys.prefix) + 1
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != n+64 {
				continue
			}
			var idx IndexKey
			copy(idx.b[:], k[n:])
			log, err := feedtree.KeyFromBytes(k[n+32:])
			if err != nil {
				return fmt.Errorf("dag: stored log key: %w", err)
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			rec, ok := decodeLogRecord(v)
			ix := d.indexes[idx]
			if !ok || ix == nil {
				return fmt.Errorf("dag: corrupt log record for %v", log)
			}
			l := &logState{ix: ix, key: log, identity: rec.identity, applied: rec.applied, forked: rec.forked, forkAt: rec.forkAt, located: rec.located}
			if l.feed, err = feedtree.OpenFeed(d.store, log, nil); err != nil {
				return fmt.Errorf("dag: opening log %v: %w", log, err)
			}
			if l.applied >= 2 {
				b, err := l.feed.Get(l.applied - 1)
				if err != nil {
					return fmt.Errorf("dag: reading node %d of %v: %w", l.applied-1, log, err)
				}
				l.lastHash = HashNode(b)
			}
			l.held = l.applied
			if l.held == 1 && !l.feed.Has(0) {
				l.held = 0 // registered, but the certificate never reached the feed
			}
			for l.feed.Has(l.held) {
				l.held++
			}
			ix.logs[log] = l
			d.logs[log] = l
			ix.pending += l.pending()
		}
		it.Close()
		// Every unapplied block goes to the applier. The arrival order is
		// not kept across restarts: the logs take turns, loadStep nodes at
		// a time (as a catch-up sends them, roughly, and so that one
		// applier step stays a step).
		for _, ix := range d.sortedIndexes() {
			var q []*logState
			for _, l := range ix.logs {
				if l.held > l.applied {
					q = append(q, l)
				}
			}
			sortLogs(q)
			for from := 0; len(q) > 0; from += loadStep {
				live := q[:0]
				for _, l := range q {
					start := l.applied + uint64(from)
					end := min(l.held, start+loadStep)
					ix.push(queuedRange{l: l, end: end, nodes: int(end - start)})
					if end < l.held {
						live = append(live, l)
					}
				}
				q = live
			}
		}

		for _, ix := range d.indexes {
			v, err := getValue(txn, d.keys.counter(ix.key))
			if err == nil && len(v) == 8 {
				ix.counter = binary.BigEndian.Uint64(v)
			} else if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
			it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: append(d.keys.tag(tagHead), ix.key.b[:]...)})
			for it.Rewind(); it.Valid(); it.Next() {
				k := it.Item().Key()
				log, err := feedtree.KeyFromBytes(k[len(k)-32:])
				if err != nil {
					it.Close()
					return fmt.Errorf("dag: stored head key: %w", err)
				}
				v, err := it.Item().ValueCopy(nil)
				if err != nil {
					it.Close()
					return err
				}
				h, ok := decodeHeadRecord(v)
				if !ok {
					it.Close()
					return fmt.Errorf("dag: corrupt head record for %v", log)
				}
				ix.heads[log] = h
			}
			it.Close()
		}
		return nil
	})
}

func getValue(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

func (d *DAG) addIndex(m *Manifest) *indexState {
	ix := &indexState{
		key:      m.Key(),
		manifest: m,
		logs:     make(map[feedtree.Key]*logState),
		heads:    make(map[feedtree.Key]headRecord),
		waiters:  make(map[feedtree.Key][]*logState),
		changed:  make(chan struct{}),
	}
	d.indexes[ix.key] = ix
	return ix
}

func (d *DAG) sortedIndexes() []*indexState {
	out := make([]*indexState, 0, len(d.indexes))
	for _, ix := range d.indexes {
		out = append(out, ix)
	}
	slices.SortFunc(out, func(a, b *indexState) int { return bytes.Compare(a.key.b[:], b.key.b[:]) })
	return out
}

func keyCmp(a, b feedtree.Key) int {
	ab, bb := a.Bytes(), b.Bytes()
	return bytes.Compare(ab[:], bb[:])
}

func sortLogs(ls []*logState) {
	slices.SortFunc(ls, func(a, b *logState) int { return keyCmp(a.key, b.key) })
}

func (d *DAG) closeFeeds() {
	for _, l := range d.logs {
		if l.feed != nil {
			if err := l.feed.Close(); err != nil {
				d.opts.Logger.Warn("dag: closing log", "log", l.key.String(), "err", err)
			}
		}
	}
}

// Close closes the author log feeds and wakes WaitApplied callers. It does
// not close the badger database. Later calls return ErrClosed.
func (d *DAG) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	d.closed = true
	close(d.done)
	d.cancel()
	d.closeFeeds()
	d.mu.Unlock()
	d.appliers.Wait() // they take d.mu for a step in progress
	d.mu.Lock()
	return nil
}

func (d *DAG) index(idx IndexKey) (*indexState, error) {
	if d.closed {
		return nil, ErrClosed
	}
	ix := d.indexes[idx]
	if ix == nil {
		return nil, fmt.Errorf("index %v: %w", idx, ErrNotFound)
	}
	return ix, nil
}

// PutManifest verifies m and stores it, making its index known. Storing a
// known manifest again does nothing.
func (d *DAG) PutManifest(m *Manifest) error {
	if err := m.Verify(); err != nil {
		return err
	}
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	k := IndexKey{hash256(b)}
	if d.indexes[k] != nil {
		return nil
	}
	if err := d.db.Update(func(txn *badger.Txn) error { return txn.Set(d.keys.manifest(k), b) }); err != nil {
		return fmt.Errorf("dag: storing manifest: %w", err)
	}
	d.addIndex(m)
	return nil
}

// Manifest returns the manifest of index k, or ErrNotFound.
func (d *DAG) Manifest(k IndexKey) (*Manifest, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ix, err := d.index(k)
	if err != nil {
		return nil, err
	}
	m := *ix.manifest
	return &m, nil
}

// Indexes returns the keys of the known indexes in byte order.
func (d *DAG) Indexes() ([]IndexKey, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	out := make([]IndexKey, 0, len(d.indexes))
	for _, ix := range d.sortedIndexes() {
		out = append(out, ix.key)
	}
	return out, nil
}

// Logs returns the author logs of idx in key order.
func (d *DAG) Logs(idx IndexKey) ([]LogState, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ix, err := d.index(idx)
	if err != nil {
		return nil, err
	}
	out := make([]LogState, 0, len(ix.logs))
	for _, l := range ix.logs {
		out = append(out, LogState{Key: l.key, Identity: l.identity, Length: l.held, Applied: l.applied,
			Head: l.feed.Head(), Forked: l.forked, ForkAt: l.forkAt, Located: l.located})
	}
	slices.SortFunc(out, func(a, b LogState) int { return keyCmp(a.Key, b.Key) })
	return out, nil
}

// Feed returns the feed of a known author log, for serving blocks and
// proofs to peers. The DAG owns it: do not Close it, and call Feed again
// rather than keeping it: the first local Append to a log that was opened
// read-only (after Open, or one first received from a peer) reopens it
// writable and closes the old *Feed.
func (d *DAG) Feed(log feedtree.Key) (*feedtree.Feed, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	l := d.logs[log]
	if l == nil {
		return nil, fmt.Errorf("log %v: %w", log, ErrNotFound)
	}
	return l.feed, nil
}

// Heads returns the heads of idx (applied nodes no applied node links), in
// log key order.
func (d *DAG) Heads(idx IndexKey) ([]Link, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ix, err := d.index(idx)
	if err != nil {
		return nil, err
	}
	out := make([]Link, 0, len(ix.heads))
	for log, h := range ix.heads {
		out = append(out, Link{Log: log, Seq: h.seq, Hash: h.hash})
	}
	slices.SortFunc(out, func(a, b Link) int { return keyCmp(a.Log, b.Log) })
	return out, nil
}

// register records a new log of ix written by id.
func (d *DAG) register(ix *indexState, log feedtree.Key, id Identity, feed *feedtree.Feed) (*logState, error) {
	l := &logState{ix: ix, key: log, identity: id, applied: 1, feed: feed}
	err := d.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(d.keys.log(ix.key, log), logRecord{identity: id, applied: 1}.encode()); err != nil {
			return err
		}
		return txn.Set(d.keys.logIndex(log), ix.key.b[:])
	})
	if err != nil {
		return nil, fmt.Errorf("dag: registering log %v: %w", log, err)
	}
	ix.logs[log] = l
	d.logs[log] = l
	return l, nil
}
