package dag

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"indexd/feedtree"
)

// Missing returns what idx needs fetched before its pending nodes can apply:
// for each log, the highest linked node this replica does not hold (logs
// replicate as prefixes, so fetching up to it fetches the rest). Links to
// nodes held but not yet applicable are not listed; their own missing
// ancestors are. Nodes Store queued that the applier has not taken yet are
// not read. In log key order.
func (d *DAG) Missing(idx IndexKey) ([]Link, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ix, err := d.index(idx)
	if err != nil {
		return nil, err
	}
	need := make(map[feedtree.Key]Link)
	for _, l := range ix.logs {
		if l.broken {
			continue
		}
		// Nodes still queued for the applier are not known to wait yet.
		for seq := l.applied; seq < l.taken(); seq++ {
			b, err := l.feed.Get(seq)
			if err != nil {
				return nil, fmt.Errorf("reading node %d of %v: %w", seq, l.key, err)
			}
			n, err := DecodeNode(b)
			if err != nil {
				break
			}
			for _, link := range n.Links {
				t := ix.logs[link.Log]
				if t != nil && (t.held > link.Seq || t.pastFork(link.Seq)) {
					continue // held, or counts nowhere (checkLink)
				}
				if have, ok := need[link.Log]; !ok || link.Seq > have.Seq {
					need[link.Log] = link
				}
			}
		}
	}
	out := make([]Link, 0, len(need))
	for _, l := range need {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Link) int { return keyCmp(a.Log, b.Log) })
	return out, nil
}

// Applied returns up to limit applied nodes of idx with apply counter
// greater than after, in apply order (a topological order: every node comes
// after the nodes it links). limit ≤ 0 means no limit.
func (d *DAG) Applied(idx IndexKey, after uint64, limit int) ([]Applied, error) {
	out, refs, err := d.appliedRefs(idx, after, limit)
	if err != nil {
		return nil, err
	}
	// Dear future: the nodes are read outside d.mu, which ingest needs
	// for every range it stores; a catching-up peer materialises its
	// entries long after the DAG stored them, so these reads miss the
	// cache of nodes just applied. They go through the feeds, which are
	// safe for concurrent use, and a block read is checked against the
	// hash its applied record names, as under the lock. Consecutive seqs
	// of one log (a log caught up in bulk applies in long runs) are one
	// ordered read.
	for i := 0; i < len(out); {
		if out[i].Node != nil {
			i++
			continue
		}
		r := refs[i]
		j := i + 1
		for j < len(out) && j-i < maxReadRun && out[j].Node == nil && refs[j].feed == r.feed && refs[j].seq == refs[j-1].seq+1 {
			j++
		}
		if j-i < minReadRun {
			for ; i < j; i++ {
				if out[i].Node, err = readBlock(refs[i].feed, refs[i].seq, out[i].Hash); err != nil {
					return nil, err
				}
			}
			continue
		}
		blocks, err := r.feed.GetRange(r.seq, r.seq+uint64(j-i), nil)
		if err != nil {
			return nil, fmt.Errorf("reading nodes %d-%d of %v: %w", r.seq, r.seq+uint64(j-i)-1, r.feed.Key(), err)
		}
		if len(blocks) != j-i {
			return nil, fmt.Errorf("dag: node %d of %v is applied but not held", r.seq+uint64(len(blocks)), r.feed.Key())
		}
		for k, b := range blocks {
			if out[i+k].Node, err = checkBlock(b, r.seq+uint64(k), r.feed, out[i+k].Hash); err != nil {
				return nil, err
			}
		}
		i = j
	}
	return out, nil
}

// Applied reads runs of at least minReadRun and at most maxReadRun blocks
// in one ordered scan (a badger iterator costs a few lookups to set up).
const (
	minReadRun = 8
	maxReadRun = 256
)

// blockRef is where Applied reads a node that was not in the cache.
type blockRef struct {
	feed *feedtree.Feed
	seq  uint64
}

// appliedRefs lists the applied records of idx after after, under d.mu:
// each with its node when the cache of the last applies holds it, else
// with where to read it.
func (d *DAG) appliedRefs(idx IndexKey, after uint64, limit int) ([]Applied, []blockRef, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ix, err := d.index(idx)
	if err != nil {
		return nil, nil, err
	}
	var out []Applied
	var refs []blockRef
	prefix := append(d.keys.tag(tagApplied), ix.key.b[:]...)
	err = d.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 64, Prefix: prefix})
		defer it.Close()
		for it.Seek(d.keys.applied(ix.key, after+1)); it.Valid(); it.Next() {
			if limit > 0 && len(out) >= limit {
				return nil
			}
			k := it.Item().Key()
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if len(v) != 72 || len(k) != len(prefix)+8 {
				return fmt.Errorf("dag: corrupt applied record")
			}
			log, err := feedtree.KeyFromBytes(v[:32])
			if err != nil {
				return fmt.Errorf("dag: corrupt applied record: %w", err)
			}
			seq := binary.BigEndian.Uint64(v[32:40])
			a := Applied{Seq: binary.BigEndian.Uint64(k[len(prefix):])}
			copy(a.Hash.b[:], v[40:])
			l := ix.logs[log]
			if l == nil {
				return fmt.Errorf("dag: applied record names unknown log %v", log)
			}
			a.Node = d.cachedNode(l, seq, a.Hash)
			a.Identity = l.identity
			out = append(out, a)
			refs = append(refs, blockRef{l.feed, seq})
		}
		return nil
	})
	return out, refs, err
}

