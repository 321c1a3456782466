package feedtree

import (
	"fmt"
	"testing"
)

// BenchmarkLeafNode: hashing one block into its leaf, at the block sizes
// the benches carry (BenchmarkCatchUp's entries average 235 bytes, the 1M
// `indexd bench` entries 709) and a content block.
func BenchmarkLeafNode(b *testing.B) {
	for _, size := range []int{73, 235, 709, 1024, 64 << 10} {
		data := make([]byte, size)
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				LeafNode(7, data)
			}
		})
	}
}

// BenchmarkParentNode: one parent hash (73 bytes hashed).
func BenchmarkParentNode(b *testing.B) {
	l, r := LeafNode(0, []byte("a")), LeafNode(1, []byte("b"))
	for b.Loop() {
		ParentNode(l, r)
	}
}

// BenchmarkVerifyRange: verifying a range of 15 blocks of 235 bytes (the
// catch-up's average proof) in a log of 200, as a replica does: against
// the roots it trusts, or with the head's signature (an upgrade from 0).
func BenchmarkVerifyRange(b *testing.B) {
	kp := KeyPairFromSeed([32]byte{3})
	f, _ := OpenFeed(NewMemStore(), kp.Public(), &kp)
	f.Append(benchBlocks(200, 235)...)
	blocks, _ := f.GetRange(90, 105, nil)
	for _, c := range []struct {
		name string
		have uint64
	}{{"trusted", 200}, {"upgrade", 0}} {
		p, err := f.Proof(90, 105, c.have)
		if err != nil {
			b.Fatal(err)
		}
		var trusted []Node
		if c.have > 0 {
			trusted = f.Roots()
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := verifyProof(f.Key(), p, trusted, blocks, make([]Node, 0, outBound(p, blocks, trusted))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
