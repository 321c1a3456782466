package feedtree

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// Store keeps the records of many feeds, each in its own keyspace named by
// the feed key. Implementations are safe for concurrent use.
type Store interface {
	// Get appends the value under key in feed's keyspace to dst and returns
	// the result, or ErrNotFound.
	Get(feed Key, key, dst []byte) ([]byte, error)
	// Has reports whether key exists in feed's keyspace.
	Has(feed Key, key []byte) (bool, error)
	// Iterate calls fn for each record of feed whose key starts with prefix,
	// in ascending key order, until fn returns an error, which Iterate
	// returns. key and value are valid only during the call.
	Iterate(feed Key, prefix []byte, fn func(key, value []byte) error) error
	// Scan calls fn for each record of feed whose key k has from <= k < to,
	// in ascending key order, until fn returns an error, which Scan
	// returns. key and value are valid only during the call.
	Scan(feed Key, from, to []byte, fn func(key, value []byte) error) error
	// Commit applies b to feed's keyspace, in order, durably as far as the
	// backend is configured to be. It is atomic when the batch fits one
	// backend transaction; a bigger one commits in order in several, so
	// writers put the record that makes the rest visible last.
	Commit(feed Key, b *Batch) error
}

// Batch is an ordered list of writes for Store.Commit. The zero value is
// empty and ready to use.
type Batch struct {
	ops []batchOp
}

type batchOp struct {
	key, value []byte
	del        bool
}

// Set records a write of value under key. The batch keeps key and value as
// given: do not modify them until the batch is committed.
func (b *Batch) Set(key, value []byte) { b.ops = append(b.ops, batchOp{key: key, value: value}) }

// Delete records a deletion of key.
func (b *Batch) Delete(key []byte) { b.ops = append(b.ops, batchOp{key: key, del: true}) }

// Len returns the number of writes in b.
func (b *Batch) Len() int { return len(b.ops) }

// Each calls fn for each write of b, in order; value is nil for a deletion.
func (b *Batch) Each(fn func(key, value []byte, del bool)) {
	for _, op := range b.ops {
		fn(op.key, op.value, op.del)
	}
}

// Reset empties b, keeping its capacity.
func (b *Batch) Reset() { clear(b.ops); b.ops = b.ops[:0] }

// memStore is a Store in memory, for tests and throwaway feeds.
type memStore struct {
	mu    sync.Mutex
	feeds map[Key]*memFeed
}

// memFeed is one feed's records. sorted holds its keys in order, once the
// keys added since the last ordered read are merged in; it may still hold
// deleted keys, which reads skip.
type memFeed struct {
	vals   map[string][]byte
	sorted []string
	added  []string
}

// NewMemStore returns a Store in memory. An ordered read (Iterate, Scan)
// after a Commit that added keys sorts those keys and merges them in: it
// is meant for tests and small feeds.
func NewMemStore() Store {
	return &memStore{feeds: map[Key]*memFeed{}}
}

func (m *memStore) Get(feed Key, key, dst []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f := m.feeds[feed]; f != nil {
		if v, ok := f.vals[string(key)]; ok {
			return append(dst, v...), nil
		}
	}
	return dst, ErrNotFound
}

func (m *memStore) Has(feed Key, key []byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.feeds[feed]
	if f == nil {
		return false, nil
	}
	_, ok := f.vals[string(key)]
	return ok, nil
}

func (m *memStore) Iterate(feed Key, prefix []byte, fn func(key, value []byte) error) error {
	return m.each(feed, string(prefix), func(k string) bool { return strings.HasPrefix(k, string(prefix)) }, fn)
}

func (m *memStore) Scan(feed Key, from, to []byte, fn func(key, value []byte) error) error {
	return m.each(feed, string(from), func(k string) bool { return k < string(to) }, fn)
}

// memChunk is how many records each reads under the lock at a time: fn
// runs without it (it may use the store), and a scan that stops early
// reads little.
const memChunk = 16

// each calls fn for the records of feed from key from on, in key order,
// while in holds.
func (m *memStore) each(feed Key, from string, in func(string) bool, fn func(key, value []byte) error) error {
	var keys [memChunk]string
	var vals [memChunk][]byte
	after := false // whether from was already read
	for {
		n := 0
		m.mu.Lock()
		if f := m.feeds[feed]; f != nil {
			f.merge()
			i, found := slices.BinarySearch(f.sorted, from)
			if found && after {
				i++
			}
			for ; i < len(f.sorted) && n < memChunk && in(f.sorted[i]); i++ {
				if v, ok := f.vals[f.sorted[i]]; ok {
					keys[n], vals[n] = f.sorted[i], v
					n++
				}
			}
		}
		m.mu.Unlock()
		for j := range n {
			if err := fn([]byte(keys[j]), vals[j]); err != nil {
				return err
			}
		}
		if n < memChunk {
			return nil
		}
		from, after = keys[n-1], true
	}
}

