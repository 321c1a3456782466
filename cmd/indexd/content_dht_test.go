package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"indexd/node"
)

// startDaemonDHT starts a daemon with the DHT on (loopback only, no mDNS),
// bootstrapping from boot when given.
func startDaemonDHT(t *testing.T, boot string) *daemon {
	t.Helper()
	dir := t.TempDir()
	mustBin(t, "init", "--data", dir)
	if boot == "" {
		return serveDaemon(t, dir, true)
	}
	return serveDaemon(t, dir, true, "--bootstrap", boot)
}

// TestContentGetDHTE2E: A shares a folder and provides the feed on the DHT;
// C is the DHT bootstrap. B's daemon, which knows only C, gets the feed by
// its key alone (no --peer), and a `get` with no daemon, given only C's
// address, does the same: both find A by the rendezvous on the feed's
// discovery key.
func TestContentGetDHTE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	c := startDaemonDHT(t, "")
	a := startDaemonDHT(t, c.addr)
	src := filepath.Join(t.TempDir(), "shared")
	makeTree(t, src)
	sr := shareJSON(t, a.dir, src)

	b := startDaemonDHT(t, c.addr)
	outB := filepath.Join(t.TempDir(), "outB")
	// A's provider record may still be on its way to C.
	gr := getUntilFound(t, "B's daemon to find A on the DHT", "--data", b.dir, "--json", sr.Feed, outB)
	sameTree(t, src, outB)
	if gr.Fetched == 0 || gr.Peers < 1 {
		t.Errorf("get through B's daemon = %+v", gr)
	}

	ddir := t.TempDir()
	mustBin(t, "init", "--data", ddir)
	outD := filepath.Join(t.TempDir(), "outD")
	// B may have found A's record on A itself, before A's provide reached C.
	gd := getUntilFound(t, "a standalone get to find A through C", "--data", ddir, "--json", "--peer", c.addr, sr.Feed, outD)
	sameTree(t, src, outD)
	if gd.Fetched == 0 {
		t.Errorf("standalone get = %+v", gd)
	}
}

// getUntilFound runs `indexd get args...` until it finds a peer, asking
// again after each "no peer" (a provider record on its way through the
// DHT), and returns its result.
func getUntilFound(t *testing.T, what string, args ...string) node.GetResult {
	t.Helper()
	var r node.GetResult
	waitFor(t, 60*time.Second, what, func() bool {
		out, err := runBin(t, nil, append([]string{"get"}, args...)...)
		if err != nil {
			if !strings.Contains(err.Error(), "no peer") {
				t.Fatalf("get: %v", err)
			}
			return false
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		return true
	})
	return r
}
