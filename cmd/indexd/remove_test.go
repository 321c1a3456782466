package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestIndexRemoveCLI: `index remove` refuses the indexes this node writes,
// and without a daemon deletes at once (the follow goes with it).
func TestIndexRemoveCLI(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "init")
	mustRun(t, dir, "publish", "magnet:?xt=urn:btih:"+strings.Repeat("c3", 20)+"&dn=Mine")
	own := strings.TrimSpace(mustRun(t, dir, "index", "create", "films"))
	for _, which := range []string{"default", own} {
		_, errs, code := indexd(t, dir, "index", "remove", which)
		if code != 1 || !strings.Contains(errs, "remov") {
			t.Errorf("index remove %s: exit %d, stderr %q; want a refusal", which, code, errs)
		}
	}
	other := t.TempDir()
	mustRun(t, other, "init")
	var infos []struct {
		Key     string `json:"key"`
		Default bool   `json:"default"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, other, "index", "list", "--json")), &infos); err != nil || len(infos) != 1 {
		t.Fatalf("index list of the other node: %v, %v", infos, err)
	}
	theirs := infos[0].Key
	mustRun(t, dir, "follow", theirs)
	if out := mustRun(t, dir, "follow"); !strings.Contains(out, theirs) || !strings.Contains(out, "manifest not fetched yet") {
		t.Errorf("follow with no argument: %q; want the followed index listed", out)
	}
	out := mustRun(t, dir, "index", "remove", theirs)
	if !strings.Contains(out, "removed index") || strings.Contains(out, "daemon") {
		t.Errorf("index remove without a daemon: %q; want it removed now", out)
	}
	if _, errs, code := indexd(t, dir, "index", "remove", theirs); code != 1 || !strings.Contains(errs, "no index") {
		t.Errorf("removing it again: exit %d, stderr %q; want 'no index' (its follow went too)", code, errs)
	}
	if out := mustRun(t, dir, "follow", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("follow --json after the removal: %q; want []", out)
	}
	if hits := searchJSON(t, dir, "mine"); len(hits) != 1 {
		t.Errorf("own entry after removing another index: %d hits, want 1", len(hits))
	}
}