// merge sorts the keys added since the last call into sorted, dropping
// deleted keys.
func (f *memFeed) merge() {
	if len(f.added) == 0 {
		return
	}
	slices.Sort(f.added)
	all := make([]string, 0, len(f.sorted)+len(f.added))
	i, j := 0, 0
	for i < len(f.sorted) || j < len(f.added) {
		var k string
		if j == len(f.added) || i < len(f.sorted) && f.sorted[i] < f.added[j] {
			k, i = f.sorted[i], i+1
		} else {
			k, j = f.added[j], j+1
		}
		if _, ok := f.vals[k]; ok && (len(all) == 0 || all[len(all)-1] != k) {
			all = append(all, k)
		}
	}
	f.sorted, f.added = all, f.added[:0]
}

func (m *memStore) Commit(feed Key, b *Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.feeds[feed]
	if f == nil {
		f = &memFeed{vals: map[string][]byte{}}
		m.feeds[feed] = f
	}
	for _, op := range b.ops {
		k := string(op.key)
		if op.del {
			delete(f.vals, k)
			continue
		}
		if _, ok := f.vals[k]; !ok {
			f.added = append(f.added, k)
		}
		f.vals[k] = bytes.Clone(op.value)
	}
	return nil
}

// BadgerStore is a Store keeping feeds in a shared badger database under a
// prefix.
type BadgerStore struct {
	db     *badger.DB
	prefix []byte
}

// NewBadgerStore returns a Store keeping every feed in db under
// prefix || feed key (32 bytes) || record key; see the package doc for the
// record keys. Durability is db's: with SyncWrites each Commit is fsynced.
func NewBadgerStore(db *badger.DB, prefix []byte) *BadgerStore {
	return &BadgerStore{db: db, prefix: bytes.Clone(prefix)}
}

func (s *BadgerStore) key(dst []byte, feed Key, key []byte) []byte {
	dst = append(dst, s.prefix...)
	dst = append(dst, feed.b[:]...)
	return append(dst, key...)
}

func (s *BadgerStore) Get(feed Key, key, dst []byte) ([]byte, error) {
	var kb [64]byte
	k := s.key(kb[:0], feed, key)
	err := s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(k)
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			dst = append(dst, v...)
			return nil
		})
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return dst, ErrNotFound
	}
	if err != nil {
		return dst, fmt.Errorf("feedtree: reading store: %w", err)
	}
	return dst, nil
}

func (s *BadgerStore) Has(feed Key, key []byte) (bool, error) {
	var kb [64]byte
	k := s.key(kb[:0], feed, key)
	err := s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(k)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("feedtree: reading store: %w", err)
	}
	return true, nil
}

func (s *BadgerStore) Iterate(feed Key, prefix []byte, fn func(key, value []byte) error) error {
	p := s.key(nil, feed, prefix)
	strip := len(s.prefix) + 32
	return s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = p
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(p); it.ValidForPrefix(p); it.Next() {
			item := it.Item()
			k := item.Key()
			if err := item.Value(func(v []byte) error { return fn(k[strip:], v) }); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *BadgerStore) Scan(feed Key, from, to []byte, fn func(key, value []byte) error) error {
	strip := len(s.prefix) + 32
	buf := make([]byte, 0, 2*strip+len(from)+len(to)) // one allocation for both keys
	buf = s.key(buf, feed, from)
	lo := buf[:len(buf):len(buf)]
	hi := s.key(buf[len(lo):], feed, to)
	// Every key in [lo, hi) starts with their common prefix: the iterator
	// then takes only the tables whose keys may (a feed's records of one
	// kind, for the lookup of a block in a run, rather than all of its).
	p := strip
	for p < len(lo) && p < len(hi) && lo[p] == hi[p] {
		p++
	}
	return s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = lo[:p]
		opts.PrefetchValues = false // a short range: read each value in place
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(lo); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()
			if bytes.Compare(k, hi) >= 0 {
				return nil
			}
			if err := item.Value(func(v []byte) error { return fn(k[strip:], v) }); err != nil {
				return err
			}
		}
		return nil
	})
}

// Commit implements Store.
func (s *BadgerStore) Commit(feed Key, b *Batch) error {
	txn, err := s.CommitIn(s.db.NewTransaction(true), feed, b)
	defer txn.Discard()
	if err != nil {
		return err
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("feedtree: committing to store: %w", err)
	}
	return nil
}

// CommitIn writes b into txn instead of committing it, so that a caller
// can commit a feed's records together with its own. A batch too big for
// one transaction commits txn when it fills up and goes on in a new one,
// in order (Store.Commit's rule: the record that makes the rest visible
// goes last). It returns the transaction to go on with, which the caller
// commits or discards.
func (s *BadgerStore) CommitIn(txn *badger.Txn, feed Key, b *Batch) (*badger.Txn, error) {
	n := 0
	for _, op := range b.ops {
		n += len(s.prefix) + 32 + len(op.key)
	}
	arena := make([]byte, 0, n) // badger holds keys until commit: one allocation for all
	for _, op := range b.ops {
		start := len(arena)
		arena = s.key(arena, feed, op.key)
		k := arena[start:len(arena):len(arena)]
		apply := func() error {
			if op.del {
				return txn.Delete(k)
			}
			return txn.Set(k, op.value)
		}
		err := apply()
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				return txn, fmt.Errorf("feedtree: committing to store: %w", err)
			}
			txn = s.db.NewTransaction(true)
			err = apply()
		}
		if err != nil {
			return txn, fmt.Errorf("feedtree: writing to store: %w", err)
		}
	}
	return txn, nil
}
