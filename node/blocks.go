package node

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"indexd/dag"
	"indexd/feedtree"
	"indexd/index"
	"indexd/search"
)

// Block is one blocked infohash. The entries carrying it, from any
// publisher in any index, are hidden from this node's searches, Torznab,
// RSS, the web UI and watches. Like Mute it is a local preference: the
// entries still replicate (causal apply needs every node) and the state
// digests never change, so a blocklist survives every re-sync and reindex.
type Block struct {
	Infohash string `json:"infohash"` // 40 (v1) or 64 (v2) lowercase hex
	// Local: blocked on this node (Block). Lists: the subscribed
	// blocklists that block it. One or both.
	Local  bool      `json:"local,omitempty"`
	Lists  []string  `json:"lists,omitempty"`
	Reason string    `json:"reason,omitempty"` // the local one, else the first list's
	Added  time.Time `json:"added,omitzero"`   // of the local block
}

// BlockResult says what a Block call did.
type BlockResult struct {
	// Infohashes are the distinct infohashes the items named, sorted.
	Infohashes []string `json:"infohashes"`
	// Changed is how many of them were newly blocked (or, for an unblock,
	// were blocked before).
	Changed int `json:"changed"`
	// Entries is how many live entries carry one of them now.
	Entries int `json:"entries"`
}

// MaxBlockItems is the most items one Block call takes: one badger
// transaction holds them all (so a list is stored whole or not at all),
// and badger bounds a transaction at ~48k writes with 32 MiB memtables.
const MaxBlockItems = 20_000

func blockKey(ih []byte) []byte { return append([]byte("n/block/"), ih...) }

// blockRecord is the value under a block key.
type blockRecord struct {
	Reason string `json:"reason,omitempty"`
	Added  int64  `json:"added"` // unix ms
}

