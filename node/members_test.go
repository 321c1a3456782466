package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"indexd/dag"
	"indexd/index"
)

// TestAllowlistMembers: in an allowlist index only the creator grants and
// revokes. A member is refused before its grant has reached it, with
// nothing appended to its log; it publishes once the grant has; after a
// revoke it is refused again, and what it published while granted stays.
func TestAllowlistMembers(t *testing.T) {
	ctx := context.Background()
	a, b := openBare(t), openBare(t)
	info, err := a.CreateIndex(ctx, "club", "allowlist")
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := dag.ParseIndexKey(info.Key)
	m, _ := a.dag.Manifest(idx)
	if err := b.dag.PutManifest(m); err != nil {
		t.Fatal(err)
	}
	bid := b.Identity().String()
	magnet := func(i int) string {
		return fmt.Sprintf("magnet:?xt=urn:btih:%040x&dn=club.entry.%d", 0xc1b000+i, i)
	}
	exchange := func(src, dst *Node) {
		t.Helper()
		syncAll(t, src, dst, idx)
		if _, err := dst.refresh(ctx, idx); err != nil {
			t.Fatal(err)
		}
	}
	members := func(n *Node) []string {
		t.Helper()
		ml, err := n.Members(ctx, info.Key)
		if err != nil {
			t.Fatal(err)
		}
		if ml.Policy != "allowlist" || ml.Creator != a.Identity().String() {
			t.Fatalf("Members = %+v; want allowlist by %s", ml, a.Identity())
		}
		return ml.Members
	}

	if _, err := b.Publish(ctx, PublishRequest{Index: info.Key, Magnet: magnet(1)}); !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "index grant") {
		t.Fatalf("publish before a grant: %v; want ErrForbidden saying how to get one", err)
	}
	if logs, _ := b.dag.Logs(idx); len(logs) != 0 {
		t.Fatalf("a refused publish appended: %d logs", len(logs))
	}
	if err := b.SetMember(ctx, info.Key, bid, true); !errors.Is(err, ErrForbidden) {
		t.Errorf("a member granting itself: %v; want ErrForbidden", err)
	}
	if err := a.SetMember(ctx, info.Key, a.Identity().String(), false); !errors.Is(err, ErrBadRequest) {
		t.Errorf("the creator revoking itself: %v; want ErrBadRequest", err)
	}

	if err := a.SetMember(ctx, info.Key, bid, true); err != nil {
		t.Fatal(err)
	}
	if got := members(a); !slices.Equal(got, []string{bid}) {
		t.Fatalf("after the grant, A's members = %v; want [%s]", got, bid)
	}
	exchange(a, b)
	if got := members(b); !slices.Equal(got, []string{bid}) {
		t.Fatalf("after the grant reached B, its members = %v", got)
	}
	v, err := b.Publish(ctx, PublishRequest{Index: info.Key, Magnet: magnet(2)})
	if err != nil {
		t.Fatalf("publish after the grant: %v", err)
	}
	exchange(b, a)
	if _, err := a.Entry(ctx, v.ID); err != nil {
		t.Fatalf("B's granted entry on A: %v", err)
	}

	if err := a.SetMember(ctx, info.Key, bid, false); err != nil {
		t.Fatal(err)
	}
	exchange(a, b)
	if got := members(b); len(got) != 0 {
		t.Fatalf("after the revoke, B's members = %v; want none", got)
	}
	if _, err := b.Publish(ctx, PublishRequest{Index: info.Key, Magnet: magnet(3)}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("publish after the revoke: %v; want ErrForbidden", err)
	}
	for _, n := range []*Node{a, b} {
		if _, err := n.Entry(ctx, v.ID); err != nil {
			t.Errorf("the entry published while granted is gone: %v", err)
		}
	}

	open, err := a.Members(ctx, "")
	if err != nil || open.Policy != "open" || len(open.Members) != 0 {
		t.Errorf("Members of the open default index = %+v, %v", open, err)
	}
	if err := a.SetMember(ctx, "", bid, true); !errors.Is(err, ErrBadRequest) {
		t.Errorf("a grant in an open index: %v; want ErrBadRequest", err)
	}
}

// TestFollowAuthorsNarrowSearch: following an index with an --author list
// shows only those authors' entries of that index, in searches as in
// watches; other indexes are untouched, and an explicit author filter
// asks past the list.
func TestFollowAuthorsNarrowSearch(t *testing.T) {
	ctx := context.Background()
	n := openOfflineNode(t)
	idx, alice := foreignIndex(t, n, "shared", "magnet:?xt=urn:btih:"+strings.Repeat("a1", 20)+"&dn=narrow.by.alice")
	bob, err := dag.GenerateAuthor(nil)
	if err != nil {
		t.Fatal(err)
	}
	put, _ := index.FromMagnet("magnet:?xt=urn:btih:" + strings.Repeat("b2", 20) + "&dn=narrow.by.bob")
	if _, err := n.dag.Append(ctx, idx, bob, dag.Op{Kind: dag.OpPut, Put: put}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.refresh(ctx, idx); err != nil {
		t.Fatal(err)
	}
	publishMagnet(t, n, "", "magnet:?xt=urn:btih:"+strings.Repeat("c3", 20)+"&dn=narrow.by.me")
	titles := func(req SearchRequest) []string {
		t.Helper()
		res, err := n.Search(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range res.Hits {
			out = append(out, h.Title)
		}
		slices.Sort(out)
		return out
	}
	all := []string{"narrow.by.alice", "narrow.by.bob", "narrow.by.me"}
	if got := titles(SearchRequest{Query: "narrow"}); !slices.Equal(got, all) {
		t.Fatalf("before the follow: %v; want %v", got, all)
	}
	if _, err := n.Follow(ctx, FollowRequest{Index: idx.String(), Authors: []string{alice.Identity.Public().String()}}); err != nil {
		t.Fatal(err)
	}
	if got := titles(SearchRequest{Query: "narrow"}); !slices.Equal(got, []string{"narrow.by.alice", "narrow.by.me"}) {
		t.Errorf("following alice only: %v; want alice's and this node's own", got)
	}
	if got := titles(SearchRequest{Query: "narrow", Authors: []string{bob.Identity.Public().String()}}); !slices.Equal(got, []string{"narrow.by.bob"}) {
		t.Errorf("asking for bob by name: %v; want bob's", got)
	}
	if _, err := n.Follow(ctx, FollowRequest{Index: idx.String()}); err != nil {
		t.Fatal(err)
	}
	if got := titles(SearchRequest{Query: "narrow"}); !slices.Equal(got, all) {
		t.Errorf("followed again without a list: %v; want all", got)
	}
}
