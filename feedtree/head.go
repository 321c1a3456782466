package feedtree

import (
	"encoding/binary"
	"fmt"
)

// MaxLength bounds every length and block index this package accepts from
// bytes (2^60 blocks): far beyond any real feed, and small enough that flat
// indexes (2·length) and their depths never overflow uint64.
const MaxLength = 1 << 60

// maxHeadSize is the largest encoded Head: two 10-byte uvarints, hash, signature.
const maxHeadSize = 10 + 10 + 32 + 64

// Head is a feed's signed head: a length, a fork number, the tree hash of the
// roots at that length, and the writer's ed25519 signature over
// Signable(TreeHash, Length, Fork).
type Head struct {
	Length, Fork uint64
	TreeHash     [32]byte
	Signature    [64]byte
}

// Verify checks h's signature under k. The error wraps ErrBadSignature.
// It does not allocate on success.
func (h Head) Verify(k Key) error {
	msg := Signable(h.TreeHash, h.Length, h.Fork)
	if !VerifySignature(k, msg[:], h.Signature) {
		return fmt.Errorf("verifying head at length %d: %w", h.Length, ErrBadSignature)
	}
	return nil
}

// AppendBinary appends h's wire form to b: uvarint Length, uvarint Fork,
// 32-byte tree hash, 64-byte signature (98 to 116 bytes).
func (h Head) AppendBinary(b []byte) ([]byte, error) {
	b = binary.AppendUvarint(b, h.Length)
	b = binary.AppendUvarint(b, h.Fork)
	b = append(b, h.TreeHash[:]...)
	return append(b, h.Signature[:]...), nil
}

// DecodeHead decodes exactly one head from b; trailing bytes are an error.
// It does not verify the signature.
func DecodeHead(b []byte) (Head, error) {
	d := decoder{b: b}
	h := d.head()
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes after head")
	}
	if d.err != nil {
		return Head{}, fmt.Errorf("decoding head: %w", d.err)
	}
	return h, nil
}

// decoder reads the package's wire forms. The first error sticks; every read
// after it returns zero values, so callers check d.err once.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrBadEncoding, msg)
	}
}

func (d *decoder) uvarint(max uint64, what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad " + what)
		return 0
	}
	if v > max {
		d.fail(what + " out of range")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(dst []byte, what string) {
	if d.err != nil {
		return
	}
	if len(d.b) < len(dst) {
		d.fail("truncated " + what)
		return
	}
	copy(dst, d.b)
	d.b = d.b[len(dst):]
}

func (d *decoder) head() Head {
	var h Head
	h.Length = d.uvarint(MaxLength, "head length")
	h.Fork = d.uvarint(^uint64(0), "head fork")
	d.bytes(h.TreeHash[:], "tree hash")
	d.bytes(h.Signature[:], "signature")
	return h
}

// node reads a proof node whose index the caller derived: uvarint size, hash.
func (d *decoder) node(index uint64) Node {
	n := Node{Index: index}
	n.Size = d.uvarint(^uint64(0), "node size")
	d.bytes(n.Hash[:], "node hash")
	return n
}

func appendNode(b []byte, n Node) []byte {
	b = binary.AppendUvarint(b, n.Size)
	return append(b, n.Hash[:]...)
}
