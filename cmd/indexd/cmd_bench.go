package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"indexd/internal/synth"
	"indexd/node"
	"indexd/search"
)

func init() {
	register(&command{name: "bench", args: "import|sync", summary: "measure whole pipelines on synthetic entries (import: import + search; sync: catch-up and live between two processes)", run: cmdBench})
}

// benchReport is what `indexd bench import` prints.
type benchReport struct {
	Entries          int     `json:"entries"`
	ImportSeconds    float64 `json:"import_seconds"`
	ImportRate       float64 `json:"import_entries_per_s"`
	BaselineDocs     int     `json:"baseline_docs"`
	BaselineRate     float64 `json:"baseline_default_mapping_docs_per_s"`
	LeanRate         float64 `json:"lean_mapping_docs_per_s"`
	RatioToBaseline  float64 `json:"import_to_baseline_ratio"`
	SearchQueries    int     `json:"search_queries"`
	SearchP50ms      float64 `json:"search_p50_ms"`
	SearchP99ms      float64 `json:"search_p99_ms"`
	CategoryP50ms    float64 `json:"category_search_p50_ms"`
	CategoryP99ms    float64 `json:"category_search_p99_ms"`
	ReopenP50ms      float64 `json:"search_reopened_p50_ms"`
	ReopenP99ms      float64 `json:"search_reopened_p99_ms"`
	ReopenCatP50ms   float64 `json:"category_search_reopened_p50_ms"`
	ReopenCatP99ms   float64 `json:"category_search_reopened_p99_ms"`
	IndexOnlyP50ms   float64 `json:"search_index_only_p50_ms"`
	IndexOnlyP99ms   float64 `json:"search_index_only_p99_ms"`
	DiskBytesBadger  int64   `json:"disk_badger_bytes"`
	DiskBytesBleve   int64   `json:"disk_bleve_bytes"`
	PeakRSSBytes     int64   `json:"peak_rss_bytes"`
	PeakAnonBytes    int64   `json:"import_peak_rss_anon_bytes"`
	PeakFileBytes    int64   `json:"import_peak_rss_file_bytes"`
	PeakHeapBytes    int64   `json:"import_peak_go_heap_bytes"`
	GoMaxProcs       int     `json:"gomaxprocs"`
	BaselineNoteText string  `json:"note"`
}

