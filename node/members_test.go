package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"indexd/dag"
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
