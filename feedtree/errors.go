package feedtree

import (
	"errors"
	"fmt"
)

// Sentinel errors callers branch on (with errors.Is).
var (
	// ErrNotFound: this replica does not hold the block, node or record.
	ErrNotFound = errors.New("feedtree: not found")
	// ErrBadSignature: a head's signature does not verify under the feed key.
	ErrBadSignature = errors.New("feedtree: bad signature")
	// ErrClosed: the Feed was closed.
	ErrClosed = errors.New("feedtree: closed")
	// ErrNotWritable: Append on a feed opened without its key pair.
	ErrNotWritable = errors.New("feedtree: not writable")
	// ErrForked: the feed holds a fork proof and refuses the operation.
	ErrForked = errors.New("feedtree: forked")
	// ErrBadProof: a proof is malformed or does not fit the request
	// (wrong node count, wrong range, out-of-bounds values).
	ErrBadProof = errors.New("feedtree: bad proof")
	// ErrBadEncoding: bytes that do not decode (truncated, oversize, out of range).
	ErrBadEncoding = errors.New("feedtree: bad encoding")
)

// TreeIndex is the MismatchError.Index reported when the tree hash of the
// computed roots does not match the signed head's.
const TreeIndex = ^uint64(0)

// MismatchError says that the node at flat index Index hashed to Got where
// the proof's trusted material requires Want. For a tree hash mismatch Index
// is TreeIndex.
type MismatchError struct {
	Index     uint64
	Got, Want [32]byte
}

func (e *MismatchError) Error() string {
	if e.Index == TreeIndex {
		return fmt.Sprintf("feedtree: tree hash is %x, signed head says %x", e.Got[:6], e.Want[:6])
	}
	return fmt.Sprintf("feedtree: node %d hashes to %x, want %x", e.Index, e.Got[:6], e.Want[:6])
}

// ForkError is returned when a valid signed head conflicts with one the feed
// already trusts. Proof is the self-verifying evidence; the feed records it
// and refuses further writes from that source. errors.Is(err, ErrForked) holds.
type ForkError struct{ Proof ForkProof }

func (e *ForkError) Error() string {
	return fmt.Sprintf("feedtree: fork: heads at length %d and %d conflict", e.Proof.A.Length, e.Proof.B.Length)
}

// Is makes errors.Is(err, ErrForked) true for a *ForkError.
func (e *ForkError) Is(target error) bool { return target == ErrForked }
