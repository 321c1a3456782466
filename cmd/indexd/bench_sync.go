package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/pprof/profile"

	"indexd/dag"
	"indexd/httpapi"
	"indexd/node"
)

// syncReport is what `indexd bench sync` prints. With several runs, the
// figures of each are in Runs and the top-level ones are their medians
// (each figure's own median, so a ratio need not equal the ratio of the
// medians beside it).
type syncReport struct {
	Entries          int       `json:"entries"`
	Authors          int       `json:"authors"`
	ImportSeconds    float64   `json:"import_seconds"` // a fresh node's own import: the baseline
	ImportRate       float64   `json:"import_entries_per_s"`
	SourceSeconds    float64   `json:"source_build_seconds"`     // A's import of them as the authors
	StoredSeconds    float64   `json:"catch_up_stored_seconds"`  // every block verified and stored at B
	AppliedSeconds   float64   `json:"catch_up_applied_seconds"` // every node applied in B's DAG
	RawSeconds       float64   `json:"raw_write_seconds"`        // badger's batch write of the same block bytes
	RatioToRaw       float64   `json:"stored_to_raw_ratio"`      // raw write time over stored time
	EntriesSeconds   float64   `json:"catch_up_materialised_seconds"`
	SearchSeconds    float64   `json:"catch_up_searchable_seconds"`
	SearchRate       float64   `json:"catch_up_searchable_entries_per_s"`
	RatioToImport    float64   `json:"searchable_to_import_ratio"`
	LiveP50ms        float64   `json:"live_publish_to_searchable_p50_ms"`
	LiveP99ms        float64   `json:"live_publish_to_searchable_p99_ms"`
	LivePublishes    int       `json:"live_publishes"`
	ImportCPU        float64   `json:"import_cpu_seconds"`          // this process, during the baseline import
	CatchUpCPU       float64   `json:"catch_up_cpu_seconds"`        // this process (B), until all searchable
	SourceCPU        float64   `json:"catch_up_source_cpu_seconds"` // A's daemon, over the same time
	StoredCPU        float64   `json:"catch_up_stored_cpu_seconds"` // B, until all stored
	StoredSourceCPU  float64   `json:"catch_up_stored_source_cpu_seconds"`
	VerifyShare      float64   `json:"verify_cpu_share"`      // of B's CPU profile until all stored: see verifyFuncs
	PeakRSSBytes     int64     `json:"peak_rss_bytes"`        // B, this process
	SourcePeakRSS    int64     `json:"source_peak_rss_bytes"` // A's daemon while it served
	Runs             []syncRun `json:"runs,omitempty"`
	MeasurementNotes string    `json:"note"`
}

// syncRun is one pair of a baseline import and a catch-up.
type syncRun struct {
	ImportFirst     bool    `json:"import_first"` // the pair's order: they alternate run to run
	ImportSeconds   float64 `json:"import_seconds"`
	ImportCPU       float64 `json:"import_cpu_seconds"`
	StoredSeconds   float64 `json:"catch_up_stored_seconds"`
	AppliedSeconds  float64 `json:"catch_up_applied_seconds"`
	EntriesSeconds  float64 `json:"catch_up_materialised_seconds"`
	SearchSeconds   float64 `json:"catch_up_searchable_seconds"`
	CatchUpCPU      float64 `json:"catch_up_cpu_seconds"`
	SourceCPU       float64 `json:"catch_up_source_cpu_seconds"`
	StoredCPU       float64 `json:"catch_up_stored_cpu_seconds"`
	StoredSourceCPU float64 `json:"catch_up_stored_source_cpu_seconds"`
	VerifyShare     float64 `json:"verify_cpu_share"`
	VerifySamples   int     `json:"verify_profile_samples"` // all of B's samples in that profile
	RawSeconds      float64 `json:"raw_write_seconds"`
	RatioToRaw      float64 `json:"stored_to_raw_ratio"`
	RatioToImport   float64 `json:"searchable_to_import_ratio"`
}

// sourceRun is how many entries each of A's authors signs at a time, as
// replicate's catch-up benchmark writes them.
const sourceRun = 16

// syncOptions are bench sync's flags.
type syncOptions struct {
	n, authors, runs int
	live             int // publishes on A in the live phase (the issue asks for 1,000)
	asJSON           bool
	profile          string
}

