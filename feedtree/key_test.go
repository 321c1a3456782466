package feedtree

import (
	"crypto/ed25519"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
)

func TestKeyText(t *testing.T) {
	kp := KeyPairFromSeed([32]byte{1, 2, 3})
	k := kp.Public()
	s := k.String()
	if !strings.HasPrefix(s, "feed:") || len(s) != 5+64 {
		t.Fatalf("String() = %q", s)
	}
	for _, in := range []string{s, s[5:], strings.ToUpper(s[5:])} {
		if got, err := ParseKey(in); err != nil || got != k {
			t.Errorf("ParseKey(%q) = %v, %v; want %v", in, got, err, k)
		}
	}
	for _, in := range []string{"", "feed:", s[:60], s + "00", "feed:" + strings.Repeat("zz", 32), "feed:" + strings.Repeat("00", 32)} {
		if _, err := ParseKey(in); err == nil {
			t.Errorf("ParseKey(%q) succeeded", in)
		}
	}
	b, _ := json.Marshal(map[string]Key{"k": k})
	var m map[string]Key
	if err := json.Unmarshal(b, &m); err != nil || m["k"] != k {
		t.Errorf("JSON round trip = %v, %v", m, err)
	}
	raw, _ := k.AppendBinary(nil)
	if got, err := KeyFromBytes(raw); err != nil || got != k {
		t.Errorf("KeyFromBytes = %v, %v", got, err)
	}
	if _, err := KeyFromBytes(raw[:31]); err == nil {
		t.Error("KeyFromBytes(31 bytes) succeeded")
	}
	if !(Key{}).IsZero() || k.IsZero() {
		t.Error("IsZero wrong")
	}
	if kp.Seed() != [32]byte{1, 2, 3} {
		t.Error("Seed() differs")
	}
	g, err := GenerateKeyPair(nil)
	if err != nil || g.Public().IsZero() {
		t.Fatalf("GenerateKeyPair = %v", err)
	}
}

// TestMalleability pins the signature-validity rule: a signature whose S
// is replaced by S+ℓ (same point equation, non-canonical S) is rejected.
func TestMalleability(t *testing.T) {
	kp := KeyPairFromSeed([32]byte{5})
	msg := []byte("test message")
	sig := kp.Sign(msg)
	if !VerifySignature(kp.Public(), msg, sig) {
		t.Fatal("valid signature rejected")
	}
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	le := func(b []byte) *big.Int { // little-endian to big.Int
		r := make([]byte, len(b))
		for i := range b {
			r[len(b)-1-i] = b[i]
		}
		return new(big.Int).SetBytes(r)
	}
	s := le(sig[32:])
	s.Add(s, l)
	sb := s.FillBytes(make([]byte, 32))
	mall := sig
	for i := range 32 {
		mall[32+i] = sb[31-i]
	}
	if VerifySignature(kp.Public(), msg, mall) {
		t.Fatal("signature with S+ℓ accepted: verification must reject non-canonical S")
	}
	// The rule is crypto/ed25519's: make sure it agrees.
	if ed25519.Verify(ed25519.PublicKey(func() []byte { b := kp.Public().Bytes(); return b[:] }()), msg, mall[:]) {
		t.Fatal("crypto/ed25519 accepts S+ℓ")
	}
}

func TestAllocations(t *testing.T) {
	kp := KeyPairFromSeed([32]byte{6})
	k := kp.Public()
	roots := []Node{{Index: 7}, {Index: 19}, {Index: 20}}
	h := Head{Length: 11, TreeHash: TreeHash(roots)}
	msg := Signable(h.TreeHash, h.Length, h.Fork)
	h.Signature = kp.Sign(msg[:])
	buf := make([]byte, 0, 128)
	rb := make([]uint64, 0, 64)
	for name, fn := range map[string]func(){
		"Head.Verify":       func() { _ = h.Verify(k) },
		"TreeHash":          func() { _ = TreeHash(roots) },
		"Key.AppendText":    func() { _, _ = k.AppendText(buf[:0]) },
		"Head.AppendBinary": func() { _, _ = h.AppendBinary(buf[:0]) },
		"AppendFullRoots":   func() { _ = AppendFullRoots(rb[:0], 2*12345) },
		"LeafNode":          func() { _ = LeafNode(3, msg[:]) },
		"ParentNode":        func() { _ = ParentNode(roots[1], roots[2]) },
	} {
		if n := testing.AllocsPerRun(50, fn); n != 0 {
			t.Errorf("%s allocates %v times; want 0", name, n)
		}
	}
}
