package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
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
	d := &daemon{dir: t.TempDir(), stderr: &bytes.Buffer{}}
	mustBin(t, "init", "--data", d.dir)
	args := []string{"serve", "--data", d.dir, "--http", "127.0.0.1:0",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--log-level", "warn"}
	if boot != "" {
		args = append(args, "--bootstrap", boot)
	}
	d.cmd = exec.Command(indexdBin(t), args...)
	d.cmd.Stderr = d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { d.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			d.cmd.Process.Kill()
			<-done
		}
	})
	waitFor(t, 60*time.Second, "daemon to serve", func() bool {
		if info, err := node.ReadDaemonInfo(d.dir); err != nil || info.HTTP == "" {
			return false
		}
		out, err := runBin(t, nil, "status", "--json", "--data", d.dir)
		var st node.Status
		if err != nil || json.Unmarshal([]byte(out), &st) != nil || !st.Serving {
			return false
		}
		for _, a := range st.Addrs {
			if strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") {
				d.addr = a
				return true
			}
		}
		return false
	})
	return d
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
