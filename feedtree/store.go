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
	mu    sync.RWMutex
	feeds map[Key]map[string][]byte
}

// NewMemStore returns a Store in memory. Iterate sorts the feed's keys on
// every call: it is meant for tests and small feeds.
func NewMemStore() Store {
	return &memStore{feeds: map[Key]map[string][]byte{}}
}

func (m *memStore) Get(feed Key, key, dst []byte) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.feeds[feed][string(key)]
	if !ok {
		return dst, ErrNotFound
	}
	return append(dst, v...), nil
}

func (m *memStore) Has(feed Key, key []byte) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.feeds[feed][string(key)]
	return ok, nil
}

func (m *memStore) Iterate(feed Key, prefix []byte, fn func(key, value []byte) error) error {
	return m.each(feed, func(k string) bool { return strings.HasPrefix(k, string(prefix)) }, fn)
}

func (m *memStore) Scan(feed Key, from, to []byte, fn func(key, value []byte) error) error {
	return m.each(feed, func(k string) bool { return k >= string(from) && k < string(to) }, fn)
}

// each calls fn for the records of feed whose keys match, in key order.
func (m *memStore) each(feed Key, match func(string) bool, fn func(key, value []byte) error) error {
	m.mu.RLock()
	var keys []string
	for k := range m.feeds[feed] {
		if match(k) {
			keys = append(keys, k)
		}
	}
	m.mu.RUnlock()
	slices.Sort(keys)
	for _, k := range keys {
		m.mu.RLock()
		v, ok := m.feeds[feed][k]
		m.mu.RUnlock()
		if !ok {
			continue
		}
		if err := fn([]byte(k), v); err != nil {
			return err
		}
	}
	return nil
}

func (m *memStore) Commit(feed Key, b *Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.feeds[feed]
	if f == nil {
		f = map[string][]byte{}
		m.feeds[feed] = f
	}
	for _, op := range b.ops {
		if op.del {
			delete(f, string(op.key))
		} else {
			f[string(op.key)] = bytes.Clone(op.value)
		}
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
	lo, hi := s.key(nil, feed, from), s.key(nil, feed, to)
	strip := len(s.prefix) + 32
	return s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = s.key(nil, feed, nil)
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
