package index

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/crypto/blake2b"

	"indexd/dag"
	"indexd/internal/recent"
)

// Options configures Open. The zero value means defaults.
type Options struct {
	// ChunkNodes is how many applied nodes Sync reads from the DAG at a
	// time. Default: 1024.
	ChunkNodes int
	// BatchBytes bounds the bytes one Sync transaction writes before it
	// commits (the cursor commits with it). Default: a quarter of badger's
	// largest transaction (db.MaxBatchSize()/4).
	BatchBytes int64
}

// Index materialises the entries of the indexes a dag.DAG holds into badger,
// under its own key prefix. Sync is serialised; reads run concurrently on
// badger snapshots and see whole Sync batches only.
type Index struct {
	db   *badger.DB
	k    keys
	d    *dag.DAG
	opts Options

	mu sync.Mutex // serialises Sync and Rebuild

	// written holds the entries of the last committed Sync transactions,
	// by id, as Sync built them: the search stage reads every changed
	// entry right after Sync wrote it (at 200k entries those badger reads
	// were 7 % of an import's CPU; decoding the cached bytes, ~4 µs an
	// entry, was 2–3 % more).
	written *recent.Cache[dag.ID, *Entry]
	// rebuilding is set while rebuildLocked syncs (under mu).
	rebuilding bool
	// inRebuild is the index a rebuild is under way for: Changes holds
	// back its records until the rebuild has given unchanged entries their
	// old ones back (keepUnchanged).
	inRebuild atomic.Pointer[dag.IndexKey]

	// gen counts writes to the entries: every write path bumps it after
	// its commit (wrote). Digest caches its result per index with the gen
	// it read before its snapshot, so a cached digest is one no commit has
	// followed: status, the web UI and metrics scrapes would otherwise
	// hash every entry each time (~3 s of CPU at a million).
	gen      atomic.Uint64
	digestMu sync.Mutex
	digests  map[dag.IndexKey]cachedDigest
}

type cachedDigest struct {
	gen uint64
	sum [32]byte
}

// wrote marks that a write to the entries has committed (or may have).
func (x *Index) wrote() { x.gen.Add(1) }

// Generation counts the writes to the entries that have committed: a value
// computed from a snapshot taken after reading Generation is current while
// Generation still returns the same number.
func (x *Index) Generation() uint64 { return x.gen.Load() }

// writtenEntries is how many entries Index.written holds (~15 MiB of
// synthetic torrent-like entries beyond what they share with the DAG's
// nodes; their encoded bytes took 19.5 MiB): more than the node's search stage lags behind
// Sync in a bulk import or a catch-up (two or three batches of a few
// thousand).
const writtenEntries = 20000

// Open opens the index state kept in db under prefix, which it owns (doc.go
// lists the keys), for the indexes of d. A state written by another
// schemaVersion is dropped (the change log kept), so the next Sync of each
// index materialises it again from the DAG. The caller keeps db and d open
// until it stops using x; Index holds no goroutines and needs no Close.
func Open(db *badger.DB, prefix []byte, d *dag.DAG, opts Options) (*Index, error) {
	if db == nil || d == nil {
		return nil, errors.New("index: Open needs a badger DB and a DAG")
	}
	if opts.ChunkNodes <= 0 {
		opts.ChunkNodes = 1024
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = db.MaxBatchSize() / 4
	}
	x := &Index{db: db, k: keys{prefix: slices.Clone(prefix)}, d: d, opts: opts, written: recent.New[dag.ID, *Entry](writtenEntries)}
	if err := x.checkSchema(); err != nil {
		return nil, err
	}
	return x, nil
}

func (x *Index) checkSchema() error {
	var have []byte
	empty := true
	err := x.db.View(func(txn *badger.Txn) error {
		v, err := getValue(txn, x.k.schema())
		if err == nil {
			have = v
			return nil
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: x.k.prefix})
		defer it.Close()
		it.Rewind()
		empty = !it.Valid()
		return nil
	})
	if err != nil {
		return fmt.Errorf("index: reading schema version: %w", err)
	}
	if have != nil {
		if v, err := decodeU64("schema", have); err == nil && v == schemaVersion {
			return nil
		}
	}
	var idxs []dag.IndexKey
	if !empty || have != nil {
		// Another schema: drop the materialised state, keep the change log
		// (its counter must only grow), and let a Rebuild of each index
		// build it again, with a change-of record per id in the log so that
		// the log keeps one record per id.
		keep := func(k []byte) bool {
			t := k[len(x.k.prefix)]
			return t == tagChangeCtr || t == tagChange
		}
		if err := x.deleteWhere(x.k.prefix, keep); err != nil {
			return fmt.Errorf("index: dropping state of another schema: %w", err)
		}
		if err := x.changeOfFromLog(); err != nil {
			return fmt.Errorf("index: dropping state of another schema: %w", err)
		}
		if idxs, err = x.d.Indexes(); err != nil {
			return err
		}
	}
	return x.db.Update(func(txn *badger.Txn) error {
		for _, idx := range idxs {
			if err := txn.Set(x.k.rebuild(idx), nil); err != nil {
				return err
			}
		}
		return txn.Set(x.k.schema(), u64(schemaVersion))
	})
}

