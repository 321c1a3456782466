package feedtree

import (
	"errors"

	"github.com/dgraph-io/badger/v4"
)

// Store keeps the records of many feeds, each in its own keyspace named by
// the feed key. A Store is safe for concurrent use.
type Store interface {
	// Get returns a copy of the value under key in feed's keyspace, or ErrNotFound.
	Get(feed Key, key []byte) ([]byte, error)
	// Iterate calls fn for each record of feed whose key starts with prefix,
	// in ascending key order, until fn returns an error (which it returns).
	// key and value are valid only during the call.
	Iterate(feed Key, prefix []byte, fn func(key, value []byte) error) error
	// Commit applies b to feed's keyspace atomically and durably, in order.
	Commit(feed Key, b *Batch) error
}

// Batch is an ordered list of writes for Store.Commit. The zero value is empty
// and ready to use.
type Batch struct {
	ops []batchOp
}

type batchOp struct {
	key, value []byte
	del        bool
}

// Set records a write of value under key. Batch keeps key and value as given:
// do not modify them until the batch is committed.
func (b *Batch) Set(key, value []byte) { b.ops = append(b.ops, batchOp{key: key, value: value}) }

// Delete records a deletion of key.
func (b *Batch) Delete(key []byte) { b.ops = append(b.ops, batchOp{key: key, del: true}) }

// Len returns the number of writes in b.
func (b *Batch) Len() int { return len(b.ops) }

// Reset empties b, keeping its capacity.
func (b *Batch) Reset() { clear(b.ops); b.ops = b.ops[:0] }

// NewMemStore returns a Store in memory.
func NewMemStore() Store {
	return nil
}

// NewBadgerStore returns a Store keeping every feed in db under
// prefix || feed key (32 bytes) || record key. See the package doc for the
// record keys.
func NewBadgerStore(db *badger.DB, prefix []byte) Store {
	return nil
}

var _ = errors.New
