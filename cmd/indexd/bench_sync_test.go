package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"indexd/feedtree"
)

// TestBenchSyncTwoProcesses runs `indexd bench sync` on a few hundred
// entries, two runs: A's daemon in its own process, a fresh B following it
// in each run, every figure of the report and of each run filled in (the
// bench itself fails if the digests differ or a live entry does not
// arrive), the runs' order alternating and the top-level figures their
// medians.
func TestBenchSyncTwoProcesses(t *testing.T) {
	out := mustBin(t, "bench", "sync", "-n", "300", "--runs", "2", "--live", "50", "--json", "--dir", t.TempDir())
	var rep syncReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	if rep.Entries != 300 || rep.Authors != 1000 || rep.SourceSeconds <= 0 || rep.ImportSeconds <= 0 || rep.StoredSeconds <= 0 || rep.EntriesSeconds < rep.StoredSeconds ||
		rep.SearchSeconds <= 0 || rep.RatioToImport <= 0 || rep.RawSeconds <= 0 || rep.LivePublishes != 50 ||
		rep.LiveP50ms <= 0 || rep.LiveP99ms < rep.LiveP50ms || rep.PeakRSSBytes <= 0 || rep.SourcePeakRSS <= 0 {
		t.Errorf("incomplete report: %+v", rep)
	}
	if len(rep.Runs) != 2 {
		t.Fatalf("%d runs reported, want 2", len(rep.Runs))
	}
	for i, r := range rep.Runs {
		if r.ImportFirst != (i == 0) || r.ImportSeconds <= 0 || r.StoredSeconds <= 0 || r.SearchSeconds < r.StoredSeconds ||
			r.RawSeconds <= 0 || r.RatioToRaw != r.RawSeconds/r.StoredSeconds || r.RatioToImport != r.ImportSeconds/r.SearchSeconds ||
			r.StoredCPU <= 0 || r.StoredCPU > r.CatchUpCPU || r.VerifyShare < 0 || r.VerifyShare > 1 || (r.VerifySamples == 0 && r.VerifyShare != 0) {
			t.Errorf("run %d: %+v", i+1, r)
		}
	}
	if want := (rep.Runs[0].SearchSeconds + rep.Runs[1].SearchSeconds) / 2; rep.SearchSeconds != want {
		t.Errorf("searchable %v s, want the runs' median %v s", rep.SearchSeconds, want)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1}, 3},
		{[]float64{9, 1, 4}, 4},
		{[]float64{4, 8, 1, 2}, 3},
	} {
		if got := median(append([]float64(nil), c.xs...)); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.xs, got, c.want)
		}
	}
}

// TestProfileShare reads real CPU profiles: one of nothing but proof
// verification, where verifyFuncs hold much of the time (the rest is the
// runtime's), and one of nothing but other hashing, where they hold none.
func TestProfileShare(t *testing.T) {
	kp, err := feedtree.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f, err := feedtree.OpenFeed(feedtree.NewMemStore(), kp.Public(), &kp)
	if err != nil {
		t.Fatal(err)
	}
	blocks := make([][]byte, 64)
	for i := range blocks {
		blocks[i] = bytes.Repeat([]byte{byte(i)}, 300)
	}
	if _, err := f.Append(blocks...); err != nil {
		t.Fatal(err)
	}
	p, err := f.Proof(0, 64, 0)
	if err != nil {
		t.Fatal(err)
	}
	record := func(work func()) []byte {
		var buf bytes.Buffer
		if err := pprof.StartCPUProfile(&buf); err != nil {
			t.Fatal(err)
		}
		for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
			work()
		}
		pprof.StopCPUProfile()
		return buf.Bytes()
	}
	verifying := record(func() {
		if _, err := feedtree.VerifyProof(kp.Public(), p, nil, blocks); err != nil {
			t.Fatal(err)
		}
	})
	hashing := record(func() { feedtree.LeafNode(0, blocks[0]) })
	// Not all: the runtime's own work (GC workers; under -race, much of
	// the detector's) has stacks of its own: 0.97 here, 0.36-0.41 with -race.
	if share, n, err := profileShare(verifying, verifyFuncs...); err != nil || n == 0 || share < 0.2 {
		t.Errorf("verifying only: share %.2f of %d samples (%v); want much of it", share, n, err)
	} else {
		t.Logf("verifying only: share %.2f of %d samples", share, n)
	}
	if share, n, err := profileShare(hashing, verifyFuncs...); err != nil || n == 0 || share != 0 {
		t.Errorf("hashing only: share %.2f of %d samples (%v); want none", share, n, err)
	}
	if _, _, err := profileShare([]byte("not a profile"), verifyFuncs...); err == nil {
		t.Error("profileShare read garbage without an error")
	}
}

// TestVerifyFuncsExist: every function verifyFuncs names is declared where
// it says, so a rename cannot silently drop its share from the report.
func TestVerifyFuncsExist(t *testing.T) {
	for _, name := range verifyFuncs {
		pkg, fn, ok := strings.Cut(strings.TrimPrefix(name, "indexd/"), ".")
		if !ok {
			t.Fatalf("%q: want indexd/PKG.FUNC", name)
		}
		pkgs, err := parser.ParseDir(token.NewFileSet(), filepath.Join("..", "..", pkg), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range pkgs {
			for _, f := range p.Files {
				for _, d := range f.Decls {
					if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.Name == fn {
						found = true
					}
				}
			}
		}
		if !found {
			t.Errorf("%s: no func %s in ../../%s", name, fn, pkg)
		}
	}
}