func cmdBench(c *cli, args []string) error {
	fs := c.flags().withJSON()
	n := fs.Int("n", 100000, "synthetic entries to import")
	baseN := fs.Int("baseline", 50000, "entries for the bleve default-mapping baseline and the lean mapping alone (capped at -n; -baseline N = -n measures the same entries; the default mapping indexes ~2k/s)")
	queries := fs.Int("queries", 300, "queries per latency figure")
	keep := fs.String("dir", "", "work directory to keep (default: a temporary one, removed)")
	cpuprof := fs.String("cpuprofile", "", "write a CPU profile of the import (bench sync: of B's catch-up, until all is stored to FILE.stored and from there until all is searchable to FILE; A's daemon to FILE.source) to this file")
	memprof := fs.String("memprofile", "", "write a heap profile taken right after the import to this file")
	searchprof := fs.String("searchprofile", "", "write a CPU profile of the search-latency phase to this file")
	trim := fs.Bool("trim", false, "reclaim the data files' mapped pages during the import (node.Options.TrimDuringImport)")
	authors := fs.Int("authors", 1000, "bench sync: authors the source's entries are signed by, in turns of 16")
	runs := fs.Int("runs", 1, "bench sync: pairs of baseline import and fresh catch-up, alternating which goes first; the figures are their medians")
	live := fs.Int("live", 1000, "bench sync: publishes on A in the live phase, each timed until B's search finds it")
	searchOnly := fs.Bool("search-only", false, "with --dir of an earlier run: only measure search latency on its node")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if len(c.args) != 1 || (c.args[0] != "import" && c.args[0] != "sync") {
		return usageError("want: bench import|sync [-n N]")
	}
	work := *keep
	if work == "" {
		d, err := os.MkdirTemp("", "indexd-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		work = d
	} else if err := os.MkdirAll(work, 0o700); err != nil {
		return err
	}
	*baseN = min(*baseN, *n)
	logf := func(format string, a ...any) { fmt.Fprintf(c.stderr, format+"\n", a...) }
	if c.args[0] == "sync" {
		if *authors < 1 {
			return usageError("--authors must be at least 1")
		}
		if *runs < 1 {
			return usageError("--runs must be at least 1")
		}
		if *live < 1 {
			return usageError("--live must be at least 1")
		}
		return benchSync(c, work, syncOptions{n: *n, authors: *authors, runs: *runs, live: *live, asJSON: fs.asJSON(), profile: *cpuprof}, logf)
	}
	rep := benchReport{Entries: *n, BaselineDocs: *baseN, GoMaxProcs: runtime.GOMAXPROCS(0)}
	file := filepath.Join(work, "entries.jsonl")
	dir := filepath.Join(work, "node")
	if *searchOnly {
		if *keep == "" {
			return usageError("--search-only needs --dir of an earlier run")
		}
		words, err := readWords(file)
		if err != nil {
			return err
		}
		nd, err := node.Open(c.ctx, node.Options{Dir: dir})
		if err != nil {
			return err
		}
		defer nd.Close()
		rep = benchReport{GoMaxProcs: runtime.GOMAXPROCS(0)}
		if err := benchSearch(c, nd, words, *queries, *searchprof, &rep); err != nil {
			return err
		}
		rep.PeakRSSBytes = peakRSS()
		return writeJSON(c.stdout, rep)
	}

	// 1. Synthetic entries as JSON Lines, the format of export/import.
	logf("generating %d entries", *n)
	words, err := writeSynth(file, *n)
	if err != nil {
		return err
	}

	// 2. The whole import pipeline: DAG appends (one signature per batch),
	// materialised entries, bleve.
	if _, err := node.Init(c.ctx, dir); err != nil {
		return err
	}
	nd, err := node.Open(c.ctx, node.Options{Dir: dir, TrimDuringImport: *trim})
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		nd.Close()
		return err
	}
	logf("importing")
	stopProfile, err := startCPUProfile(*cpuprof)
	if err != nil {
		return err
	}
	defer stopProfile()
	stopMem := sampleMemory(100 * time.Millisecond)
	start := time.Now()
	bar := newProgress(c.stderr, false)
	midDone := false
	got, err := nd.Import(c.ctx, f, "", func(done int) {
		bar.update(done)
		if *memprof != "" && !midDone && done >= *n/2 {
			midDone = true
			if pf, err := os.Create(*memprof + ".mid"); err == nil {
				pprof.Lookup("heap").WriteTo(pf, 0)
				pf.Close()
			}
		}
	})
	bar.done()
	f.Close()
	if err != nil {
		nd.Close()
		return err
	}
	el := time.Since(start)
	rep.PeakAnonBytes, rep.PeakFileBytes, rep.PeakHeapBytes = stopMem()
	stopProfile()
	if *memprof != "" {
		if pf, err := os.Create(*memprof); err == nil {
			pprof.Lookup("heap").WriteTo(pf, 0)
			pf.Close()
		}
	}
	rep.ImportSeconds = el.Seconds()
	rep.ImportRate = float64(got) / el.Seconds()
	logf("imported %d in %s (%.0f/s)", got, el.Round(time.Millisecond), rep.ImportRate)

	// 3. Search latency through the node (search + entry lookups), for
	// 1-3 common words, and with a category filter.
	runtime.GC()
	if err := benchSearch(c, nd, words, *queries, *searchprof, &rep); err != nil {
		nd.Close()
		return err
	}
	qs := benchQueries(words, *queries)
	rep.PeakRSSBytes = peakRSS()
	if err := nd.Close(); err != nil {
		return err
	}
	rep.DiskBytesBadger = dirSize(filepath.Join(dir, "db"))
	rep.DiskBytesBleve = dirSize(filepath.Join(dir, "search"))

	// 3b. The same searches on the node reopened: the search index as it
	// serves once the import's last merges and compactions are done
	// (measured above, they still ran beside the searches).
	nd, err = node.Open(c.ctx, node.Options{Dir: dir})
	if err != nil {
		return err
	}
	var again benchReport
	if err := benchSearch(c, nd, words, *queries, "", &again); err != nil {
		nd.Close()
		return err
	}
	if err := nd.Close(); err != nil {
		return err
	}
	rep.ReopenP50ms, rep.ReopenP99ms = again.SearchP50ms, again.SearchP99ms
	rep.ReopenCatP50ms, rep.ReopenCatP99ms = again.CategoryP50ms, again.CategoryP99ms

	// 4. The same search index opened alone: bleve's own latency.
	si, err := search.Open(filepath.Join(dir, "search"), search.Options{})
	if err != nil {
		return err
	}
	var only []time.Duration
	for _, q := range qs {
		t0 := time.Now()
		if _, err := si.Search(c.ctx, search.Query{Text: q, Limit: 20}); err != nil {
			si.Close()
			return err
		}
		only = append(only, time.Since(t0))
	}
	si.Close()
	rep.IndexOnlyP50ms, rep.IndexOnlyP99ms = percentiles(only)

	// 5. Baselines on the first baseN entries, same run: bleve's default
	// mapping, and our lean mapping alone (no DAG, no badger).
	docs, err := readDocs(file, *baseN)
	if err != nil {
		return err
	}
	logf("baseline: bleve default mapping on %d docs", len(docs))
	d, err := search.IndexDefaultMapping(filepath.Join(work, "baseline"), docs, 5000)
	if err != nil {
		return err
	}
	rep.BaselineRate = float64(len(docs)) / d.Seconds()
	os.RemoveAll(filepath.Join(work, "baseline"))
	lean, err := search.Open(filepath.Join(work, "lean"), search.Options{Durable: true})
	if err != nil {
		return err
	}
	t0 := time.Now()
	for i := 0; i < len(docs); i += 5000 {
		if err := lean.Apply(docs[i:min(i+5000, len(docs))], nil, uint64(i+1)); err != nil {
			lean.Close()
			return err
		}
	}
	rep.LeanRate = float64(len(docs)) / time.Since(t0).Seconds()
	lean.Close()
	rep.RatioToBaseline = rep.ImportRate / rep.BaselineRate
	rep.BaselineNoteText = fmt.Sprintf("baseline measured on the first %d entries", len(docs))
	if len(docs) == got {
		rep.BaselineNoteText = fmt.Sprintf("baseline measured on the same %d entries", len(docs))
	}

	if fs.asJSON() {
		return writeJSON(c.stdout, rep)
	}
	w := c.stdout
	fmt.Fprintf(w, "entries:                 %d (GOMAXPROCS %d)\n", rep.Entries, rep.GoMaxProcs)
	fmt.Fprintf(w, "import:                  %.0f entries/s (%.1f s)\n", rep.ImportRate, rep.ImportSeconds)
	fmt.Fprintf(w, "bleve default mapping:   %.0f docs/s on %d docs   -> import is %.2fx\n", rep.BaselineRate, rep.BaselineDocs, rep.RatioToBaseline)
	fmt.Fprintf(w, "lean mapping alone:      %.0f docs/s on %d docs\n", rep.LeanRate, rep.BaselineDocs)
	fmt.Fprintf(w, "search (node) p50/p99:   %.2f / %.2f ms (1-3 common words)\n", rep.SearchP50ms, rep.SearchP99ms)
	fmt.Fprintf(w, "  with category filter:  %.2f / %.2f ms\n", rep.CategoryP50ms, rep.CategoryP99ms)
	fmt.Fprintf(w, "  node reopened:         %.2f / %.2f ms; with category filter %.2f / %.2f ms\n", rep.ReopenP50ms, rep.ReopenP99ms, rep.ReopenCatP50ms, rep.ReopenCatP99ms)
	fmt.Fprintf(w, "search (bleve) p50/p99:  %.2f / %.2f ms\n", rep.IndexOnlyP50ms, rep.IndexOnlyP99ms)
	fmt.Fprintf(w, "disk:                    badger %s, bleve %s\n", humanSize(uint64(rep.DiskBytesBadger)), humanSize(uint64(rep.DiskBytesBleve)))
	fmt.Fprintf(w, "peak RSS:                %s\n", humanSize(uint64(rep.PeakRSSBytes)))
	fmt.Fprintf(w, "  during the import:     anonymous %s, file-backed %s, Go heap %s (peaks, sampled)\n",
		humanSize(uint64(rep.PeakAnonBytes)), humanSize(uint64(rep.PeakFileBytes)), humanSize(uint64(rep.PeakHeapBytes)))
	return nil
}

