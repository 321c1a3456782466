package search

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"

	"indexd/internal/synth"
)

// benchDocs is the number of synthetic entries the benchmarks index:
// INDEXD_BENCH_DOCS, default 20000.
func benchDocs(b *testing.B, def int) int {
	if v := os.Getenv("INDEXD_BENCH_DOCS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("INDEXD_BENCH_DOCS: %v", err)
		}
		return n
	}
	return def
}

func synthDoc(seed int64, i int, e synth.Entry) Doc {
	id := sha256.Sum256([]byte(fmt.Sprintf("%d/%d", seed, i)))
	return Doc{
		ID: hex.EncodeToString(id[:]), Index: "bench", Title: e.Title, Description: e.Description,
		Name: e.Name, Files: e.Files, Category: e.Category, Tags: e.Tags,
		Author: "author" + strconv.Itoa(e.Author), InfohashV1: e.InfohashV1, InfohashV2: e.InfohashV2,
		Size: e.Size, Published: e.Published,
	}
}

func genDocs(n int) []Doc {
	docs := make([]Doc, n)
	synth.Entries(1, n, func(i int, e synth.Entry) { docs[i] = synthDoc(1, i, e) })
	return docs
}

// plainDoc is a Doc as bleve's default mapping sees it: every exported
// field indexed, stored, with term vectors and in _all.
type plainDoc struct {
	Index, Title, Description, Name string
	Files                           []string
	Category                        uint32
	Tags                            []string
	Author                          string
	InfohashV1, InfohashV2          string
	Size                            uint64
	Published                       time.Time
}

const benchBatch = 10000

