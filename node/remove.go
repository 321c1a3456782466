package node

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"

	"indexd/dag"
	"indexd/index"
)

// RemoveResult says what RemoveIndex did.
type RemoveResult struct {
	Index   string `json:"index"`
	Name    string `json:"name,omitempty"`
	Entries int    `json:"entries"` // live entries it held
	// Pending says the records are still there: they are deleted when the
	// data directory next opens (an open node, a daemon above all, keeps
	// the index in memory). The index is hidden and unreplicated at once.
	Pending bool `json:"pending,omitempty"`
}

func removeKey(idx dag.IndexKey) []byte { return append([]byte("n/remove/"), idBytesIndex(idx)...) }

// removeRecord is the value under a remove key.
type removeRecord struct {
	Requested int64 `json:"requested"` // unix ms
	// Purged is set once the badger records are gone; the marker stays
	// until a clean open finds no search document of the index left (the
	// deletes of the search index are not synced one by one).
	Purged bool `json:"purged,omitempty"`
}

// RemoveIndex stops following an index and deletes everything this node
// holds of it: entries, author logs, search documents. It is hidden from
// every view at once; the records go when the data directory next opens
// (Open purges them before the DAG loads). Following it again before that
// cancels the removal; after, it fetches the index afresh. The default index and indexes this node created
// or published into are refused: their author log would be lost, and a log
// that starts over is a fork its peers would prove.
func (n *Node) RemoveIndex(ctx context.Context, which string) (*RemoveResult, error) {
	idx, err := n.ResolveIndex(which)
	if err != nil {
		return nil, err
	}
	n.removeMu.Lock()
	defer n.removeMu.Unlock()
	if d, err := n.defaultIndex(); err == nil && d == idx {
		return nil, fmt.Errorf("%w: %s is this node's default index; it cannot be removed", ErrBadRequest, idx)
	}
	m, err := n.dag.Manifest(idx)
	if err != nil && !errors.Is(err, dag.ErrNotFound) {
		return nil, err
	}
	if m == nil && !n.isFollowed(idx) {
		return nil, fmt.Errorf("%w: no index %s here", ErrNotFound, idx)
	}
	if m != nil && m.Creator == n.Identity() {
		return nil, fmt.Errorf("%w: you created index %s; removing it would lose it (unfollowing is not needed for your own)", ErrBadRequest, idx)
	}
	if _, err := os.Stat(n.logKeyPath(idx)); err == nil {
		return nil, fmt.Errorf("%w: you have published into index %s; removing it would lose your author log", ErrBadRequest, idx)
	}
	res := &RemoveResult{Index: idx.String()}
	if m != nil {
		res.Name = m.Name
	}
	if st, err := n.idx.Stats(idx); err == nil {
		res.Entries = st.Entries
	}
	rec, err := json.Marshal(removeRecord{Requested: n.now().UnixMilli()})
	if err != nil {
		return nil, err
	}
	if err := n.db.Update(func(txn *badger.Txn) error {
		if err := txn.Delete(followKey(idx)); err != nil {
			return err
		}
		return txn.Set(removeKey(idx), rec)
	}); err != nil {
		return nil, err
	}
	n.netUnfollow(idx)
	res.Pending = true
	return res, nil
}

// logKeyPath is where this device's log key for idx lives (author).
func (n *Node) logKeyPath(idx dag.IndexKey) string {
	return filepath.Join(n.dir, "logs", hex.EncodeToString(idBytesIndex(idx))+".key")
}

// removals lists the indexes with a remove marker.
func (n *Node) removals() (map[dag.IndexKey]removeRecord, error) {
	out := map[dag.IndexKey]removeRecord{}
	err := n.db.View(func(txn *badger.Txn) error {
		p := []byte("n/remove/")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()[len(p):]
			if len(k) != 32 {
				continue
			}
			var r removeRecord
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &r) }); err != nil {
				return fmt.Errorf("node: remove marker %x: %w", k, err)
			}
			out[dag.IndexKeyFromBytes([32]byte(k))] = r
		}
		return nil
	})
	return out, err
}

// removing reports whether idx is being removed (hidden from every view).
func (n *Node) removing(idx dag.IndexKey) bool {
	err := n.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(removeKey(idx))
		return err
	})
	return err == nil
}

// removingKeys returns the key texts of the indexes being removed.
func (n *Node) removingKeys() []string {
	rs, _ := n.removals()
	var out []string
	for k := range rs {
		out = append(out, k.String())
	}
	return out
}

// purgeRemoved deletes the badger records of every index marked for
// removal; Open runs it before the DAG loads.
func (n *Node) purgeRemoved() error {
	rs, err := n.removals()
	if err != nil {
		return err
	}
	for idx, r := range rs {
		if r.Purged {
			continue
		}
		if err := dag.Purge(n.db, prefixDAG, idx); err != nil {
			return err
		}
		if err := index.Purge(n.db, prefixIndex, idx); err != nil {
			return err
		}
		r.Purged = true
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := n.db.Update(func(txn *badger.Txn) error {
			for _, k := range [][]byte{followKey(idx), scursorKey(idx)} {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return txn.Set(removeKey(idx), b)
		}); err != nil {
			return err
		}
		n.log.Info("removed index", "index", idx.String())
	}
	return nil
}

// finishRemovals deletes the search documents of purged indexes; Open runs
// it once search is open. A marker goes when a clean open finds nothing
// left to delete.
func (n *Node) finishRemovals(ctx context.Context, clean bool) error {
	rs, err := n.removals()
	if err != nil {
		return err
	}
	for idx, r := range rs {
		if !r.Purged {
			continue
		}
		k, err := n.search.DeleteIndex(ctx, idx.String())
		if err != nil {
			return err
		}
		if k == 0 && clean {
			if err := n.db.Update(func(txn *badger.Txn) error { return txn.Delete(removeKey(idx)) }); err != nil {
				return err
			}
		}
	}
	return nil
}
