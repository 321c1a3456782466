package feedtree

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
)

// Divergence says where two conflicting histories of one key part. Below
// block At they hold the same blocks: the nodes Shared, FullRoots(2·At),
// are the same in both trees. The subtree Span, whose first block is At,
// differs. When Span is a leaf the point is exact: At is the last length
// both histories share. A and B belong to the fork proof's heads A and B:
// each holds that history's node Span, then the nodes (divIndexes order)
// that with Shared and Span give the head's roots.
//
// Wire form (after a ForkProof's heads and a node count of 0): uvarint At,
// uvarint Span, then the Shared, A and B nodes as in a Proof (uvarint
// size, hash; indexes derived from At, Span and the lengths).
type Divergence struct {
	At, Span uint64
	Shared   []Node
	A, B     []Node
}

// Exact reports whether At is the last length both histories share.
func (dv *Divergence) Exact() bool { return dv.Span&1 == 0 }

// divWalk walks the roots of a tree of length leaves top-down and stops at
// the nodes that partition it around [0, e), e the end of Span: the Shared
// roots and Span (taken as given), and the maximal subtrees beside [0, e)
// (the rest, taken in walk order). With hash set it computes the roots
// from them; otherwise it only lists the rest's indexes.
type divWalk struct {
	at, span, e uint64
	shared      []uint64 // FullRoots(2·at)
	sharedNodes []Node
	spanNode    Node
	rest        []Node
	ri          int
	idx         []uint64
	hash        bool
	err         error
}

func newDivWalk(at, span, length uint64) (*divWalk, error) {
	if length > MaxLength || at >= MaxLength || span >= 2*MaxLength {
		return nil, fmt.Errorf("%w: divergence at %d, span %d, length %d", ErrBadProof, at, span, length)
	}
	lo, hi := Spans(span)
	if lo/2 != at || hi/2 >= length {
		return nil, fmt.Errorf("%w: divergence span %d does not start at block %d within length %d", ErrBadProof, span, at, length)
	}
	return &divWalk{at: at, span: span, e: hi/2 + 1, shared: FullRoots(2 * at)}, nil
}

func (w *divWalk) fail(err error) Node {
	if w.err == nil {
		w.err = err
	}
	return Node{}
}

func (w *divWalk) node(x uint64) Node {
	if w.err != nil {
		return Node{}
	}
	if x == w.span {
		return w.spanNode
	}
	lo, hi := Spans(x)
	if hi/2 < w.at {
		if i := slices.Index(w.shared, x); i >= 0 {
			if w.hash {
				return w.sharedNodes[i]
			}
			return Node{}
		}
	}
	if lo/2 >= w.e {
		w.idx = append(w.idx, x)
		if !w.hash {
			return Node{}
		}
		if w.ri >= len(w.rest) {
			return w.fail(fmt.Errorf("%w: divergence side has too few nodes (%d)", ErrBadProof, len(w.rest)))
		}
		n := w.rest[w.ri]
		w.ri++
		if n.Index != x {
			return w.fail(fmt.Errorf("%w: divergence node has index %d, needs %d", ErrBadProof, n.Index, x))
		}
		return n
	}
	l, r, ok := Children(x)
	if !ok {
		return w.fail(fmt.Errorf("%w: divergence walk reached leaf %d", ErrBadProof, x))
	}
	a, b := w.node(l), w.node(r)
	if !w.hash || w.err != nil {
		return Node{}
	}
	return ParentNode(a, b)
}

// divIndexes returns the indexes of the nodes a divergence side holds after
// node Span, for a head of the given length.
func divIndexes(at, span, length uint64) ([]uint64, error) {
	w, err := newDivWalk(at, span, length)
	if err != nil {
		return nil, err
	}
	for _, r := range FullRoots(2 * length) {
		w.node(r)
	}
	return w.idx, w.err
}