// changeOfFromLog writes a change-of record for each change record, of
// every index: the layout of the change log is the same in every schema.
func (x *Index) changeOfFromLog() error {
	wb := x.db.NewWriteBatch()
	defer wb.Cancel()
	prefix := x.k.tag(tagChange, 0)
	err := x.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			id, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if len(k) != len(prefix)+40 || len(id) != 32 {
				continue // not a change record: nothing to carry over
			}
			idx := dag.IndexKeyFromBytes([32]byte(k[len(prefix):]))
			seq := binary.BigEndian.Uint64(k[len(prefix)+32:])
			if err := wb.Set(x.k.changeOf(idx, dag.IDFromBytes([32]byte(id))), u64(seq)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return wb.Flush()
}

// deleteWhere deletes every key under prefix for which keep returns false.
func (x *Index) deleteWhere(prefix []byte, keep func([]byte) bool) error {
	wb := x.db.NewWriteBatch()
	defer wb.Cancel()
	err := x.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			if keep != nil && keep(k) {
				continue
			}
			if err := wb.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer x.wrote()
	return wb.Flush()
}

func getValue(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

// Entry returns the entry with id (the hash of its put node), tombstones
// included, or ErrNotFound. The entry may be shared with other readers (and
// its slices and map with the DAG's nodes): do not modify it.
func (x *Index) Entry(id dag.ID) (*Entry, error) {
	if e, ok := x.written.Get(id); ok {
		return e, nil
	}
	// An entry's id is its put node's: the DAG knows the index.
	idx, err := x.d.Locate(id)
	if errors.Is(err, dag.ErrNotFound) {
		return nil, fmt.Errorf("entry %v: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var e *Entry
	err = x.db.View(func(txn *badger.Txn) error {
		v, err := getValue(txn, x.k.entry(idx, id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("entry %v: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		_, b, err := splitEntryValue(v)
		if err != nil {
			return err
		}
		e, err = DecodeEntry(b)
		return err
	})
	return e, err
}

// ByInfohash returns the ids of the live entries, in every index, that carry
// infohash ih: a v1 (20 bytes) or v2 (32 bytes) infohash. The ids are in
// byte order.
func (x *Index) ByInfohash(ih []byte) ([]dag.ID, error) {
	if len(ih) != 20 && len(ih) != 32 {
		return nil, fmt.Errorf("index: infohash of %d bytes, want 20 or 32", len(ih))
	}
	var out []dag.ID
	prefix := x.k.infohash(ih, dag.ID{})
	prefix = prefix[:len(prefix)-32]
	err := x.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != len(prefix)+32 {
				continue
			}
			out = append(out, dag.IDFromBytes([32]byte(k[len(prefix):])))
		}
		return nil
	})
	return out, err
}

// ByInfohashes calls fn with the ids of the live entries, in every index,
// that carry any of the infohashes (20 or 32 bytes each; others are
// skipped), reading them in one snapshot with one iterator (~1.3 µs per
// hash here: 100,000 take 0.13 s). Hashes in key order (v1 before v2, by
// bytes) make the seeks move forward.
func (x *Index) ByInfohashes(ihs [][]byte, fn func(dag.ID)) error {
	return x.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for _, ih := range ihs {
			if len(ih) != 20 && len(ih) != 32 {
				continue
			}
			prefix := x.k.infohash(ih, dag.ID{})
			prefix = prefix[:len(prefix)-32]
			for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
				if k := it.Item().Key(); len(k) == len(prefix)+32 {
					fn(dag.IDFromBytes([32]byte(k[len(prefix):])))
				}
			}
		}
		return nil
	})
}

// Change says that entry ID changed (was created, amended, retracted, or
// removed by a Rebuild) at local change number Seq. Seqs grow; an entry
// appears once in the log, at its latest change.
type Change struct {
	Seq uint64
	ID  dag.ID
}

// Changes returns up to limit changes of idx with Seq > after, in Seq order
// (limit ≤ 0: all). A follower (search) keeps the last Seq it handled and
// reads Entry for each id; ErrNotFound means the entry is gone. While a
// Rebuild of idx runs in this process it returns none: the rebuild ends
// with only the entries it changed as changes.
func (x *Index) Changes(idx dag.IndexKey, after uint64, limit int) ([]Change, error) {
	if r := x.inRebuild.Load(); r != nil && *r == idx {
		return nil, nil // come back after the rebuild (the next Sync's caller does)
	}
	var out []Change
	prefix := x.k.idxTag(tagChange, idx, 0)
	err := x.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 256})
		defer it.Close()
		for it.Seek(x.k.change(idx, after+1)); it.Valid(); it.Next() {
			if limit > 0 && len(out) >= limit {
				return nil
			}
			k := it.Item().Key()
			if len(k) != len(prefix)+8 {
				return fmt.Errorf("index: corrupt change key")
			}
			var id []byte
			id, err := it.Item().ValueCopy(id)
			if err != nil {
				return err
			}
			if len(id) != 32 {
				return fmt.Errorf("index: corrupt change record")
			}
			out = append(out, Change{Seq: binary.BigEndian.Uint64(k[len(prefix):]), ID: dag.IDFromBytes([32]byte(id))})
		}
		return nil
	})
	return out, err
}

