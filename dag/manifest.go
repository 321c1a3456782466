package dag

import (
	"fmt"
	"io"
	"unicode/utf8"
)

// Policy says who may write to an index.
type Policy uint8

// Policies. The numbers are wire values.
const (
	PolicyOpen      Policy = 0 // anyone may put
	PolicyAllowlist Policy = 1 // the creator and the identities it granted
)

// String returns "open" or "allowlist".
func (p Policy) String() string {
	switch p {
	case PolicyOpen:
		return "open"
	case PolicyAllowlist:
		return "allowlist"
	}
	return fmt.Sprintf("policy(%d)", uint8(p))
}

// ParsePolicy parses "open" or "allowlist".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "open":
		return PolicyOpen, nil
	case "allowlist":
		return PolicyAllowlist, nil
	}
	return 0, fmt.Errorf("dag: unknown policy %q (want open or allowlist)", s)
}

// Manifest is an index's signed definition. Its Key, the BLAKE2b-256 of its
// canonical CBOR with the signature, names the index; a peer that knows only
// the key checks a manifest against it.
type Manifest struct {
	Name      string
	Creator   Identity
	Policy    Policy
	Nonce     [16]byte
	Signature [64]byte
}

type wireManifest struct {
	Name      string   `cbor:"0,keyasint"`
	Creator   [32]byte `cbor:"1,keyasint"`
	Policy    uint8    `cbor:"2,keyasint,omitempty"`
	Nonce     [16]byte `cbor:"3,keyasint"`
	Signature []byte   `cbor:"4,keyasint,omitempty"` // absent in the signed message
}

// manifestContext prefixes the signed message of a manifest.
const manifestContext = "indexd manifest v1\x00"

// NewManifest creates and signs the manifest of a new index, with a random
// nonce read from rand (crypto/rand when nil) so that equal names make
// distinct indexes.
func NewManifest(name string, policy Policy, creator IdentityKey, rand io.Reader) (*Manifest, error) {
	if rand == nil {
		rand = cryptoRand
	}
	m := &Manifest{Name: name, Creator: creator.Public(), Policy: policy}
	if _, err := io.ReadFull(rand, m.Nonce[:]); err != nil {
		return nil, fmt.Errorf("dag: reading manifest nonce: %w", err)
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	msg, err := m.signable()
	if err != nil {
		return nil, err
	}
	m.Signature = creator.Sign(msg)
	return m, nil
}

func (m *Manifest) wire(withSig bool) *wireManifest {
	w := &wireManifest{Name: m.Name, Creator: m.Creator.b, Policy: uint8(m.Policy), Nonce: m.Nonce}
	if withSig {
		w.Signature = m.Signature[:]
	}
	return w
}

func (m *Manifest) signable() ([]byte, error) {
	b, err := encMode.Marshal(m.wire(false))
	if err != nil {
		return nil, fmt.Errorf("encoding manifest: %w", err)
	}
	return append([]byte(manifestContext), b...), nil
}

func (m *Manifest) check() error {
	if m.Name == "" || len(m.Name) > MaxNameLen || !utf8.ValidString(m.Name) {
		return fmt.Errorf("manifest: name must be 1..%d bytes of UTF-8: %w", MaxNameLen, ErrMalformed)
	}
	if m.Creator.IsZero() {
		return fmt.Errorf("manifest: zero creator: %w", ErrMalformed)
	}
	if m.Policy > PolicyAllowlist {
		return fmt.Errorf("manifest: unknown policy %d: %w", m.Policy, ErrMalformed)
	}
	return nil
}

// Verify checks the manifest's fields and the creator's signature.
func (m *Manifest) Verify() error {
	if err := m.check(); err != nil {
		return err
	}
	msg, err := m.signable()
	if err != nil {
		return err
	}
	if !m.Creator.Verify(msg, m.Signature) {
		return fmt.Errorf("verifying manifest %q: %w", m.Name, ErrBadSignature)
	}
	return nil
}

// Marshal returns the canonical CBOR of m, signature included.
func (m *Manifest) Marshal() ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	b, err := encMode.Marshal(m.wire(true))
	if err != nil {
		return nil, fmt.Errorf("encoding manifest: %w", err)
	}
	return b, nil
}

// Key returns the index key: BLAKE2b-256 of m.Marshal(). It returns the zero
// key for a manifest that does not marshal.
func (m *Manifest) Key() IndexKey {
	b, err := m.Marshal()
	if err != nil {
		return IndexKey{}
	}
	return IndexKey{hash256(b)}
}

// DecodeManifest decodes a manifest from its canonical CBOR strictly. It
// does not verify the signature (Verify does). It never panics.
func DecodeManifest(b []byte) (*Manifest, error) {
	var w wireManifest
	if err := decodeCanonical("manifest", b, &w, MaxManifestSize); err != nil {
		return nil, err
	}
	if len(w.Signature) != 64 {
		return nil, fmt.Errorf("manifest: signature of %d bytes, want 64: %w", len(w.Signature), ErrMalformed)
	}
	m := &Manifest{Name: w.Name, Creator: Identity{w.Creator}, Policy: Policy(w.Policy), Nonce: w.Nonce}
	copy(m.Signature[:], w.Signature)
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}