// benchSync measures catch-up through whole nodes in two processes, as the
// issue asks. The baseline is a fresh node's own bulk import of n entries,
// in this process. Node A imports the same entries signed by authors
// (fresh keys, 16 entries at a time each, so their logs link each other as
// a busy index's do) and serves them as a daemon — `indexd serve` run from
// this binary, its own process — while B, fresh, in this process, follows
// A's index by its link over loopback TCP. The figures are the time until
// B has verified and stored every node (against badger's raw batch write of
// the same bytes, right after), until it has applied them, until it has
// materialised every entry (the digests are compared after) and until all
// are searchable. With runs > 1 the baseline and a fresh B alternate
// (import first in odd runs, catch-up first in even ones), so neither
// always meets the process's state the other left.
// Then live: publishes on A through its HTTP API, as `indexd publish` does,
// each timed until the last run's B finds it.
func benchSync(c *cli, work string, o syncOptions, logf func(string, ...any)) error {
	ctx := c.ctx
	n, authors, runs, profile := o.n, o.authors, o.runs, o.profile
	file := filepath.Join(work, "entries.jsonl")
	logf("generating %d entries", n)
	if _, err := writeSynth(file, n); err != nil {
		return err
	}
	rep := syncReport{Entries: n, Authors: authors}
	dirA := filepath.Join(work, "a")
	if _, err := node.Init(ctx, dirA); err != nil {
		return err
	}
	key, want, ap, err := benchSource(c, dirA, file, authors, &rep, logf)
	if err != nil {
		return err
	}

	logf("A serves in its own process")
	var extra []string
	if profile != "" {
		extra = append(extra, "--cpuprofile", profile+".source") // A's serving
	}
	a, stop, err := startBenchDaemon(ctx, dirA, filepath.Join(work, "a.log"), extra...)
	if err != nil {
		return err
	}
	defer stop()
	link, err := a.client.IndexLink(ctx, "")
	if err != nil {
		return err
	}
	src := benchSourceInfo{daemon: a, pid: strconv.Itoa(a.cmd.Process.Pid), link: link, key: key, digest: want, progress: ap, entries: n}
	for r := range runs {
		run := syncRun{ImportFirst: r%2 == 0}
		baseline := func() (err error) {
			run.ImportSeconds, run.ImportCPU, err = benchBaseline(c, filepath.Join(work, "import"), file, src.pid, logf)
			return err
		}
		if run.ImportFirst {
			if err := baseline(); err != nil {
				return err
			}
		}
		prof := profile
		if r > 0 {
			prof = "" // the first run's catch-up only
		}
		dirB := filepath.Join(work, "b")
		b, err := benchCatchUp(c, dirB, filepath.Join(work, "raw"), src, prof, &run, logf)
		if err == nil && r == runs-1 {
			// Live last: its entries would be a later catch-up's too.
			err = benchLive(ctx, a, b, o.live, &rep, logf)
		}
		if b != nil {
			// B goes before a baseline runs beside it: a node that has just
			// caught up still merges bleve segments for a while.
			if cerr := b.Close(); err == nil {
				err = cerr
			}
			os.RemoveAll(dirB)
		}
		if err != nil {
			return err
		}
		if !run.ImportFirst {
			if err := baseline(); err != nil {
				return err
			}
		}
		run.RatioToImport = run.ImportSeconds / run.SearchSeconds
		rep.Runs = append(rep.Runs, run)
		logf("run %d: import %.1f s, stored %.1f s (raw %.1f s: %.2fx), searchable %.1f s (%.2fx the import's speed)",
			r+1, run.ImportSeconds, run.StoredSeconds, run.RawSeconds, run.RatioToRaw, run.SearchSeconds, run.RatioToImport)
	}
	rep.medians()
	if runs == 1 {
		rep.Runs = nil
	}
	rep.PeakRSSBytes = peakRSS()
	rep.SourcePeakRSS = peakRSSOf(src.pid)
	rep.MeasurementNotes = "a fresh node's import of the entries, in this process, is the baseline; A imports the same entries signed by the authors (16 at a time each) and serves as `indexd serve` in its own process and B, fresh, in this process, follows its link over loopback TCP; each timed phase starts after sync(2), B once A is idle; B's progress polled every 50 ms (held nodes, DAG counter, entry count, search doc count), digests compared at the end; the raw baseline writes B's blocks into a fresh badger with a node's options in one WriteBatch, right after the catch-up; several runs alternate which of import and catch-up goes first, and the top-level figures are the medians of the runs'; live: publish through A's HTTP API, B's search polled every 2 ms"
	if o.asJSON {
		return writeJSON(c.stdout, rep)
	}
	w := c.stdout
	if runs > 1 {
		fmt.Fprintf(w, "medians of %d runs (import and catch-up alternating):\n", runs)
	}
	fmt.Fprintf(w, "entries:                    %d\n", rep.Entries)
	fmt.Fprintf(w, "entries' authors on A:      %d\n", rep.Authors)
	fmt.Fprintf(w, "a fresh node's own import:  %.1f s (%.0f entries/s)\n", rep.ImportSeconds, rep.ImportRate)
	fmt.Fprintf(w, "B verified and stored all:  %.1f s (badger's raw write of the same bytes %.1f s: %.2fx its speed)\n", rep.StoredSeconds, rep.RawSeconds, rep.RatioToRaw)
	fmt.Fprintf(w, "B applied all nodes:        %.1f s\n", rep.AppliedSeconds)
	fmt.Fprintf(w, "B materialised all entries: %.1f s (digest equal to A's)\n", rep.EntriesSeconds)
	fmt.Fprintf(w, "B searchable:               %.1f s (%.0f entries/s, %.2fx the import's speed)\n", rep.SearchSeconds, rep.SearchRate, rep.RatioToImport)
	fmt.Fprintf(w, "CPU:                        import %.1f s; catch-up: B %.1f s, A serving %.1f s\n", rep.ImportCPU, rep.CatchUpCPU, rep.SourceCPU)
	fmt.Fprintf(w, "CPU until stored:           B %.1f s (%.1f %% of it verifying), A serving %.1f s\n", rep.StoredCPU, 100*rep.VerifyShare, rep.StoredSourceCPU)
	fmt.Fprintf(w, "live publish->searchable:   p50 %.1f ms, p99 %.1f ms over %d\n", rep.LiveP50ms, rep.LiveP99ms, rep.LivePublishes)
	fmt.Fprintf(w, "peak RSS:                   B %.0f MiB, A (serving) %.0f MiB\n", float64(rep.PeakRSSBytes)/(1<<20), float64(rep.SourcePeakRSS)/(1<<20))
	return nil
}