// divRoots computes the roots of a head of the given length from a
// divergence's Shared nodes and one side's nodes.
func divRoots(at, span, length uint64, shared, side []Node) ([]Node, error) {
	w, err := newDivWalk(at, span, length)
	if err != nil {
		return nil, err
	}
	if len(side) == 0 || side[0].Index != span {
		return nil, fmt.Errorf("%w: divergence side does not start with node %d", ErrBadProof, span)
	}
	for i, n := range shared {
		if i >= len(w.shared) || n.Index != w.shared[i] {
			return nil, fmt.Errorf("%w: divergence shared node %d has index %d", ErrBadProof, i, n.Index)
		}
	}
	if len(shared) != len(w.shared) {
		return nil, fmt.Errorf("%w: %d shared nodes, block %d needs %d", ErrBadProof, len(shared), at, len(w.shared))
	}
	w.hash, w.sharedNodes, w.spanNode, w.rest = true, shared, side[0], side[1:]
	var roots []Node
	for _, r := range FullRoots(2 * length) {
		roots = append(roots, w.node(r))
	}
	if w.err != nil {
		return nil, w.err
	}
	if w.ri != len(w.rest) {
		return nil, fmt.Errorf("%w: divergence side has %d nodes, uses %d", ErrBadProof, len(w.rest), w.ri)
	}
	return roots, nil
}

// verify checks dv against heads a and b, whose signatures the caller
// checked.
func (dv *Divergence) verify(a, b Head) error {
	if len(dv.A) == 0 || len(dv.B) == 0 {
		return fmt.Errorf("%w: divergence without span nodes", ErrBadProof)
	}
	if dv.A[0].Hash == dv.B[0].Hash {
		return fmt.Errorf("%w: both histories hold the same node %d", ErrBadProof, dv.Span)
	}
	for _, s := range []struct {
		h    Head
		side []Node
	}{{a, dv.A}, {b, dv.B}} {
		roots, err := divRoots(dv.At, dv.Span, s.h.Length, dv.Shared, s.side)
		if err != nil {
			return err
		}
		if th := TreeHash(roots); th != s.h.TreeHash {
			return &MismatchError{Index: TreeIndex, Got: th, Want: s.h.TreeHash}
		}
	}
	return nil
}

// appendDivergence appends dv's wire form.
func appendDivergence(b []byte, dv *Divergence) []byte {
	b = binary.AppendUvarint(b, dv.At)
	b = binary.AppendUvarint(b, dv.Span)
	for _, ns := range [][]Node{dv.Shared, dv.A, dv.B} {
		for _, n := range ns {
			b = appendNode(b, n)
		}
	}
	return b
}

// divergence decodes a Divergence between heads of lengths a and b.
func (d *decoder) divergence(a, b uint64) *Divergence {
	dv := &Divergence{At: d.uvarint(MaxLength-1, "divergence block"), Span: d.uvarint(2*MaxLength-1, "divergence span")}
	if d.err != nil {
		return nil
	}
	ia, err := divIndexes(dv.At, dv.Span, a)
	if err == nil {
		var ib []uint64
		if ib, err = divIndexes(dv.At, dv.Span, b); err == nil {
			for _, idx := range FullRoots(2 * dv.At) {
				dv.Shared = append(dv.Shared, d.node(idx))
			}
			dv.A = append(dv.A, d.node(dv.Span))
			for _, idx := range ia {
				dv.A = append(dv.A, d.node(idx))
			}
			dv.B = append(dv.B, d.node(dv.Span))
			for _, idx := range ib {
				dv.B = append(dv.B, d.node(idx))
			}
			return dv
		}
	}
	d.fail(err.Error())
	return nil
}

// nodeSet holds verified nodes of one history and computes parents from
// them.
type nodeSet map[uint64]Node

