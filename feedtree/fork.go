package feedtree

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
)

// ForkProof is self-verifying evidence that two valid signed heads of one key
// conflict. A is the shorter head (A.Length <= B.Length).
//
//   - Same length: the tree hashes differ. Nodes is empty.
//   - B longer: Nodes holds, first, the roots that B's tree has at length
//     A.Length (FullRoots(2·A.Length) order), then the upgrade-proof nodes
//     (Proof{Start: A.Length, End: A.Length, Have: A.Length}) that grow them
//     into B's roots. Those nodes verify under B's signature, and their tree
//     hash differs from A's: B's history does not extend A's.
//   - With Div: Nodes is empty, and Div, which says where the histories
//     part, is the evidence.
//
// Wire form: A head, B head, uvarint node count, nodes as in a Proof
// (uvarint size, hash; indexes derived from the lengths), then Div's wire
// form if there is one.
type ForkProof struct {
	A, B  Head
	Nodes []Node
	Div   *Divergence
}

// forkShape returns the indexes the Nodes of a fork proof between lengths a
// and b must have.
func forkIndexes(dst []uint64, a, b uint64) ([]uint64, error) {
	if a > b || b > MaxLength {
		return dst, fmt.Errorf("%w: fork proof lengths %d and %d", ErrBadProof, a, b)
	}
	if a == b {
		return dst, nil
	}
	dst = AppendFullRoots(dst, 2*a)
	s := shape{start: a, end: a, trusted: a, length: b}
	return s.appendIndexes(dst), nil
}

// Verify checks that both heads are signed by k and that they conflict. It
// returns nil only for real evidence; otherwise an error wrapping
// ErrBadSignature or ErrBadProof, or a *MismatchError.
func (fp *ForkProof) Verify(k Key) error {
	if err := fp.A.Verify(k); err != nil {
		return err
	}
	if err := fp.B.Verify(k); err != nil {
		return err
	}
	var buf [5 * 64]uint64
	idx, err := forkIndexes(buf[:0], fp.A.Length, fp.B.Length)
	if err != nil {
		return err
	}
	if fp.Div != nil {
		if len(fp.Nodes) != 0 {
			return fmt.Errorf("%w: fork proof has both nodes and a divergence", ErrBadProof)
		}
		return fp.Div.verify(fp.A, fp.B)
	}
	if len(idx) != len(fp.Nodes) {
		return fmt.Errorf("%w: fork proof has %d nodes, needs %d", ErrBadProof, len(fp.Nodes), len(idx))
	}
	for i, n := range fp.Nodes {
		if n.Index != idx[i] {
			return fmt.Errorf("%w: fork proof node %d has index %d, needs %d", ErrBadProof, i, n.Index, idx[i])
		}
	}
	if fp.A.Length == fp.B.Length {
		if fp.A.TreeHash == fp.B.TreeHash {
			return fmt.Errorf("%w: heads at length %d agree", ErrBadProof, fp.A.Length)
		}
		return nil
	}
	nr := bits.OnesCount64(fp.A.Length)
	old := fp.Nodes[:nr]
	if TreeHash(old) == fp.A.TreeHash {
		return fmt.Errorf("%w: head at length %d extends head at length %d", ErrBadProof, fp.B.Length, fp.A.Length)
	}
	p := &Proof{Head: fp.B, Start: fp.A.Length, End: fp.A.Length, Have: fp.A.Length, Nodes: fp.Nodes[nr:]}
	if _, _, err := verifyProof(k, p, old, nil, nil); err != nil {
		return fmt.Errorf("verifying fork proof's longer head: %w", err)
	}
	return nil
}

// AppendBinary appends fp's wire form to b.
func (fp *ForkProof) AppendBinary(b []byte) ([]byte, error) {
	var buf [5 * 64]uint64
	idx, err := forkIndexes(buf[:0], fp.A.Length, fp.B.Length)
	if err != nil {
		return b, err
	}
	if fp.Div != nil {
		idx = idx[:0]
	}
	if len(idx) != len(fp.Nodes) {
		return b, fmt.Errorf("%w: fork proof has %d nodes, needs %d", ErrBadProof, len(fp.Nodes), len(idx))
	}
	b, _ = fp.A.AppendBinary(b)
	b, _ = fp.B.AppendBinary(b)
	b = binary.AppendUvarint(b, uint64(len(fp.Nodes)))
	for _, n := range fp.Nodes {
		b = appendNode(b, n)
	}
	if fp.Div != nil {
		if len(fp.Div.A) == 0 || len(fp.Div.B) == 0 {
			return b, fmt.Errorf("%w: divergence without span nodes", ErrBadProof)
		}
		b = appendDivergence(b, fp.Div)
	}
	return b, nil
}

