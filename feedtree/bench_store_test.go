package feedtree

import (
	"encoding/binary"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// The benchmarks in this file measure a feed of small blocks in badger as
// a DAG author log is kept (235-byte nodes, written a certificate then 16
// at a time, read back 32 at a time by a sync push), beside a content feed
// of 64 KiB blocks. They use the exported API only, so the same file runs
// against older versions of the package.

const (
	logBlockSize = 235  // a typical DAG node
	logBatch     = 16   // blocks per append, and per range a replica is sent
	logReadAhead = 32   // blocks per GetRange of a sync push (replicate's readAhead)
	logBlocks    = 4097 // a certificate and 256 batches

	contentBlocks = 256 // of 64 KiB: 16 MiB
)

// benchLog returns a writer of logBlocks small blocks in memory, appended
// as a DAG author does, and its blocks.
func benchLog(b *testing.B) (*Feed, [][]byte) {
	b.Helper()
	blocks := benchBlocks(logBlocks, logBlockSize)
	kp := KeyPairFromSeed([32]byte{5, 1})
	w, err := OpenFeed(NewMemStore(), kp.Public(), &kp)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := w.Append(blocks[0]); err != nil {
		b.Fatal(err)
	}
	for i := 1; i < len(blocks); i += logBatch {
		if _, err := w.Append(blocks[i:min(i+logBatch, len(blocks))]...); err != nil {
			b.Fatal(err)
		}
	}
	return w, blocks
}

func openBenchBadger(b *testing.B) *badger.DB {
	b.Helper()
	// As node opens it: values over 64 bytes go to the value log.
	db, err := badger.Open(badger.DefaultOptions(b.TempDir()).WithLogger(nil).WithValueThreshold(64))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// rangeProofs returns the proofs a replica is sent to catch up w in
// ranges of logBatch blocks: the first upgrades it to w's head, the rest
// are under that head.
func rangeProofs(b *testing.B, w *Feed) []*Proof {
	b.Helper()
	n := w.Length()
	var ps []*Proof
	for s := uint64(0); s < n; s += logBatch {
		have := n
		if s == 0 {
			have = 0
		}
		p, err := w.Proof(s, min(s+logBatch, n), have)
		if err != nil {
			b.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

// BenchmarkPutRanges: a replica catches up a log in ranges of 16 small
// blocks, one Put (or PutContiguous, as dag does) per range, into badger.
// Every 257 ranges it starts again as a fresh replica under a new prefix
// of the same database. Reports blocks/s.
func BenchmarkPutRanges(b *testing.B) {
	w, blocks := benchLog(b)
	proofs := rangeProofs(b, w)
	for _, c := range []struct {
		name string
		put  func(*Feed, *Proof, [][]byte) error
	}{{"Put", (*Feed).Put}, {"PutContiguous", (*Feed).PutContiguous}} {
		b.Run(c.name, func(b *testing.B) {
			db := openBenchBadger(b)
			var r *Feed
			var replica, n int
			for k := 0; b.Loop(); k++ {
				j := k % len(proofs)
				if j == 0 {
					replica++
					st := NewBadgerStore(db, binary.BigEndian.AppendUint64([]byte("f"), uint64(replica)))
					var err error
					if r, err = OpenFeed(st, w.Key(), nil); err != nil {
						b.Fatal(err)
					}
				}
				p := proofs[j]
				if err := c.put(r, p, blocks[p.Start:p.End]); err != nil {
					b.Fatal(err)
				}
				n += int(p.End - p.Start)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "blocks/s")
		})
	}
}

// benchStore is a feed held in a badger store, for the read benchmarks.
type benchStore struct {
	name  string
	s     Store
	k     Key
	kp    *KeyPair // nil for a replica
	n     uint64   // length
	block int      // block size
}

// benchStores returns badger stores holding the log of benchLog as its
// writer does (appended) and as a replica does (caught up by
// PutContiguous in ranges of 16), and a content feed of contentBlocks
// blocks of 64 KiB as its writer (appended 16 at a time) and a replica
// (Put 32 at a time) hold it.
func benchStores(b *testing.B) []benchStore {
	b.Helper()
	db := openBenchBadger(b)
	w, blocks := benchLog(b)
	ws := NewBadgerStore(db, []byte("w"))
	kp := KeyPairFromSeed([32]byte{5, 1})
	wf, err := OpenFeed(ws, kp.Public(), &kp)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := wf.Append(blocks[0]); err != nil {
		b.Fatal(err)
	}
	for i := 1; i < len(blocks); i += logBatch {
		if _, err := wf.Append(blocks[i:min(i+logBatch, len(blocks))]...); err != nil {
			b.Fatal(err)
		}
	}
	rs := NewBadgerStore(db, []byte("r"))
	rf, err := OpenFeed(rs, w.Key(), nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range rangeProofs(b, w) {
		if err := rf.PutContiguous(p, blocks[p.Start:p.End]); err != nil {
			b.Fatal(err)
		}
	}
	cs := NewBadgerStore(db, []byte("c"))
	ckp := KeyPairFromSeed([32]byte{5, 2})
	cf, err := OpenFeed(cs, ckp.Public(), &ckp)
	if err != nil {
		b.Fatal(err)
	}
	big := benchBlocks(contentBlocks, 64<<10)
	for i := 0; i < len(big); i += 16 {
		if _, err := cf.Append(big[i : i+16]...); err != nil {
			b.Fatal(err)
		}
	}
	crs := NewBadgerStore(db, []byte("C"))
	crf, err := OpenFeed(crs, cf.Key(), nil)
	if err != nil {
		b.Fatal(err)
	}
	for s := uint64(0); s < contentBlocks; s += 32 {
		p, err := cf.Proof(s, s+32, crf.Length())
		if err != nil {
			b.Fatal(err)
		}
		if err := crf.Put(p, big[s:s+32]); err != nil {
			b.Fatal(err)
		}
	}
	return []benchStore{
		{"log-writer", ws, kp.Public(), &kp, logBlocks, logBlockSize},
		{"log-replica", rs, w.Key(), nil, logBlocks, logBlockSize},
		{"content-writer", cs, ckp.Public(), &ckp, contentBlocks, 64 << 10},
		{"content-replica", crs, ckp.Public(), nil, contentBlocks, 64 << 10},
	}
}

// BenchmarkGetRange: a sync push reads a feed in badger sequentially,
// logReadAhead blocks per GetRange (fresh copies). Reports blocks/s.
func BenchmarkGetRange(b *testing.B) {
	for _, c := range benchStores(b) {
		b.Run(c.name, func(b *testing.B) {
			f, err := OpenFeed(c.s, c.k, c.kp)
			if err != nil {
				b.Fatal(err)
			}
			var dst [][]byte
			var start uint64
			var n int
			for b.Loop() {
				dst, err = f.GetRange(start, min(start+logReadAhead, c.n), dst[:0])
				if err != nil || len(dst) != int(min(start+logReadAhead, c.n)-start) {
					b.Fatalf("GetRange(%d) = %d blocks, %v", start, len(dst), err)
				}
				n += len(dst)
				if start += logReadAhead; start >= c.n {
					start = 0
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "blocks/s")
		})
	}
}

// BenchmarkGet: single blocks of a feed in badger, in a scattered order.
func BenchmarkGet(b *testing.B) {
	for _, c := range benchStores(b) {
		b.Run(c.name, func(b *testing.B) {
			f, err := OpenFeed(c.s, c.k, c.kp)
			if err != nil {
				b.Fatal(err)
			}
			var i uint64
			for b.Loop() {
				i = (i + 7919) % c.n
				blk, err := f.Get(i)
				if err != nil || len(blk) != c.block {
					b.Fatalf("Get(%d) = %d bytes, %v", i, len(blk), err)
				}
			}
		})
	}
}

// BenchmarkOpenFeed: opening a feed held in badger, as a DAG does for
// each author log at start-up.
func BenchmarkOpenFeed(b *testing.B) {
	for _, c := range benchStores(b) {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				f, err := OpenFeed(c.s, c.k, c.kp)
				if err != nil || f.Length() != c.n {
					b.Fatalf("OpenFeed = length %d, %v", f.Length(), err)
				}
			}
		})
	}
}
