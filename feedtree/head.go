package feedtree

import (
	"errors"
	"fmt"
)

// Head is a feed's signed head: a length, a fork number, the tree hash of the
// roots at that length, and the writer's ed25519 signature over
// Signable(TreeHash, Length, Fork).
type Head struct {
	Length, Fork uint64
	TreeHash     [32]byte
	Signature    [64]byte
}

// Verify checks h's signature under k. The error wraps ErrBadSignature.
// It does not allocate.
func (h Head) Verify(k Key) error {
	msg := Signable(h.TreeHash, h.Length, h.Fork)
	if !VerifySignature(k, msg[:], h.Signature) {
		return fmt.Errorf("verifying head at length %d: %w", h.Length, ErrBadSignature)
	}
	return nil
}

// AppendBinary appends h's wire form to b: uvarint length, uvarint fork,
// 32-byte tree hash, 64-byte signature.
func (h Head) AppendBinary(b []byte) ([]byte, error) {
	return nil, errors.New("feedtree: not implemented")
}

// DecodeHead decodes exactly one head from b (trailing bytes are an error).
func DecodeHead(b []byte) (Head, error) {
	return Head{}, errors.New("feedtree: not implemented")
}