// medians sets the report's figures to the medians of its runs'.
func (rep *syncReport) medians() {
	med := func(f func(syncRun) float64) float64 {
		xs := make([]float64, len(rep.Runs))
		for i, r := range rep.Runs {
			xs[i] = f(r)
		}
		return median(xs)
	}
	rep.ImportSeconds = med(func(r syncRun) float64 { return r.ImportSeconds })
	rep.ImportCPU = med(func(r syncRun) float64 { return r.ImportCPU })
	rep.StoredSeconds = med(func(r syncRun) float64 { return r.StoredSeconds })
	rep.AppliedSeconds = med(func(r syncRun) float64 { return r.AppliedSeconds })
	rep.EntriesSeconds = med(func(r syncRun) float64 { return r.EntriesSeconds })
	rep.SearchSeconds = med(func(r syncRun) float64 { return r.SearchSeconds })
	rep.CatchUpCPU = med(func(r syncRun) float64 { return r.CatchUpCPU })
	rep.SourceCPU = med(func(r syncRun) float64 { return r.SourceCPU })
	rep.StoredCPU = med(func(r syncRun) float64 { return r.StoredCPU })
	rep.StoredSourceCPU = med(func(r syncRun) float64 { return r.StoredSourceCPU })
	rep.VerifyShare = med(func(r syncRun) float64 { return r.VerifyShare })
	rep.RawSeconds = med(func(r syncRun) float64 { return r.RawSeconds })
	rep.RatioToRaw = med(func(r syncRun) float64 { return r.RatioToRaw })
	rep.RatioToImport = med(func(r syncRun) float64 { return r.RatioToImport })
	rep.ImportRate = float64(rep.Entries) / rep.ImportSeconds
	rep.SearchRate = float64(rep.Entries) / rep.SearchSeconds
}

