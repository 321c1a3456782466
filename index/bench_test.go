package index

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"indexd/dag"
)

// benchEntries is the size of the DAG the Sync benchmarks materialise.
const benchEntries = 100_000

var (
	benchOnce sync.Once
	benchDir  string
	benchDB   *badger.DB
	benchDAG  *dag.DAG
	benchIdx  dag.IndexKey
	benchErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDB != nil {
		benchDAG.Close()
		benchDB.Close()
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// benchPut is a torrent-like put: a release-style title, 3 tags, 5 files.
func benchPut(rng *rand.Rand, i int) *dag.Put {
	words := []string{"Matrix", "Ocean", "Night", "Empire", "Silent", "River", "Storm", "Garden", "Echo", "Winter", "Signal", "Harbor"}
	res := []string{"720p", "1080p", "2160p"}
	name := fmt.Sprintf("%s.%s.%d.%s.WEB-DL.x264-GRP%d", words[rng.IntN(len(words))], words[rng.IntN(len(words))], 1950+rng.IntN(75), res[rng.IntN(3)], i%97)
	ih := make([]byte, 20)
	for j := range ih {
		ih[j] = byte(rng.Uint32())
	}
	p := &dag.Put{InfohashV1: ih, Name: name, Title: name, Category: []uint32{2040, 5040, 3040, 7020}[rng.IntN(4)],
		Tags: []string{words[rng.IntN(12)], res[rng.IntN(3)], "web"}, Trackers: []string{"udp://tracker.example.org:1337/announce"}}
	for f := range 5 {
		sz := uint64(rng.IntN(1 << 30))
		p.Files = append(p.Files, dag.File{Path: fmt.Sprintf("%s/%s.part%d.mkv", name, words[rng.IntN(12)], f), Size: sz})
		p.Size += sz
	}
	return p
}

// benchSetup builds, once per process, a DAG of benchEntries puts by 4
// authors (with a few amends) in a temp dir.
func benchSetup(b *testing.B) {
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "index-bench-")
		if benchErr != nil {
			return
		}
		opts := badger.DefaultOptions(benchDir).WithLogger(nil).WithMemTableSize(32 << 20).WithValueThreshold(1 << 10).
			WithBlockCacheSize(32 << 20).WithIndexCacheSize(16 << 20).WithNumCompactors(2)
		if benchDB, benchErr = badger.Open(opts); benchErr != nil {
			return
		}
		creator := testAuthor(1, 0)
		m, err := dag.NewManifest("bench", dag.PolicyOpen, creator.Identity, bytes.NewReader(make([]byte, 16)))
		if err != nil {
			benchErr = err
			return
		}
		benchIdx = m.Key()
		if benchDAG, benchErr = dag.Open(benchDB, []byte("d/"), dag.Options{Now: clockFrom(0)}); benchErr != nil {
			return
		}
		if benchErr = benchDAG.PutManifest(m); benchErr != nil {
			return
		}
		rng := rand.New(rand.NewPCG(3, 4))
		const batch = 500
		for i := 0; i < benchEntries; i += batch {
			ops := make([]dag.Op, 0, batch)
			for j := range batch {
				ops = append(ops, dag.Op{Kind: dag.OpPut, Put: benchPut(rng, i+j)})
			}
			ids, err := benchDAG.Append(context.Background(), benchIdx, testAuthor(i/batch%4, 0), ops...)
			if err != nil {
				benchErr = err
				return
			}
			am := []dag.Op{{Kind: dag.OpAmend, Target: ids[0], Amend: &dag.Amend{Title: strp("amended")}}}
			if _, err := benchDAG.Append(context.Background(), benchIdx, testAuthor(i/batch%4, 0), am...); err != nil {
				benchErr = err
				return
			}
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
}

var benchRun int

// BenchmarkSync materialises the 100k-entry DAG into a fresh index each
// iteration and reports entries/s.
func BenchmarkSync(b *testing.B) {
	benchSetup(b)
	b.ResetTimer()
	for range b.N {
		_, drop := benchSynced(b)
		// Every iteration starts from the same database size.
		b.StopTimer()
		drop()
		b.StartTimer()
	}
	b.ReportMetric(float64(benchEntries*b.N)/b.Elapsed().Seconds(), "entries/s")
}

// benchSynced materialises the bench DAG into an index under a fresh
// prefix; drop removes it.
func benchSynced(b *testing.B) (x *Index, drop func()) {
	benchRun++
	prefix := fmt.Appendf(nil, "i%d/", benchRun)
	x, err := Open(benchDB, prefix, benchDAG, Options{})
	if err != nil {
		b.Fatal(err)
	}
	n, err := x.Sync(context.Background(), benchIdx)
	if err != nil {
		b.Fatal(err)
	}
	if n < benchEntries {
		b.Fatalf("Sync changed %d entries; want %d", n, benchEntries)
	}
	return x, func() {
		if err := benchDB.DropPrefix(prefix); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRebuild times what a change in a forked log's count costs: the
// rebuild of a synced 100k-entry index (next to BenchmarkSync's first
// materialisation of it).
func BenchmarkRebuild(b *testing.B) {
	benchSetup(b)
	x, drop := benchSynced(b)
	b.ResetTimer()
	for range b.N {
		if err := x.Rebuild(context.Background(), benchIdx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(benchEntries*b.N)/b.Elapsed().Seconds(), "entries/s")
	drop()
}

// BenchmarkAppliedRead is Sync's baseline: reading the same applied nodes
// from the DAG (what Sync must do anyway) without materialising them.
func BenchmarkAppliedRead(b *testing.B) {
	benchSetup(b)
	b.ResetTimer()
	for range b.N {
		var after uint64
		for {
			as, err := benchDAG.Applied(benchIdx, after, 1024)
			if err != nil {
				b.Fatal(err)
			}
			if len(as) == 0 {
				break
			}
			after = as[len(as)-1].Seq
		}
	}
	b.ReportMetric(float64(benchEntries*b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkDigest hashes the state of the 100k-entry index.
func BenchmarkDigest(b *testing.B) {
	benchSetup(b)
	x, err := Open(benchDB, []byte("digest/"), benchDAG, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := x.Sync(context.Background(), benchIdx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := x.Digest(benchIdx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchEntries*b.N)/b.Elapsed().Seconds(), "entries/s")
}