func (s nodeSet) get(x uint64) (Node, bool) {
	if n, ok := s[x]; ok {
		return n, true
	}
	l, r, ok := Children(x)
	if !ok {
		return Node{}, false
	}
	a, ok := s.get(l)
	if !ok {
		return Node{}, false
	}
	b, ok := s.get(r)
	if !ok {
		return Node{}, false
	}
	n := ParentNode(a, b)
	s[x] = n
	return n, true
}

// treeNode returns node x of this replica's tree, computing a parent that
// is not stored from its children.
func (f *Feed) treeNode(x uint64) (Node, error) {
	n, err := f.node(x)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return n, err
	}
	l, r, ok := Children(x)
	if !ok {
		return Node{}, err
	}
	a, err := f.treeNode(l)
	if err != nil {
		return Node{}, err
	}
	b, err := f.treeNode(r)
	if err != nil {
		return Node{}, err
	}
	return ParentNode(a, b), nil
}

// locate finds where this replica's history (head own) and another (head
// other, of which set holds verified nodes) part, as far as set tells:
// walking from block 0 over the largest subtrees set can compute, it skips
// those both trees share and descends into the first that differs as far
// as set allows. It returns a fork proof with a Divergence, or nil when
// set shows no difference.
func (f *Feed) locate(own Head, other Head, set nodeSet) (*ForkProof, error) {
	lim := min(own.Length, other.Length)
	var span uint64
	found := false
	for cur := uint64(0); cur < lim && !found; {
		// The largest subtree at cur, within lim, that set can compute.
		d := uint64(63)
		if cur != 0 {
			d = uint64(bits.TrailingZeros64(cur))
		}
		d = min(d, uint64(63-bits.LeadingZeros64(lim-cur)))
		var x uint64
		var theirs Node
		ok := false
		for ; ; d-- {
			x = Index(d, cur>>d)
			if theirs, ok = set.get(x); ok || d == 0 {
				break
			}
		}
		if !ok {
			return nil, nil // set tells nothing more
		}
		mine, err := f.treeNode(x)
		if err != nil {
			return nil, err
		}
		if mine.Hash == theirs.Hash {
			cur += countLeaves(x)
			continue
		}
		// x differs: descend while set shows which child does.
		for {
			l, r, ok := Children(x)
			if !ok {
				break
			}
			tl, ok := set.get(l)
			if !ok {
				break
			}
			ml, err := f.treeNode(l)
			if err != nil {
				return nil, err
			}
			if ml.Hash != tl.Hash {
				x = l
				continue
			}
			if _, ok := set.get(r); !ok {
				break
			}
			x = r
		}
		span, found = x, true
	}
	if !found {
		return nil, nil
	}
	at := LeftSpan(span) / 2
	dv := &Divergence{At: at, Span: span}
	for _, x := range FullRoots(2 * at) {
		n, err := f.treeNode(x)
		if err != nil {
			return nil, err
		}
		dv.Shared = append(dv.Shared, n)
	}
	mineSide, err := divSide(at, span, own.Length, f.treeNode)
	if err != nil {
		return nil, err
	}
	theirSide, err := divSide(at, span, other.Length, func(x uint64) (Node, error) {
		if n, ok := set.get(x); ok {
			return n, nil
		}
		return Node{}, fmt.Errorf("%w: the other history's node %d", ErrNotFound, x)
	})
	if err != nil {
		return nil, err
	}
	fp := &ForkProof{A: own, B: other, Div: dv}
	dv.A, dv.B = mineSide, theirSide
	if own.Length > other.Length {
		fp.A, fp.B = other, own
		dv.A, dv.B = theirSide, mineSide
	}
	if err := fp.Verify(f.key); err != nil {
		return nil, fmt.Errorf("feedtree: locating a fork: %w", err)
	}
	return fp, nil
}

