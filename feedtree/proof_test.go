package feedtree

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
)

// testFeed is a writable feed in memory holding n random blocks, with the
// reference tree of the same blocks.
type testFeed struct {
	f      *Feed
	kp     KeyPair
	blocks [][]byte
	nodes  map[uint64]Node
}

func newTestFeed(t testing.TB, r *rand.Rand, n int) *testFeed {
	t.Helper()
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(r.Uint32())
	}
	kp := KeyPairFromSeed(seed)
	f, err := OpenFeed(NewMemStore(), kp.Public(), &kp)
	if err != nil {
		t.Fatal(err)
	}
	tf := &testFeed{f: f, kp: kp}
	for len(tf.blocks) < n {
		batch := make([][]byte, min(1+r.IntN(5), n-len(tf.blocks)))
		for j := range batch {
			batch[j] = make([]byte, r.IntN(40))
			for k := range batch[j] {
				batch[j][k] = byte(r.Uint32())
			}
		}
		if _, err := f.Append(batch...); err != nil {
			t.Fatal(err)
		}
		tf.blocks = append(tf.blocks, batch...)
	}
	tf.nodes = refTree(tf.blocks)
	return tf
}

func (tf *testFeed) roots(n uint64) []Node { return refRoots(tf.nodes, n) }

// TestProofProperty: for random lengths, ranges and trusted lengths, every
// proof verifies, round-trips through its wire form, carries only nodes the
// verifier cannot compute, and flipping any byte of a block, a node or the
// signature makes it fail.
func TestProofProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for iter := range 400 {
		n := 1 + r.IntN(100)
		if iter%50 == 0 {
			n = 1 << r.IntN(7)
		}
		tf := newTestFeed(t, r, n)
		L := uint64(n)
		for range 8 {
			start := uint64(r.IntN(n + 1))
			end := start + uint64(r.IntN(n-int(start)+1))
			var have uint64
			switch r.IntN(3) {
			case 0:
				have = L + uint64(r.IntN(3)) // trusts the head
			case 1:
				have = 0
			default:
				have = uint64(r.IntN(n + 1))
			}
			checkProof(t, tf, start, end, have)
		}
	}
}

func checkProof(t *testing.T, tf *testFeed, start, end, have uint64) {
	t.Helper()
	L := tf.f.Length()
	p, err := tf.f.Proof(start, end, have)
	if err != nil {
		t.Fatalf("Proof(%d, %d, %d) at %d: %v", start, end, have, L, err)
	}
	T := min(have, L)
	trusted := tf.roots(T)
	blocks := tf.blocks[start:end]
	out, err := VerifyProof(tf.f.Key(), p, trusted, blocks)
	if err != nil {
		t.Fatalf("VerifyProof(%d, %d, %d) at %d: %v", start, end, have, L, err)
	}
	if b := outBound(p, blocks, trusted); len(out) > b {
		t.Fatalf("VerifyProof(%d, %d, %d) at %d returned %d nodes; outBound says at most %d", start, end, have, L, len(out), b)
	}
	for _, nd := range out {
		if want, ok := tf.nodes[nd.Index]; !ok || want != nd {
			t.Fatalf("VerifyProof returned node %+v; reference %+v", nd, want)
		}
	}
	// Minimal: no carried node has a block of the range under it, nor is or
	// holds a trusted root.
	for _, nd := range p.Nodes {
		l, r := Spans(nd.Index)
		if start < end && l/2 < end && r/2 >= start {
			t.Fatalf("proof (%d, %d, %d) at %d carries node %d over a block", start, end, have, L, nd.Index)
		}
		for _, tr := range trusted {
			tl, trr := Spans(tr.Index)
			if tl >= l && trr <= r {
				t.Fatalf("proof (%d, %d, %d) at %d carries node %d holding trusted root %d", start, end, have, L, nd.Index, tr.Index)
			}
		}
	}
	enc, err := p.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := DecodeProof(enc)
	if err != nil {
		t.Fatalf("DecodeProof: %v", err)
	}
	if !reflect.DeepEqual(dec, p) {
		t.Fatalf("DecodeProof(AppendBinary(p)) = %+v; want %+v", dec, p)
	}

	fails := func(what string, p *Proof, blocks [][]byte) {
		t.Helper()
		if _, err := VerifyProof(tf.f.Key(), p, trusted, blocks); err == nil {
			t.Fatalf("proof (%d, %d, %d) at %d verifies with %s", start, end, have, L, what)
		}
	}
	clone := func() (*Proof, [][]byte) {
		q := *p
		q.Nodes = append([]Node(nil), p.Nodes...)
		bs := make([][]byte, len(blocks))
		for i := range blocks {
			bs[i] = bytes.Clone(blocks[i])
		}
		return &q, bs
	}
	for i := range blocks {
		q, bs := clone()
		if len(bs[i]) == 0 {
			bs[i] = []byte{0}
		} else {
			bs[i][rand.IntN(len(bs[i]))] ^= 1 << rand.IntN(8)
		}
		fails("a flipped block byte", q, bs)
	}
	for i := range p.Nodes {
		q, bs := clone()
		q.Nodes[i].Hash[rand.IntN(32)] ^= 1 << rand.IntN(8)
		fails("a flipped node hash", q, bs)
		q, bs = clone()
		q.Nodes[i].Size ^= 1 << rand.IntN(20)
		fails("a flipped node size", q, bs)
	}
	if T < L {
		q, bs := clone()
		q.Head.Signature[rand.IntN(64)] ^= 1 << rand.IntN(8)
		fails("a flipped signature byte", q, bs)
		q, bs = clone()
		q.Head.TreeHash[rand.IntN(32)] ^= 1 << rand.IntN(8)
		fails("a flipped tree hash", q, bs)
	}
	for i := range trusted {
		q, bs := clone()
		tr := append([]Node(nil), trusted...)
		tr[i].Hash[0] ^= 1
		if start < end || T < L { // a trusted root matters when something hangs from it
			if _, err := VerifyProof(tf.f.Key(), q, tr, bs); err == nil && (start < end && LeftSpan(tr[i].Index) < 2*end && RightSpan(tr[i].Index) >= 2*start || T < L) {
				t.Fatalf("proof (%d, %d, %d) at %d verifies with a flipped trusted root %d", start, end, have, L, tr[i].Index)
			}
		}
	}
}

func TestProofErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	tf := newTestFeed(t, r, 20)
	k := tf.f.Key()
	p, err := tf.f.Proof(3, 5, 10)
	if err != nil {
		t.Fatal(err)
	}
	trusted := tf.roots(10)

	bad := bytes.Clone(tf.blocks[4])
	bad = append(bad, 'x')
	_, err = VerifyProof(k, p, trusted, [][]byte{tf.blocks[3], bad})
	var me *MismatchError
	if !errors.As(err, &me) || me.Index == TreeIndex {
		t.Errorf("VerifyProof with a bad block = %v; want a node *MismatchError", err)
	}

	q := *p
	q.Head.Signature[0] ^= 1
	if _, err := VerifyProof(k, &q, trusted, tf.blocks[3:5]); !errors.Is(err, ErrBadSignature) {
		t.Errorf("VerifyProof with a bad signature = %v; want ErrBadSignature", err)
	}
	q = *p
	q.Head.TreeHash[0] ^= 1
	if _, err := VerifyProof(k, &q, trusted, tf.blocks[3:5]); !errors.As(err, &me) || me.Index != TreeIndex {
		t.Errorf("VerifyProof with a bad tree hash = %v; want *MismatchError at TreeIndex", err)
	}
	if _, err := VerifyProof(k, p, trusted, tf.blocks[3:4]); !errors.Is(err, ErrBadProof) {
		t.Errorf("VerifyProof with too few blocks = %v; want ErrBadProof", err)
	}
	if _, err := VerifyProof(k, p, tf.roots(9), tf.blocks[3:5]); !errors.Is(err, ErrBadProof) {
		t.Errorf("VerifyProof with the wrong trusted roots = %v; want ErrBadProof", err)
	}
	q = *p
	q.Nodes = q.Nodes[1:]
	if _, err := VerifyProof(k, &q, trusted, tf.blocks[3:5]); !errors.Is(err, ErrBadProof) {
		t.Errorf("VerifyProof with a missing node = %v; want ErrBadProof", err)
	}
	if _, err := tf.f.Proof(3, 21, 20); !errors.Is(err, ErrBadProof) {
		t.Errorf("Proof past the length = %v; want ErrBadProof", err)
	}
	other := KeyPairFromSeed([32]byte{9})
	if _, err := VerifyProof(other.Public(), p, trusted, tf.blocks[3:5]); !errors.Is(err, ErrBadSignature) {
		t.Errorf("VerifyProof under another key = %v; want ErrBadSignature", err)
	}
}

// TestProofSize checks the size goals on the shape alone (no 1M-block feed
// needed): one random block of a 2^20-block feed, and sequential batches.
func TestProofSize(t *testing.T) {
	const n = 1 << 20
	// Subtree sizes of 300-byte blocks stay under 2^28: 4-byte varints.
	r := rand.New(rand.NewPCG(9, 10))
	for range 1000 {
		i := r.Uint64N(n)
		s, _ := newShape(i, i+1, n, n)
		if c := s.nodeCount(); c > 20 {
			t.Fatalf("block %d of %d: %d nodes; want <= 20", i, n, c)
		}
	}
	for _, batch := range []uint64{16, 32, 64} {
		var total int
		for start := uint64(0); start < n; start += batch {
			s, _ := newShape(start, start+batch, n, n)
			total += s.nodeCount()
		}
		perBlock := float64(total) * 36 / n
		if perBlock > 64 {
			t.Errorf("sequential batches of %d: %.1f proof bytes per block; want <= 64", batch, perBlock)
		}
	}
}
