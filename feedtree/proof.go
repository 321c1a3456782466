package feedtree

import "errors"

// Proof lets a verifier that trusts the roots of a tree of length Have (none
// if Have == 0, or Have >= Head.Length meaning "I already trust a signed head
// at Head.Length") verify blocks [Start, End) and, when Have < Head.Length,
// the signed Head itself.
//
// Nodes is the minimal set of nodes that cannot be computed from the blocks
// and the trusted roots, in a deterministic order both sides derive from
// (Start, End, Have, Head.Length). Start == End with Have < Head.Length is a
// pure upgrade proof (old roots -> new roots).
type Proof struct {
	Head             Head
	Start, End, Have uint64
	Nodes            []Node
}

// AppendBinary appends p's wire form to b.
func (p *Proof) AppendBinary(b []byte) ([]byte, error) {
	return nil, errors.New("feedtree: not implemented")
}

// DecodeProof decodes one proof. It is bounded (MaxProofNodes) and never panics.
func DecodeProof(b []byte) (*Proof, error) {
	return nil, errors.New("feedtree: not implemented")
}

// VerifyProof checks blocks (len == End-Start) against p. trusted are the
// roots of length p.Have (FullRoots(2*Have) order) or, when Have >=
// Head.Length, the roots at Head.Length. It returns every node it computed or
// received (so a replica can store them) and a typed error (*MismatchError,
// ErrBadSignature, ErrBadProof) on failure.
func VerifyProof(k Key, p *Proof, trusted []Node, blocks [][]byte) ([]Node, error) {
	return nil, errors.New("feedtree: not implemented")
}