// benchLive times publishes on A through its HTTP API, as `indexd
// publish` does, each until B's search finds it.
func benchLive(ctx context.Context, a *benchDaemon, b *node.Node, publishes int, rep *syncReport, logf func(string, ...any)) error {
	logf("live: %d publishes on A, each searched for on B", publishes)
	var lat []time.Duration
	for i := 0; i < publishes && ctx.Err() == nil; i++ {
		name := fmt.Sprintf("livebench.%d.zqx%d", i, i)
		t1 := time.Now()
		if _, err := a.client.Publish(ctx, node.PublishRequest{Magnet: fmt.Sprintf("magnet:?xt=urn:btih:%040x&dn=%s", 0xabc000+i, name)}); err != nil {
			return err
		}
		for {
			r, err := b.Search(ctx, node.SearchRequest{Query: fmt.Sprintf("zqx%d", i), Limit: 1})
			if err == nil && r.Total > 0 {
				break
			}
			if time.Since(t1) > 30*time.Second {
				return fmt.Errorf("live entry %d did not arrive", i)
			}
			time.Sleep(2 * time.Millisecond)
		}
		lat = append(lat, time.Since(t1))
	}
	rep.LivePublishes = len(lat)
	rep.LiveP50ms, rep.LiveP99ms = percentiles(lat)
	return ctx.Err()
}

// median returns the median of xs (the mean of the middle two for an even
// count), sorting xs.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	m := len(xs) / 2
	if len(xs)%2 == 1 {
		return xs[m]
	}
	return (xs[m-1] + xs[m]) / 2
}

// verifyFuncs are the functions whose CPU is a catch-up's verification:
// every range's proof (each block's leaf hash, the parents up to the
// signed roots, the tree hash, a new head's signature) and each log's
// certificate (its identity's signature binding it to the index).
var verifyFuncs = []string{"indexd/feedtree.verifyProof", "indexd/dag.checkCert"}

// profileShare returns the share of a CPU profile's time (pprof's
// encoding, as runtime/pprof writes it) in samples whose stack holds one of
// funcs, and how many samples it has in all.
func profileShare(data []byte, funcs ...string) (float64, int, error) {
	p, err := profile.ParseData(data)
	if err != nil {
		return 0, 0, fmt.Errorf("reading the catch-up's CPU profile: %w", err)
	}
	vi := slices.IndexFunc(p.SampleType, func(t *profile.ValueType) bool { return t.Type == "cpu" })
	ni := slices.IndexFunc(p.SampleType, func(t *profile.ValueType) bool { return t.Type == "samples" })
	if vi < 0 || ni < 0 {
		return 0, 0, errors.New("reading the catch-up's CPU profile: it has no cpu values or sample counts")
	}
	var all, hit, n int64
	for _, sm := range p.Sample { // one per distinct stack
		v := sm.Value[vi]
		all += v
		n += sm.Value[ni]
	stack:
		for _, loc := range sm.Location {
			for _, ln := range loc.Line {
				if ln.Function != nil && slices.Contains(funcs, ln.Function.Name) {
					hit += v
					break stack
				}
			}
		}
	}
	if all == 0 {
		return 0, int(n), nil
	}
	return float64(hit) / float64(all), int(n), nil
}

// benchSourceInfo is what a catch-up run needs of the source, A.
type benchSourceInfo struct {
	daemon    *benchDaemon
	pid       string // A's process
	link, key string // A's index: the link B follows, its key
	digest    string // A's state digest of it, which B must reach
	progress  *node.Progress
	entries   int
}

