package dag

import (
	"fmt"

	"indexd/feedtree"
)

// Cert is block 0 of every author log: the identity key vouches that log Log
// writes for it into index Index. Created is unix milliseconds.
type Cert struct {
	Identity  Identity
	Index     IndexKey
	Log       feedtree.Key
	Created   int64
	Signature [64]byte
}

type wireCert struct {
	Identity  [32]byte `cbor:"0,keyasint"`
	Index     [32]byte `cbor:"1,keyasint"`
	Log       [32]byte `cbor:"2,keyasint"`
	Created   int64    `cbor:"3,keyasint,omitempty"`
	Signature []byte   `cbor:"4,keyasint,omitempty"` // absent in the signed message
}

// certContext prefixes the signed message of a certificate.
const certContext = "indexd cert v1\x00"

// NewCert returns the certificate of log for idx, signed by id.
func NewCert(id IdentityKey, idx IndexKey, log feedtree.Key, created int64) (*Cert, error) {
	c := &Cert{Identity: id.Public(), Index: idx, Log: log, Created: created}
	if err := c.check(); err != nil {
		return nil, err
	}
	msg, err := c.signable()
	if err != nil {
		return nil, err
	}
	c.Signature = id.Sign(msg)
	return c, nil
}

func (c *Cert) wire(withSig bool) *wireCert {
	w := &wireCert{Identity: c.Identity.b, Index: c.Index.b, Log: c.Log.Bytes(), Created: c.Created}
	if withSig {
		w.Signature = c.Signature[:]
	}
	return w
}

func (c *Cert) signable() ([]byte, error) {
	b, err := encMode.Marshal(c.wire(false))
	if err != nil {
		return nil, fmt.Errorf("encoding cert: %w", err)
	}
	return append([]byte(certContext), b...), nil
}

func (c *Cert) check() error {
	if c.Identity.IsZero() || c.Index.IsZero() || c.Log.IsZero() {
		return fmt.Errorf("cert: zero key: %w", ErrMalformed)
	}
	return nil
}

// Verify checks the identity's signature over the certificate.
func (c *Cert) Verify() error {
	if err := c.check(); err != nil {
		return err
	}
	msg, err := c.signable()
	if err != nil {
		return err
	}
	if !c.Identity.Verify(msg, c.Signature) {
		return fmt.Errorf("verifying cert of %v: %w", c.Log, ErrBadSignature)
	}
	return nil
}

// Marshal returns the canonical CBOR of c, signature included.
func (c *Cert) Marshal() ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	b, err := encMode.Marshal(c.wire(true))
	if err != nil {
		return nil, fmt.Errorf("encoding cert: %w", err)
	}
	return b, nil
}

// DecodeCert decodes a certificate from its canonical CBOR strictly. It does
// not verify the signature (Verify does). It never panics.
func DecodeCert(b []byte) (*Cert, error) {
	var w wireCert
	if err := decodeCanonical("cert", b, &w, MaxCertSize); err != nil {
		return nil, err
	}
	if len(w.Signature) != 64 {
		return nil, fmt.Errorf("cert: signature of %d bytes, want 64: %w", len(w.Signature), ErrMalformed)
	}
	c := &Cert{Identity: Identity{w.Identity}, Index: IndexKey{w.Index}, Created: w.Created}
	k, err := feedKey(w.Log)
	if err != nil {
		return nil, err
	}
	c.Log = k
	copy(c.Signature[:], w.Signature)
	if err := c.check(); err != nil {
		return nil, err
	}
	return c, nil
}
