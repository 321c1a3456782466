package replicate

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestE2ERemoveIndex: B follows A's index and unfollows it: it stays but is
// no longer synced, also after B restarts (B syncs another of A's indexes
// meanwhile). B then removes it through its daemon: it is hidden at once,
// deleted at B's next start and not synced again; following it again
// fetches it afresh, new entries included.
func TestE2ERemoveIndex(t *testing.T) {
	indexdBinary(t)
	a := startE2E(t, t.TempDir())
	bdir := t.TempDir()
	b := startE2E(t, bdir)
	key := a.defaultIndex()
	b.must("peers", "add", a.addr)
	b.must("follow", key)
	const n = 12
	for i := range n {
		a.must("publish", "--index", key, randomMagnet(fmt.Sprintf("removable.entry%d", i)))
	}
	waitFor(t, 60*time.Second, "B to catch up", e2eConverged(key, n, a, b))

	// Unfollowed, the index stays searchable but is not synced, also
	// after a restart: B syncs A's second index, not the new entry.
	b.must("unfollow", key)
	a.must("publish", "--index", key, randomMagnet("removable.unfollowed"))
	second := strings.TrimSpace(a.must("index", "create", "second"))
	a.must("publish", "--index", second, randomMagnet("second.entry"))
	b.stop(os.Interrupt)
	b = startE2E(t, bdir)
	b.must("peers", "add", a.addr)
	b.must("follow", second)
	waitFor(t, 60*time.Second, "B to sync A's second index", e2eConverged(second, 1, a, b))
	if _, k := b.digest(key); k != n {
		t.Errorf("unfollowed index after B's restart: %d entries; want %d (not synced)", k, n)
	}

	var res struct {
		Entries int  `json:"entries"`
		Pending bool `json:"pending"`
	}
	if err := json.Unmarshal([]byte(b.must("index", "remove", key, "--json")), &res); err != nil {
		t.Fatal(err)
	}
	if res.Entries != n || !res.Pending {
		t.Errorf("index remove through the daemon = %+v; want %d entries, pending", res, n)
	}
	if _, k := b.digest(key); k != -1 {
		t.Errorf("B's status still lists the removed index (%d entries)", k)
	}
	if out := b.must("search", "--json", "removable"); strings.Contains(out, `"id"`) {
		t.Errorf("B's search still finds the removed index's entries:\n%s", out)
	}

	// A publishes more, into both; B restarts.
	a.must("publish", "--index", key, randomMagnet("removable.after"))
	a.must("publish", "--index", second, randomMagnet("second.entry2"))
	b.stop(os.Interrupt)
	b = startE2E(t, bdir)
	b.must("peers", "add", a.addr)
	waitFor(t, 60*time.Second, "B to sync A's second index", e2eConverged(second, 2, a, b))
	if _, k := b.digest(key); k != -1 {
		t.Errorf("after the restart B holds the removed index again (%d entries)", k)
	}
	if out := b.must("search", "--json", "removable"); strings.Contains(out, `"id"`) {
		t.Errorf("after the restart B's search finds the removed index's entries:\n%s", out)
	}

	b.must("follow", key)
	waitFor(t, 60*time.Second, "B to fetch the index afresh", e2eConverged(key, n+2, a, b))
}
