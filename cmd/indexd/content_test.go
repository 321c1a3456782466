package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"indexd/node"
)

// The multi-process content tests: real daemons (indexd serve) on
// loopback, driven through the CLI binary built once per test run.

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// indexdBin builds ./cmd/indexd once into a temporary folder.
func indexdBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "indexd-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "indexd")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not synchronising on time
	}
}

type daemon struct {
	dir    string
	cmd    *exec.Cmd
	addr   string // a loopback libp2p multiaddr with /p2p/
	stderr *bytes.Buffer
}

// runBin runs the binary to completion with stdin and returns stdout.
func runBin(t *testing.T, stdin io.Reader, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(indexdBin(t), args...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("indexd %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

func mustBin(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runBin(t, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func startDaemon(t *testing.T) *daemon {
	t.Helper()
	dir := t.TempDir()
	mustBin(t, "init", "--data", dir)
	return startDaemonIn(t, dir)
}

// twoDaemons starts two daemons on fresh data directories, for a
// multi-process test (skipped with -short).
func twoDaemons(t *testing.T) (a, b *daemon) {
	t.Helper()
	if testing.Short() {
		t.Skip("multi-process test")
	}
	return startDaemon(t), startDaemon(t)
}

// makeTree writes random files (some large, some empty, unicode names).
func makeTree(t *testing.T, root string) {
	t.Helper()
	files := map[string]int{
		"big.bin":                 3<<20 + 12345,
		"empty":                   0,
		"dir/ünïcødé ☃.dat":       70_000,
		"dir/sub/日本語.txt":         1,
		"dir/sub/exact-block.bin": 65536,
		"another empty/zero.bin":  0,
		"medium.bin":              1 << 20,
	}
	for p, n := range files {
		writeRandom(t, filepath.Join(root, filepath.FromSlash(p)), n)
	}
}

func writeRandom(t *testing.T, path string, n int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, n)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// treeHashes maps every regular file under root to its SHA-256.
func treeHashes(t *testing.T, root string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(t *testing.T, want, got string) {
	t.Helper()
	w, g := treeHashes(t, want), treeHashes(t, got)
	if len(w) != len(g) {
		var names []string
		for k := range g {
			names = append(names, k)
		}
		sort.Strings(names)
		t.Fatalf("%s has %d files, want %d: %v", got, len(g), len(w), names)
	}
	for p, h := range w {
		if g[p] != h {
			t.Errorf("%s: SHA-256 differs or missing", p)
		}
	}
}

func TestContentShareGetE2E(t *testing.T) {
	a, b := twoDaemons(t)
	src := filepath.Join(t.TempDir(), "shared")
	makeTree(t, src)

	var sr node.ShareResult
	if err := json.Unmarshal([]byte(mustBin(t, "share", "--data", a.dir, "--json", "--publish", "--title", "Test share", src)), &sr); err != nil {
		t.Fatal(err)
	}
	if sr.Feed == "" || sr.Files != 7 || sr.Entry == "" {
		t.Fatalf("share = %+v", sr)
	}

	// B (a daemon) gets it from A; C (no daemon: get starts the network itself) from A and B.
	outB := filepath.Join(t.TempDir(), "outB")
	var gr node.GetResult
	if err := json.Unmarshal([]byte(mustBin(t, "get", "--data", b.dir, "--json", "--dht=false", "--peer", a.addr, sr.Feed, outB)), &gr); err != nil {
		t.Fatal(err)
	}
	sameTree(t, src, outB)
	if gr.Fetched == 0 {
		t.Errorf("get fetched no blocks: %+v", gr)
	}
	cdir := t.TempDir()
	mustBin(t, "init", "--data", cdir)
	outC := filepath.Join(t.TempDir(), "outC")
	mustBin(t, "get", "--data", cdir, "--dht=false", "--peer", a.addr, "--peer", b.addr, sr.Feed, outC)
	sameTree(t, src, outC)

	// A single file (sparse): only its blocks.
	outS := filepath.Join(t.TempDir(), "outS")
	ddir := t.TempDir()
	mustBin(t, "init", "--data", ddir)
	var one node.GetResult
	json.Unmarshal([]byte(mustBin(t, "get", "--data", ddir, "--json", "--dht=false", "--peer", b.addr, "--file", "dir/ünïcødé ☃.dat", sr.Feed, outS)), &one)
	if h := treeHashes(t, outS); len(h) != 1 || h["dir/ünïcødé ☃.dat"] != treeHashes(t, src)["dir/ünïcødé ☃.dat"] {
		t.Errorf("--file got %d files", len(h))
	}
	if one.Fetched > 2+4 { // 2 data blocks + the manifest
		t.Errorf("--file fetched %d blocks", one.Fetched)
	}

	// Change the folder: share again appends to the same feed, and a second
	// get fetches only the new blocks.
	writeRandom(t, filepath.Join(src, "new file.bin"), 200_000)
	f, err := os.OpenFile(filepath.Join(src, "medium.bin"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	extra := make([]byte, 100_000)
	rand.Read(extra)
	f.Write(extra)
	f.Close()
	var sr2 node.ShareResult
	json.Unmarshal([]byte(mustBin(t, "share", "--data", a.dir, "--json", "--publish", src)), &sr2)
	if sr2.Feed != sr.Feed || sr2.Entry != sr.Entry || sr2.Appended == 0 {
		t.Fatalf("second share = %+v; first %+v", sr2, sr)
	}
	var gr2 node.GetResult
	json.Unmarshal([]byte(mustBin(t, "get", "--data", b.dir, "--json", "--dht=false", "--peer", a.addr, sr.Feed, outB)), &gr2)
	sameTree(t, src, outB)
	if gr2.Fetched == 0 || gr2.Fetched > sr2.Appended {
		t.Errorf("second get fetched %d blocks; the share appended %d", gr2.Fetched, sr2.Appended)
	}
	// The entry links the new length.
	var ev node.EntryView
	json.Unmarshal([]byte(mustBin(t, "show", "--data", a.dir, "--json", sr.Entry)), &ev)
	if ev.ContentFeed != sr.Feed {
		t.Errorf("entry content feed = %q; want %q", ev.ContentFeed, sr.Feed)
	}
}

func TestContentLiveStreamE2E(t *testing.T) {
	a, b := twoDaemons(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// A: share --live - (through A's daemon), fed from a pipe.
	w := exec.CommandContext(ctx, indexdBin(t), "share", "--data", a.dir, "--live", "-")
	win, _ := w.StdinPipe()
	wout, _ := w.StdoutPipe()
	var werr bytes.Buffer
	w.Stderr = &werr
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Process.Kill()
	win.Write([]byte("first chunk\n"))
	key, err := bufio.NewReader(wout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the feed key: %v (%s)", err, werr.String())
	}
	key = strings.TrimSpace(key)

	// B: stream through B's daemon.
	r := exec.CommandContext(ctx, indexdBin(t), "stream", "--data", b.dir, "--dht=false", "--peer", a.addr, key)
	var got syncBuffer
	r.Stdout = &got
	var rerr syncBuffer // read below while the process writes it
	r.Stderr = &rerr
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	defer r.Process.Kill()
	want := "first chunk\n"
	waitFor(t, 30*time.Second, "the first chunk on B", func() bool { return got.String() == want })
	var lat []time.Duration
	for i := range 10 {
		line := fmt.Sprintf("line %d %s\n", i, strings.Repeat("x", i*1000))
		want += line
		t0 := time.Now()
		win.Write([]byte(line))
		waitFor(t, 20*time.Second, fmt.Sprintf("line %d on B (stderr %s)", i, rerr.String()), func() bool { return got.String() == want })
		lat = append(lat, time.Since(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("append -> stream latency through two daemons: p50 %v, max %v", lat[len(lat)/2], lat[len(lat)-1])
	win.Close()
	if err := w.Wait(); err != nil {
		t.Fatalf("share --live: %v (%s)", err, werr.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestContentUnsafeManifestE2E: a feed whose manifest names "../evil" is
// refused whole, and nothing is written outside (or inside) the output.
func TestContentUnsafeManifestE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	edir := t.TempDir()
	mustBin(t, "init", "--data", edir)
	n, err := node.Open(context.Background(), node.Options{Dir: edir})
	if err != nil {
		t.Fatal(err)
	}
	f, err := n.NewFeed()
	if err != nil {
		t.Fatal(err)
	}
	man, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		t.Fatal(err)
	}
	mb, err := man.Marshal(map[uint64]any{
		1: 1, 2: 1024, 4: 5, 5: 1, 6: 1,
		3: []any{map[uint64]any{1: "../evil", 2: 5, 3: 0o644, 4: [][]uint64{{0, 1}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	hdr := []byte{'I', 'X', 'M', 1, 0, 0, 0, 1}
	binary.BigEndian.PutUint16(hdr[6:], 1)
	if _, err := f.Append([]byte("evil!"), append(hdr, mb...)); err != nil {
		t.Fatal(err)
	}
	key := f.Key().String()
	n.Close()
	e := startDaemonIn(t, edir)
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	gdir := t.TempDir()
	mustBin(t, "init", "--data", gdir)
	_, err = runBin(t, nil, "get", "--data", gdir, "--dht=false", "--peer", e.addr, key, out)
	if err == nil || !strings.Contains(err.Error(), "unsafe") && !strings.Contains(err.Error(), "manifest") {
		t.Fatalf("get of a manifest with ../ = %v; want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(parent, "evil")); err == nil {
		t.Fatal("../evil was written")
	}
}

// startDaemonIn starts a daemon on an initialised data directory, on
// loopback with neither mDNS nor the DHT.
func startDaemonIn(t *testing.T, dir string) *daemon {
	t.Helper()
	return serveDaemon(t, dir, false)
}

// serveDaemon starts a daemon on an initialised data directory, on
// loopback without mDNS, with the DHT when dht is set, plus extra serve
// flags.
func serveDaemon(t *testing.T, dir string, dht bool, extra ...string) *daemon {
	t.Helper()
	d := &daemon{dir: dir, stderr: &bytes.Buffer{}}
	args := append([]string{"serve", "--data", d.dir, "--http", "127.0.0.1:0",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--log-level", "warn"}, extra...)
	if !dht {
		args = append(args, "--no-dht")
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
		// Only ask once the daemon owns the directory: a CLI run before
		// that would open the directory itself and race the daemon for it.
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