// benchSearch measures search latency through nd for queries of 1-3 of
// words, every other one with a category filter.
func benchSearch(c *cli, nd *node.Node, words []string, queries int, profile string, rep *benchReport) error {
	qs := benchQueries(words, queries)
	var plain, cat []time.Duration
	stopProfile, err := startCPUProfile(profile)
	if err != nil {
		return err
	}
	defer stopProfile()
	for i, q := range qs {
		req := node.SearchRequest{Query: q, Limit: 20}
		if i%2 == 1 {
			req.Categories = []string{[]string{"2000", "5000", "3000", "4000"}[i/2%4]}
		}
		t0 := time.Now()
		if _, err := nd.Search(c.ctx, req); err != nil {
			return fmt.Errorf("query %q: %w", q, err)
		}
		d := time.Since(t0)
		if i%2 == 1 {
			cat = append(cat, d)
		} else {
			plain = append(plain, d)
		}
	}
	rep.SearchQueries = len(qs)
	rep.SearchP50ms, rep.SearchP99ms = percentiles(plain)
	rep.CategoryP50ms, rep.CategoryP99ms = percentiles(cat)
	return nil
}

// writeSynth writes n synthetic entries as JSON Lines and returns the most
// common title words, for queries.
func writeSynth(path string, n int) ([]string, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(bw)
	freq := map[string]int{}
	var werr error
	synth.Entries(1, n, func(i int, e synth.Entry) {
		if werr != nil {
			return
		}
		v := node.EntryView{
			Name: e.Name, Title: e.Title, Description: e.Description, Size: e.Size,
			Category: e.Category, Tags: e.Tags, InfohashV1: e.InfohashV1, InfohashV2: e.InfohashV2,
		}
		for _, p := range e.Files {
			v.Files = append(v.Files, node.FileView{Path: p, Size: e.Size / uint64(len(e.Files))})
		}
		if i < 20000 {
			countWords(freq, e.Title)
		}
		werr = enc.Encode(&v)
	})
	if werr != nil {
		return nil, werr
	}
	return commonWords(freq), bw.Flush()
}

