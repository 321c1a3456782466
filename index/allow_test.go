package index

import (
	"errors"
	"fmt"
	"testing"

	"indexd/dag"
)

// TestAllowlistCausalPast: validity is judged in each node's own causal
// past, never by arrival order, and a revoke that saw a grant wins over it
// even when its clock is behind.
func TestAllowlistCausalPast(t *testing.T) {
	db := openDB(t)
	creatorA, creatorB := testAuthor(100, 0), testAuthor(100, 1)
	user := testAuthor(101, 0)
	m := testManifest(t, dag.PolicyAllowlist, creatorA)
	idx := m.Key()
	uid := user.Identity.Public()

	ca := newReplica(t, db, "ca", m, clockFrom(1000)) // clock ahead
	cb := newReplica(t, db, "cb", m, clockFrom(0))    // clock behind
	u := newReplica(t, db, "u", m, clockFrom(500))

	// The user puts before any grant: refused everywhere, even on a replica
	// that applies the grant first.
	early := mustAppend(t, u.d, idx, user, dag.Op{Kind: dag.OpPut, Put: testPut(1)})[0]
	mustAppend(t, ca.d, idx, creatorA, dag.Op{Kind: dag.OpGrant, Member: uid})
	mustSync(t, ca.x, idx)
	if got, err := ca.x.Members(idx); err != nil || len(got) != 1 || got[0] != uid {
		t.Fatalf("Members after the grant = %v, %v; want [%v]", got, err, uid)
	}
	syncLogs(t, ca.d, u.d, idx)
	granted := mustAppend(t, u.d, idx, user, dag.Op{Kind: dag.OpPut, Put: testPut(2)})[0]

	// Device B of the creator sees the grant and revokes, with an earlier
	// time than the grant.
	syncLogs(t, ca.d, cb.d, idx)
	mustAppend(t, cb.d, idx, creatorB, dag.Op{Kind: dag.OpRevoke, Member: uid})
	syncLogs(t, cb.d, u.d, idx)
	revoked := mustAppend(t, u.d, idx, user, dag.Op{Kind: dag.OpPut, Put: testPut(3)})[0]
	// The creator's own put is always valid.
	own := mustAppend(t, cb.d, idx, creatorB, dag.Op{Kind: dag.OpPut, Put: testPut(4)})[0]

	for i, order := range [][]*replica{{ca, cb, u}, {u, cb, ca}, {cb, u, ca}} {
		r := newReplica(t, db, fmt.Sprintf("r%d", i), m, nil)
		for _, src := range order {
			syncLogs(t, src.d, r.d, idx)
			mustSync(t, r.x, idx)
		}
		if got, err := r.x.Members(idx); err != nil || len(got) != 0 {
			t.Errorf("replica %d: Members after the revoke = %v, %v; want none", i, got, err)
		}
		for _, c := range []struct {
			id   dag.ID
			want bool
			why  string
		}{
			{early, false, "put before the grant"},
			{granted, true, "put after the grant"},
			{revoked, false, "put after a revoke that saw the grant (revoke's clock behind)"},
			{own, true, "creator's put"},
		} {
			_, err := r.x.Entry(c.id)
			if got := err == nil; got != c.want {
				t.Errorf("%s: entry exists = %v (%v); want %v", c.why, got, err, c.want)
			} else if err != nil && !errors.Is(err, ErrNotFound) {
				t.Error(err)
			}
		}
	}
}
