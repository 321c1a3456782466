package replicate

import (
	"context"
	"crypto/rand"
	"io"
	"os"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"indexd/feedtree"
)

// BenchmarkContentTransfer moves a CONTENT_BENCH_MIB (default 256) MiB feed
// of 64 KiB blocks between two hosts on loopback TCP, both feeds in badger,
// and in the same run copies the same number of bytes over a raw libp2p
// stream between the same hosts. Metrics: MB/s of each, their ratio, and
// proof bytes per block.
//
//	go test -run='^$' -bench=ContentTransfer -benchtime=1x ./replicate/
func BenchmarkContentTransfer(b *testing.B) {
	mib := envInt("CONTENT_BENCH_MIB", 256)
	const bs = 64 << 10
	nblocks := mib << 20 / bs
	a, c := newContentNode(b), newContentNode(b)
	kp, _ := feedtree.GenerateKeyPair(nil)
	w, err := feedtree.OpenFeed(feedtree.NewBadgerStore(openNodeDB(b), []byte("c/")), kp.Public(), &kp)
	if err != nil {
		b.Fatal(err)
	}
	blk := make([][]byte, 256)
	for i := range blk {
		blk[i] = make([]byte, bs)
		rand.Read(blk[i])
	}
	for i := 0; i < nblocks; i += len(blk) {
		if _, err := w.Append(blk[:min(len(blk), nblocks-i)]...); err != nil {
			b.Fatal(err)
		}
	}
	a.feeds.add(w)
	c.connect(b, a)
	total := int64(nblocks) * bs
	a.h.h.SetStreamHandler("/bench/raw/1.0.0", func(st network.Stream) {
		defer st.Close()
		buf := make([]byte, 256<<10)
		rand.Read(buf)
		for left := total; left > 0; left -= int64(len(buf)) {
			if _, err := st.Write(buf[:min(int64(len(buf)), left)]); err != nil {
				return
			}
		}
	})
	ctx := context.Background()
	var feedSec, rawSec, feedCPU, rawCPU float64
	var proofPerBlock float64
	b.ResetTimer()
	for range b.N {
		// Raw copy.
		c0, t0 := cpuSeconds(), time.Now()
		if os.Getenv("CONTENT_BENCH_RAW") != "0" { // 0: profile the feed transfer alone
			rawCopy(b, c, a, total)
		}
		rawSec += time.Since(t0).Seconds()
		rawCPU += cpuSeconds() - c0
		// Feed transfer into a fresh badger replica.
		var rs feedtree.Store = feedtree.NewMemStore()
		if os.Getenv("CONTENT_BENCH_BADGER") != "0" { // 0: an in-memory receiving store
			rs = feedtree.NewBadgerStore(openNodeDB(b), []byte("c/"))
		}
		r, err := feedtree.OpenFeed(rs, w.Key(), nil)
		if err != nil {
			b.Fatal(err)
		}
		before := c.h.ContentStats()
		if p := os.Getenv("CONTENT_BENCH_CPUPROFILE"); p != "" {
			f, _ := os.Create(p)
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile() // the last transfer's profile
		}
		c0, t0 = cpuSeconds(), time.Now()
		if err := c.h.FetchRange(ctx, a.h.ID(), r, 0, uint64(nblocks)); err != nil {
			b.Fatal(err)
		}
		feedSec += time.Since(t0).Seconds()
		feedCPU += cpuSeconds() - c0
		after := c.h.ContentStats()
		proofPerBlock = float64(after.ProofBytesIn-before.ProofBytesIn) / float64(after.BlocksIn-before.BlocksIn)
	}
	b.StopTimer()
	mb := float64(total) / 1e6 * float64(b.N)
	b.ReportMetric(mb/feedSec, "feed-MB/s")
	b.ReportMetric(mb/rawSec, "raw-MB/s")
	b.ReportMetric((mb/feedSec)/(mb/rawSec), "ratio")
	b.ReportMetric(proofPerBlock, "proof-B/block")
	// CPU seconds per GiB (both hosts: they share the process) say what
	// wall time on a loaded machine cannot: with both cores busy, the
	// throughput ratio cannot exceed rawCPU/feedCPU.
	gib := float64(total) / (1 << 30) * float64(b.N)
	b.ReportMetric(feedCPU/gib, "feed-cpu-s/GiB")
	b.ReportMetric(rawCPU/gib, "raw-cpu-s/GiB")
}

// rawCopy copies total bytes over a fresh raw stream from a to c.
func rawCopy(b *testing.B, c, a *contentNode, total int64) {
	st, err := c.h.h.NewStream(context.Background(), peer.ID(a.h.h.ID()), "/bench/raw/1.0.0")
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, st)
	if err != nil || n != total {
		b.Fatalf("raw copy: %d bytes, %v", n, err)
	}
	st.Close()
}

// cpuSeconds is the user and system CPU time this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// openNodeDB opens badger with node's options (node/node.go badgerOptions:
// values over 1 KiB in the value log, so blocks are not rewritten by LSM
// compactions; no table compression). Keep the two in step.
func openNodeDB(b testing.TB) *badger.DB {
	b.Helper()
	db, err := badger.Open(badger.DefaultOptions(b.TempDir()).WithLogger(nil).WithMemTableSize(8 << 20).
		WithNumMemtables(3).WithNumLevelZeroTables(3).WithNumLevelZeroTablesStall(8).
		WithBlockCacheSize(32 << 20).WithIndexCacheSize(32 << 20).
		WithValueLogFileSize(128 << 20).WithBaseTableSize(4 << 20).WithValueThreshold(1 << 10).
		WithNumCompactors(2).WithCompression(options.None).WithCompactL0OnClose(false))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}
