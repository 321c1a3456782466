package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"
	"sync"

	"indexd/content"
	"indexd/dag"
	"indexd/feedtree"
)

// contentFeeds keeps the content feeds this node has open: ones it writes
// (their seeds in feeds/<key>.key) and replicas it downloaded.
type contentFeeds struct {
	mu sync.Mutex
	m  map[feedtree.Key]*feedtree.Feed
}

func (c *contentFeeds) init() { c.m = map[feedtree.Key]*feedtree.Feed{} }

func (c *contentFeeds) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, f := range c.m {
		f.Close()
		delete(c.m, k)
	}
}

func (n *Node) feedKeyPath(k feedtree.Key) string {
	b := k.Bytes()
	return filepath.Join(n.dir, "feeds", hex.EncodeToString(b[:])+".key")
}

// Feed returns a feed this node holds, for replicate to serve: a content
// feed it writes, one it downloaded or is downloading, or an author log.
// Any other key is ErrNotFound, so peers cannot make it open (and keep)
// empty replicas for random keys.
func (n *Node) Feed(k feedtree.Key) (*feedtree.Feed, error) {
	n.content.mu.Lock()
	f, ok := n.content.m[k]
	n.content.mu.Unlock()
	if ok {
		return f, nil
	}
	if _, err := os.Stat(n.feedKeyPath(k)); err == nil || n.held(k) {
		return n.openFeed(k)
	}
	if lf, err := n.dag.Feed(k); err == nil {
		return lf, nil
	}
	return nil, fmt.Errorf("%w: feed %s", ErrNotFound, k)
}

// held says whether a replica of k was downloaded here.
func (n *Node) held(k feedtree.Key) bool {
	b := k.Bytes()
	err := n.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(append(append([]byte(nil), keyHeld...), b[:]...))
		return err
	})
	return err == nil
}

// openFeed opens a content feed by key, creating an empty replica when
// this node has none: writable when this node holds its seed.
func (n *Node) openFeed(k feedtree.Key) (*feedtree.Feed, error) {
	n.content.mu.Lock()
	defer n.content.mu.Unlock()
	if f, ok := n.content.m[k]; ok {
		return f, nil
	}
	var kp *feedtree.KeyPair
	if seed, err := readSecret(n.feedKeyPath(k)); err == nil {
		p := feedtree.KeyPairFromSeed(seed)
		kp = &p
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	f, err := feedtree.OpenFeed(n.feeds, k, kp)
	if err != nil {
		// Author logs live in the DAG's store.
		if lf, err2 := n.dag.Feed(k); err2 == nil {
			return lf, nil
		}
		return nil, err
	}
	n.content.m[k] = f
	return f, nil
}

// NewFeed creates a writable content feed with a fresh random key pair
// whose seed is kept in feeds/<key>.key (mode 0600).
func (n *Node) NewFeed() (*feedtree.Feed, error) {
	kp, err := feedtree.GenerateKeyPair(nil)
	if err != nil {
		return nil, err
	}
	seed := kp.Seed()
	if err := writeSecretFile(n.feedKeyPath(kp.Public()), []byte(hex.EncodeToString(seed[:])+"\n")); err != nil {
		return nil, fmt.Errorf("saving feed key: %w", err)
	}
	return n.openFeed(kp.Public())
}

// shareTorrentFile keeps the original .torrent of an entry as a small
// content feed, so any peer can offer the .torrent download.
func (n *Node) shareTorrentFile(ctx context.Context, put *dag.Put, data []byte) (*dag.FeedRef, error) {
	f, err := n.NewFeed()
	if err != nil {
		return nil, err
	}
	name := put.Name
	if name == "" {
		name = "entry"
	}
	if _, _, err := content.ShareBytes(ctx, f, name+".torrent", data, content.ShareOptions{}); err != nil {
		return nil, err
	}
	return &dag.FeedRef{Key: f.Key(), Length: f.Length()}, nil
}

// Torrent returns the original .torrent file of an entry, when it was
// published from one and this node holds its feed.
func (n *Node) Torrent(ctx context.Context, id string) ([]byte, string, error) {
	v, err := n.Entry(ctx, id)
	if err != nil {
		return nil, "", err
	}
	if v.TorrentFeed == "" {
		return nil, "", fmt.Errorf("%w: entry %s was published from a magnet link; no .torrent file", ErrNotFound, id)
	}
	k, err := feedtree.ParseKey(v.TorrentFeed)
	if err != nil {
		return nil, "", err
	}
	f, err := n.Feed(k)
	if err != nil {
		return nil, "", err
	}
	m, err := content.ReadManifest(ctx, f, nil)
	if err != nil {
		return nil, "", fmt.Errorf("%w: .torrent feed not available here: %v", ErrNotFound, err)
	}
	if len(m.Files) != 1 {
		return nil, "", fmt.Errorf("torrent feed has %d files, want 1", len(m.Files))
	}
	var buf bytes.Buffer
	if err := content.Stream(ctx, f, m.Files[0].Path, &buf, content.StreamOptions{Once: true}); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), m.Files[0].Path, nil
}
