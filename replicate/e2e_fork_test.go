package replicate

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2ECopiedKeyForks: a data directory copied to a second daemon that
// publishes too signs a second history of the same author log. A follower
// that syncs with both finds the fork (the two histories have different
// lengths), asks where the histories part and publishes the proof; every
// daemon ends with the log forked, the entry both histories share counted
// and none after it, the follower's own entry, and one digest.
func TestE2ECopiedKeyForks(t *testing.T) {
	adir, a2dir := t.TempDir(), t.TempDir()
	a := startE2E(t, adir)
	key := a.defaultIndex()
	a.must("publish", "--index", key, randomMagnet("shared.entry"))
	a.stop(os.Interrupt)
	if out, err := exec.Command("cp", "-a", adir+"/.", a2dir).CombinedOutput(); err != nil {
		t.Fatalf("copying the data directory: %v: %s", err, out)
	}
	os.Remove(filepath.Join(a2dir, "host.key")) // another peer, the same author
	a = startE2E(t, adir)
	a2 := startE2E(t, a2dir)
	a.must("publish", "--index", key, randomMagnet("history.one"))
	a2.must("publish", "--index", key, randomMagnet("history.two.a"))
	a2.must("publish", "--index", key, randomMagnet("history.two.b"))

	c := startE2E(t, t.TempDir())
	c.must("peers", "add", a.addr)
	c.must("peers", "add", a2.addr)
	c.must("follow", key)
	c.must("publish", "--index", key, randomMagnet("honest.entry"))
	waitForkCounted(t, key, 2, a, a2, c)
	for i, d := range []*e2eDaemon{a, a2, c} {
		// The certificate and the shared entry count.
		st, _ := d.status()
		for _, ix := range st.Indexes {
			if ix.Key == key && (len(ix.Forks) != 1 || !ix.Forks[0].Located || ix.Forks[0].Counted != 2) {
				t.Errorf("daemon %d: status shows forks %+v; want one located, 2 nodes counted", i, ix.Forks)
			}
		}
		if out := d.must("search", "--json", "shared.entry"); !strings.Contains(out, `"id"`) {
			t.Errorf("the entry both histories share is not found: %s", out)
		}
		for _, q := range []string{"history.one", "history.two.a"} {
			if out := d.must("search", "--json", q); strings.Contains(out, `"id"`) {
				t.Errorf("an entry past the fork is found: %s", out)
			}
		}
	}
	if _, err := a.run("publish", "--index", key, randomMagnet("after.the.fork")); err == nil {
		t.Error("publishing on a forked log succeeded")
	}
}

// TestE2EThreeHistories: two copies of a data directory, made at different
// points, publish as the original does: three histories of one author
// log, two of which share more than the third shares with either. Every
// daemon ends counting the log only up to where the third parts (the one
// entry all three share), and with one digest.
func TestE2EThreeHistories(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	a := startE2E(t, dirs[0])
	key := a.defaultIndex()
	copyTo := func(dst string) {
		a.stop(os.Interrupt)
		if out, err := exec.Command("cp", "-a", dirs[0]+"/.", dst).CombinedOutput(); err != nil {
			t.Fatalf("copying the data directory: %v: %s", err, out)
		}
		os.Remove(filepath.Join(dst, "host.key")) // another peer, the same author
		a = startE2E(t, dirs[0])
	}
	a.must("publish", "--index", key, randomMagnet("all.three.share"))
	copyTo(dirs[1])
	a.must("publish", "--index", key, randomMagnet("two.share"))
	copyTo(dirs[2])
	b, c := startE2E(t, dirs[1]), startE2E(t, dirs[2])
	a.must("publish", "--index", key, randomMagnet("history.a"))
	b.must("publish", "--index", key, randomMagnet("history.b"))
	c.must("publish", "--index", key, randomMagnet("history.c"))

	f := startE2E(t, t.TempDir())
	for _, d := range []*e2eDaemon{a, b, c} {
		f.must("peers", "add", d.addr)
	}
	f.must("follow", key)
	f.must("publish", "--index", key, randomMagnet("follower.entry"))
	all := []*e2eDaemon{a, b, c, f}
	waitForkCounted(t, key, 2, all...)
	for _, d := range all {
		if out := d.must("search", "--json", "all.three.share"); !strings.Contains(out, `"id"`) {
			t.Errorf("the entry all three histories share is not found: %s", out)
		}
		if out := d.must("search", "--json", "two.share"); strings.Contains(out, `"id"`) {
			t.Errorf("an entry the third history lacks is found: %s", out)
		}
	}
}

// waitForkCounted waits until every daemon holds index key with one forked
// log, entries entries and one digest. If the test fails (here or later),
// it logs what each holds.
func waitForkCounted(t *testing.T, key string, entries int, ds ...*e2eDaemon) {
	t.Helper()
	t.Cleanup(func() { // before the daemons stop: their cleanups came first
		if t.Failed() {
			for i, d := range ds {
				st, _ := d.status()
				for _, ix := range st.Indexes {
					if ix.Key == key {
						t.Logf("daemon %d: %+v", i, ix)
					}
				}
				t.Logf("daemon %d stderr: %s", i, d.stderr.String())
			}
		}
	})
	waitFor(t, 90*time.Second, "every daemon to count the forked log alike", func() bool {
		var digest string
		for _, d := range ds {
			st, err := d.status()
			if err != nil {
				return false
			}
			ok := false
			for _, ix := range st.Indexes {
				if ix.Key == key && ix.Forked == 1 && ix.Entries == entries && (digest == "" || ix.Digest == digest) {
					digest, ok = ix.Digest, true
				}
			}
			if !ok {
				return false
			}
		}
		return true
	})
}
