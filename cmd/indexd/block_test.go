package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBlockCLI: `block` takes infohashes, magnets and entry ids as
// arguments or from a list file, refuses a list with one bad line whole,
// hides the entries from `search`, and `unblock` brings them back; the same
// through a running daemon (list on stdin).
func TestBlockCLI(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "init")
	ihA, ihB := strings.Repeat("a1", 20), strings.Repeat("b2", 20)
	mustRun(t, dir, "publish", "magnet:?xt=urn:btih:"+ihA+"&dn=Blocky.Release.A")
	mustRun(t, dir, "publish", "magnet:?xt=urn:btih:"+ihB+"&dn=Blocky.Release.B")
	if hits := searchJSON(t, dir, "blocky"); len(hits) != 2 {
		t.Fatalf("before blocking: %d hits, want 2", len(hits))
	}

	list := filepath.Join(t.TempDir(), "blocklist.txt")
	os.WriteFile(list, []byte("# a blocklist\n\n"+ihA+" Blocky.Release.A  # fake\nnot-a-hash\n"), 0o644)
	out, errs, code := indexd(t, dir, "block", "--file", list)
	if code == 0 || !strings.Contains(errs, "item 2") || !strings.Contains(errs, "not-a-hash") {
		t.Errorf("block of a list with a bad line: exit %d, stderr %q; want a failure naming item 2", code, errs)
	}
	if out := mustRun(t, dir, "block", "--list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("after the refused list: block --list = %s; want []", out)
	}
	os.WriteFile(list, []byte("# a blocklist\n\n"+ihA+" Blocky.Release.A  # fake\n"), 0o644)
	out = mustRun(t, dir, "block", "--file", list, "--reason", "fake release")
	if !strings.Contains(out, "blocked 1 of 1 infohashes") || !strings.Contains(out, "1 entries carry them") {
		t.Errorf("block --file: %q", out)
	}
	hits := searchJSON(t, dir, "blocky")
	if len(hits) != 1 || hits[0].InfohashV1 != ihB {
		t.Fatalf("A blocked: hits %+v; want only B", hits)
	}
	if out := mustRun(t, dir, "block", "--list"); !strings.Contains(out, ihA) || !strings.Contains(out, "fake release") {
		t.Errorf("block --list: %q; want %s with its reason", out, ihA)
	}
	if out := mustRun(t, dir, "show", hits[0].ID); strings.Contains(out, "blocked") {
		t.Errorf("show of an unblocked entry mentions blocking:\n%s", out)
	}
	mustRun(t, dir, "block", hits[0].ID) // B by its entry id
	if out := mustRun(t, dir, "show", hits[0].ID); !strings.Contains(out, "blocked here") {
		t.Errorf("show of a blocked entry does not say so:\n%s", out)
	}
	if out := mustRun(t, dir, "status"); !strings.Contains(out, "2 blocked infohashes") {
		t.Errorf("status does not count the blocked infohashes:\n%s", out)
	}
	if hits := searchJSON(t, dir, "blocky"); len(hits) != 0 {
		t.Errorf("A and B blocked: %d hits, want 0", len(hits))
	}
	if _, _, code := indexd(t, dir, "block"); code != 2 {
		t.Errorf("block with nothing: exit %d, want 2 (usage)", code)
	}
	mustRun(t, dir, "unblock", "magnet:?xt=urn:btih:"+ihB)

	// Through a daemon: the list comes on stdin.
	d := startDaemonIn(t, dir)
	if _, err := runBin(t, strings.NewReader(ihB+"\n"), "block", "--data", d.dir, "--file", "-"); err != nil {
		t.Fatalf("block --file - through the daemon: %v", err)
	}
	if out := mustBin(t, "search", "--data", d.dir, "--json", "blocky"); strings.Contains(out, `"id"`) {
		t.Errorf("through the daemon, A and B blocked: search printed hits:\n%s", out)
	}
	mustBin(t, "unblock", "--data", d.dir, ihA, ihB)
	if out := mustBin(t, "search", "--data", d.dir, "blocky"); !strings.Contains(out, "Blocky.Release.A") || !strings.Contains(out, "Blocky.Release.B") {
		t.Errorf("after unblocking through the daemon, search:\n%s", out)
	}
}
