package feedtree

import (
	"context"
	"errors"
)

var errTODO = errors.New("feedtree: not implemented")

// Feed is one feed held in a Store: a writable feed (opened with its key
// pair) or a replica verifying what it receives. It is safe for concurrent
// readers and one writer.
type Feed struct {
	key Key
	kp  *KeyPair
}

// OpenFeed opens feed k held in s. A non-nil kp whose public key is k makes
// the feed writable. The state (head, roots, fork proofs) loads from s.
func OpenFeed(s Store, k Key, kp *KeyPair) (*Feed, error) { return nil, errTODO }

// Key returns the feed key.
func (f *Feed) Key() Key { return f.key }

// Writable reports whether the feed was opened with its key pair.
func (f *Feed) Writable() bool { return f.kp != nil }

// Length returns the verified (signed) length this replica holds a head for.
func (f *Feed) Length() uint64 { return 0 }

// Head returns the current signed head.
func (f *Feed) Head() Head { return Head{} }

// Roots returns the roots of the tree at Length(), left to right.
func (f *Feed) Roots() []Node { return nil }

// Append appends blocks, signs the new head once and commits everything in
// one durable batch.
func (f *Feed) Append(blocks ...[]byte) (Head, error) { return Head{}, errTODO }

// Get returns block i, or ErrNotFound if this replica lacks it.
func (f *Feed) Get(i uint64) ([]byte, error) { return nil, errTODO }

// Has reports whether this replica holds block i.
func (f *Feed) Has(i uint64) bool { return false }

// Proof returns a proof of blocks [start, end) at the current head for a
// verifier that trusts length have. ErrNotFound if nodes are missing.
func (f *Feed) Proof(start, end, have uint64) (*Proof, error) { return nil, errTODO }

// Put verifies p and blocks, then stores them atomically; a longer head
// upgrades the feed. A conflicting valid head returns *ForkError and is recorded.
func (f *Feed) Put(p *Proof, blocks [][]byte) error { return errTODO }

// PutHead verifies a length-only upgrade proof (p.Start == p.End) for h and
// stores it. It is Put(p, nil) with a check that p.Head == h.
func (f *Feed) PutHead(h Head, p *Proof) error { return errTODO }

// Wait returns once Length() > n, or when ctx is done or the feed is closed.
func (f *Feed) Wait(ctx context.Context, n uint64) (Head, error) { return Head{}, errTODO }

// Close releases the feed. Later calls return ErrClosed.
func (f *Feed) Close() error { return nil }
