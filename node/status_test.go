package node

import (
	"context"
	"errors"
	"strings"
	"testing"

	"indexd/dag"
	"indexd/replicate"
)

// TestStatusUnindexed: nodes the DAG holds but the index has not
// materialised show in Status and Syncing until the pipeline runs.
func TestStatusUnindexed(t *testing.T) {
	ctx := context.Background()
	n := openOfflineNode(t)
	idx, err := n.ResolveIndex("")
	if err != nil {
		t.Fatal(err)
	}
	unindexed := func() uint64 {
		t.Helper()
		st, err := n.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, is := range st.Indexes {
			if is.Key == idx.String() {
				if is.CatchUp != nil {
					t.Errorf("no network, yet CatchUp = %+v", is.CatchUp)
				}
				return is.Unindexed
			}
		}
		t.Fatalf("index %v not in status", idx)
		return 0
	}
	if got := unindexed(); got != 0 {
		t.Fatalf("fresh node: %d unindexed, want 0", got)
	}
	a, err := n.author(idx)
	if err != nil {
		t.Fatal(err)
	}
	// Straight into the DAG, as a catch-up stores nodes ahead of the pump.
	for i := range 3 {
		op := dag.Op{Kind: dag.OpPut, Put: &dag.Put{InfohashV1: make([]byte, 20), Name: "n", Size: uint64(i + 1)}}
		op.Put.InfohashV1[0] = byte(i + 1)
		if _, err := n.dag.Append(ctx, idx, a, op); err != nil {
			t.Fatal(err)
		}
	}
	if got := unindexed(); got < 3 {
		t.Errorf("after 3 appends past the index: %d unindexed, want ≥ 3", got)
	}
	if s := n.Syncing(); s.Remaining < 3 || s.Peers != 0 {
		t.Errorf("Syncing = %+v, want ≥ 3 remaining from no peers", s)
	}
	if res, err := n.Search(ctx, SearchRequest{}); err != nil || res.Syncing == nil || res.Syncing.Remaining < 3 {
		t.Errorf("search while behind: %+v, %v; want Syncing with ≥ 3 remaining", res, err)
	}
	if _, err := n.refresh(ctx, idx); err != nil {
		t.Fatal(err)
	}
	if got := unindexed(); got != 0 {
		t.Errorf("after the pipeline ran: %d unindexed, want 0", got)
	}
	if s := n.Syncing(); s != (Syncing{}) {
		t.Errorf("after the pipeline ran: Syncing = %+v, want zero", s)
	}
	if res, err := n.Search(ctx, SearchRequest{}); err != nil || res.Syncing != nil || res.Total != 3 {
		t.Errorf("search after the pipeline: %+v, %v; want 3 hits and no Syncing", res, err)
	}
}

// TestResolveIndexLink: every command that takes an index takes the link
// `index link` prints (as `follow` does), so `unfollow LINK` undoes
// `follow LINK`; a malformed link is a bad request, not "not found".
func TestResolveIndexLink(t *testing.T) {
	n := openOfflineNode(t)
	def, err := n.ResolveIndex("")
	if err != nil {
		t.Fatal(err)
	}
	link := replicate.IndexLink(def, []string{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWEW8GXiCt3hTzZPdT63btJ1r4Taq62aFQpXacR5Lzg7qF"})
	for _, s := range []string{link, replicate.IndexLink(def, nil), " " + link + "\n"} {
		if k, err := n.ResolveIndex(s); err != nil || k != def {
			t.Errorf("ResolveIndex(%.40q…) = %v, %v; want %v", s, k, err, def)
		}
	}
	if _, err := n.ResolveIndex("indexd:index:" + strings.Repeat("zz", 32)); !errors.Is(err, ErrBadRequest) {
		t.Errorf("a malformed link: %v; want ErrBadRequest", err)
	}
}

// TestStatusAwaitingManifest: an index followed by key alone, whose
// manifest no peer has sent, shows in Status as awaited rather than not at
// all; the node's own indexes do not.
func TestStatusAwaitingManifest(t *testing.T) {
	ctx := context.Background()
	n := openOfflineNode(t)
	key := "index:" + strings.Repeat("ab", 32)
	if _, err := n.Follow(ctx, FollowRequest{Index: key}); err != nil {
		t.Fatal(err)
	}
	st, err := n.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Awaiting) != 1 || st.Awaiting[0] != key {
		t.Errorf("Awaiting = %q; want [%s]", st.Awaiting, key)
	}
	if len(st.Indexes) != 1 || !st.Indexes[0].Default {
		t.Errorf("Indexes = %+v; want the default one only", st.Indexes)
	}
}

// TestStatusDisk: status says what the data directory takes, the store
// and the search index within it.
func TestStatusDisk(t *testing.T) {
	ctx := context.Background()
	n := openOfflineNode(t)
	st, err := n.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := st.Disk
	if d.Store == 0 || d.Search == 0 || d.Total < d.Store+d.Search {
		t.Fatalf("Disk = %+v; want store and search within a larger total", d)
	}
	if diskUsage(t.TempDir()) != 0 || diskUsage("/nonexistent/dir") != 0 {
		t.Error("an empty or missing directory takes room")
	}
}
