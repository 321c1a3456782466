package replicate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mDNS discovery tests (issue #4, point 2): peers on one LAN find each other
// by mDNS alone, then learn from each other's GossipSub subscriptions which
// indexes they follow, fetch the manifest and sync.
//
// Both run in network namespaces made for the test, never on the host's own
// network, and so need root and `ip netns` (they are skipped elsewhere):
//
//   - TestMDNSDaemons: `indexd serve` processes, each in its own namespace,
//     joined by veth pairs to a bridge in a hub namespace, with multicast
//     on; no --bootstrap, no `peers add`, DHT off. A publishes, B follows
//     the bare key; then a late C joins.
//   - TestMDNSNoMulticastInterface: with no multicast interface at all, a
//     host with mDNS on still starts (without mDNS) and replicates.
//   - TestMDNSInProcess: two Hosts in one process. mDNS needs an interface
//     with the MULTICAST flag, and Linux's loopback has none, so zeroconf
//     finds no interface to use on a plain loopback setup. The test re-runs
//     itself inside a fresh namespace whose loopback has multicast turned on
//     and a route for 224.0.0.0/4, where two Hosts on 127.0.0.1 meet.

// mdnsInNetnsEnv names the test being re-run inside its namespace.
const mdnsInNetnsEnv = "INDEXD_MDNS_IN_NETNS"

// mdnsDeadline bounds every wait on mDNS: zeroconf queries at once and then
// backs off from 1 s, and servers announce themselves when they start, so
// peers normally meet within a second or two.
const mdnsDeadline = 25 * time.Second

// netnsLAN is a set of network namespaces this test created; Cleanup deletes
// them, whatever happened.
type netnsLAN struct {
	t      *testing.T
	prefix string
	nodes  []string // namespace of each node
}

// needNetns skips t unless it runs as root with a working `ip netns`.
func needNetns(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root for ip netns")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2 (ip)")
	}
	probe := fmt.Sprintf("ixq%dp", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		t.Skipf("network namespaces unavailable: %v: %s", err, out)
	}
	exec.Command("ip", "netns", "del", probe).Run()
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// newNetnsLAN makes n namespaces, each with lo up and an eth0 at
// 10.78.0.(11+i)/24 joined to bridge br0 in a hub namespace, with multicast
// on the links and a 224.0.0.0/4 route on eth0.
func newNetnsLAN(t *testing.T, n int) *netnsLAN {
	t.Helper()
	needNetns(t)
	l := &netnsLAN{t: t, prefix: fmt.Sprintf("ixm%d", os.Getpid())}
	hub := l.prefix + "h"
	// Registered first so it runs last, after the daemons have stopped.
	t.Cleanup(func() {
		for _, ns := range l.nodes {
			exec.Command("ip", "netns", "del", ns).Run()
		}
		exec.Command("ip", "netns", "del", hub).Run()
	})
	ipCmd(t, "netns", "add", hub)
	ipCmd(t, "-n", hub, "link", "set", "lo", "up")
	ipCmd(t, "-n", hub, "link", "add", "br0", "type", "bridge")
	ipCmd(t, "-n", hub, "link", "set", "br0", "multicast", "on")
	ipCmd(t, "-n", hub, "link", "set", "br0", "up")
	for i := range n {
		ns := fmt.Sprintf("%sn%d", l.prefix, i)
		ipCmd(t, "netns", "add", ns)
		l.nodes = append(l.nodes, ns)
		veth := fmt.Sprintf("v%d", i)
		ipCmd(t, "-n", ns, "link", "set", "lo", "up")
		ipCmd(t, "-n", hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
		ipCmd(t, "-n", hub, "link", "set", veth, "master", "br0")
		ipCmd(t, "-n", hub, "link", "set", veth, "multicast", "on")
		ipCmd(t, "-n", hub, "link", "set", veth, "up")
		ipCmd(t, "-n", ns, "addr", "add", fmt.Sprintf("10.78.0.%d/24", 11+i), "dev", "eth0")
		ipCmd(t, "-n", ns, "link", "set", "eth0", "multicast", "on")
		ipCmd(t, "-n", ns, "link", "set", "eth0", "up")
		ipCmd(t, "-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0")
	}
	return l
}

// nsDaemon is an `indexd serve` process in a namespace, driven by the CLI
// run in the same namespace (the HTTP API listens on its 127.0.0.1).
type nsDaemon struct {
	e2eDaemon
	log string // the daemon's stderr, a file
}

// startNSDaemon runs `indexd serve` as a user would on a LAN: default listen
// addresses (TCP and QUIC on all interfaces), mDNS on (the default), no
// bootstrap peers, and the DHT off so that mDNS is the only way to meet.
func startNSDaemon(t *testing.T, bin, ns string) *nsDaemon {
	t.Helper()
	dir := t.TempDir()
	d := &nsDaemon{e2eDaemon: e2eDaemon{t: t, bin: bin, ns: ns, dir: dir}, log: filepath.Join(dir, "serve.log")}
	d.must("init")
	logf, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command("ip", "netns", "exec", ns, bin, "serve", "--data", dir,
		"--http", "127.0.0.1:0", "--no-dht", "--log-level", "debug")
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { d.stop(); logf.Close() })
	pollFor(t, 60*time.Second, "daemon in "+ns+" to serve", func() bool {
		st, err := d.status()
		return err == nil && st.Serving
	})
	return d
}