// Block blocks (block true) or unblocks the infohashes that items name.
// An item is a 40- or 64-hex infohash, a magnet link (all its BitTorrent
// infohashes), or an entry id ("entry:HEX", or bare hex when an entry has
// that id and none that v2 infohash), which names the entry's infohashes.
// Items are checked first: one that names nothing fails the call with an
// ErrBadRequest naming it, and nothing is stored. Reason is kept with new
// blocks.
func (n *Node) Block(ctx context.Context, items []string, reason string, block bool) (*BlockResult, error) {
	if len(items) == 0 {
		return nil, fmt.Errorf("%w: nothing to block: give infohashes, magnet links or entry ids", ErrBadRequest)
	}
	if len(items) > MaxBlockItems {
		return nil, fmt.Errorf("%w: %d items, at most %d per call", ErrBadRequest, len(items), MaxBlockItems)
	}
	if len(reason) > 1024 {
		return nil, fmt.Errorf("%w: reason of %d bytes, at most 1024", ErrBadRequest, len(reason))
	}
	seen := map[string]bool{}
	var hashes [][]byte
	for i, it := range items {
		ihs, err := n.blockItem(strings.TrimSpace(it))
		if err != nil {
			if len(items) > 1 {
				return nil, fmt.Errorf("%w: item %d (%q): %v; nothing was changed", ErrBadRequest, i+1, clipItem(it), err)
			}
			return nil, fmt.Errorf("%w: %q: %v", ErrBadRequest, clipItem(it), err)
		}
		for _, ih := range ihs {
			if !seen[string(ih)] {
				seen[string(ih)] = true
				hashes = append(hashes, ih)
			}
		}
	}
	slices.SortFunc(hashes, bytes.Compare) // the order of their hex, without encoding each comparison
	res := &BlockResult{Infohashes: make([]string, len(hashes))}
	rec, err := json.Marshal(blockRecord{Reason: reason, Added: n.now().UnixMilli()})
	if err != nil {
		return nil, err
	}
	subs := n.listSubs()
	err = n.db.Update(func(txn *badger.Txn) error {
		for _, ih := range hashes {
			local, err := has(txn, blockKey(ih))
			if err != nil {
				return err
			}
			excepted, err := has(txn, append(slices.Clone(keyAllow), ih...))
			if err != nil {
				return err
			}
			listed := false
			for _, k := range subs {
				if listed, err = has(txn, listKey(keyListHash, k, ih)); listed || err != nil {
					break
				}
			}
			if err != nil {
				return err
			}
			if was := local || listed && !excepted; was != block {
				res.Changed++
			}
			// A local block is kept whatever the lists say (it outlives
			// them); a local unblock of what a list blocks is an exception
			// to every list.
			switch {
			case block && !local:
				err = txn.Set(blockKey(ih), rec)
			case !block && local:
				err = txn.Delete(blockKey(ih))
			}
			if err != nil {
				return err
			}
			switch {
			case block && excepted:
				err = txn.Delete(append(slices.Clone(keyAllow), ih...))
			case !block && listed && !excepted:
				err = txn.Set(append(slices.Clone(keyAllow), ih...), nil)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	n.blocks.gen.Add(1) // after the commit (or a failed one): caches recompute
	if errors.Is(err, badger.ErrTxnTooBig) {
		return nil, fmt.Errorf("%w: too many items for one call; split the list", ErrBadRequest)
	} else if err != nil {
		return nil, err
	}
	if err := n.syncOwnList(ctx); err != nil {
		// Stored here; the published list catches up at the next Block
		// or daemon start.
		n.log.Warn("blocklist: publishing", "err", err)
	}
	for i, ih := range hashes {
		res.Infohashes[i] = hex.EncodeToString(ih)
		if ids, err := n.idx.ByInfohash(ih); err == nil {
			res.Entries += len(ids)
		}
	}
	return res, nil
}

// blockItem returns the infohashes (raw bytes) one item names.
func (n *Node) blockItem(it string) ([][]byte, error) {
	if it == "" {
		return nil, errors.New("empty item")
	}
	if rest, ok := strings.CutPrefix(it, "entry:"); ok {
		id, err := dag.ParseID(rest)
		if err != nil {
			return nil, err
		}
		return n.entryInfohashes(id)
	}
	v1, v2, ok, err := search.ParseInfohash(it)
	if err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), search.ErrBadQuery.Error()+": "))
	}
	if !ok {
		return nil, errors.New("not an infohash (40 or 64 hex digits), magnet link or entry id")
	}
	var out [][]byte
	for _, h := range append(v1, v2...) {
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	// Bare 64 hex is a v2 infohash unless it is the id of an entry and no
	// entry carries it as an infohash (both are 256-bit hashes: they do not
	// collide).
	if len(v2) == 1 && len(v1) == 0 && !strings.HasPrefix(strings.ToLower(it), "magnet:") {
		if ids, err := n.idx.ByInfohash(out[0]); err == nil && len(ids) == 0 {
			if id, err := dag.ParseID(it); err == nil {
				if ihs, err := n.entryInfohashes(id); err == nil {
					return ihs, nil
				}
			}
		}
	}
	return out, nil
}

// entryInfohashes returns the infohashes of entry id.
func (n *Node) entryInfohashes(id dag.ID) ([][]byte, error) {
	e, err := n.idx.Entry(id)
	if errors.Is(err, index.ErrNotFound) {
		return nil, fmt.Errorf("no entry %s here", id)
	} else if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, ih := range [][]byte{e.InfohashV1, e.InfohashV2} {
		if len(ih) > 0 {
			out = append(out, slices.Clone(ih))
		}
	}
	return out, nil
}

// has reports whether key is in txn.
func has(txn *badger.Txn, key []byte) (bool, error) {
	_, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Blocked lists the blocked infohashes, sorted: the local blocks and what
// subscribed blocklists block (Lists), less local exceptions.
func (n *Node) Blocked(ctx context.Context) ([]Block, error) {
	byHash := map[string]*Block{}
	err := n.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("n/block/"), PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			ih := it.Item().Key()[len("n/block/"):]
			var r blockRecord
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &r) }); err != nil {
				return fmt.Errorf("node: block record of %x: %w", ih, err)
			}
			byHash[string(ih)] = &Block{Infohash: hex.EncodeToString(ih), Local: true, Reason: r.Reason, Added: time.UnixMilli(r.Added).UTC()}
		}
		return n.listedHashes(txn, func(k feedtree.Key, ih []byte, reason string) {
			b := byHash[string(ih)]
			if b == nil {
				b = &Block{Infohash: hex.EncodeToString(ih), Reason: reason}
				byHash[string(ih)] = b
			}
			b.Lists = append(b.Lists, k.String())
		})
	})
	out := make([]Block, 0, len(byHash))
	for _, b := range byHash {
		out = append(out, *b)
	}
	slices.SortFunc(out, func(a, b Block) int { return strings.Compare(a.Infohash, b.Infohash) })
	return out, err
}

