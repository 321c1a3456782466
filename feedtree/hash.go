package feedtree

import (
	"encoding/binary"

	"golang.org/x/crypto/blake2b"
)

// Hypercore's hash type prefixes (hypercore-crypto 3.x).
const (
	leafType   = 0x00
	parentType = 0x01
	rootType   = 0x02
)

// treeNamespace is Hypercore's TREE namespace: BLAKE2b-256(BLAKE2b-256("hypercore") || 0x00).
var treeNamespace = func() [32]byte {
	ns := blake2b.Sum256([]byte("hypercore"))
	return blake2b.Sum256(append(ns[:], 0))
}()

// Node is a merkle tree node: its flat index, the number of block bytes
// under it, and its hash.
type Node struct {
	Index uint64
	Size  uint64
	Hash  [32]byte
}

// LeafNode returns the leaf node of block number block holding data:
// Index 2·block, Size len(data), Hash BLAKE2b-256(0x00 || u64le(len) || data).
// It does not allocate for blocks up to 1 KiB.
func LeafNode(block uint64, data []byte) Node {
	n := Node{Index: 2 * block, Size: uint64(len(data))}
	if len(data) <= smallLeaf {
		// Dear future reader: a stack buffer and Sum256 keep small leaves
		// free of allocations (blake2b.New256 escapes to the heap).
		var buf [9 + smallLeaf]byte
		buf[0] = leafType
		binary.LittleEndian.PutUint64(buf[1:], uint64(len(data)))
		copy(buf[9:], data)
		n.Hash = blake2b.Sum256(buf[:9+len(data)])
		return n
	}
	var hdr [9]byte
	hdr[0] = leafType
	binary.LittleEndian.PutUint64(hdr[1:], uint64(len(data)))
	h, _ := blake2b.New256(nil)
	h.Write(hdr[:])
	h.Write(data)
	h.Sum(n.Hash[:0])
	return n
}

// smallLeaf is the largest block LeafNode hashes from a stack copy.
const smallLeaf = 1024

// ParentNode returns the parent of the sibling nodes a and b, in either order
// (the lower flat index is the left child): Hash
// BLAKE2b-256(0x01 || u64le(a.Size+b.Size) || left.Hash || right.Hash).
// The caller ensures a and b are siblings.
func ParentNode(a, b Node) Node {
	if a.Index > b.Index {
		a, b = b, a
	}
	var buf [1 + 8 + 64]byte
	buf[0] = parentType
	size := a.Size + b.Size
	binary.LittleEndian.PutUint64(buf[1:], size)
	copy(buf[9:], a.Hash[:])
	copy(buf[41:], b.Hash[:])
	return Node{Index: Parent(a.Index), Size: size, Hash: blake2b.Sum256(buf[:])}
}

// TreeHash returns the hash of a tree's roots (left to right, as FullRoots
// orders them): BLAKE2b-256(0x02 || for each root: hash || u64le(index) || u64le(size)).
// It does not allocate for up to 64 roots (any valid tree).
func TreeHash(roots []Node) [32]byte {
	if len(roots) <= 64 {
		var buf [1 + 64*48]byte
		buf[0] = rootType
		b := buf[1:1]
		for _, r := range roots {
			b = append(b, r.Hash[:]...)
			b = binary.LittleEndian.AppendUint64(b, r.Index)
			b = binary.LittleEndian.AppendUint64(b, r.Size)
		}
		return blake2b.Sum256(buf[:1+len(b)])
	}
	h, _ := blake2b.New256(nil)
	var buf [48]byte
	buf[0] = rootType
	h.Write(buf[:1])
	for _, r := range roots {
		copy(buf[:32], r.Hash[:])
		binary.LittleEndian.PutUint64(buf[32:], r.Index)
		binary.LittleEndian.PutUint64(buf[40:], r.Size)
		h.Write(buf[:])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Signable returns the 80 bytes a writer signs for a head in Hypercore's
// compat mode: TREE namespace || treeHash || u64le(length) || u64le(fork).
func Signable(treeHash [32]byte, length, fork uint64) [80]byte {
	var s [80]byte
	copy(s[:32], treeNamespace[:])
	copy(s[32:64], treeHash[:])
	binary.LittleEndian.PutUint64(s[64:], length)
	binary.LittleEndian.PutUint64(s[72:], fork)
	return s
}