func (d *nsDaemon) stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	// `ip netns exec` execs the daemon, so the signal reaches it directly.
	d.cmd.Process.Signal(os.Interrupt)
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

type nsPeer struct {
	ID      string   `json:"id"`
	Addrs   []string `json:"addrs"`
	Indexes []string `json:"indexes"`
}

func (d *nsDaemon) peers() []nsPeer {
	out, err := d.run("peers", "--json")
	if err != nil {
		return nil
	}
	var ps []nsPeer
	if json.Unmarshal([]byte(out), &ps) != nil {
		return nil
	}
	return ps
}

// searchHits returns the ids of the hits of query in index idx.
func (d *nsDaemon) searchHits(idx, query string) []string {
	out, err := d.run("search", "--json", "--index", idx, query)
	if err != nil {
		return nil
	}
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var h struct {
			ID string `json:"id"`
		}
		if json.Unmarshal([]byte(line), &h) == nil && h.ID != "" {
			ids = append(ids, h.ID)
		}
	}
	return ids
}

// pollFor is waitFor for conditions that run a CLI process: it checks every
// 100 ms instead of spinning, on a machine shared by many.
func pollFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	waitFor(t, d, what, func() bool {
		if cond() {
			return true
		}
		time.Sleep(100 * time.Millisecond) // polling interval, not synchronisation
		return false
	})
}

func (d *nsDaemon) dumpLog() {
	b, _ := os.ReadFile(d.log)
	var keep []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "msg=http ") { // the test's own polling
			keep = append(keep, line)
		}
	}
	if len(keep) > 200 {
		keep = keep[len(keep)-200:]
	}
	d.t.Logf("log of the daemon in %s (HTTP lines left out, last 200 lines):\n%s", d.ns, strings.Join(keep, "\n"))
}

func TestMDNSDaemons(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test; skipped with -short")
	}
	lan := newNetnsLAN(t, 3) // skips unless root with ip netns
	bin := indexdBinary(t)
	a := startNSDaemon(t, bin, lan.nodes[0])
	b := startNSDaemon(t, bin, lan.nodes[1])
	t.Cleanup(func() {
		if t.Failed() {
			a.dumpLog()
			b.dumpLog()
		}
	})
	stA, err := a.status()
	if err != nil {
		t.Fatal(err)
	}

	// A creates an index and publishes into it; B follows the bare key.
	key := strings.TrimSpace(a.must("index", "create", "lan-finds"))
	if !strings.HasPrefix(key, "index:") {
		t.Fatalf("index create printed %q; want an index key", key)
	}
	a.must("publish", "--index", key, randomMagnet("mdnsprobe"))
	if out := b.must("follow", key); !strings.Contains(out, key) {
		t.Fatalf("follow printed %q", out)
	}

	// B meets A by mDNS alone, and sees that A follows the index.
	start := time.Now()
	pollFor(t, mdnsDeadline, "B to find A by mDNS and see it shares the index", func() bool {
		for _, p := range b.peers() {
			if p.ID == stA.PeerID {
				for _, ix := range p.Indexes {
					if ix == key {
						return true
					}
				}
			}
		}
		return false
	})
	t.Logf("B found A by mDNS after %v", time.Since(start).Round(time.Millisecond))
	pollFor(t, mdnsDeadline, "A's entry to be searchable on B", func() bool {
		return len(b.searchHits(key, "mdnsprobe")) == 1
	})
	t.Logf("A's entry searchable on B after %v", time.Since(start).Round(time.Millisecond))
	dA, nA := a.digest(key)
	dB, nB := b.digest(key)
	if dA == "" || dA != dB || nA != 1 || nB != 1 {
		t.Errorf("digests: A %q (%d entries), B %q (%d entries); want one equal digest of 1 entry", dA, nA, dB, nB)
	}

	// Live: a second entry published on A reaches B through gossip.
	a.must("publish", "--index", key, randomMagnet("mdnslive"))
	pollFor(t, mdnsDeadline, "a live entry to be searchable on B", func() bool {
		return len(b.searchHits(key, "mdnslive")) == 1
	})

	// A late joiner, after A and B are done querying at start, finds them
	// both by mDNS and catches up with the key alone.
	c := startNSDaemon(t, bin, lan.nodes[2])
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLog()
		}
	})
	c.must("follow", key)
	start = time.Now()
	stB, err := b.status()
	if err != nil {
		t.Fatal(err)
	}
	pollFor(t, mdnsDeadline, "late C to find A and B by mDNS", func() bool {
		found := 0
		for _, p := range c.peers() {
			if p.ID == stA.PeerID || p.ID == stB.PeerID {
				found++
			}
		}
		return found == 2
	})
	pollFor(t, mdnsDeadline, "both entries to be searchable on late C", func() bool {
		return len(c.searchHits(key, "mdnsprobe")) == 1 && len(c.searchHits(key, "mdnslive")) == 1
	})
	t.Logf("late C found A and B and caught up %v after following", time.Since(start).Round(time.Millisecond))
	dA, nA = a.digest(key)
	dC, nC := c.digest(key)
	if dA == "" || dA != dC || nA != 2 || nC != 2 {
		t.Errorf("digests: A %q (%d entries), C %q (%d entries); want one equal digest of 2 entries", dA, nA, dC, nC)
	}
}

