package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"indexd/node"
)

// loadEntries publishes n magnet entries with varied titles.
func loadEntries(tb testing.TB, n *node.Node, count int) {
	tb.Helper()
	words := []string{"alpha", "beta", "gamma", "delta", "ubuntu", "debian", "1080p", "s01e02", "flac", "ebook"}
	var buf []byte
	for i := 0; i < count; i++ {
		ih := fmt.Sprintf("%040x", i+1)
		line := fmt.Sprintf(`{"infohash_v1":%q,"name":"Entry.%d.%s.%s","title":"Entry %d %s %s","size":%d,"files":[{"path":"dir/file-%d.bin","size":%d}]}`+"\n",
			ih, i, words[i%len(words)], words[(i/3)%len(words)], i, words[i%len(words)], words[(i/7)%len(words)], 1000+i, i, 1000+i)
		buf = append(buf, line...)
	}
	if _, err := n.Import(context.Background(), bytesReader(buf), "", nil); err != nil {
		tb.Fatalf("importing load entries: %v", err)
	}
}

type byteReader struct {
	b []byte
	i int
}

func (r *byteReader) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}

func bytesReader(b []byte) io.Reader { return &byteReader{b: b} }

// runLoad fires searches from workers goroutines for d and returns the
// number done, the errors seen, and the median latency.
func runLoad(tb testing.TB, base string, workers int, d time.Duration) (done, errs int64, p50 time.Duration) {
	queries := []string{"q=alpha", "q=beta+1080p", "", "q=entry&sort=date", "q=ubuntu&facets=1", "q=nothing-matches", "cat=2000", "q=s01e02&limit=50"}
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	deadline := time.Now().Add(d)
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var mine []time.Duration
			for i := 0; time.Now().Before(deadline); i++ {
				path := "/api/v1/search?" + queries[(i+w)%len(queries)]
				if i%4 == 3 {
					path = "/torznab/api?t=search&" + queries[(i+w)%len(queries)]
				}
				start := time.Now()
				resp, err := hc.Get(base + path)
				if err != nil {
					atomic.AddInt64(&errs, 1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					atomic.AddInt64(&errs, 1)
				}
				mine = append(mine, time.Since(start))
				atomic.AddInt64(&done, 1)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	if len(lat) > 0 {
		sortDurations(lat)
		p50 = lat[len(lat)/2]
	}
	return done, errs, p50
}

func sortDurations(d []time.Duration) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j] < d[j-1]; j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}

// TestLoad runs concurrent searches (API and Torznab) against a real
// server on loopback and checks there are no errors and the heap stays
// bounded. It runs 2 s by default; INDEXD_LOAD_SECONDS=60 runs the long
// version the issue asks for.
func TestLoad(t *testing.T) {
	secs := 2
	if s, err := strconv.Atoi(os.Getenv("INDEXD_LOAD_SECONDS")); err == nil && s > 0 {
		secs = s
	}
	e := newEnv(t, Options{})
	loadEntries(t, e.n, 2000)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	done, errs, p50 := runLoad(t, e.url, 16, time.Duration(secs)*time.Second)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("%d searches in %d s from 16 workers (%.0f/s), median %v, %d errors; heap %d MiB -> %d MiB",
		done, secs, float64(done)/float64(secs), p50, errs, before.HeapAlloc>>20, after.HeapAlloc>>20)
	if errs != 0 {
		t.Errorf("%d of %d searches failed", errs, done)
	}
	if done == 0 {
		t.Fatal("no search completed")
	}
	// Bounded memory: after GC the live heap must not have grown by more
	// than 64 MiB (bleve caches and badger tables account for some).
	if grow := int64(after.HeapAlloc) - int64(before.HeapAlloc); grow > 64<<20 {
		t.Errorf("live heap grew by %d MiB under load", grow>>20)
	}
}

// BenchmarkSearchHTTP measures one search over loopback HTTP, against the
// same search called on the node directly (the baseline).
func BenchmarkSearchHTTP(b *testing.B) {
	e := newEnv(b, Options{})
	loadEntries(b, e.n, 5000)
	hc := &http.Client{}
	b.Run("node", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.n.Search(context.Background(), node.SearchRequest{Query: "alpha 1080p"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("http", func(b *testing.B) {
		for b.Loop() {
			resp, err := hc.Get(e.url + "/api/v1/search?q=alpha+1080p")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.Run("torznab", func(b *testing.B) {
		for b.Loop() {
			resp, err := hc.Get(e.url + "/torznab/api?t=search&q=alpha+1080p")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
