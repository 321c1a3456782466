package dag

import "errors"

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrNotFound: no such index, manifest, node or log here.
	ErrNotFound = errors.New("dag: not found")
	// ErrClosed: the DAG was closed.
	ErrClosed = errors.New("dag: closed")
	// ErrBadCert: a log's block 0 is not a valid certificate for the index
	// and log, or the log has no certificate yet.
	ErrBadCert = errors.New("dag: bad certificate")
	// ErrBadSignature: a manifest or certificate signature does not verify.
	ErrBadSignature = errors.New("dag: bad signature")
	// ErrNonCanonical: the bytes decode but are not the canonical encoding
	// (unsorted or duplicate keys, non-minimal integers, indefinite lengths,
	// explicit zero fields, trailing bytes, ...).
	ErrNonCanonical = errors.New("dag: non-canonical encoding")
	// ErrMalformed: the bytes are not a valid node, manifest or certificate
	// (bad CBOR, wrong types, missing or out-of-range fields).
	ErrMalformed = errors.New("dag: malformed")
	// ErrTooLarge: an encoding or a field exceeds a limit in limits.go.
	ErrTooLarge = errors.New("dag: too large")
	// ErrBadNode: a node does not belong where it was found (wrong index,
	// log or seq, or a first link that is not the previous node of its log).
	ErrBadNode = errors.New("dag: node does not fit its log")
	// ErrWrongIndex: a log already belongs to another index.
	ErrWrongIndex = errors.New("dag: log belongs to another index")
	// ErrPendingFull: accepting the blocks would exceed Options.MaxPending
	// nodes waiting for ancestors; fetch the ancestors (Missing) first.
	ErrPendingFull = errors.New("dag: too many pending nodes")
	// ErrNotContiguous: a range starts after the end of what this replica
	// holds of the log; logs replicate as prefixes.
	ErrNotContiguous = errors.New("dag: range is not contiguous with the log")
	// ErrForked: the log is recorded as forked and accepts no more writes.
	ErrForked = errors.New("dag: log is forked")
	// ErrOtherHistory: a range under a head longer than this replica's
	// starts with a node that does not follow the node held before it:
	// the author may have signed another history (a peer that relays it
	// is not at fault). A proof that stands on its own shows whether it
	// did (CheckFork).
	ErrOtherHistory = errors.New("dag: range follows another history of the log")
)
