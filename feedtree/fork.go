package feedtree

import "errors"

// ForkProof is self-verifying evidence that two valid signed heads of one key
// conflict: A and B are both validly signed, and Nodes show that they cannot
// describe the same history (same length with different tree hashes, or the
// longer one does not extend the shorter).
type ForkProof struct {
	A, B  Head
	Nodes []Node
}

// Verify checks that both heads are signed by k and that they conflict.
func (fp *ForkProof) Verify(k Key) error {
	return errors.New("feedtree: not implemented")
}

// AppendBinary appends fp's wire form to b.
func (fp *ForkProof) AppendBinary(b []byte) ([]byte, error) {
	return nil, errors.New("feedtree: not implemented")
}

// DecodeForkProof decodes one fork proof; bounded, never panics.
func DecodeForkProof(b []byte) (*ForkProof, error) {
	return nil, errors.New("feedtree: not implemented")
}
