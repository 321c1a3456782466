package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/dgraph-io/badger/v4"

	"indexd/dag"
)

// Follow is a followed index, optionally narrowed to some authors for what
// is shown and notified. The whole index still replicates: causal apply
// needs every ancestor.
type Follow struct {
	Index   string   `json:"index"`
	Name    string   `json:"name,omitempty"`
	Authors []string `json:"authors,omitempty"`
}

func followKey(idx dag.IndexKey) []byte { return append([]byte("n/follow/"), idBytesIndex(idx)...) }
func muteKey(id dag.Identity) []byte {
	b := id.Bytes()
	return append([]byte("n/mute/"), b[:]...)
}

// setFollow records a follow (persisted across restarts).
func (n *Node) setFollow(idx dag.IndexKey, authors []dag.Identity) error {
	f := Follow{Index: idx.String()}
	for _, a := range authors {
		f.Authors = append(f.Authors, a.String())
	}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return n.db.Update(func(txn *badger.Txn) error {
		if err := txn.Delete(removeKey(idx)); err != nil { // following again cancels a removal
			return err
		}
		return txn.Set(followKey(idx), b)
	})
}

func (n *Node) isFollowed(idx dag.IndexKey) bool {
	err := n.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(followKey(idx))
		return err
	})
	return err == nil
}

// Follows lists the followed indexes.
func (n *Node) Follows(ctx context.Context) ([]Follow, error) {
	out, err := n.storedFollows()
	for i := range out {
		if k, err := dag.ParseIndexKey(out[i].Index); err == nil {
			if m, err := n.dag.Manifest(k); err == nil {
				out[i].Name = m.Name
			}
		}
	}
	return out, err
}

// storedFollows reads the follow records, without index names.
func (n *Node) storedFollows() ([]Follow, error) {
	var out []Follow
	err := n.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("n/follow/"), PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var f Follow
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &f) }); err != nil {
				return err
			}
			out = append(out, f)
		}
		return nil
	})
	return out, err
}

func (n *Node) followedAuthors(idx dag.IndexKey) map[string]bool {
	var f Follow
	err := n.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(followKey(idx))
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error { return json.Unmarshal(v, &f) })
	})
	if err != nil || len(f.Authors) == 0 {
		return nil
	}
	m := map[string]bool{}
	for _, a := range f.Authors {
		m[a] = true
	}
	return m
}

// followAuthorLists returns, for each followed index with an --author
// list, its index key and the identities on it.
func (n *Node) followAuthorLists() map[string][]string {
	var out map[string][]string
	fs, _ := n.storedFollows() // the records read before one that fails still narrow
	for _, f := range fs {
		k, err := dag.ParseIndexKey(f.Index)
		if err != nil || len(f.Authors) == 0 {
			continue
		}
		if out == nil {
			out = map[string][]string{}
		}
		out[k.String()] = f.Authors
	}
	return out
}

// Unfollow stops replicating an index (also after a restart, unless this
// node writes it). The data held stays searchable until RemoveIndex.
func (n *Node) Unfollow(ctx context.Context, which string) error {
	idx, err := n.ResolveIndex(which)
	if err != nil {
		return err
	}
	if !n.isFollowed(idx) {
		return fmt.Errorf("%w: not following %s", ErrNotFound, idx)
	}
	if err := n.db.Update(func(txn *badger.Txn) error { return txn.Delete(followKey(idx)) }); err != nil {
		return err
	}
	n.netUnfollow(idx)
	return nil
}

// Mute hides an author's entries from this node's searches and feeds. It
// is a local preference: it never changes the replicated state or digest.
func (n *Node) Mute(ctx context.Context, identity string, mute bool) error {
	id, err := dag.ParseIdentity(identity)
	if err != nil {
		return fmt.Errorf("%w: identity: %v", ErrBadRequest, err)
	}
	if id == n.Identity() && mute {
		return fmt.Errorf("%w: you cannot mute yourself", ErrBadRequest)
	}
	return n.db.Update(func(txn *badger.Txn) error {
		if !mute {
			err := txn.Delete(muteKey(id))
			if errors.Is(err, badger.ErrKeyNotFound) {
				return nil
			}
			return err
		}
		return txn.Set(muteKey(id), nil)
	})
}

// Muted lists muted identities, sorted.
func (n *Node) Muted(ctx context.Context) ([]string, error) {
	var out []string
	for _, m := range n.muted() {
		out = append(out, m.String())
	}
	sort.Strings(out)
	return out, nil
}

func (n *Node) muted() []dag.Identity {
	var out []dag.Identity
	_ = n.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("n/mute/")})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()[len("n/mute/"):]
			if len(k) == 32 {
				out = append(out, dag.IdentityFromBytes([32]byte(k)))
			}
		}
		return nil
	})
	return out
}
