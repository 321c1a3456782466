package feedtree

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// MaxProofNodes bounds the nodes of a decoded proof. The node count of any
// valid proof is derived from (Start, End, Have, Head.Length) and is below
// 4·64; a larger count is refused before anything is allocated.
const MaxProofNodes = 256

// Proof lets a verifier that trusts the roots of a tree of length Have (none
// if Have == 0, or Have >= Head.Length meaning "I already trust a signed head
// at Head.Length") verify blocks [Start, End) and, when Have < Head.Length,
// the signed Head itself.
//
// Nodes is the minimal set of nodes that cannot be computed from the blocks
// and the trusted roots, in a deterministic order both sides derive from
// (Start, End, Have, Head.Length): a left-to-right walk down from the roots
// of Head.Length that stops at every node it can neither compute nor trust.
// Start == End with Have < Head.Length is a pure upgrade proof (old roots ->
// new roots).
//
// Wire form (AppendBinary): head, uvarint Start, uvarint End−Start, uvarint
// Have, uvarint len(Nodes), then per node uvarint Size and the 32-byte hash.
// Node indexes are not sent: both sides derive them. A node therefore costs
// 33 to 42 bytes (36 for subtrees under 256 MiB).
type Proof struct {
	Head             Head
	Start, End, Have uint64
	Nodes            []Node
}

// shape is what both sides derive the node layout from.
type shape struct {
	start, end uint64 // blocks [start, end)
	trusted    uint64 // length whose roots the verifier trusts: min(have, length)
	length     uint64 // the head's length
}

func newShape(start, end, have, length uint64) (shape, error) {
	if length > MaxLength || end > length || start > end {
		return shape{}, fmt.Errorf("%w: blocks [%d, %d) outside length %d", ErrBadProof, start, end, length)
	}
	return shape{start: start, end: end, trusted: min(have, length), length: length}, nil
}

// hasBlocks reports whether a block of the range lies under node x.
func (s *shape) hasBlocks(x uint64) bool {
	return s.start < s.end && LeftSpan(x)>>1 < s.end && RightSpan(x)>>1 >= s.start
}

// allBlocks reports whether every leaf under x is a block of the range.
func (s *shape) allBlocks(x uint64) bool {
	return s.start < s.end && LeftSpan(x)>>1 >= s.start && RightSpan(x)>>1 < s.end
}

// isRootOf reports whether x is one of FullRoots(2·n): a maximal perfect
// subtree inside the first n leaves. Requires n <= MaxLength.
func isRootOf(x, n uint64) bool {
	return RightSpan(x) < 2*n && RightSpan(Parent(x)) >= 2*n
}

// classify says what the walk does at x. under is true below a trusted root.
type step uint8

const (
	stepTrusted step = iota // the verifier holds x
	stepNode                // x comes from the proof
	stepLeaf                // x is a leaf computed from a block
	stepSplit               // x is computed from its children
)

func (s *shape) classify(x uint64, under bool) (st step, isTrusted bool) {
	blocks := s.hasBlocks(x)
	isTrusted = !under && isRootOf(x, s.trusted)
	switch {
	case isTrusted && !blocks:
		return stepTrusted, true
	case blocks && x&1 == 0:
		return stepLeaf, isTrusted
	case blocks:
		return stepSplit, isTrusted
	case under || isTrusted || LeftSpan(x) >= 2*s.trusted:
		// No block below and no trusted root below: the proof carries x.
		return stepNode, false
	default:
		// A trusted root lies strictly below x: grow it into x.
		return stepSplit, false
	}
}

// appendIndexes appends, in walk order, the indexes of the nodes a proof of
// shape s carries. Subtrees made only of blocks are skipped without a walk,
// so the cost is O(log length) whatever the range.
func (s *shape) appendIndexes(dst []uint64) []uint64 {
	var roots [64]uint64
	for _, r := range AppendFullRoots(roots[:0], 2*s.length) {
		dst = s.appendIndexesUnder(dst, r, false)
	}
	return dst
}

func (s *shape) appendIndexesUnder(dst []uint64, x uint64, under bool) []uint64 {
	st, isT := s.classify(x, under)
	switch st {
	case stepNode:
		return append(dst, x)
	case stepSplit:
		if s.allBlocks(x) {
			return dst
		}
		l, r, _ := Children(x)
		dst = s.appendIndexesUnder(dst, l, under || isT)
		return s.appendIndexesUnder(dst, r, under || isT)
	}
	return dst
}

