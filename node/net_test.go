package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openOfflineNode initialises and opens a node in a temp dir, without
// its network.
func openOfflineNode(t testing.TB) *Node {
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

// TestCatchUpGCMode: a fresh follower's catch-up runs in gcMode's
// catch-up setting and leaves it once done, even though its last nodes
// are applied before the session learns it has finished.
func TestCatchUpGCMode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := openTestNode(t)
	// Whatever B's pump found at its first step, a later one still has more
	// than a step to do.
	const total = 3*pumpStep + 1000
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := range total {
		v := EntryView{Name: fmt.Sprint("entry ", i), Size: 1, InfohashV1: fmt.Sprintf("%040x", i+1)}
		if err := enc.Encode(&v); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := a.Import(ctx, &buf, "", nil); err != nil || got != total {
		t.Fatalf("Import = %d, %v", got, err)
	}
	link, err := a.IndexLink(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	_, _, before := gcm.state()
	b := openTestNode(t)
	if _, err := b.Follow(ctx, FollowRequest{Index: link}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 40*time.Second, "B to catch up", func() bool {
		res, err := b.Search(ctx, SearchRequest{Query: "entry"})
		return err == nil && res.Total == total
	})
	waitFor(t, 5*time.Second, "the catch-up setting to end", func() bool {
		imports, catchUps, _ := gcm.state()
		return imports == 0 && catchUps == 0
	})
	if _, _, after := gcm.state(); after == before {
		t.Error("the catch-up never ran in the catch-up setting")
	}
}

// TestAddPeerErrors: what is not a peer address is a bad request that says
// what one looks like; a peer that cannot be reached is ErrUpstream with
// libp2p's reason on one line (the CLI prints one line); a live one dials.
func TestAddPeerErrors(t *testing.T) {
	ctx := context.Background()
	a := openTestNode(t)
	for _, bad := range []string{"garbage", "/ip4/1.2.3.4", "/ip4/127.0.0.1/tcp/1"} {
		if err := a.AddPeer(ctx, bad); !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "/p2p/") {
			t.Errorf("AddPeer(%q) = %v; want ErrBadRequest naming /p2p/", bad, err)
		}
	}
	b := openTestNode(t)
	_, addrs := b.Listening()
	if len(addrs) == 0 {
		t.Fatal("b listens nowhere")
	}
	if err := a.AddPeer(ctx, addrs[0]); err != nil {
		t.Fatalf("AddPeer(live %s): %v", addrs[0], err)
	}
	c := openTestNode(t)
	_, gone := c.Listening()
	c.Close()
	err := a.AddPeer(ctx, gone[0])
	if !errors.Is(err, ErrUpstream) || strings.Contains(err.Error(), "\n") {
		t.Errorf("AddPeer(closed %s) = %q; want ErrUpstream on one line", gone[0], err)
	}
}
