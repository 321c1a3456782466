package feedtree

import (
	"bytes"
	"errors"
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
	// Proofs with a divergence, from the first probe to the exact point.
	ra := replicaOfF(a)
	for m, ok := uint64(4), true; ok; {
		p, _ := b.Proof(m, m+1, 0)
		blk, _ := b.Get(m)
		fp, err := ra.Locate(p, [][]byte{blk})
		if err != nil || fp == nil {
			break
		}
		fb, _ := fp.AppendBinary(nil)
		forks = append(forks, fb)
		m, ok = fp.Div.Probe()
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
	// A third history of the seeds' key, which parts from theirs at 2.
	third, _ := forkPairF(2, 9, 9)
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
		if fp.Verify(kp.Public()) == nil && fp.Div != nil {
			// A proof that verifies is checked against any history.
			lower, err := third.CheckDivergence(fp)
			if lower != nil && (err != nil || lower.Verify(kp.Public()) != nil || !lower.Narrows(fp)) {
				t.Fatalf("CheckDivergence gave %+v, %v", lower.Div, err)
			}
		}
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

// FuzzPut hands a replica, which holds the first blocks of a writer's feed
// (a DAG log's shape: a certificate, then batches of 16) and so trusts its
// signed head, a proof from the fuzzer (seeded with real ones) and the
// writer's blocks for its range, one byte flipped when flip > 0. Whatever
// Put or PutContiguous accepts, every block the replica then holds is the
// writer's, none beyond the writer's length, and the replica still proves
// each block of its prefix with the writer's tree nodes.
func FuzzPut(f *testing.F) {
	kp := KeyPairFromSeed([32]byte{8})
	w, _ := OpenFeed(NewMemStore(), kp.Public(), &kp)
	var blocks [][]byte
	for _, k := range []int{1, 16, 16, 7} {
		b := blocksN(len(blocks), k)
		w.Append(b...)
		blocks = append(blocks, b...)
	}
	n := uint64(len(blocks))
	ref := refTree(blocks)
	for _, s := range []uint64{0, 1, 5, 17, 20, 33} {
		for _, e := range []uint64{s + 1, min(n, s+16), n} {
			for _, have := range []uint64{0, s, n} {
				p, err := w.Proof(s, e, have)
				if err != nil {
					continue
				}
				pb, _ := p.AppendBinary(nil)
				f.Add(pb, uint8(s), s%2 == 0, uint16(0))
				f.Add(pb, uint8(s), true, uint16(1+e))
			}
		}
	}
	f.Fuzz(func(t *testing.T, pb []byte, prefix uint8, contiguous bool, flip uint16) {
		p, err := DecodeProof(pb)
		if err != nil || p.End-p.Start > 64 {
			return
		}
		k := uint64(prefix) % n
		replica := func() *Feed {
			r, err := OpenFeed(NewMemStore(), w.Key(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if k > 0 {
				p0, err := w.Proof(0, k, 0)
				if err != nil {
					t.Fatal(err)
				}
				if err := r.Put(p0, blocks[:k]); err != nil {
					t.Fatalf("the writer's own prefix [0, %d): %v", k, err)
				}
			}
			return r
		}
		r := replica()
		bs := make([][]byte, p.End-p.Start)
		for i := range bs {
			if j := p.Start + uint64(i); j < n {
				bs[i] = bytes.Clone(blocks[j])
			} else {
				bs[i] = []byte{byte(i)}
			}
		}
		if flip > 0 && len(bs) > 0 {
			b := bs[int(flip)%len(bs)]
			b[int(flip)%len(b)] ^= 0x40
		}
		// One history holds no fork, whatever a peer sends.
		if cerr := replica().CheckFork(p, bs); errors.Is(cerr, ErrForked) {
			t.Fatalf("CheckFork of [%d, %d) found a fork in the writer's only history: %v", p.Start, p.End, cerr)
		}
		if fp, lerr := r.Locate(p, bs); fp != nil {
			t.Fatalf("Locate of [%d, %d) found where the writer's only history parts (err %v): %+v", p.Start, p.End, lerr, fp.Div)
		}
		if contiguous && p.Start <= k {
			err = r.PutContiguous(p, bs)
		} else {
			err = r.Put(p, bs)
		}
		for i := uint64(0); i < n+64; i++ {
			if !r.Has(i) {
				continue
			}
			got, gerr := r.Get(i)
			if i >= n || gerr != nil || !bytes.Equal(got, blocks[i]) {
				t.Fatalf("after Put [%d, %d) (err %v): block %d held as %x (%v); the writer's is %x", p.Start, p.End, err, i, got, gerr, blocks[min(i, n-1)])
			}
		}
		for i := range k {
			q, err := r.Proof(i, i+1, 0)
			if err != nil {
				t.Fatalf("proof of prefix block %d: %v", i, err)
			}
			for _, nd := range q.Nodes {
				if nd != ref[nd.Index] {
					t.Fatalf("proof of prefix block %d: node %d differs from the writer's tree", i, nd.Index)
				}
			}
		}
	})
}