// nodeCount returns the number of nodes a proof of shape s carries.
func (s *shape) nodeCount() int {
	var buf [4 * 64]uint64
	return len(s.appendIndexes(buf[:0]))
}

// AppendBinary appends p's wire form to b. It fails if p.Nodes does not have
// the count and indexes its shape requires.
func (p *Proof) AppendBinary(b []byte) ([]byte, error) {
	s, err := newShape(p.Start, p.End, p.Have, p.Head.Length)
	if err != nil {
		return b, err
	}
	var buf [4 * 64]uint64
	idx := s.appendIndexes(buf[:0])
	if len(idx) != len(p.Nodes) {
		return b, fmt.Errorf("%w: %d nodes, shape needs %d", ErrBadProof, len(p.Nodes), len(idx))
	}
	for i, n := range p.Nodes {
		if n.Index != idx[i] {
			return b, fmt.Errorf("%w: node %d has index %d, shape needs %d", ErrBadProof, i, n.Index, idx[i])
		}
	}
	b, _ = p.Head.AppendBinary(b)
	b = binary.AppendUvarint(b, p.Start)
	b = binary.AppendUvarint(b, p.End-p.Start)
	b = binary.AppendUvarint(b, p.Have)
	b = binary.AppendUvarint(b, uint64(len(p.Nodes)))
	for _, n := range p.Nodes {
		b = appendNode(b, n)
	}
	return b, nil
}

