package feedtree

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"
)

// seedEncodings returns real encodings of heads, proofs and fork proofs.
func seedEncodings(f *testing.F) (heads, proofs, forks [][]byte) {
	r := rand.New(rand.NewPCG(13, 14))
	kp := KeyPairFromSeed([32]byte{8})
	w, _ := OpenFeed(NewMemStore(), kp.Public(), &kp)
	for n := 1; n <= 40; n += 1 + r.IntN(6) {
		w.Append(blocksN(int(w.Length()), n-int(w.Length()))...)
		hb, _ := w.Head().AppendBinary(nil)
		heads = append(heads, hb)
		for range 3 {
			s := uint64(r.IntN(n + 1))
			e := s + uint64(r.IntN(n-int(s)+1))
			p, _ := w.Proof(s, e, uint64(r.IntN(n+2)))
			pb, _ := p.AppendBinary(nil)
			proofs = append(proofs, pb)
		}
	}
	a, b := forkPairF(3, 5, 11)
	rb := replicaOfF(b)
	if err := rb.PutHead(a.Head(), nil); err != nil {
		if fp := rb.Fork(); fp != nil {
			fb, _ := fp.AppendBinary(nil)
			forks = append(forks, fb)
		}
	}
	return heads, proofs, forks
}

func forkPairF(common, a, b int) (*Feed, *Feed) {
	kp := KeyPairFromSeed([32]byte{7})
	fa, _ := OpenFeed(NewMemStore(), kp.Public(), &kp)
	fb, _ := OpenFeed(NewMemStore(), kp.Public(), &kp)
	fa.Append(blocksN(0, common)...)
	fb.Append(blocksN(0, common)...)
	fa.Append(blocksN(1000, a-common)...)
	fb.Append(blocksN(2000, b-common)...)
	return fa, fb
}

func replicaOfF(w *Feed) *Feed {
	r, _ := OpenFeed(NewMemStore(), w.Key(), nil)
	p, _ := w.Proof(0, w.Length(), 0)
	bs := make([][]byte, w.Length())
	for i := range bs {
		bs[i], _ = w.Get(uint64(i))
	}
	r.Put(p, bs)
	return r
}

func FuzzDecodeHead(f *testing.F) {
	heads, _, _ := seedEncodings(f)
	for _, h := range heads {
		f.Add(h)
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHead(b)
		if err != nil {
			return
		}
		enc, _ := h.AppendBinary(nil)
		h2, err := DecodeHead(enc)
		if err != nil || h2 != h {
			t.Fatalf("round trip: %+v, %v; want %+v", h2, err, h)
		}
	})
}

func FuzzDecodeProof(f *testing.F) {
	_, proofs, _ := seedEncodings(f)
	for _, p := range proofs {
		f.Add(p)
	}
	f.Add([]byte{})
	kp := KeyPairFromSeed([32]byte{8})
	k := kp.Public()
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeProof(b)
		if err != nil {
			return
		}
		if len(p.Nodes) > MaxProofNodes {
			t.Fatalf("%d nodes decoded", len(p.Nodes))
		}
		enc, err := p.AppendBinary(nil)
		if err != nil {
			t.Fatalf("re-encoding a decoded proof: %v", err)
		}
		p2, err := DecodeProof(enc)
		if err != nil || !reflect.DeepEqual(p, p2) {
			t.Fatalf("round trip: %+v, %v; want %+v", p2, err, p)
		}
		if !bytes.Equal(enc, b) {
			// Non-minimal varints decode but re-encode shorter; that is fine
			// as long as the value round-trips, which it did.
			_ = enc
		}
		// Verification must not panic on any decoded proof with small ranges.
		if p.End-p.Start <= 64 {
			blocks := make([][]byte, p.End-p.Start)
			T := min(p.Have, p.Head.Length)
			trusted := make([]Node, 0, 64)
			for _, x := range FullRoots(2 * T) {
				trusted = append(trusted, Node{Index: x})
			}
			VerifyProof(k, p, trusted, blocks)
		}
	})
}

func FuzzDecodeForkProof(f *testing.F) {
	_, _, forks := seedEncodings(f)
	if len(forks) == 0 {
		f.Fatal("no fork proof seed")
	}
	for _, fp := range forks {
		f.Add(fp)
	}
	f.Add([]byte{})
	kp := KeyPairFromSeed([32]byte{7})
	f.Fuzz(func(t *testing.T, b []byte) {
		fp, err := DecodeForkProof(b)
		if err != nil {
			return
		}
		enc, err := fp.AppendBinary(nil)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		fp2, err := DecodeForkProof(enc)
		if err != nil || !reflect.DeepEqual(fp, fp2) {
			t.Fatalf("round trip: %+v, %v; want %+v", fp2, err, fp)
		}
		fp.Verify(kp.Public())
	})
}

// TestDecodeTruncated: every strict prefix of a valid encoding is an error.
func TestDecodeTruncated(t *testing.T) {
	heads, proofs, forks := seedEncodings(&testing.F{})
	for _, h := range heads {
		for i := range h {
			if _, err := DecodeHead(h[:i]); err == nil {
				t.Fatalf("DecodeHead(%x) succeeded", h[:i])
			}
		}
		if _, err := DecodeHead(append(h, 0)); err == nil {
			t.Fatal("DecodeHead with a trailing byte succeeded")
		}
	}
	for _, p := range proofs {
		for i := range p {
			if _, err := DecodeProof(p[:i]); err == nil {
				t.Fatalf("DecodeProof(%x) succeeded", p[:i])
			}
		}
		if _, err := DecodeProof(append(p, 0)); err == nil {
			t.Fatal("DecodeProof with a trailing byte succeeded")
		}
	}
	for _, fp := range forks {
		for i := range fp {
			if _, err := DecodeForkProof(fp[:i]); err == nil {
				t.Fatalf("DecodeForkProof(%x) succeeded", fp[:i])
			}
		}
	}
	// A huge claimed node count is refused before allocating.
	h, _ := Head{Length: 5}.AppendBinary(nil)
	huge := append(h, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f)
	if _, err := DecodeProof(huge); err == nil {
		t.Fatal("DecodeProof with a huge node count succeeded")
	}
}
