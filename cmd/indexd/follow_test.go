package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// watcher is a long-running CLI process (follow --watch, search --follow)
// whose output is read while it runs.
type watcher struct {
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
}

// startWatcher starts the binary with args and waits until its stderr
// says it is waiting for entries: only then is its subscription in place.
func startWatcher(t *testing.T, ctx context.Context, args ...string) *watcher {
	t.Helper()
	w := &watcher{cmd: exec.CommandContext(ctx, indexdBin(t), args...)}
	w.cmd.Stdout, w.cmd.Stderr = &w.stdout, &w.stderr
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.cmd.Process.Kill(); w.cmd.Wait() })
	waitFor(t, 30*time.Second, strings.Join(args[:2], " ")+" to wait for entries", func() bool {
		return strings.Contains(w.stderr.String(), "waiting for new entries")
	})
	return w
}

// titles returns the titles of the entries the watcher printed as JSON
// lines, in order (lines without an id, such as search's summary, skipped).
func (w *watcher) titles(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(w.stdout.String(), "\n") {
		var v struct{ ID, Title string }
		if l == "" || json.Unmarshal([]byte(l), &v) != nil || v.ID == "" {
			continue
		}
		out = append(out, v.Title)
	}
	return out
}

// TestFollowWatchE2E is the README's two terminals with watchers: B's
// daemon dials A's and follows its index by link with `follow --watch`,
// beside `follow --watch` of every index and `search --follow alpha`.
// Entries published on A reach each as they should: every new one in both
// watches (the follow's own also sees the catch-up), only the match in the
// search, which also does not repeat what its
// results showed; the follow persists for `follow` to list, `peers` names
// the index A shares, and `unfollow` takes the same link.
func TestFollowWatchE2E(t *testing.T) {
	a, b := twoDaemons(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	mustBin(t, "peers", "add", "--data", b.dir, a.addr)
	link := strings.TrimSpace(mustBin(t, "index", "link", "--data", a.dir))
	mustBin(t, "publish", "--data", a.dir, "magnet:?xt=urn:btih:"+strings.Repeat("01", 20)+"&dn=alpha.before")

	one := startWatcher(t, ctx, "follow", "--watch", "--json", "--data", b.dir, link)
	// The entry published before the follow arrives by catch-up; search
	// --follow must show it in its results and not again live.
	waitFor(t, 30*time.Second, "alpha.before on B", func() bool {
		return strings.Contains(mustBin(t, "search", "--json", "--data", b.dir, "alpha"), "alpha.before")
	})
	all := startWatcher(t, ctx, "follow", "--watch", "--json", "--data", b.dir)
	alpha := startWatcher(t, ctx, "search", "--follow", "--json", "--data", b.dir, "alpha")

	mustBin(t, "publish", "--data", a.dir, "magnet:?xt=urn:btih:"+strings.Repeat("02", 20)+"&dn=beta.one",
		"magnet:?xt=urn:btih:"+strings.Repeat("03", 20)+"&dn=alpha.two")
	// The follow's watch began before the catch-up, so alpha.before is new
	// to it too; the watch of every index began after.
	for _, c := range []struct {
		name string
		w    *watcher
		want []string
	}{
		{"follow --watch LINK", one, []string{"alpha.before", "alpha.two", "beta.one"}},
		{"follow --watch", all, []string{"alpha.two", "beta.one"}},
	} {
		waitFor(t, 30*time.Second, c.name+" to print the new entries", func() bool { return len(c.w.titles(t)) >= len(c.want) })
		if got := slices.Sorted(slices.Values(c.w.titles(t))); !slices.Equal(got, c.want) {
			t.Errorf("%s printed %q; want %q in any order", c.name, got, c.want)
		}
	}
	waitFor(t, 30*time.Second, "search --follow to print alpha.two", func() bool {
		return slices.Contains(alpha.titles(t), "alpha.two")
	})
	if got := alpha.titles(t); !slices.Equal(got, []string{"alpha.before", "alpha.two"}) {
		t.Errorf("search --follow alpha printed %q; want its one result, then alpha.two alone", got)
	}

	key := strings.TrimPrefix(strings.SplitN(link, "?", 2)[0], "indexd:")
	if list := mustBin(t, "follow", "--data", b.dir); !strings.Contains(list, key) {
		t.Errorf("follow lists %q; want A's index (%s)", list, key)
	}
	// peers names what the peer shares with this node.
	waitFor(t, 30*time.Second, "peers to list A's index as shared", func() bool {
		return strings.Contains(mustBin(t, "peers", "--data", b.dir), "    index default  "+key)
	})
	// The link that followed it unfollows it.
	mustBin(t, "unfollow", "--data", b.dir, link)
	if list := mustBin(t, "follow", "--data", b.dir); strings.Contains(list, key) {
		t.Errorf("after unfollow LINK, follow lists %q", list)
	}
}