// DecodeProof decodes exactly one proof from b and fills in the node indexes
// from its shape. It is bounded (MaxLength, MaxProofNodes, a node count that
// must equal the derived one) and never panics. It does not verify anything.
func DecodeProof(b []byte) (*Proof, error) {
	d := decoder{b: b}
	p := &Proof{Head: d.head()}
	p.Start = d.uvarint(MaxLength, "start")
	p.End = p.Start + d.uvarint(MaxLength, "block count")
	p.Have = d.uvarint(^uint64(0), "have")
	count := d.uvarint(MaxProofNodes, "node count")
	if d.err != nil {
		return nil, fmt.Errorf("decoding proof: %w", d.err)
	}
	s, err := newShape(p.Start, p.End, p.Have, p.Head.Length)
	if err != nil {
		return nil, fmt.Errorf("decoding proof: %w", err)
	}
	var buf [4 * 64]uint64
	idx := s.appendIndexes(buf[:0])
	if uint64(len(idx)) != count {
		return nil, fmt.Errorf("decoding proof: %w: %d nodes, shape needs %d", ErrBadEncoding, count, len(idx))
	}
	if count > 0 {
		p.Nodes = make([]Node, count)
		for i := range p.Nodes {
			p.Nodes[i] = d.node(idx[i])
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes after proof")
	}
	if d.err != nil {
		return nil, fmt.Errorf("decoding proof: %w", d.err)
	}
	return p, nil
}

// VerifyProof checks blocks (len == End-Start) against p. trusted are the
// roots of length p.Have (FullRoots(2*Have) order) or, when Have >=
// Head.Length, the roots at Head.Length. When Have < Head.Length it also
// checks the tree hash and the signature of p.Head under k.
//
// It returns every node it computed or received (leaves of the blocks,
// parents it computed, nodes from the proof; not the trusted ones), so a
// replica can store them. On failure the error is a *MismatchError (a node,
// or the tree hash at TreeIndex, did not match), wraps ErrBadSignature, or
// wraps ErrBadProof (wrong shape, counts or trusted roots).
func VerifyProof(k Key, p *Proof, trusted []Node, blocks [][]byte) ([]Node, error) {
	out, _, err := verifyProof(k, p, trusted, blocks, nil)
	return out, err
}

// verifyProof is VerifyProof appending to out; it also returns the roots of
// p.Head.Length.
func verifyProof(k Key, p *Proof, trusted []Node, blocks [][]byte, out []Node) ([]Node, []Node, error) {
	s, err := newShape(p.Start, p.End, p.Have, p.Head.Length)
	if err != nil {
		return out, nil, err
	}
	if uint64(len(blocks)) != p.End-p.Start {
		return out, nil, fmt.Errorf("%w: %d blocks for range [%d, %d)", ErrBadProof, len(blocks), p.Start, p.End)
	}
	var rbuf [64]uint64
	if want := AppendFullRoots(rbuf[:0], 2*s.trusted); len(trusted) != len(want) {
		return out, nil, fmt.Errorf("%w: %d trusted roots, length %d has %d", ErrBadProof, len(trusted), s.trusted, len(want))
	} else {
		for i, t := range trusted {
			if t.Index != want[i] {
				return out, nil, fmt.Errorf("%w: trusted root %d has index %d, want %d", ErrBadProof, i, t.Index, want[i])
			}
		}
	}
	v := verifier{shape: s, leaves: leafNodes(p.Start, blocks), trusted: trusted, nodes: p.Nodes, out: out}
	roots := make([]Node, 0, bits.OnesCount64(s.length))
	for _, r := range AppendFullRoots(rbuf[:0], 2*s.length) {
		roots = append(roots, v.compute(r, false))
		if v.err != nil {
			return v.out, nil, v.err
		}
	}
	if v.ni != len(v.nodes) {
		return v.out, nil, fmt.Errorf("%w: %d nodes, shape uses %d", ErrBadProof, len(v.nodes), v.ni)
	}
	if s.trusted < s.length {
		if th := TreeHash(roots); th != p.Head.TreeHash {
			return v.out, nil, &MismatchError{Index: TreeIndex, Got: th, Want: p.Head.TreeHash}
		}
		if err := p.Head.Verify(k); err != nil {
			return v.out, nil, err
		}
	}
	return v.out, roots, nil
}

// outBound is the most nodes verifyProof can return for p, blocks and
// trusted: the leaves and proof nodes it takes in, and one parent for each
// two of those and the trusted roots it joins. Sized so, out never grows
// while verifying (at 200k catch-up entries, growing it was a seventh of
// verifyProof's CPU).
func outBound(p *Proof, blocks [][]byte, trusted []Node) int {
	return 2*len(blocks) + 2*len(p.Nodes) + len(trusted)
}

type verifier struct {
	shape
	leaves  []Node // leaf nodes of the blocks, hashed up front (in parallel when large)
	trusted []Node
	ti      int
	nodes   []Node
	ni      int
	out     []Node
	err     error
}

func (v *verifier) fail(err error) Node {
	if v.err == nil {
		v.err = err
	}
	return Node{}
}

func (v *verifier) compute(x uint64, under bool) Node {
	st, isT := v.classify(x, under)
	switch st {
	case stepTrusted:
		return v.nextTrusted(x)
	case stepNode:
		if v.ni >= len(v.nodes) {
			return v.fail(fmt.Errorf("%w: too few nodes (%d)", ErrBadProof, len(v.nodes)))
		}
		n := v.nodes[v.ni]
		v.ni++
		if n.Index != x {
			return v.fail(fmt.Errorf("%w: node %d has index %d, shape needs %d", ErrBadProof, v.ni-1, n.Index, x))
		}
		v.out = append(v.out, n)
		return n
	case stepLeaf:
		n := v.leaves[x>>1-v.start]
		if isT {
			// Dear future reader: a trusted root can be a single leaf (the
			// last root of an odd length). Its block must still be checked.
			if t := v.nextTrusted(x); v.err == nil && n != t {
				return v.fail(&MismatchError{Index: x, Got: n.Hash, Want: t.Hash})
			}
		}
		v.out = append(v.out, n)
		return n
	}
	l, r, _ := Children(x)
	a := v.compute(l, under || isT)
	b := v.compute(r, under || isT)
	if v.err != nil {
		return Node{}
	}
	n := ParentNode(a, b)
	if isT {
		t := v.nextTrusted(x)
		if v.err == nil && n != t {
			return v.fail(&MismatchError{Index: x, Got: n.Hash, Want: t.Hash})
		}
		return n
	}
	v.out = append(v.out, n)
	return n
}

// nextTrusted returns the trusted root at x. The walk visits every trusted
// root once, left to right, so it is the next one; the check guards that.
func (v *verifier) nextTrusted(x uint64) Node {
	if v.ti >= len(v.trusted) || v.trusted[v.ti].Index != x {
		return v.fail(fmt.Errorf("%w: walk reached trusted root %d out of order", ErrBadProof, x))
	}
	v.ti++
	return v.trusted[v.ti-1]
}