// DecodeForkProof decodes exactly one fork proof from b and fills in the
// node indexes. It is bounded and never panics. It does not verify.
func DecodeForkProof(b []byte) (*ForkProof, error) {
	d := decoder{b: b}
	fp := &ForkProof{A: d.head(), B: d.head()}
	count := d.uvarint(2*MaxProofNodes, "node count")
	if d.err != nil {
		return nil, fmt.Errorf("decoding fork proof: %w", d.err)
	}
	var buf [5 * 64]uint64
	idx, err := forkIndexes(buf[:0], fp.A.Length, fp.B.Length)
	if err != nil {
		return nil, fmt.Errorf("decoding fork proof: %w", err)
	}
	// A count of 0 under different lengths leaves the evidence to a
	// divergence, which must follow.
	if uint64(len(idx)) != count && count != 0 {
		return nil, fmt.Errorf("decoding fork proof: %w: %d nodes, lengths need %d", ErrBadEncoding, count, len(idx))
	}
	if count > 0 {
		fp.Nodes = make([]Node, count)
		for i := range fp.Nodes {
			fp.Nodes[i] = d.node(idx[i])
		}
	}
	if d.err == nil && len(d.b) != 0 {
		if count != 0 {
			d.fail("a divergence after fork proof nodes")
		} else {
			fp.Div = d.divergence(fp.A.Length, fp.B.Length)
		}
	}
	if d.err == nil && fp.Div == nil && uint64(len(idx)) != count {
		d.fail(fmt.Sprintf("%d nodes, lengths need %d", count, len(idx)))
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes after fork proof")
	}
	if d.err != nil {
		return nil, fmt.Errorf("decoding fork proof: %w", d.err)
	}
	return fp, nil
}

// CheckFork checks a head longer than this replica's against its history.
// Such a head comes with an upgrade proof that trusts the replica's roots,
// and when the author signed another history, that proof just fails to
// verify: nothing shows whether the peer or the author is at fault. p must
// be self-contained (Have 0) and prove blocks from Length() on: its nodes
// then hold the other history's roots at Length(). If those differ from
// this replica's, the fork is recorded (as Put records one) and returned
// as *ForkError. nil means that p's head extends this history. A proof
// that does not verify on its own is an error wrapping ErrBadProof,
// ErrBadSignature or a *MismatchError: the sender's fault.
func (f *Feed) CheckFork(p *Proof, blocks [][]byte) error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	st, err := f.current()
	if err != nil {
		return err
	}
	n := st.head.Length
	if p.Have != 0 || p.Start != n || p.Head.Length <= n {
		return fmt.Errorf("%w: checking for a fork needs a self-contained proof from length %d on under a longer head", ErrBadProof, n)
	}
	out, _, err := verifyProof(f.key, p, nil, blocks, nil)
	if err != nil {
		return err
	}
	if n == 0 {
		return nil // nothing here to conflict with
	}
	var buf [5 * 64]uint64
	idx, err := forkIndexes(buf[:0], n, p.Head.Length)
	if err != nil {
		return err
	}
	nodes := make([]Node, 0, len(idx))
	for _, x := range idx {
		i := slices.IndexFunc(out, func(nd Node) bool { return nd.Index == x })
		if i < 0 {
			return fmt.Errorf("%w: proof from %d on lacks node %d", ErrBadProof, n, x)
		}
		nodes = append(nodes, out[i])
	}
	if TreeHash(nodes[:bits.OnesCount64(n)]) == st.head.TreeHash {
		return nil
	}
	fp := &ForkProof{A: st.head, B: p.Head, Nodes: nodes}
	if err := fp.Verify(f.key); err != nil {
		return fmt.Errorf("feedtree: proving a fork at length %d: %w", n, err)
	}
	if err := f.keepFork(fp); err != nil {
		return err
	}
	return &ForkError{Proof: *fp}
}
