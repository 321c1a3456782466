package dag

import (
	"crypto/ed25519"
	cryptorand "crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/blake2b"
)

// Text prefixes of the identifier types. ID prints bare (users paste entry
// ids), but ParseID also accepts the "entry:" prefix.
const (
	indexKeyPrefix = "index:"
	idPrefix       = "entry:"
	identityPrefix = "id:"
)

// IndexKey names an index: the BLAKE2b-256 of its manifest's canonical CBOR,
// signature included. It is comparable; the zero value is invalid.
type IndexKey struct{ b [32]byte }

// ID is a node hash: BLAKE2b-256 of the node's canonical CBOR. The id of an
// entry is the ID of its put node. The zero value is invalid.
type ID struct{ b [32]byte }

// Identity is a user's ed25519 public identity key. The zero value is invalid.
type Identity struct{ b [32]byte }

// IndexKeyFromBytes returns the IndexKey with raw bytes b.
func IndexKeyFromBytes(b [32]byte) IndexKey { return IndexKey{b} }

// IDFromBytes returns the ID with raw bytes b.
func IDFromBytes(b [32]byte) ID { return ID{b} }

// IdentityFromBytes returns the Identity with raw bytes b.
func IdentityFromBytes(b [32]byte) Identity { return Identity{b} }

func parseHex32(kind, prefix, s string) ([32]byte, error) {
	var out [32]byte
	s = strings.TrimPrefix(s, prefix)
	if len(s) != 64 {
		return out, fmt.Errorf("dag: parsing %s: %d hex characters, want 64", kind, len(s))
	}
	if _, err := hex.Decode(out[:], []byte(s)); err != nil {
		return out, fmt.Errorf("dag: parsing %s: %w", kind, err)
	}
	if out == [32]byte{} {
		return out, fmt.Errorf("dag: parsing %s: zero value", kind)
	}
	return out, nil
}

// ParseIndexKey parses "index:<64 hex>" or bare hex.
func ParseIndexKey(s string) (IndexKey, error) {
	b, err := parseHex32("index key", indexKeyPrefix, s)
	return IndexKey{b}, err
}

// ParseID parses a bare 64-character hex node hash or "entry:<hex>".
func ParseID(s string) (ID, error) {
	b, err := parseHex32("id", idPrefix, s)
	return ID{b}, err
}

// ParseIdentity parses "id:<64 hex>" or bare hex.
func ParseIdentity(s string) (Identity, error) {
	b, err := parseHex32("identity", identityPrefix, s)
	return Identity{b}, err
}

// Bytes returns the raw 32 bytes.
func (k IndexKey) Bytes() [32]byte { return k.b }

// IsZero reports whether k is the zero (invalid) key.
func (k IndexKey) IsZero() bool { return k.b == [32]byte{} }

// AppendText appends "index:<hex>" to b. It does not allocate when b has room.
func (k IndexKey) AppendText(b []byte) ([]byte, error) {
	return hex.AppendEncode(append(b, indexKeyPrefix...), k.b[:]), nil
}

// String returns "index:<hex>".
func (k IndexKey) String() string { b, _ := k.AppendText(nil); return string(b) }

// MarshalText implements encoding.TextMarshaler.
func (k IndexKey) MarshalText() ([]byte, error) { return k.AppendText(nil) }

// UnmarshalText accepts what ParseIndexKey does.
func (k *IndexKey) UnmarshalText(b []byte) error {
	p, err := ParseIndexKey(string(b))
	if err == nil {
		*k = p
	}
	return err
}

// AppendBinary appends the 32 raw bytes to b.
func (k IndexKey) AppendBinary(b []byte) ([]byte, error) { return append(b, k.b[:]...), nil }

// Bytes returns the raw 32 bytes.
func (id ID) Bytes() [32]byte { return id.b }

// IsZero reports whether id is the zero (invalid) ID.
func (id ID) IsZero() bool { return id.b == [32]byte{} }

// AppendText appends the bare lower-case hex of id to b. It does not
// allocate when b has room.
func (id ID) AppendText(b []byte) ([]byte, error) { return hex.AppendEncode(b, id.b[:]), nil }

// String returns the bare 64-character hex.
func (id ID) String() string { b, _ := id.AppendText(nil); return string(b) }

// MarshalText implements encoding.TextMarshaler (bare hex).
func (id ID) MarshalText() ([]byte, error) { return id.AppendText(nil) }

