package feedtree

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/crypto/blake2b"
)

func benchBlocks(n, size int) [][]byte {
	r := rand.New(rand.NewPCG(1, uint64(size)))
	bs := make([][]byte, n)
	for i := range bs {
		bs[i] = make([]byte, size)
		for j := range bs[i] {
			bs[i][j] = byte(r.Uint32())
		}
	}
	return bs
}

// BenchmarkAppend: hash, sign, store and commit (badger, one Commit per
// call) batches of blocks; beside it, raw BLAKE2b-256 over the same bytes.
func BenchmarkAppend(b *testing.B) {
	for _, c := range []struct {
		name        string
		size, batch int
	}{{"64KiB", 64 << 10, 16}, {"1KiB", 1 << 10, 256}} {
		blocks := benchBlocks(c.batch, c.size)
		b.Run(c.name+"/blake2b", func(b *testing.B) {
			b.SetBytes(int64(c.size * c.batch))
			for b.Loop() {
				for _, blk := range blocks {
					_ = blake2b.Sum256(blk)
				}
			}
		})
		for _, o := range []struct {
			name string
			sync bool
			vlog int64
		}{{"sync=false", false, 1 << 20}, {"sync=true", true, 1 << 20}, {"sync=false-vlog", false, 1 << 10}} {
			b.Run(fmt.Sprintf("%s/feed-badger-%s", c.name, o.name), func(b *testing.B) {
				// "-vlog": values over 1 KiB go to badger's value log, as
				// node opens the database, instead of through the LSM tree.
				db, err := badger.Open(badger.DefaultOptions(b.TempDir()).WithLogger(nil).WithSyncWrites(o.sync).WithValueThreshold(o.vlog))
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				kp := KeyPairFromSeed([32]byte{1})
				f, _ := OpenFeed(NewBadgerStore(db, []byte("f")), kp.Public(), &kp)
				b.SetBytes(int64(c.size * c.batch))
				for b.Loop() {
					if _, err := f.Append(blocks...); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkAppend300: appends of 300-byte blocks in batches of 1 and 1000
// (one signature per batch) into badger; reports blocks/s.
func BenchmarkAppend300(b *testing.B) {
	for _, batch := range []int{1, 1000} {
		blocks := benchBlocks(batch, 300)
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			db, err := badger.Open(badger.DefaultOptions(b.TempDir()).WithLogger(nil))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			kp := KeyPairFromSeed([32]byte{1})
			f, _ := OpenFeed(NewBadgerStore(db, []byte("f")), kp.Public(), &kp)
			for b.Loop() {
				if _, err := f.Append(blocks...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "blocks/s")
		})
	}
}

// bigFeed is a 2^20-block feed of 300-byte blocks in memory, built once.
var bigFeed *Feed

func getBigFeed(b *testing.B) *Feed {
	if bigFeed != nil {
		return bigFeed
	}
	kp := KeyPairFromSeed([32]byte{2})
	f, _ := OpenFeed(NewMemStore(), kp.Public(), &kp)
	blocks := benchBlocks(4096, 300)
	for range (1 << 20) / 4096 {
		if _, err := f.Append(blocks...); err != nil {
			b.Fatal(err)
		}
	}
	bigFeed = f
	return f
}

// BenchmarkProofRandom: generation and verification of a proof of one random
// block of a 2^20-block feed (reader trusts the head), and its size.
func BenchmarkProofRandom(b *testing.B) {
	f := getBigFeed(b)
	n := f.Length()
	r := rand.New(rand.NewPCG(3, 4))
	b.Run("generate", func(b *testing.B) {
		for b.Loop() {
			i := r.Uint64N(n)
			if _, err := f.Proof(i, i+1, n); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify", func(b *testing.B) {
		type item struct {
			p     *Proof
			block [][]byte
		}
		items := make([]item, 256)
		var bytes int
		for j := range items {
			i := r.Uint64N(n)
			p, _ := f.Proof(i, i+1, n)
			blk, _ := f.Get(i)
			items[j] = item{p, [][]byte{blk}}
			enc, _ := p.AppendBinary(nil)
			bytes += len(enc)
		}
		roots := f.Roots()
		b.ResetTimer()
		for k := 0; b.Loop(); k++ {
			it := items[k%len(items)]
			if _, err := VerifyProof(f.Key(), it.p, roots, it.block); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(bytes)/float64(len(items)), "proof-B")
	})
	b.Run("verify-with-head", func(b *testing.B) {
		// A reader that trusts nothing: the proof carries the head's roots
		// and the verification checks the signature.
		i := r.Uint64N(n)
		p, _ := f.Proof(i, i+1, 0)
		blk, _ := f.Get(i)
		enc, _ := p.AppendBinary(nil)
		for b.Loop() {
			if _, err := VerifyProof(f.Key(), p, nil, [][]byte{blk}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(enc)), "proof-B")
	})
}

// BenchmarkProofSequential: a reader downloads the whole 2^20-block feed in
// batches, one proof per batch; reports proof bytes per block and the
// verification time per block.
func BenchmarkProofSequential(b *testing.B) {
	f := getBigFeed(b)
	n := f.Length()
	roots := f.Roots()
	for _, batch := range []uint64{16, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			var total, blocks int
			for start := uint64(0); start < n; start += batch {
				p, _ := f.Proof(start, start+batch, n)
				enc, _ := p.AppendBinary(nil)
				total += len(enc) - 100 // the head is sent once per session, not per batch
				blocks += int(batch)
			}
			bs := make([][]byte, batch)
			var start uint64
			for b.Loop() {
				p, _ := f.Proof(start, start+batch, n)
				for j := range bs {
					bs[j], _ = f.Get(start + uint64(j))
				}
				if _, err := VerifyProof(f.Key(), p, roots, bs); err != nil {
					b.Fatal(err)
				}
				start = (start + batch) % n
			}
			b.ReportMetric(float64(total)/float64(blocks), "proof-B/block")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(batch), "ns/block")
		})
	}
}

// BenchmarkCatchUp: a replica catches up feeds of 1000 300-byte blocks, one
// Put (one proof, one signature check, one commit) per feed, into badger;
// beside it, badger's raw batch write of the same blocks (one transaction
// per feed, one key per block). Reports blocks/s.
func BenchmarkCatchUp(b *testing.B) {
	const perFeed = 1000
	blocks := benchBlocks(perFeed, 300)
	type src struct {
		k Key
		p *Proof
	}
	var srcs []src
	for i := range 16 {
		kp := KeyPairFromSeed([32]byte{byte(i), 9})
		w, _ := OpenFeed(NewMemStore(), kp.Public(), &kp)
		w.Append(blocks...)
		p, _ := w.Proof(0, perFeed, 0)
		srcs = append(srcs, src{kp.Public(), p})
	}
	b.Run("raw-badger", func(b *testing.B) {
		db, err := badger.Open(badger.DefaultOptions(b.TempDir()).WithLogger(nil))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		var feed uint64
		for b.Loop() {
			feed++
			txn := db.NewTransaction(true)
			for j, blk := range blocks {
				k := make([]byte, 0, 42)
				k = append(k, 'f')
				k = binary.BigEndian.AppendUint64(k, feed)
				k = binary.BigEndian.AppendUint64(append(k, 'b'), uint64(j))
				if err := txn.Set(k, blk); err != nil {
					b.Fatal(err)
				}
			}
			if err := txn.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*perFeed)/b.Elapsed().Seconds(), "blocks/s")
	})
	b.Run("feed-put", func(b *testing.B) {
		db, err := badger.Open(badger.DefaultOptions(b.TempDir()).WithLogger(nil))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		// Each iteration is a fresh replica of one of the source feeds; the
		// store keeps earlier ones (different prefixes), like 1000 feeds would.
		var it int
		for b.Loop() {
			it++
			src := srcs[it%len(srcs)]
			st := NewBadgerStore(db, binary.BigEndian.AppendUint64([]byte("f"), uint64(it)))
			r, _ := OpenFeed(st, src.k, nil)
			if err := r.Put(src.p, blocks); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*perFeed)/b.Elapsed().Seconds(), "blocks/s")
	})
}
