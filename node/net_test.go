package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openOfflineNode initialises and opens a node in a temp dir, without
// its network.
func openOfflineNode(t *testing.T) *Node {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := Init(ctx, dir); err != nil {
		t.Fatal(err)
	}
	n, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func openTestNode(t *testing.T) *Node {
	t.Helper()
	n := openOfflineNode(t)
	if err := n.StartNet(context.Background(), NetOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}}); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFollowLive: B follows A's index by link; what A publishes reaches
// B's search, live, and both report the same digest.
func TestFollowLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := openTestNode(t), openTestNode(t)
	link, err := a.IndexLink(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Follow(ctx, FollowRequest{Index: link}); err != nil {
		t.Fatal(err)
	}
	tor, err := os.ReadFile(filepath.Join("..", "..", "shared", "fixtures", "multi.torrent"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := a.Publish(ctx, PublishRequest{Torrent: tor})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the entry on B", func() bool {
		res, err := b.Search(ctx, SearchRequest{Query: "alpha"})
		return err == nil && len(res.Hits) == 1 && res.Hits[0].ID == v.ID
	})
	digest := func(n *Node) string {
		st, err := n.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, is := range st.Indexes {
			if strings.Contains(link, strings.TrimPrefix(is.Key, "index:")) {
				return is.Digest
			}
		}
		return ""
	}
	waitFor(t, 10*time.Second, "equal digests", func() bool { return digest(a) != "" && digest(a) == digest(b) })
}