// Each calls fn for every entry of idx, tombstones included, in id order,
// on one consistent snapshot. It stops at fn's first error and returns it.
func (x *Index) Each(idx dag.IndexKey, fn func(*Entry) error) error {
	return x.eachRaw(idx, func(b []byte) error {
		e, err := DecodeEntry(b)
		if err != nil {
			return err
		}
		return fn(e)
	})
}

// eachRaw calls fn with the stored (canonical CBOR) form of every entry of
// idx in id order. b is valid only during the call.
func (x *Index) eachRaw(idx dag.IndexKey, fn func(b []byte) error) error {
	prefix := x.k.idxTag(tagEntry, idx, 0)
	return x.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 256})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			err := it.Item().Value(func(v []byte) error {
				_, b, err := splitEntryValue(v)
				if err != nil {
					return err
				}
				return fn(b)
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// Digest returns the state digest of idx: BLAKE2b-256 of the core
// deterministic CBOR array of all its entries (tombstones included), sorted
// by id, each in the form Entry.MarshalBinary gives. Two replicas that
// applied the same set of nodes have the same digest.
func (x *Index) Digest(idx dag.IndexKey) ([32]byte, error) {
	// A commit between this load and the snapshot below leaves the result
	// cached under an older gen, which the commit's bump has passed.
	gen := x.gen.Load()
	x.digestMu.Lock()
	c, ok := x.digests[idx]
	x.digestMu.Unlock()
	if ok && c.gen == gen {
		return c.sum, nil
	}
	out, err := x.digest(idx)
	if err == nil {
		x.digestMu.Lock()
		if x.digests == nil {
			x.digests = map[dag.IndexKey]cachedDigest{}
		}
		x.digests[idx] = cachedDigest{gen: gen, sum: out}
		x.digestMu.Unlock()
	}
	return out, err
}

func (x *Index) digest(idx dag.IndexKey) ([32]byte, error) {
	var out [32]byte
	prefix := x.k.idxTag(tagEntry, idx, 0)
	err := x.db.View(func(txn *badger.Txn) error {
		var n uint64
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		it.Close()
		h, _ := blake2b.New256(nil)
		h.Write(cborArrayHeader(nil, n))
		it = txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 256})
		defer it.Close()
		var seen uint64
		for it.Rewind(); it.Valid(); it.Next() {
			err := it.Item().Value(func(v []byte) error {
				_, b, err := splitEntryValue(v)
				h.Write(b)
				return err
			})
			if err != nil {
				return err
			}
			seen++
		}
		if seen != n {
			return fmt.Errorf("index: digest: %d entries, then %d", n, seen)
		}
		h.Sum(out[:0])
		return nil
	})
	return out, err
}

// cborArrayHeader appends the CBOR head of an array of n items (major type
// 4, shortest form).
func cborArrayHeader(b []byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(b, 0x80|byte(n))
	case n <= 0xff:
		return append(b, 0x98, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, 0x99), uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, 0x9a), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 0x9b), n)
}

// Stats counts what an index holds. Entries counts live entries, Retracted
// tombstones, Authors the identities with at least one live entry; Heads,
// Logs and Forked come from the DAG.
type Stats struct {
	Entries, Retracted, Authors, Heads, Logs int
	Forked                                   int
}

// Stats returns the counts of idx as of the last Sync.
func (x *Index) Stats(idx dag.IndexKey) (Stats, error) {
	var st Stats
	err := x.db.View(func(txn *badger.Txn) error {
		v, err := getValue(txn, x.k.stats(idx))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		r, err := decodeStats(v)
		if err != nil {
			return err
		}
		st.Entries, st.Retracted, st.Authors = int(r.live), int(r.retracted), int(r.authors)
		return nil
	})
	if err != nil {
		return st, err
	}
	heads, err := x.d.Heads(idx)
	if err != nil {
		return st, err
	}
	st.Heads = len(heads)
	logs, err := x.d.Logs(idx)
	if err != nil {
		return st, err
	}
	st.Logs = len(logs)
	for _, l := range logs {
		if l.Forked {
			st.Forked++
		}
	}
	return st, nil
}

// Cursor returns the DAG apply counter up to which idx is materialised.
func (x *Index) Cursor(idx dag.IndexKey) (uint64, error) {
	var c uint64
	err := x.db.View(func(txn *badger.Txn) error {
		var err error
		c, err = x.readCursor(txn, idx)
		return err
	})
	return c, err
}

func (x *Index) readCursor(txn *badger.Txn, idx dag.IndexKey) (uint64, error) {
	v, err := getValue(txn, x.k.cursor(idx))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return decodeU64("cursor", v)
}

var _ = bytes.Compare
var _ = context.Background
