package feedtree

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// TestFrontier: a contiguous replica fed ranges of random sizes under the
// writer's head keeps the nodes beyond what it holds in memory. After every
// range it proves every held range with the reference tree's nodes while it
// stores about what a complete replica needs; closed and reopened partial, it
// proves the same from the store; reopened after a crash (no Close), a proof
// either fails with ErrNotFound or is right, and the next range fixes it.
func TestFrontier(t *testing.T) {
	const n = 1000
	kp := KeyPairFromSeed([32]byte{31})
	w, blocks := dagShapedFeed(t, NewMemStore(), kp, n)
	ref := refTree(blocks)
	r := rand.New(rand.NewPCG(31, 32))
	// prove checks proofs of random ranges within [0, held) from c; with
	// lenient a proof may fail with ErrNotFound, never carry a wrong node.
	prove := func(t *testing.T, c *Feed, held uint64, lenient bool) (failed int) {
		t.Helper()
		for range 40 {
			a := r.Uint64N(held)
			b := a + 1 + r.Uint64N(min(held-a, 40))
			for _, have := range []uint64{a, n} {
				p, err := c.Proof(a, b, have)
				if lenient && errors.Is(err, ErrNotFound) {
					failed++
					continue
				}
				if err != nil {
					t.Fatalf("held %d: proof of [%d, %d) from %d: %v", held, a, b, have, err)
				}
				for _, nd := range p.Nodes {
					if nd != ref[nd.Index] {
						t.Fatalf("held %d: proof of [%d, %d): node %d differs from the reference", held, a, b, nd.Index)
					}
				}
			}
		}
		return failed
	}
	put := func(t *testing.T, c *Feed, from, to uint64) {
		t.Helper()
		p, err := w.Proof(from, to, c.Length())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.PutContiguous(p, blocks[from:to]); err != nil {
			t.Fatalf("PutContiguous [%d, %d): %v", from, to, err)
		}
	}

	s := NewMemStore()
	c, err := OpenFeed(s, kp.Public(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var held uint64
	for held < n/2 {
		end := min(n, held+uint64(1+r.IntN(40)))
		put(t, c, held, end)
		held = end
		prove(t, c, held, false)
	}
	// The frontier is not in the store: a partial replica stores about the
	// complete one's share of its prefix (the writer's is n/8 for n).
	if got := nodeRecords(t, s, c.Key()); got > n/16+40 {
		t.Errorf("partial replica holding %d of %d stores %d node records; want at most %d", held, n, got, n/16+40)
	}

	t.Run("closed and reopened", func(t *testing.T) {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		c3, err := OpenFeed(s, kp.Public(), nil)
		if err != nil {
			t.Fatal(err)
		}
		prove(t, c3, held, false)
	})

	t.Run("crashed", func(t *testing.T) {
		cs := NewMemStore()
		c1, err := OpenFeed(cs, kp.Public(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var h uint64
		for h < n/2 {
			end := min(n, h+uint64(1+r.IntN(40)))
			put(t, c1, h, end)
			h = end
		}
		// c1 is never closed: its frontier is lost with the process.
		c2, err := OpenFeed(cs, kp.Public(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if failed := prove(t, c2, h, true); failed == 0 {
			t.Log("no proof needed the lost frontier")
		}
		put(t, c2, h, min(n, h+17))
		prove(t, c2, min(n, h+17), false)
	})
}
