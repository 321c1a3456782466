package feedtree

import (
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"
)

// This file keeps a slow, literal reference of the merkle tree and the
// flat-tree math, and cross-checks the fast code against it.

// refTree computes every node of a tree of len(blocks) leaves by recursion
// over perfect subtrees, from the definitions alone.
func refTree(blocks [][]byte) map[uint64]Node {
	nodes := map[uint64]Node{}
	var build func(depth, offset uint64) (Node, bool)
	build = func(depth, offset uint64) (Node, bool) {
		first := offset << depth // first leaf under the node
		if first+(1<<depth) > uint64(len(blocks)) {
			return Node{}, false // not complete yet
		}
		idx := (2*offset+1)<<depth - 1
		var n Node
		if depth == 0 {
			n = LeafNode(offset, blocks[offset])
		} else {
			a, _ := build(depth-1, 2*offset)
			b, _ := build(depth-1, 2*offset+1)
			n = ParentNode(a, b)
		}
		if n.Index != idx {
			panic("index mismatch")
		}
		nodes[idx] = n
		return n, true
	}
	for d := uint64(0); 1<<d <= len(blocks); d++ {
		for o := uint64(0); (o+1)<<d <= uint64(len(blocks)); o++ {
			build(d, o)
		}
	}
	return nodes
}

// refRoots returns the roots of the first n leaves by the literal rule:
// complete nodes whose parent is not complete within n.
func refRoots(nodes map[uint64]Node, n uint64) []Node {
	var roots []Node
	for idx, nd := range nodes {
		if RightSpan(idx)/2 < n && RightSpan(Parent(idx))/2 >= n {
			roots = append(roots, nd)
		}
	}
	slices.SortFunc(roots, func(a, b Node) int { return int(LeftSpan(a.Index)>>1) - int(LeftSpan(b.Index)>>1) })
	return roots
}

func TestReferenceTree(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var blocks [][]byte
	for n := 1; n <= 70; n++ {
		b := make([]byte, r.IntN(50))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		blocks = append(blocks, b)
		nodes := refTree(blocks)
		want := refRoots(nodes, uint64(n))
		got := FullRoots(2 * uint64(n))
		if len(got) != len(want) {
			t.Fatalf("FullRoots(%d) = %v; reference has %d roots", 2*n, got, len(want))
		}
		for i := range got {
			if got[i] != want[i].Index {
				t.Errorf("FullRoots(%d)[%d] = %d; want %d", 2*n, i, got[i], want[i].Index)
			}
		}
	}
}

// TestFlatTreeReference checks the math on random values up to 2^62
// against loop-based definitions.
func TestFlatTreeReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		i := r.Uint64() >> (2 + r.IntN(60))
		// depth: trailing ones.
		var d uint64
		for x := i; x&1 == 1; x >>= 1 {
			d++
		}
		if Depth(i) != d {
			t.Fatalf("Depth(%d) = %d; want %d", i, Depth(i), d)
		}
		o := (i + 1) / (1 << d) / 2
		if Offset(i) != o {
			t.Fatalf("Offset(%d) = %d; want %d", i, Offset(i), o)
		}
		if Index(d, o) != i {
			t.Fatalf("Index(%d, %d) = %d; want %d", d, o, Index(d, o), i)
		}
		if p := Parent(i); Depth(p) != d+1 || Offset(p) != o/2 {
			t.Fatalf("Parent(%d) = %d", i, p)
		}
		if s := Sibling(i); Depth(s) != d || Offset(s) != o^1 {
			t.Fatalf("Sibling(%d) = %d", i, s)
		}
		l, rr := Spans(i)
		if l != i-(1<<d)+1 || rr != i+(1<<d)-1 {
			t.Fatalf("Spans(%d) = %d, %d", i, l, rr)
		}
		if Count(i) != rr-l+1 {
			t.Fatalf("Count(%d) = %d; want %d", i, Count(i), rr-l+1)
		}
		if a, b, ok := Children(i); ok != (d > 0) || ok && (Parent(a) != i || Parent(b) != i || a >= b) {
			t.Fatalf("Children(%d) = %d, %d, %v", i, a, b, ok)
		}
		if even := i &^ 1; len(FullRoots(even)) != bits.OnesCount64(even/2) {
			t.Fatalf("FullRoots(%d) has %d roots", even, len(FullRoots(even)))
		}
	}
}
