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
	var gr node.GetResult
	// A's provider record may still be on its way to C: wait for a get that
	// finds A, asking again after each "no peer found".
	waitFor(t, 60*time.Second, "B's daemon to find A on the DHT", func() bool {
		out, err := runBin(t, nil, "get", "--data", b.dir, "--json", sr.Feed, outB)
		if err != nil {
			if !strings.Contains(err.Error(), "no peer") {
				t.Fatalf("get through B's daemon: %v", err)
			}
			return false
		}
		if err := json.Unmarshal([]byte(out), &gr); err != nil {
			t.Fatal(err)
		}
		return true
	})
	sameTree(t, src, outB)
	if gr.Fetched == 0 || gr.Peers < 1 {
		t.Errorf("get through B's daemon = %+v", gr)
	}

	ddir := t.TempDir()
	mustBin(t, "init", "--data", ddir)
	outD := filepath.Join(t.TempDir(), "outD")
	var gd node.GetResult
	if err := json.Unmarshal([]byte(mustBin(t, "get", "--data", ddir, "--json", "--peer", c.addr, sr.Feed, outD)), &gd); err != nil {
		t.Fatal(err)
	}
	sameTree(t, src, outD)
	if gd.Fetched == 0 {
		t.Errorf("standalone get = %+v", gd)
	}
}