// inNetns re-runs the test t inside a fresh network namespace prepared by
// the ip commands of setup (each run with -n NS); it reports true when the
// caller already is that re-run and should do the test's work.
func inNetns(t *testing.T, setup ...[]string) bool {
	t.Helper()
	if os.Getenv(mdnsInNetnsEnv) == t.Name() {
		return true
	}
	if testing.Short() {
		t.Skip("re-runs the test binary in a network namespace; skipped with -short")
	}
	needNetns(t)
	ns := fmt.Sprintf("ixm%dl", os.Getpid())
	ipCmd(t, "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	for _, args := range setup {
		ipCmd(t, append([]string{"-n", ns}, args...)...)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*mdnsDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, exe, "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), mdnsInNetnsEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in namespace %s: %v\n%s", t.Name(), ns, err, out)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("the re-run in namespace %s did not pass:\n%s", ns, out)
	}
	t.Logf("re-run in namespace %s:\n%s", ns, out)
	return false
}

func TestMDNSInProcess(t *testing.T) {
	if !inNetns(t, []string{"link", "set", "lo", "multicast", "on"}, []string{"link", "set", "lo", "up"},
		[]string{"route", "add", "224.0.0.0/4", "dev", "lo"}) {
		return
	}
	// Inside the namespace: two Hosts with mDNS on, never told of each other.
	m := newIndex(t)
	idx := m.Key()
	a := newTestNodeOpts(t, Options{MDNS: true})
	b := newTestNodeOpts(t, Options{MDNS: true})
	if a.h.mdns == nil || b.h.mdns == nil {
		t.Fatal("mDNS did not start on a loopback with multicast")
	}
	if err := a.d.PutManifest(m); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*testNode{a, b} {
		if err := n.h.Follow(context.Background(), idx); err != nil {
			t.Fatal(err)
		}
	}
	publish(t, a, idx, newAuthor(t), 3)
	waitFor(t, mdnsDeadline, "a and b to find each other by mDNS", func() bool {
		return len(a.h.h.Network().ConnsToPeer(b.h.h.ID())) > 0
	})
	waitFor(t, mdnsDeadline, "b to catch up from a, found by mDNS", converged(t, idx, 4, a, b))
	if _, err := b.d.Manifest(idx); err != nil {
		t.Errorf("b has no manifest: %v", err)
	}
}

// TestMDNSNoMulticastInterface: with mDNS on, a host on a machine with no
// multicast interface (here a namespace with only loopback, which has no
// MULTICAST flag) still starts, without mDNS, and replicates with peers it
// is told of.
func TestMDNSNoMulticastInterface(t *testing.T) {
	if !inNetns(t, []string{"link", "set", "lo", "up"}) {
		return
	}
	a := newTestNodeOpts(t, Options{MDNS: true})
	b := newTestNodeOpts(t, Options{MDNS: true})
	if a.h.mdns != nil {
		t.Fatal("mDNS started with no multicast interface")
	}
	m := newIndex(t)
	idx := m.Key()
	a.d.PutManifest(m)
	for _, n := range []*testNode{a, b} {
		if err := n.h.Follow(context.Background(), idx); err != nil {
			t.Fatal(err)
		}
	}
	publish(t, a, idx, newAuthor(t), 2)
	connect(t, b, a)
	waitFor(t, mdnsDeadline, "b to catch up from a peer it was told of", converged(t, idx, 3, a, b))
}
