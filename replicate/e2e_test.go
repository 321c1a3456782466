package replicate

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"indexd/dag"
	"indexd/feedtree"
)

// Multi-process tests: real `indexd serve` daemons on loopback, driven by
// the CLI, plus a hostile peer in this process speaking the sync protocol.
// They build ./cmd/indexd once (skipped with -short).

var (
	e2eOnce sync.Once
	e2eBin  string
	e2eErr  error
)

// TestMain removes the daemon binary the e2e tests built, if any.
func TestMain(m *testing.M) {
	code := m.Run()
	if e2eBin != "" {
		os.RemoveAll(filepath.Dir(e2eBin))
	}
	os.Exit(code)
}

func indexdBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("multi-process test; skipped with -short")
	}
	e2eOnce.Do(func() {
		// One binary for the whole test binary's life (-count=N reuses
		// it); TestMain removes it.
		dir, err := os.MkdirTemp("", "indexd-e2e-")
		if err != nil {
			e2eErr = err
			return
		}
		e2eBin = filepath.Join(dir, "indexd")
		out, err := exec.Command("go", "build", "-o", e2eBin, "../cmd/indexd").CombinedOutput()
		if err != nil {
			e2eErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if e2eErr != nil {
		t.Fatal(e2eErr)
	}
	return e2eBin
}

type e2eDaemon struct {
	t      *testing.T
	dir    string
	cmd    *exec.Cmd
	addr   string
	stderr *bytes.Buffer
	bin    string // the indexd binary; e2eBin when empty
	ns     string // a network namespace to run in (ip netns exec), or none
}

// command is indexd with args as this daemon's CLI runs it.
func (d *e2eDaemon) command(args ...string) *exec.Cmd {
	bin := d.bin
	if bin == "" {
		bin = e2eBin
	}
	if d.ns == "" {
		return exec.Command(bin, args...)
	}
	return exec.Command("ip", append([]string{"netns", "exec", d.ns, bin}, args...)...)
}

func (d *e2eDaemon) run(args ...string) (string, error) {
	cmd := d.command(append(args, "--data", d.dir)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("indexd %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

func (d *e2eDaemon) must(args ...string) string {
	d.t.Helper()
	out, err := d.run(args...)
	if err != nil {
		d.t.Fatal(err)
	}
	return out
}

// e2eStatus is the part of `indexd status --json` these tests read.
type e2eStatus struct {
	PeerID  string   `json:"peer_id"`
	Serving bool     `json:"serving"`
	Addrs   []string `json:"addrs"`
	Peers   int      `json:"peers"`
	Indexes []struct {
		Key     string `json:"key"`
		Default bool   `json:"default"`
		Entries int    `json:"entries"`
		Forked  int    `json:"forked_logs"`
		Forks   []struct {
			Counted uint64 `json:"counted_nodes"`
			Located bool   `json:"located"`
		} `json:"forks"`
		Digest string `json:"digest"`
	} `json:"indexes"`
}

func (d *e2eDaemon) status() (e2eStatus, error) {
	var st e2eStatus
	out, err := d.run("status", "--json")
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal([]byte(out), &st)
}

func startE2E(t *testing.T, dir string) *e2eDaemon {
	t.Helper()
	bin := indexdBinary(t)
	d := &e2eDaemon{t: t, dir: dir, stderr: &bytes.Buffer{}}
	if _, err := os.Stat(filepath.Join(dir, "daemon.json")); err == nil {
		os.Remove(filepath.Join(dir, "daemon.json")) // left by a killed daemon
	}
	if entries, _ := os.ReadDir(dir); len(entries) == 0 {
		d.must("init")
	}
	d.cmd = exec.Command(bin, "serve", "--data", dir, "--http", "127.0.0.1:0",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--no-dht", "--log-level", "warn")
	d.cmd.Stderr = d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.stop(os.Interrupt) })
	waitFor(t, 60*time.Second, "daemon to serve", func() bool {
		if b, err := os.ReadFile(filepath.Join(dir, "daemon.json")); err != nil || !bytes.Contains(b, []byte("http")) {
			return false
		}
		st, err := d.status()
		if err != nil || !st.Serving {
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

func (d *e2eDaemon) stop(sig os.Signal) {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	d.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-done
	}
	d.cmd = nil
}

// defaultIndex returns the key of the daemon's default index.
func (d *e2eDaemon) defaultIndex() string {
	d.t.Helper()
	st, err := d.status()
	if err != nil {
		d.t.Fatal(err)
	}
	for _, ix := range st.Indexes {
		if ix.Default {
			return ix.Key
		}
	}
	d.t.Fatal("the daemon has no default index")
	return ""
}

func (d *e2eDaemon) digest(key string) (string, int) {
	st, err := d.status()
	if err != nil {
		return "", -1
	}
	for _, ix := range st.Indexes {
		if ix.Key == key {
			return ix.Digest, ix.Entries
		}
	}
	return "", -1
}

func randomMagnet(name string) string {
	var ih [20]byte
	rand.Read(ih[:])
	return "magnet:?xt=urn:btih:" + hex.EncodeToString(ih[:]) + "&dn=" + name
}

func e2eConverged(key string, want int, ds ...*e2eDaemon) func() bool {
	return func() bool {
		d0, n0 := ds[0].digest(key)
		if n0 != want || d0 == "" {
			return false
		}
		for _, d := range ds[1:] {
			if dg, _ := d.digest(key); dg != d0 {
				return false
			}
		}
		return true
	}
}

func TestE2EDaemonsConvergeRestartAndHostile(t *testing.T) {
	indexdBinary(t)
	a := startE2E(t, t.TempDir())
	b := startE2E(t, t.TempDir())
	cdir := t.TempDir()
	c := startE2E(t, cdir)
	key := a.defaultIndex()
	for _, d := range []*e2eDaemon{b, c} {
		d.must("peers", "add", a.addr)
		d.must("follow", key)
	}
	c.must("peers", "add", b.addr)

	// Publish concurrently on all three.
	const per = 8
	var wg sync.WaitGroup
	for i, d := range []*e2eDaemon{a, b, c} {
		wg.Go(func() {
			for j := range per {
				if _, err := d.run("publish", "--index", key, randomMagnet(fmt.Sprintf("node%d.entry%d", i, j))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := 3 * per
	waitFor(t, 60*time.Second, "three daemons to reach one digest", e2eConverged(key, want, a, b, c))

	// Kill c while a publishes, restart it on the same directory: it resumes
	// and converges.
	wg.Go(func() {
		for j := range per {
			if _, err := a.run("publish", "--index", key, randomMagnet(fmt.Sprintf("while-down.%d", j))); err != nil {
				t.Error(err)
				return
			}
		}
	})
	c.stop(os.Kill)
	wg.Wait()
	want += per
	c = startE2E(t, cdir)
	c.must("peers", "add", a.addr)
	waitFor(t, 60*time.Second, "the restarted daemon to converge", e2eConverged(key, want, a, b, c))

	// A hostile peer (this process) sends a bad signature, garbage and an
	// oversized frame to a; nothing changes and honest sync goes on.
	before, _ := a.digest(key)
	idx, err := dag.ParseIndexKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ai, err := peer.AddrInfoFromString(a.addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, attack := range []string{"bad signature", "garbage", "oversized"} {
		hh := hostileHost(t)
		if err := hh.Connect(context.Background(), *ai); err != nil {
			t.Fatal(err)
		}
		st, err := hh.NewStream(context.Background(), ai.ID, SyncProtocol)
		if err != nil {
			t.Fatal(err)
		}
		var hl hello
		hl.Index = idx.Bytes()
		rand.Read(hl.FP[:])
		writeRaw(st, frameHello, hl.appendBody(nil))
		switch attack {
		case "bad signature":
			kp, _ := feedtree.GenerateKeyPair(nil)
			f := authorFeed(t, idx, kp, 2, plainNode(idx, kp.Public(), "evil"))
			writeRaw(st, frameData, dataBody(t, f, 0, 3, 0, func(p *feedtree.Proof) { p.Head.Signature[3] ^= 1 }))
		case "garbage":
			junk := make([]byte, 500)
			rand.Read(junk)
			writeRaw(st, frameData, junk)
		case "oversized":
			st.Write(append([]byte{0xff, 0xff, 0xff, 0x7f}, make([]byte, 100)...))
		}
		waitFor(t, 20*time.Second, attack+": hostile peer disconnected", func() bool {
			return hh.Network().Connectedness(ai.ID) != 1 // network.Connected
		})
	}
	if after, _ := a.digest(key); after != before {
		t.Errorf("digest of a changed after the attacks: %s -> %s", before, after)
	}
	b.must("publish", "--index", key, randomMagnet("after-the-attack"))
	want++
	waitFor(t, 60*time.Second, "honest sync after the attacks", e2eConverged(key, want, a, b, c))
}