// benchCatchUp has a fresh node B at dir, in this process, follow src's
// index and times its catch-up into run, then badger's raw write of the
// same blocks at raw (removed after). It returns B, still open.
func benchCatchUp(c *cli, dir, raw string, src benchSourceInfo, profile string, run *syncRun, logf func(string, ...any)) (*node.Node, error) {
	ctx := c.ctx
	if _, err := node.Init(ctx, dir); err != nil {
		return nil, err
	}
	b, err := node.Open(ctx, node.Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			b.Close()
		}
	}()
	if err := b.StartNet(ctx, node.NetOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}}); err != nil {
		return nil, err
	}
	logf("waiting for A to settle")
	if err := settle(ctx, src.pid); err != nil {
		return nil, err
	}
	logf("B follows A")
	// Two profiles in turn: the store phase's, kept in memory for
	// verification's share (and written to profile.stored), then the
	// rest's until all is searchable (to profile). `go tool pprof
	// profile.stored profile` merges them into the whole catch-up.
	var stored bytes.Buffer
	if err := pprof.StartCPUProfile(&stored); err != nil {
		return nil, err
	}
	stopStored := sync.OnceFunc(pprof.StopCPUProfile)
	defer stopStored()
	stopProfile := func() {}
	defer func() { stopProfile() }()
	cpuB, cpuA := cpuSeconds("self"), cpuSeconds(src.pid)
	t0 := time.Now()
	if _, err := b.Follow(ctx, node.FollowRequest{Index: src.link}); err != nil {
		return nil, err
	}
	// Dear future: poll only what is cheap. An earlier revision polled
	// B's state digest (a scan of every entry) and a match-all search
	// every 50 ms, and those polls took CPU from the catch-up they timed.
	deadline := time.Now().Add(2 * time.Hour)
	ap := src.progress
	for run.StoredSeconds == 0 || run.AppliedSeconds == 0 || run.EntriesSeconds == 0 || run.SearchSeconds == 0 {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("catch-up did not finish")
		}
		if err := src.daemon.alive(); err != nil {
			return nil, err
		}
		bp, err := b.Progress(ctx, src.key)
		if err != nil {
			return nil, err
		}
		since := time.Since(t0).Seconds()
		if run.StoredSeconds == 0 && bp.Held >= ap.Held {
			run.StoredSeconds = since
			run.StoredCPU, run.StoredSourceCPU = cpuSeconds("self")-cpuB, cpuSeconds(src.pid)-cpuA
			stopStored()
			if run.VerifyShare, run.VerifySamples, err = profileShare(stored.Bytes(), verifyFuncs...); err != nil {
				return nil, err
			}
			if profile != "" {
				if err := os.WriteFile(profile+".stored", stored.Bytes(), 0o644); err != nil {
					return nil, err
				}
			}
			if stopProfile, err = startCPUProfile(profile); err != nil {
				return nil, err
			}
		}
		if run.AppliedSeconds == 0 && bp.Applied >= ap.Applied {
			run.AppliedSeconds = since
		}
		if run.EntriesSeconds == 0 && bp.Entries >= ap.Entries {
			run.EntriesSeconds = since
		}
		if run.SearchSeconds == 0 && bp.Searchable >= uint64(src.entries) {
			run.SearchSeconds = since
			run.CatchUpCPU, run.SourceCPU = cpuSeconds("self")-cpuB, cpuSeconds(src.pid)-cpuA
			// The profile compares with the import's: the catch-up alone.
			stopProfile()
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got, err := indexDigest(ctx, b, src.key); err != nil || got != src.digest {
		return nil, fmt.Errorf("B caught up with digest %s (%v), A had %s", got, err, src.digest)
	}
	// The baseline of "verified and stored": badger's batch write of the
	// same block bytes, with a node's options (the blocks are held in
	// memory for it).
	blocks, err := b.Blocks(ctx, src.key)
	if err != nil {
		return nil, err
	}
	if err := settle(ctx, ""); err != nil {
		return nil, err
	}
	d, err := node.RawWrite(raw, blocks)
	os.RemoveAll(raw)
	if err != nil {
		return nil, err
	}
	run.RawSeconds = d.Seconds()
	run.RatioToRaw = run.RawSeconds / run.StoredSeconds
	ok = true
	return b, nil
}

// settle starts both timed phases from the same state: the data written
// before (the entries file; A's whole index) flushed to disk, so its
// writeback does not compete with what is timed, and, given pid, that
// process idle (A's daemon finishing the search merges its import left),
// as a source that has served for a while is. It waits at most two
// minutes for the process.
func settle(ctx context.Context, pid string) error {
	syscall.Sync()
	if pid == "" {
		return nil
	}
	// Three quiet half-seconds in a row: bleve merges a fresh index in
	// rounds with pauses between them, and one quiet window let the
	// catch-up start while A still merged its import (0.9 CPU-s of A's
	// during a 2.8 s store phase at 200k entries).
	deadline := time.Now().Add(2 * time.Minute)
	for prev, quiet := cpuSeconds(pid), 0; time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		now := cpuSeconds(pid)
		if now-prev < 0.03 { // under 6 % of a core
			if quiet++; quiet == 3 {
				return nil
			}
		} else {
			quiet = 0
		}
		prev = now
	}
	return nil
}

// benchBaseline times a fresh node's import of file, once A's daemon (pidA)
// is idle: what B's catch-up is compared with. The node is removed after,
// to spare the disk.
func benchBaseline(c *cli, dir, file, pidA string, logf func(string, ...any)) (seconds, cpu float64, err error) {
	if _, err := node.Init(c.ctx, dir); err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	nd, err := node.Open(c.ctx, node.Options{Dir: dir})
	if err != nil {
		return 0, 0, err
	}
	defer nd.Close()
	f, err := os.Open(file)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	logf("baseline: a fresh node imports them")
	if err := settle(c.ctx, pidA); err != nil {
		return 0, 0, err
	}
	cpu0 := cpuSeconds("self")
	t0 := time.Now()
	if _, err := nd.Import(c.ctx, f, "", nil); err != nil {
		return 0, 0, err
	}
	seconds, cpu = time.Since(t0).Seconds(), cpuSeconds("self")-cpu0
	return seconds, cpu, nd.Close()
}

