package feedtree

import (
	"fmt"
	"testing"
)

// countingStore counts the reads of a Store.
type countingStore struct {
	Store
	gets int
}

func (s *countingStore) Get(feed Key, key, dst []byte) ([]byte, error) {
	s.gets++
	return s.Store.Get(feed, key, dst)
}

// TestProofChunksHitCache proves a log of 1,000 blocks 16 blocks at a time,
// as a sync push does, against a head the reader trusts: the uncles that
// successive proofs share must come from the feed's node cache, not from
// the store again. Cache slots indexed by the flat-tree index itself held
// only 4 of the 62 16-block subtree roots (15 + 32k mod 128), so most
// proofs read their uncles anew.
func TestProofChunksHitCache(t *testing.T) {
	kp := KeyPairFromSeed([32]byte{7})
	cs := &countingStore{Store: NewMemStore()}
	f, err := OpenFeed(cs, kp.Public(), &kp)
	if err != nil {
		t.Fatal(err)
	}
	const n, chunk = 1000, 16
	for i := 0; i < n; i += chunk {
		if _, err := f.Append(blocksN(i, min(chunk, n-i))...); err != nil {
			t.Fatal(err)
		}
	}
	distinct := map[uint64]bool{}
	var buf []uint64
	cs.gets = 0
	for start := uint64(0); start < n; start += chunk {
		end := min(start+chunk, n)
		p, err := f.Proof(start, end, n)
		if err != nil {
			t.Fatal(err)
		}
		s, err := newShape(start, end, n, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range s.appendIndexes(buf[:0]) {
			distinct[x] = true
		}
		if _, err := VerifyProof(f.Key(), p, f.Roots(), blocksN(int(start), int(end-start))); err != nil {
			t.Fatal(fmt.Errorf("proof of [%d, %d): %w", start, end, err))
		}
	}
	if cs.gets > len(distinct) {
		t.Errorf("%d store reads for proofs needing %d distinct nodes; want at most one read each", cs.gets, len(distinct))
	}
}