// listedHashes calls fn for each infohash a subscribed list blocks, in key
// order, less those with a local exception.
func (n *Node) listedHashes(txn *badger.Txn, fn func(k feedtree.Key, ih []byte, reason string)) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: keyListHash})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		key := it.Item().Key()[len(keyListHash):]
		if len(key) <= 32 {
			continue
		}
		k, err := feedtree.KeyFromBytes(key[:32])
		if err != nil {
			continue
		}
		ih := key[32:]
		if excepted, err := has(txn, append(slices.Clone(keyAllow), ih...)); err != nil {
			return err
		} else if excepted {
			continue
		}
		var reason string
		if err := it.Item().Value(func(v []byte) error { reason = string(v); return nil }); err != nil {
			return err
		}
		fn(k, ih, reason)
	}
	return nil
}

// blocks caches the blocklist for queries: the set of blocked infohashes
// (read again when a Block call bumps gen) and the ids of the live entries
// carrying them (looked up again when the index has been written since).
type blocks struct {
	gen atomic.Uint64

	mu     sync.Mutex
	setGen uint64 // gen+1 that hashes was read at; 0: never
	hashes map[string]bool
	idsGen uint64 // gen+1 that ids were looked up at
	idxGen uint64 // index generation they were looked up at
	ids    []string
}

// blockedSetLocked refreshes b.hashes from badger when a Block call ran.
func (n *Node) blockedSetLocked() map[string]bool {
	b := &n.blocks
	g := b.gen.Load() + 1
	if b.setGen == g {
		return b.hashes
	}
	set := map[string]bool{}
	err := n.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("n/block/")})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			set[string(it.Item().Key()[len("n/block/"):])] = true
		}
		return n.listedHashes(txn, func(_ feedtree.Key, ih []byte, _ string) { set[string(ih)] = true })
	})
	if err != nil {
		return b.hashes // keep the last set read; try again next time
	}
	b.hashes, b.setGen = set, g
	return set
}

// blockedIDs returns the ids (hex, sorted) of the live entries that carry a
// blocked infohash, for a search to exclude.
func (n *Node) blockedIDs() []string {
	b := &n.blocks
	b.mu.Lock()
	set := n.blockedSetLocked()
	if len(set) == 0 {
		b.mu.Unlock()
		return nil
	}
	g, ig := b.gen.Load()+1, n.idx.Generation()
	if b.idsGen == g && b.idxGen == ig {
		ids := b.ids
		b.mu.Unlock()
		return ids
	}
	// The lookup (~1.4 µs per blocked infohash) runs without the lock, so
	// isBlocked, on every hit and watch match, does not wait for it.
	b.mu.Unlock()
	hashes := make([][]byte, 0, len(set))
	for ih := range set {
		hashes = append(hashes, []byte(ih))
	}
	// In key order (v1 before v2, then by bytes), so the seeks move forward.
	slices.SortFunc(hashes, func(a, b []byte) int { return cmp.Or(cmp.Compare(len(a), len(b)), bytes.Compare(a, b)) })
	var ids []string
	if err := n.idx.ByInfohashes(hashes, func(id dag.ID) { ids = append(ids, id.String()) }); err != nil {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.ids // the last ids looked up; try again next time
	}
	slices.Sort(ids)
	ids = slices.Compact(ids) // an entry with both infohashes blocked
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.gen.Load()+1 == g { // no Block call since: the set it came from holds
		b.ids, b.idsGen, b.idxGen = ids, g, ig
	}
	return ids
}

// blockedCount is how many infohashes are blocked.
func (n *Node) blockedCount() int {
	b := &n.blocks
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(n.blockedSetLocked())
}

// isBlocked reports whether e carries a blocked infohash.
func (n *Node) isBlocked(e *index.Entry) bool {
	b := &n.blocks
	b.mu.Lock()
	defer b.mu.Unlock()
	set := n.blockedSetLocked()
	return len(set) > 0 && (set[string(e.InfohashV1)] && len(e.InfohashV1) > 0 || set[string(e.InfohashV2)] && len(e.InfohashV2) > 0)
}

// clipItem shortens an item for an error message.
func clipItem(s string) string {
	if len(s) <= 80 {
		return s
	}
	return s[:80] + "…"
}
