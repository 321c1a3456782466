package feedtree

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/blake2b"
)

// keyPrefix is the self-identifying text prefix of a Key.
const keyPrefix = "feed:"

// Key is a feed's public key: an ed25519 public key, which is also the
// Hypercore compat-mode feed key. It is comparable and usable as a map key.
// The zero value is invalid (IsZero reports it).
type Key struct{ b [32]byte }

// KeyFromBytes returns the Key held in b, which must be 32 bytes long.
// An all-zero key is rejected.
func KeyFromBytes(b []byte) (Key, error) {
	if len(b) != 32 {
		return Key{}, fmt.Errorf("feedtree: key is %d bytes, want 32", len(b))
	}
	var k Key
	copy(k.b[:], b)
	if k.IsZero() {
		return Key{}, errors.New("feedtree: zero key")
	}
	return k, nil
}

// ParseKey parses "feed:<64 hex>" or a bare 64-character hex string.
func ParseKey(s string) (Key, error) {
	s = strings.TrimPrefix(s, keyPrefix)
	if len(s) != 64 {
		return Key{}, fmt.Errorf("feedtree: parsing key: %d hex characters, want 64", len(s))
	}
	var k Key
	if _, err := hex.Decode(k.b[:], []byte(s)); err != nil {
		return Key{}, fmt.Errorf("feedtree: parsing key: %w", err)
	}
	if k.IsZero() {
		return Key{}, errors.New("feedtree: zero key")
	}
	return k, nil
}

// Bytes returns the 32 key bytes.
func (k Key) Bytes() [32]byte { return k.b }

// IsZero reports whether k is the zero (invalid) key.
func (k Key) IsZero() bool { return k.b == [32]byte{} }

// String returns "feed:" followed by the key in lower-case hex.
func (k Key) String() string {
	b, _ := k.AppendText(make([]byte, 0, len(keyPrefix)+64))
	return string(b)
}

// AppendText appends k.String() to b. It does not allocate when b has room.
func (k Key) AppendText(b []byte) ([]byte, error) {
	b = append(b, keyPrefix...)
	return hex.AppendEncode(b, k.b[:]), nil
}

// MarshalText implements encoding.TextMarshaler ("feed:<hex>").
func (k Key) MarshalText() ([]byte, error) { return k.AppendText(nil) }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts what ParseKey does.
func (k *Key) UnmarshalText(b []byte) error {
	p, err := ParseKey(string(b))
	if err != nil {
		return err
	}
	*k = p
	return nil
}

// AppendBinary appends the 32 raw key bytes to b.
func (k Key) AppendBinary(b []byte) ([]byte, error) { return append(b, k.b[:]...), nil }

// DiscoveryKey returns the feed's discovery key as Hypercore computes it:
// BLAKE2b-256 of the 9-byte message "hypercore", keyed with the feed key.
// Peers meet on it without revealing the key itself.
func DiscoveryKey(k Key) [32]byte {
	h, err := blake2b.New256(k.b[:])
	if err != nil {
		panic(err) // unreachable: a 32-byte key is always valid
	}
	h.Write([]byte("hypercore"))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// KeyPair is a feed's ed25519 key pair. The zero value is invalid.
type KeyPair struct{ priv ed25519.PrivateKey }

// GenerateKeyPair returns a new random key pair read from rand
// (crypto/rand when rand is nil).
func GenerateKeyPair(r io.Reader) (KeyPair, error) {
	if r == nil {
		r = rand.Reader
	}
	var seed [32]byte
	if _, err := io.ReadFull(r, seed[:]); err != nil {
		return KeyPair{}, fmt.Errorf("feedtree: generating key pair: %w", err)
	}
	return KeyPairFromSeed(seed), nil
}

// KeyPairFromSeed derives the key pair of a 32-byte seed
// (libsodium crypto_sign_seed_keypair, as Hypercore does).
func KeyPairFromSeed(seed [32]byte) KeyPair {
	return KeyPair{priv: ed25519.NewKeyFromSeed(seed[:])}
}

// Public returns the feed key of kp.
func (kp KeyPair) Public() Key {
	var k Key
	if len(kp.priv) == ed25519.PrivateKeySize {
		copy(k.b[:], kp.priv[32:])
	}
	return k
}

// Seed returns the 32-byte seed kp was derived from. Keep it secret.
func (kp KeyPair) Seed() [32]byte {
	var s [32]byte
	if len(kp.priv) == ed25519.PrivateKeySize {
		copy(s[:], kp.priv[:32])
	}
	return s
}

// Sign returns the deterministic ed25519 signature of msg.
// It panics on a zero KeyPair (programmer error).
func (kp KeyPair) Sign(msg []byte) [64]byte {
	if len(kp.priv) != ed25519.PrivateKeySize {
		panic("feedtree: Sign with a zero KeyPair")
	}
	var sig [64]byte
	copy(sig[:], ed25519.Sign(kp.priv, msg))
	return sig
}

// VerifySignature reports whether sig is a valid ed25519 signature of msg by k.
//
// The validity rule is pinned, so that every replica agrees on it: it is
// crypto/ed25519's Verify (RFC 8032 cofactorless verification, rejecting a
// non-canonical S ≥ ℓ, which makes signatures non-malleable; the encoding of
// R and A is taken as given). TestMalleability keeps it that way.
func VerifySignature(k Key, msg []byte, sig [64]byte) bool {
	return ed25519.Verify(k.b[:], msg, sig[:])
}
