package replicate

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"

	"indexd/dag"
	"indexd/feedtree"
)

// newContentNodeOpts is newContentNode with Options (Listen and Logger are
// set here).
func newContentNodeOpts(t testing.TB, opts Options) *contentNode {
	t.Helper()
	db := openDB(t)
	d, err := dag.Open(db, []byte("d/"), dag.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fs := &feedSet{m: map[feedtree.Key]*feedtree.Feed{}}
	opts.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	opts.Logger = quietLogger()
	h, err := New(context.Background(), d, fs, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close()
		d.Close()
		db.Close()
	})
	return &contentNode{h: h, feeds: fs}
}

// providers asks the DHT (through x's routing table) who provides k.
func providers(ctx context.Context, x *Host, k feedtree.Key) []peer.ID {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ch, err := x.disc.FindPeers(ctx, contentNamespace(k))
	if err != nil {
		return nil
	}
	var out []peer.ID
	for ai := range ch {
		out = append(out, ai.ID)
	}
	return out
}

// heldBy says whether x's DHT provider store holds a record that p
// provides k (the record a rendezvous lookup through x finds).
func heldBy(ctx context.Context, x *Host, k feedtree.Key, p peer.ID) bool {
	h, err := mh.Sum([]byte(contentNamespace(k)), mh.SHA2_256, -1)
	if err != nil {
		return false
	}
	ais, err := x.kad.ProviderStore().GetProviders(ctx, h)
	return err == nil && slices.ContainsFunc(ais, func(ai peer.AddrInfo) bool { return ai.ID == p })
}

// TestContentDiscoveryDHT: a holds a content feed and provides it as soon
// as it starts, before its DHT has met anyone (as node.StartNet does while
// the bootstrap dial is under way); then a meets the bootstrap host c. b
// knows only c and the feed key. The provider record reaches c soon (not a
// retry period later), b finds it under the feed's discovery key through
// c, FindFeedPeers dials and probes a, and b downloads and verifies the
// whole feed from a.
func TestContentDiscoveryDHT(t *testing.T) {
	c := newContentNodeOpts(t, Options{DHT: true})
	a := newContentNodeOpts(t, Options{DHT: true})
	w, blocks := writerFeed(t, 300, 4096)
	a.feeds.add(w)
	a.h.Provide(w.Key())
	a.connect(t, c)
	b := newContentNodeOpts(t, Options{DHT: true, Bootstrap: c.h.Addrs()[:1]})
	aid, err := peer.Decode(a.h.ID())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	waitFor(t, 20*time.Second, "a's provider record to reach c", func() bool {
		return heldBy(ctx, c.h, w.Key(), aid)
	})
	waitFor(t, 20*time.Second, "b to find a's provider record through c", func() bool {
		return slices.Contains(providers(ctx, b.h, w.Key()), aid)
	})

	// b may also have met a through DHT traffic (lookups through c dial
	// the closer peers c names), in which case FindFeedPeers reaches a
	// both ways; the provider record above is what proves the rendezvous.
	t.Logf("b connected to a before FindFeedPeers: %v", b.h.h.Network().Connectedness(aid) == network.Connected)
	var found []FeedPeer
	waitFor(t, 20*time.Second, "FindFeedPeers to find a", func() bool {
		found, err = b.h.FindFeedPeers(ctx, w.Key(), 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(found) > 0
	})
	if len(found) != 1 || found[0].ID != a.h.ID() || found[0].Length != 300 {
		t.Fatalf("FindFeedPeers = %+v; want a (%s) with length 300", found, a.h.ID())
	}

	// A host that has only just connected to c (a `get` with no daemon
	// starts its host, dials its bootstrap peer and looks up at once)
	// finds a on its first lookup: FindFeedPeers waits for the DHT's
	// routing table to take c in rather than asking nobody.
	d := newContentNodeOpts(t, Options{DHT: true})
	d.connect(t, c)
	dfound, err := d.h.FindFeedPeers(ctx, w.Key(), 0)
	if err != nil || len(dfound) != 1 || dfound[0].ID != a.h.ID() {
		t.Errorf("FindFeedPeers right after connecting to c = %+v, %v; want a", dfound, err)
	}

	r := replicaOf(t, w.Key(), nil)
	ids := []string{found[0].ID}
	if _, err := b.h.Upgrade(ctx, r, ids); err != nil {
		t.Fatal(err)
	}
	if err := b.h.Download(ctx, r, []BlockRange{{0, r.Length()}}, ids, nil); err != nil {
		t.Fatal(err)
	}
	checkBlocks(t, r, blocks, 0, 300)
	if got := b.h.ContentStats().BlocksIn; got != 300 {
		t.Errorf("BlocksIn = %d; want 300", got)
	}
}