// countWords counts the plain lowercase words of title.
func countWords(freq map[string]int, title string) {
	for _, w := range strings.Fields(strings.ToLower(title)) {
		if len(w) > 2 && strings.IndexFunc(w, func(r rune) bool { return r < 'a' || r > 'z' }) < 0 {
			freq[w]++
		}
	}
}

// commonWords returns the 40 most frequent words of freq.
func commonWords(freq map[string]int) []string {
	words := make([]string, 0, len(freq))
	for w := range freq {
		words = append(words, w)
	}
	sort.Slice(words, func(i, j int) bool {
		if freq[words[i]] != freq[words[j]] {
			return freq[words[i]] > freq[words[j]]
		}
		return words[i] < words[j]
	})
	if len(words) > 40 {
		words = words[:40]
	}
	return words
}

// readWords returns the common title words of the first 20,000 entries of
// a JSON Lines file, as writeSynth did when it wrote the file.
func readWords(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	freq := map[string]int{}
	for i := 0; i < 20000 && sc.Scan(); i++ {
		var v node.EntryView
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, err
		}
		countWords(freq, v.Title)
	}
	return commonWords(freq), sc.Err()
}

// benchQueries makes k queries of 1-3 words drawn from the common words.
func benchQueries(words []string, k int) []string {
	out := make([]string, 0, k)
	for i := 0; i < k; i++ {
		n := 1 + i%3
		q := make([]string, 0, n)
		for j := 0; j < n; j++ {
			q = append(q, words[(i*7+j*13)%len(words)])
		}
		out = append(out, strings.Join(q, " "))
	}
	return out
}

// readDocs reads the first n entries of a JSON Lines file as search docs.
func readDocs(path string, n int) ([]search.Doc, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	docs := make([]search.Doc, 0, n)
	for len(docs) < n && sc.Scan() {
		var v node.EntryView
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, err
		}
		id := sha256.Sum256([]byte(strconv.Itoa(len(docs))))
		d := search.Doc{
			ID: hex.EncodeToString(id[:]), Index: "bench", Title: v.Title, Description: v.Description, Name: v.Name,
			Category: v.Category, Tags: v.Tags, InfohashV1: v.InfohashV1, InfohashV2: v.InfohashV2, Size: v.Size,
			Published: time.Unix(1700000000+int64(len(docs)), 0),
		}
		for _, fv := range v.Files {
			d.Files = append(d.Files, fv.Path)
		}
		docs = append(docs, d)
	}
	return docs, sc.Err()
}

func percentiles(ds []time.Duration) (p50, p99 float64) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(p float64) float64 {
		i := int(p * float64(len(s)-1))
		return float64(s[i].Microseconds()) / 1000
	}
	return at(0.50), at(0.99)
}

// startCPUProfile writes a CPU profile to path ("": none) until stop.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { pprof.StopCPUProfile(); f.Close() }) }, nil
}

// peakRSS is the process's peak resident set (VmHWM), or 0 off Linux.
func peakRSS() int64 { return peakRSSOf("self") }

// peakRSSOf is peakRSS of process pid ("self": this one).
func peakRSSOf(pid string) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// sampleMemory samples the process's anonymous and file-backed resident
// memory (RssAnon, RssFile) and the Go heap every interval until the
// returned function is called, which returns their peaks. VmHWM alone
// does not say which of them made the peak.
func sampleMemory(interval time.Duration) (stop func() (anon, file, heap int64)) {
	done := make(chan struct{})
	out := make(chan [3]int64, 1)
	go func() {
		var peak [3]int64
		t := time.NewTicker(interval)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			a, f := rssParts()
			peak[0], peak[1] = max(peak[0], a), max(peak[1], f)
			runtime.ReadMemStats(&ms)
			peak[2] = max(peak[2], int64(ms.HeapInuse))
			select {
			case <-done:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() (int64, int64, int64) {
		close(done)
		p := <-out
		return p[0], p[1], p[2]
	}
}

// rssParts returns RssAnon and RssFile of this process, 0 off Linux.
func rssParts() (anon, file int64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "RssAnon:":
			anon = kb << 10
		case "RssFile:":
			file = kb << 10
		}
	}
	return anon, file
}

func dirSize(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}
