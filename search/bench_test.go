package search

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