// UnmarshalText accepts what ParseID does.
func (id *ID) UnmarshalText(b []byte) error {
	p, err := ParseID(string(b))
	if err == nil {
		*id = p
	}
	return err
}

// AppendBinary appends the 32 raw bytes to b.
func (id ID) AppendBinary(b []byte) ([]byte, error) { return append(b, id.b[:]...), nil }

// Bytes returns the raw 32 bytes.
func (i Identity) Bytes() [32]byte { return i.b }

// IsZero reports whether i is the zero (invalid) identity.
func (i Identity) IsZero() bool { return i.b == [32]byte{} }

// AppendText appends "id:<hex>" to b.
func (i Identity) AppendText(b []byte) ([]byte, error) {
	return hex.AppendEncode(append(b, identityPrefix...), i.b[:]), nil
}

// String returns "id:<hex>".
func (i Identity) String() string { b, _ := i.AppendText(nil); return string(b) }

// MarshalText implements encoding.TextMarshaler.
func (i Identity) MarshalText() ([]byte, error) { return i.AppendText(nil) }

// UnmarshalText accepts what ParseIdentity does.
func (i *Identity) UnmarshalText(b []byte) error {
	p, err := ParseIdentity(string(b))
	if err == nil {
		*i = p
	}
	return err
}

// AppendBinary appends the 32 raw bytes to b.
func (i Identity) AppendBinary(b []byte) ([]byte, error) { return append(b, i.b[:]...), nil }

// Verify reports whether sig is a valid ed25519 signature of msg by i. The
// rule is crypto/ed25519's Verify, as feedtree.VerifySignature pins it.
func (i Identity) Verify(msg []byte, sig [64]byte) bool {
	if i.IsZero() {
		return false
	}
	return ed25519.Verify(i.b[:], msg, sig[:])
}

// IdentityKey is a user's private identity key. The zero value is invalid.
type IdentityKey struct{ priv ed25519.PrivateKey }

// GenerateIdentity returns a new identity key read from r (crypto/rand when nil).
func GenerateIdentity(r io.Reader) (IdentityKey, error) {
	if r == nil {
		r = cryptorand.Reader
	}
	var seed [32]byte
	if _, err := io.ReadFull(r, seed[:]); err != nil {
		return IdentityKey{}, fmt.Errorf("dag: generating identity: %w", err)
	}
	return IdentityFromSeed(seed), nil
}

// IdentityFromSeed derives the identity key of a 32-byte seed.
func IdentityFromSeed(seed [32]byte) IdentityKey {
	return IdentityKey{priv: ed25519.NewKeyFromSeed(seed[:])}
}

// IsZero reports whether k is the zero (invalid) key.
func (k IdentityKey) IsZero() bool { return len(k.priv) != ed25519.PrivateKeySize }

// Public returns the public identity of k.
func (k IdentityKey) Public() Identity {
	var i Identity
	if !k.IsZero() {
		copy(i.b[:], k.priv[32:])
	}
	return i
}

// Seed returns the 32-byte seed k was derived from. Keep it secret.
func (k IdentityKey) Seed() [32]byte {
	var s [32]byte
	if !k.IsZero() {
		copy(s[:], k.priv[:32])
	}
	return s
}

// Sign returns the ed25519 signature of msg. It panics on a zero key
// (programmer error).
func (k IdentityKey) Sign(msg []byte) [64]byte {
	if k.IsZero() {
		panic("dag: Sign with a zero IdentityKey")
	}
	var sig [64]byte
	copy(sig[:], ed25519.Sign(k.priv, msg))
	return sig
}

// discoveryContext is the message keyed BLAKE2b hashes into an index's
// discovery key (feeds use "hypercore"; a distinct message keeps the two
// namespaces apart).
const discoveryContext = "indexd index"

// DiscoveryKey returns the index's discovery key: BLAKE2b-256 of the message
// "indexd index", keyed with the index key, as feedtree.DiscoveryKey does for
// feeds. Peers meet on it (DHT, GossipSub topic) without revealing k.
func DiscoveryKey(k IndexKey) [32]byte {
	h, err := blake2b.New256(k.b[:])
	if err != nil {
		panic(err) // unreachable: a 32-byte key is always valid
	}
	h.Write([]byte(discoveryContext))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// hash256 is BLAKE2b-256.
func hash256(b []byte) [32]byte { return blake2b.Sum256(b) }

var cryptoRand = cryptorand.Reader
