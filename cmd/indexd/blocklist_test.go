package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"indexd/node"
)

// TestBlocklistE2E: two daemons. A blocks an infohash and publishes its
// blocklist; B subscribes by the printed link and stops showing the
// entry; a block A adds later reaches B live; B's local unblock is an
// exception that wins over the list; unsubscribing shows the rest again.
func TestBlocklistE2E(t *testing.T) {
	a, b := twoDaemons(t)
	ihX, ihY := strings.Repeat("c3", 20), strings.Repeat("d4", 20)
	mustBin(t, "publish", "--data", b.dir, "magnet:?xt=urn:btih:"+ihX+"&dn=Listy.Release.X")
	mustBin(t, "publish", "--data", b.dir, "magnet:?xt=urn:btih:"+ihY+"&dn=Listy.Release.Y")
	shown := func() map[string]bool {
		m := map[string]bool{}
		for _, h := range searchJSON(t, b.dir, "listy") {
			m[h.InfohashV1] = true
		}
		return m
	}

	mustBin(t, "block", "--data", a.dir, ihX, "--reason", "fake release")
	var own node.Blocklist
	if err := json.Unmarshal([]byte(mustBin(t, "blocklist", "publish", "--json", "--data", a.dir)), &own); err != nil {
		t.Fatal(err)
	}
	if !own.Own || own.Infohashes != 1 || !strings.Contains(own.Link, "%2Fp2p%2F") {
		t.Fatalf("blocklist publish = %+v; want the own list with 1 infohash and a link with addresses", own)
	}
	if out := mustBin(t, "blocklist", "list", "--data", a.dir); !strings.Contains(out, own.Feed+"  published here") || !strings.Contains(out, own.Link) {
		t.Errorf("A's blocklist list:\n%s\nwant %s as published here, with its link", out, own.Feed)
	}

	out := mustBin(t, "blocklist", "subscribe", "--data", b.dir, "--name", "mods", own.Link)
	if !strings.Contains(out, "it blocks 1 infohashes") {
		t.Errorf("subscribe: %q", out)
	}
	if s := shown(); s[ihX] || !s[ihY] {
		t.Fatalf("subscribed: search shows %v; want only Y", s)
	}
	short := strings.TrimPrefix(own.Feed, "feed:")[:8]
	if out := mustBin(t, "block", "--list", "--data", b.dir); !strings.Contains(out, ihX) || !strings.Contains(out, "by "+short) || !strings.Contains(out, "fake release") {
		t.Errorf("B's block --list:\n%s\nwant %s by %s with its reason", out, ihX, short)
	}

	mustBin(t, "block", "--data", a.dir, ihY)
	waitFor(t, 20*time.Second, "A's new block to reach B", func() bool { return len(shown()) == 0 })

	mustBin(t, "unblock", "--data", b.dir, ihX)
	if s := shown(); !s[ihX] || s[ihY] {
		t.Errorf("B unblocked X locally: search shows %v; want only X", s)
	}
	var lists []node.Blocklist
	if err := json.Unmarshal([]byte(mustBin(t, "blocklist", "list", "--json", "--data", b.dir)), &lists); err != nil {
		t.Fatal(err)
	}
	if len(lists) != 1 || lists[0].Feed != own.Feed || lists[0].Name != "mods" || lists[0].Infohashes != 2 || lists[0].Own {
		t.Errorf("B's blocklist list = %+v; want the subscription 'mods' blocking 2", lists)
	}
	if out := mustBin(t, "status", "--data", b.dir); !strings.Contains(out, "1 blocklists ('indexd blocklist list')") {
		t.Errorf("B's status does not count its blocklist subscription:\n%s", out)
	}

	if out := mustBin(t, "blocklist", "unsubscribe", "--data", b.dir, own.Feed); !strings.Contains(out, "unsubscribed") {
		t.Errorf("unsubscribe: %q", out)
	}
	if s := shown(); !s[ihX] || !s[ihY] {
		t.Errorf("unsubscribed: search shows %v; want X and Y", s)
	}
	if _, err := runBin(t, nil, "blocklist", "unsubscribe", "--data", b.dir, own.Feed); err == nil || !strings.Contains(err.Error(), "no subscription") {
		t.Errorf("second unsubscribe: %v; want an error saying there is no subscription", err)
	}
}

// TestBlocklistUsage: wrong subcommands and misplaced flags are usage
// errors (exit 2) and change nothing.
func TestBlocklistUsage(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "init")
	for _, args := range [][]string{
		{"blocklist"},
		{"blocklist", "frobnicate"},
		{"blocklist", "subscribe"},
		{"blocklist", "list", "extra"},
		{"blocklist", "publish", "--name", "x"},
		{"blocklist", "unsubscribe", "--peer", "/ip4/127.0.0.1/tcp/1", "feed:00"},
	} {
		if _, errs, code := indexd(t, dir, args...); code != 2 {
			t.Errorf("indexd %s: exit %d (stderr %q); want 2", strings.Join(args, " "), code, errs)
		}
	}
	if _, errs, code := indexd(t, dir, "blocklist", "subscribe", "not-a-key"); code != 1 || !strings.Contains(errs, "not-a-key") {
		t.Errorf("subscribe to junk: exit %d, stderr %q; want 1 naming it", code, errs)
	}
	if out := mustRun(t, dir, "blocklist", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("blocklist list after refused calls = %s; want []", out)
	}
}