// divSide returns node span and the nodes after it of a divergence side
// for a head of the given length, read with get.
func divSide(at, span, length uint64, get func(uint64) (Node, error)) ([]Node, error) {
	idx, err := divIndexes(at, span, length)
	if err != nil {
		return nil, err
	}
	out := make([]Node, 0, 1+len(idx))
	for _, x := range append([]uint64{span}, idx...) {
		n, err := get(x)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// Locate looks for where this replica's history and the one under p's
// head part, from a self-contained proof (Have 0) of blocks at most this
// replica's length on: its nodes hold that history's roots at p.Start and
// the path to each block. It returns a fork proof with a Divergence (not
// recorded: see AddForkProof), or nil when the proof shows no difference.
// A narrower proof needs another: a proof from the middle of the
// Divergence's Span on halves it. A proof that does not verify is an error
// wrapping ErrBadProof or ErrBadSignature, or a *MismatchError.
func (f *Feed) Locate(p *Proof, blocks [][]byte) (*ForkProof, error) {
	if f.closed.Load() {
		return nil, ErrClosed
	}
	own := f.state.Load().head
	if p.Have != 0 || p.Start > own.Length || p.End <= p.Start {
		return nil, fmt.Errorf("%w: locating a fork needs a self-contained proof of blocks from at most length %d on", ErrBadProof, own.Length)
	}
	out, _, err := verifyProof(f.key, p, nil, blocks, nil)
	if err != nil {
		return nil, err
	}
	set := make(nodeSet, len(out))
	for _, n := range out {
		set[n.Index] = n
	}
	return f.locate(own, p.Head, set)
}

// CheckDivergence checks a verified fork proof with a Divergence against
// this replica's history. Both of the proof's histories hold the Shared
// nodes; when this replica's differs in them, it is a third history, and
// counting up to the proof's At would count blocks of it that the others
// do not hold. CheckDivergence then returns a proof of where this history
// and the proof's A part (lower At); nil when the history agrees as far as
// the proof tells, or when the proof has no Divergence.
func (f *Feed) CheckDivergence(fp *ForkProof) (*ForkProof, error) {
	if fp.Div == nil {
		return nil, nil
	}
	if f.closed.Load() {
		return nil, ErrClosed
	}
	own := f.state.Load().head
	dv := fp.Div
	set := make(nodeSet, len(dv.Shared)+len(dv.A))
	for _, n := range dv.Shared {
		set[n.Index] = n
	}
	for _, n := range dv.A {
		set[n.Index] = n
	}
	// Only the Shared part matters: the proof already says the rest
	// differs somewhere.
	other := fp.A
	got, err := f.locate(own, other, set)
	if err != nil || got == nil || got.Div.At >= dv.At {
		return nil, err
	}
	return got, nil
}

// Narrows reports whether fp says more than cur (nil: no fork recorded)
// about how far a forked log counts: any proof against none, a first proof
// with a Divergence, or one whose At is lower. A proof without a
// Divergence, which does not say where the histories part, narrows only
// nil.
func (fp *ForkProof) Narrows(cur *ForkProof) bool {
	switch {
	case cur == nil:
		return true
	case fp.Div == nil:
		return false
	case cur.Div == nil:
		return true
	}
	return fp.Div.At < cur.Div.At
}

// Refines reports whether fp, an exact point, pins down the span where cur
// says two histories part (a coarser Divergence): the feed then keeps fp.
func (fp *ForkProof) Refines(cur *ForkProof) bool {
	if cur == nil || cur.Div == nil || cur.Div.Exact() || fp.Div == nil || !fp.Div.Exact() {
		return false
	}
	return fp.Div.At >= cur.Div.At && fp.Div.At < cur.Div.At+countLeaves(cur.Div.Span)
}

// Probe returns the block from which a self-contained proof lets Locate
// narrow dv: the middle of Span. ok is false when dv is exact.
func (dv *Divergence) Probe() (start uint64, ok bool) {
	if dv.Exact() {
		return 0, false
	}
	return dv.At + countLeaves(dv.Span)/2, true
}