// BenchmarkBatchIndex compares the batch-indexing rate of this package's
// mapping with bleve's default mapping, on disk, batches of 10k.
func BenchmarkBatchIndex(b *testing.B) {
	n := benchDocs(b, 20000)
	docs := genDocs(n)
	b.Run("lean", func(b *testing.B) {
		cpu0 := cpuSeconds()
		for b.Loop() {
			s, err := Open(b.TempDir(), Options{BatchSize: benchBatch})
			if err != nil {
				b.Fatal(err)
			}
			for start := 0; start < n; start += benchBatch {
				if err := s.Apply(docs[start:min(start+benchBatch, n)], nil, uint64(start)); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "docs/s")
		b.ReportMetric(float64(n)*float64(b.N)/(cpuSeconds()-cpu0), "docs/cpu-s")
	})
	b.Run("default", func(b *testing.B) {
		cpu0 := cpuSeconds()
		for b.Loop() {
			idx, err := bleve.NewUsing(filepath.Join(b.TempDir(), "x"), bleve.NewIndexMapping(), scorch.Name, scorch.Name, nil)
			if err != nil {
				b.Fatal(err)
			}
			for start := 0; start < n; start += benchBatch {
				batch := idx.NewBatch()
				for _, d := range docs[start:min(start+benchBatch, n)] {
					p := plainDoc{d.Index, d.Title, d.Description, d.Name, d.Files, d.Category, d.Tags, d.Author, d.InfohashV1, d.InfohashV2, d.Size, d.Published}
					if err := batch.Index(d.ID, p); err != nil {
						b.Fatal(err)
					}
				}
				if err := idx.Batch(batch); err != nil {
					b.Fatal(err)
				}
			}
			if err := idx.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "docs/s")
		b.ReportMetric(float64(n)*float64(b.N)/(cpuSeconds()-cpu0), "docs/cpu-s")
	})
}

// cpuSeconds is the user+system CPU time of this process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// buildBenchIndex indexes n synthetic entries into dir in batches of
// benchBatch, generating them batch by batch so the generator does not
// weigh on memory, and returns the indexing rate.
func buildBenchIndex(b *testing.B, dir string, n int) float64 {
	batch := benchBatch
	if v, err := strconv.Atoi(os.Getenv("INDEXD_BENCH_BATCH")); err == nil && v > 0 {
		batch = v
	}
	s, err := Open(dir, Options{BatchSize: batch})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if c, _ := s.Count(); c == uint64(n) {
		return 0 // reused
	}
	start := time.Now()
	docs := make([]Doc, 0, batch)
	for i := 0; i < n; i++ {
		docs = append(docs, synthDoc(1, i, synth.Make(1, i)))
		if len(docs) == batch || i == n-1 {
			if err := s.Apply(docs, nil, uint64(i)); err != nil {
				b.Fatal(err)
			}
			docs = docs[:0]
			if (i+1)%250000 == 0 {
				b.Logf("indexed %d in %v", i+1, time.Since(start).Round(time.Second))
			}
		}
	}
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkSearchLatency measures search latency over an index of
// INDEXD_BENCH_DOCS entries (default 20000) built on disk, in
// INDEXD_BENCH_DIR if set (kept and reused), else in a temporary
// directory. It reports p50/p99 per query class, the index size on disk
// and the peak RSS of the process.
func BenchmarkSearchLatency(b *testing.B) {
	n := benchDocs(b, 20000)
	dir := os.Getenv("INDEXD_BENCH_DIR")
	if dir == "" {
		dir = filepath.Join(b.TempDir(), "idx")
	}
	stop := make(chan struct{})
	peaks := sampleRSS(stop)
	rate := buildBenchIndex(b, dir, n)
	hwmBuild := peakRSS()
	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	classes := []struct {
		name string
		qs   []Query
	}{
		{"1word", []Query{{Text: "love"}, {Text: "night"}, {Text: "dark"}, {Text: "world"}, {Text: "the"}}},
		{"2words", []Query{{Text: "dark night"}, {Text: "love story"}, {Text: "the king"}, {Text: "last man"}, {Text: "house 1080p"}}},
		{"3words", []Query{{Text: "the dark night"}, {Text: "love story world"}, {Text: "king of the"}, {Text: "last man 1080p"}, {Text: "city girl life"}}},
		{"category", []Query{{Text: "love", Categories: []uint32{2000}}, {Text: "night", Categories: []uint32{5040}}, {Text: "dark world", Categories: []uint32{5000}}, {Text: "the", Categories: []uint32{3000}}, {Text: "king", Categories: []uint32{7020}}}},
		{"recent", []Query{{}, {Categories: []uint32{2000}}}},
	}
	const rounds = 20
	b.ResetTimer()
	for b.Loop() {
		for _, c := range classes {
			var lat []time.Duration
			var hits uint64
			var cpu float64
			for r := 0; r < rounds+1; r++ {
				if r == 1 {
					cpu = cpuSeconds()
				}
				for _, q := range c.qs {
					t := time.Now()
					res, err := s.Search(ctx, q)
					if err != nil {
						b.Fatal(err)
					}
					if r > 0 { // round 0 warms up
						lat = append(lat, time.Since(t))
						hits += res.Total
					}
				}
			}
			cpuPerQuery := (cpuSeconds() - cpu) / float64(len(lat)) * 1000
			slices.Sort(lat)
			p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
			b.ReportMetric(cpuPerQuery, c.name+"-cpu-ms/op")
			b.ReportMetric(float64(p50.Microseconds())/1000, c.name+"-p50-ms")
			b.ReportMetric(float64(p99.Microseconds())/1000, c.name+"-p99-ms")
			b.Logf("%s: p50 %v p99 %v, mean CPU %.2f ms/query, mean hits %d", c.name, p50, p99, cpuPerQuery, hits/uint64(len(lat)))
		}
	}
	b.StopTimer()
	close(stop)
	pk := <-peaks
	b.ReportMetric(float64(pk.anon)/(1<<20), "peakAnon-MiB")
	b.Logf("sampled every 50 ms: peak anonymous RSS %d MiB, peak file-backed RSS (mmapped index segments) %d MiB", pk.anon>>20, pk.file>>20)
	b.ReportMetric(float64(dirSize(dir))/(1<<20), "disk-MiB")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peakRSS-MiB")
	b.Logf("docs %d, index rate %.0f docs/s, disk %d MiB, peak RSS build %d MiB, after searches %d MiB (now: anon %d MiB, file %d MiB)",
		n, rate, dirSize(dir)>>20, hwmBuild>>20, peakRSS()>>20, procStatus("RssAnon:")>>20, procStatus("RssFile:")>>20)
}

// peakRSS is the process's peak resident set size (VmHWM), in bytes.
func peakRSS() int64 { return procStatus("VmHWM:") }

// procStatus reads a kB figure of /proc/self/status, in bytes.
func procStatus(key string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

type rssPeaks struct{ anon, file int64 }

// sampleRSS samples RssAnon and RssFile every 50 ms until stop is closed,
// then sends the peaks. VmHWM alone mixes the heap with the pages of the
// mmapped index files, which the kernel can drop at will.
func sampleRSS(stop <-chan struct{}) <-chan rssPeaks {
	out := make(chan rssPeaks, 1)
	go func() {
		var p rssPeaks
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			p.anon = max(p.anon, procStatus("RssAnon:"))
			p.file = max(p.file, procStatus("RssFile:"))
			select {
			case <-stop:
				out <- p
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// BenchmarkLiveApply measures what one live entry costs search: an index
// of base entries built in batches, then single-entry Applies one after
// another, as publishes and gossip bring them. It reports the wall time
// and the CPU of each (merges included, as they run beside it), then the
// median latency of one-word searches over what the trickle left.
func BenchmarkLiveApply(b *testing.B) {
	const live = 300
	words := []string{"love", "night", "dark", "world", "the"}
	for _, base := range []int{1000, 4000, 20000, 100000} {
		b.Run(fmt.Sprintf("base=%d", base), func(b *testing.B) {
			docs := genDocs(base + live)
			ctx := context.Background()
			for b.Loop() {
				s, err := Open(b.TempDir(), Options{})
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Apply(docs[:base], nil, 1); err != nil {
					b.Fatal(err)
				}
				cpu0, t0 := cpuSeconds(), time.Now()
				for i, d := range docs[base:] {
					if err := s.Apply([]Doc{d}, nil, uint64(2+i)); err != nil {
						b.Fatal(err)
					}
				}
				wall, cpu := time.Since(t0), cpuSeconds()-cpu0
				var lat []time.Duration
				for i := range 200 {
					t := time.Now()
					if _, err := s.Search(ctx, Query{Text: words[i%len(words)]}); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t))
				}
				slices.Sort(lat)
				b.ReportMetric(float64(wall.Microseconds())/live, "µs/apply")
				b.ReportMetric(cpu*1e6/live, "cpu-µs/apply")
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "search-p50-µs")
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
