package feedtree

import "math/bits"

// Flat-tree math: the in-order layout of a binary tree in a flat array.
// Every function is pure integer arithmetic on uint64 and does not allocate
// (except FullRoots). The values match the npm flat-tree package wherever
// JavaScript integers are exact (below 2^53); beyond that they continue the
// same formulas in uint64 arithmetic.

// Index returns the flat index of the node at depth with the given offset:
// (1+2·offset)·2^depth − 1. Requires the result to fit in a uint64
// (depth < 64 and offset < 2^(63−depth)); otherwise it wraps.
func Index(depth, offset uint64) uint64 {
	return ((offset<<1)|1)<<depth - 1
}

// Depth returns the depth of node i (0 for leaves, which are the even indexes).
// Defined for every uint64; Depth(2^64−1) is 64.
func Depth(i uint64) uint64 {
	return uint64(bits.TrailingZeros64(^i))
}

// Offset returns the position of node i among the nodes of its depth.
// Defined for every uint64.
func Offset(i uint64) uint64 {
	if i&1 == 0 {
		return i >> 1
	}
	d := Depth(i)
	if d >= 63 {
		return 0
	}
	return i >> (d + 1)
}

// Parent returns the parent of node i. Requires Depth(i) < 63.
func Parent(i uint64) uint64 {
	d := Depth(i)
	return Index(d+1, Offset(i)>>1)
}

// Sibling returns the other child of i's parent. Requires Depth(i) < 63.
func Sibling(i uint64) uint64 {
	d := Depth(i)
	return Index(d, Offset(i)^1)
}

// Children returns the two children of i. ok is false for a leaf (even i).
func Children(i uint64) (left, right uint64, ok bool) {
	if i&1 == 0 {
		return 0, 0, false
	}
	d := Depth(i)
	o := Offset(i) << 1
	return Index(d-1, o), Index(d-1, o+1), true
}

// LeftSpan returns the left-most leaf (an even index) under node i.
// Defined for every i whose subtree fits in uint64.
func LeftSpan(i uint64) uint64 {
	if i&1 == 0 {
		return i
	}
	d := Depth(i)
	return Offset(i) << (d + 1)
}

// RightSpan returns the right-most leaf (an even index) under node i.
// Defined for every i whose subtree fits in uint64.
func RightSpan(i uint64) uint64 {
	if i&1 == 0 {
		return i
	}
	d := Depth(i)
	return (Offset(i)+1)<<(d+1) - 2
}

// Spans returns LeftSpan(i) and RightSpan(i).
func Spans(i uint64) (left, right uint64) {
	return LeftSpan(i), RightSpan(i)
}

// Count returns the number of nodes in the subtree rooted at i
// (1 for a leaf, 2^(depth+1)−1 otherwise). Requires Depth(i) < 63.
func Count(i uint64) uint64 {
	return 2<<Depth(i) - 1
}

// countLeaves returns the number of leaves under node i: 2^depth.
func countLeaves(i uint64) uint64 {
	return 1 << Depth(i)
}

// FullRoots returns the roots of a tree of i/2 leaves, left to right, biggest
// first: the perfect subtrees covering leaves [0, i/2). i must be even (it is
// "the leaf after the last one", 2·length); an odd i is treated as i−1 rather
// than panicking. FullRoots(0) is empty. It allocates the result; see
// AppendFullRoots to reuse a buffer.
func FullRoots(i uint64) []uint64 {
	return AppendFullRoots(make([]uint64, 0, bits.OnesCount64(i>>1)), i)
}

// AppendFullRoots appends FullRoots(i) to dst and returns the extended slice.
// It does not allocate when dst has room for bits.OnesCount64(i/2) more values.
func AppendFullRoots(dst []uint64, i uint64) []uint64 {
	n := i >> 1 // leaves
	var offset uint64
	for n != 0 {
		f := uint64(1) << (63 - bits.LeadingZeros64(n)) // largest power of two ≤ n
		dst = append(dst, offset+f-1)
		offset += 2 * f
		n -= f
	}
	return dst
}