// benchSource imports file into the node at dir signed by authors fresh
// authors and returns its default index's key, state digest and pipeline
// progress.
func benchSource(c *cli, dir, file string, authors int, rep *syncReport, logf func(string, ...any)) (key, digest string, p *node.Progress, err error) {
	ctx := c.ctx
	as := make([]dag.Author, authors)
	for i := range as {
		if as[i], err = dag.GenerateAuthor(nil); err != nil {
			return "", "", nil, err
		}
	}
	a, err := node.Open(ctx, node.Options{Dir: dir})
	if err != nil {
		return "", "", nil, err
	}
	defer a.Close()
	f, err := os.Open(file)
	if err != nil {
		return "", "", nil, err
	}
	defer f.Close()
	logf("A imports them as %d authors", authors)
	t0 := time.Now()
	if _, err := a.ImportAs(ctx, f, "", as, sourceRun, nil); err != nil {
		return "", "", nil, err
	}
	rep.SourceSeconds = time.Since(t0).Seconds()
	infos, err := a.Indexes(ctx)
	if err != nil {
		return "", "", nil, err
	}
	for _, i := range infos {
		if i.Default {
			key = i.Key
		}
	}
	if digest, err = indexDigest(ctx, a, key); err != nil {
		return "", "", nil, err
	}
	if p, err = a.Progress(ctx, key); err != nil {
		return "", "", nil, err
	}
	return key, digest, p, nil
}

// indexDigest is the state digest of index key on b.
func indexDigest(ctx context.Context, b backend, key string) (string, error) {
	st, err := b.Status(ctx)
	if err != nil {
		return "", err
	}
	for _, is := range st.Indexes {
		if is.Key == key {
			return is.Digest, nil
		}
	}
	return "", fmt.Errorf("no index %s", key)
}

// benchDaemon is an `indexd serve` child process.
type benchDaemon struct {
	cmd    *exec.Cmd
	client *httpapi.Client
	exited chan struct{}
	err    error // set before exited closes
}

// alive returns an error once the daemon has exited.
func (d *benchDaemon) alive() error {
	select {
	case <-d.exited:
		return fmt.Errorf("indexd serve exited: %v", d.err)
	default:
		return nil
	}
}

// startBenchDaemon runs this binary's `serve` on dir with loopback-only
// listeners on free ports (no mDNS, no DHT), its log in logFile, and
// returns once its HTTP API answers. stop interrupts it and waits.
func startBenchDaemon(ctx context.Context, dir, logFile string, extra ...string) (*benchDaemon, func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	lf, err := os.Create(logFile)
	if err != nil {
		return nil, nil, err
	}
	args := append([]string{"serve", "--data", dir, "--listen", "/ip4/127.0.0.1/tcp/0",
		"--http", "127.0.0.1:0", "--no-mdns", "--no-dht", "--log-level", "warn"}, extra...)
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, nil, err
	}
	d := &benchDaemon{cmd: cmd, exited: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		lf.Close()
		close(d.exited)
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-d.exited:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-d.exited
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if info, err := node.ReadDaemonInfo(dir); err == nil && info.HTTP != "" && info.PID == cmd.Process.Pid && daemonAlive(info.HTTP) {
			tok, err := os.ReadFile(filepath.Join(dir, "token"))
			if err != nil {
				stop()
				return nil, nil, err
			}
			d.client = httpapi.NewClient(info.HTTP, strings.TrimSpace(string(tok)))
			return d, stop, nil
		}
		if err := d.alive(); err != nil {
			log, _ := os.ReadFile(logFile)
			return nil, nil, fmt.Errorf("%w; its log:\n%s", err, log)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return nil, nil, errors.New("indexd serve did not answer within 2 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cpuSeconds is the user + system CPU time process pid ("self": this one)
// has used, from /proc/PID/stat; 0 if it cannot be read.
func cpuSeconds(pid string) float64 {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	// Fields 14 and 15 (utime, stime) are f[11] and f[12] after the name.
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100