// cachedNode is node seq of l if the cache of the last applies holds it
// with hash want, else nil.
func (d *DAG) cachedNode(l *logState, seq uint64, want ID) *Node {
	if d.applied != nil {
		if x, ok := d.applied.Get(nodeRef{l.key, seq}); ok && x.id == want {
			return x.n
		}
	}
	return nil
}

func (d *DAG) readNode(l *logState, seq uint64, want ID) (*Node, error) {
	if n := d.cachedNode(l, seq, want); n != nil {
		return n, nil
	}
	return readBlock(l.feed, seq, want)
}

// readBlock reads node seq of feed f, which must hash to want.
func readBlock(f *feedtree.Feed, seq uint64, want ID) (*Node, error) {
	b, err := f.Get(seq)
	if err != nil {
		return nil, fmt.Errorf("reading node %d of %v: %w", seq, f.Key(), err)
	}
	return checkBlock(b, seq, f, want)
}

// checkBlock decodes b, node seq of f, read back by its hash want.
func checkBlock(b []byte, seq uint64, f *feedtree.Feed, want ID) (*Node, error) {
	if HashNode(b) != want {
		return nil, fmt.Errorf("dag: node %d of %v no longer hashes to %v", seq, f.Key(), want)
	}
	return decodeApplied(b)
}

// WaitApplied returns nil once idx has an applied node with Seq > after, or
// ctx's error, or ErrClosed.
func (d *DAG) WaitApplied(ctx context.Context, idx IndexKey, after uint64) error {
	for {
		d.mu.Lock()
		ix, err := d.index(idx)
		if err != nil {
			d.mu.Unlock()
			return err
		}
		if ix.counter > after {
			d.mu.Unlock()
			return nil
		}
		ch := ix.changed
		d.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-d.done:
			return ErrClosed
		}
	}
}

// Counter returns the apply counter of idx: the Seq of the last node
// applied (0 before the first). Cheap: what WaitApplied's callers need to
// learn how far the DAG got without reading what it applied.
func (d *DAG) Counter(idx IndexKey) (uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ix, err := d.index(idx)
	if err != nil {
		return 0, err
	}
	return ix.counter, nil
}

// Node returns an applied node by its ID, with the identity of its log.
// ErrNotFound if no applied node has that ID. The node may be shared with
// other readers: do not modify it.
func (d *DAG) Node(id ID) (*Node, Identity, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, Identity{}, ErrClosed
	}
	_, log, seq, err := d.locate(id)
	if err != nil {
		return nil, Identity{}, err
	}
	l := d.logs[log]
	if l == nil {
		return nil, Identity{}, fmt.Errorf("dag: node %v in unknown log %v", id, log)
	}
	n, err := d.readNode(l, seq, id)
	if err != nil {
		return nil, Identity{}, err
	}
	return n, l.identity, nil
}

// Locate returns the index of the applied node with ID id, or ErrNotFound.
// It is one point read and takes no lock of the DAG's.
func (d *DAG) Locate(id ID) (IndexKey, error) {
	idx, _, _, err := d.locate(id)
	return idx, err
}

func (d *DAG) locate(id ID) (IndexKey, feedtree.Key, uint64, error) {
	var v []byte
	err := d.db.View(func(txn *badger.Txn) error {
		var err error
		v, err = getValue(txn, d.keys.nodeLoc(id))
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return IndexKey{}, feedtree.Key{}, 0, fmt.Errorf("node %v: %w", id, ErrNotFound)
	}
	if err != nil {
		return IndexKey{}, feedtree.Key{}, 0, err
	}
	if len(v) != 72 {
		return IndexKey{}, feedtree.Key{}, 0, fmt.Errorf("dag: corrupt node location of %v", id)
	}
	log, err := feedtree.KeyFromBytes(v[32:64])
	if err != nil {
		return IndexKey{}, feedtree.Key{}, 0, fmt.Errorf("dag: corrupt node location of %v: %w", id, err)
	}
	return IndexKey{b: [32]byte(v[:32])}, log, binary.BigEndian.Uint64(v[64:]), nil
}
