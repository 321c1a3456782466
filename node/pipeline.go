package node

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dgraph-io/badger/v4"

	"indexd/dag"
	"indexd/index"
	"indexd/search"
)

// searchBatch is how many index changes go into one bleve batch. bleve's
// cost per batch is high and per document low, so batches are large.
const searchBatch = 5000

// catchUp brings every index and the search index up to date with the DAG.
func (n *Node) catchUp(ctx context.Context) error {
	keys, err := n.dag.Indexes()
	if err != nil {
		return err
	}
	for _, k := range keys {
		if _, err := n.refresh(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// refresh runs the pipeline for one index: DAG -> entries -> search. It
// returns how many entries changed; live watchers hear of each.
func (n *Node) refresh(ctx context.Context, idx dag.IndexKey) (int, error) {
	if err := n.syncEntries(ctx, idx); err != nil {
		return 0, err
	}
	return n.syncSearch(ctx, idx)
}

// syncEntries materialises what the DAG applied into entries.
func (n *Node) syncEntries(ctx context.Context, idx dag.IndexKey) error {
	_, err := n.syncEntriesSome(ctx, idx, 0)
	return err
}

// syncEntriesSome is syncEntries that stops after about nodes DAG nodes
// (≤ 0: no limit); more reports that there is more to do.
func (n *Node) syncEntriesSome(ctx context.Context, idx dag.IndexKey, nodes int) (more bool, err error) {
	n.entryMu.Lock()
	defer n.entryMu.Unlock()
	if _, more, err = n.idx.SyncSome(ctx, idx, nodes); err != nil {
		return false, fmt.Errorf("materialising entries: %w", err)
	}
	return more, nil
}

// syncSearch feeds changed entries to bleve from the search cursor. It
// runs apart from syncEntries so a bulk import can index one batch for
// search while the next is appended and materialised, on another core.
func (n *Node) syncSearch(ctx context.Context, idx dag.IndexKey) (int, error) {
	n.pipeMu.Lock()
	defer n.pipeMu.Unlock()
	cursor, err := n.searchCursor(idx)
	if err != nil {
		return 0, err
	}
	// Only one batch of entries is held at a time: a catch-up of a million
	// entries must not keep them all for the watchers.
	total := 0
	for {
		var changed []*index.Entry
		changes, err := n.idx.Changes(idx, cursor, searchBatch)
		if err != nil {
			return total, err
		}
		if len(changes) == 0 {
			break
		}
		docs := make([]search.Doc, 0, len(changes))
		var deletes []string
		seen := make(map[dag.ID]bool, len(changes))
		for _, c := range changes {
			if seen[c.ID] {
				continue
			}
			seen[c.ID] = true
			e, err := n.idx.Entry(c.ID)
			if errors.Is(err, index.ErrNotFound) {
				deletes = append(deletes, hex.EncodeToString(idBytes(c.ID)))
				continue
			} else if err != nil {
				return total, err
			}
			if e.Retracted {
				deletes = append(deletes, hex.EncodeToString(idBytes(e.ID)))
			} else {
				docs = append(docs, toDoc(e))
			}
			changed = append(changed, e)
		}
		last := changes[len(changes)-1].Seq
		if err := n.search.Apply(docs, deletes, last); err != nil {
			return total, fmt.Errorf("indexing for search: %w", err)
		}
		if err := n.setSearchCursor(idx, last); err != nil {
			return total, err
		}
		cursor = last
		total += len(changed)
		n.watchers.notify(idx, changed)
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
	return total, nil
}

func idBytes(id dag.ID) []byte {
	b := id.Bytes()
	return b[:]
}

// toDoc converts an entry into the search package's document.
func toDoc(e *index.Entry) search.Doc {
	d := search.Doc{
		ID:          hex.EncodeToString(idBytes(e.ID)),
		Index:       e.Index.String(),
		Title:       e.Title,
		Description: e.Description,
		Name:        e.Name,
		Category:    e.Category,
		Tags:        e.Tags,
		Author:      e.Author.String(),
		Size:        e.Size,
		Published:   time.UnixMilli(e.Published).UTC(),
	}
	if len(e.InfohashV1) > 0 {
		d.InfohashV1 = hex.EncodeToString(e.InfohashV1)
	}
	if len(e.InfohashV2) > 0 {
		d.InfohashV2 = hex.EncodeToString(e.InfohashV2)
	}
	d.Files = make([]string, 0, len(e.Files))
	for _, f := range e.Files {
		d.Files = append(d.Files, f.Path)
	}
	return d
}

func scursorKey(idx dag.IndexKey) []byte {
	b := idx.Bytes()
	return append([]byte("n/scursor/"), b[:]...)
}

func (n *Node) searchCursor(idx dag.IndexKey) (uint64, error) {
	var c uint64
	err := n.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(scursorKey(idx))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("node: corrupt search cursor")
			}
			c = binary.BigEndian.Uint64(v)
			return nil
		})
	})
	return c, err
}

func (n *Node) setSearchCursor(idx dag.IndexKey, c uint64) error {
	return n.db.Update(func(txn *badger.Txn) error {
		return txn.Set(scursorKey(idx), binary.BigEndian.AppendUint64(nil, c))
	})
}

// Reindex drops the search index and rebuilds it from the materialised
// entries of every index.
func (n *Node) Reindex(ctx context.Context) error {
	keys, err := n.dag.Indexes()
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := n.idx.Rebuild(ctx, k); err != nil {
			return err
		}
	}
	dir := filepath.Join(n.dir, "search")
	if err := n.search.Close(); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if n.search, err = search.Open(dir, searchOptions); err != nil {
		return err
	}
	err = n.db.DropPrefix([]byte("n/scursor/"))
	if err != nil {
		return err
	}
	return n.catchUp(ctx)
}
