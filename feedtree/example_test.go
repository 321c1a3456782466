package feedtree_test

import (
	"errors"
	"fmt"

	"indexd/feedtree"
)

// Sign a head by appending, then verify it as a reader holding only the key.
func Example() {
	kp := feedtree.KeyPairFromSeed([32]byte{})
	f, err := feedtree.OpenFeed(feedtree.NewMemStore(), kp.Public(), &kp)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	h, err := f.Append([]byte("block-0"), []byte("block-1"), []byte("block-2"))
	if err != nil {
		panic(err)
	}
	fmt.Println("length", h.Length)
	fmt.Println("verifies:", h.Verify(kp.Public()) == nil)

	h.Length++ // a tampered head no longer verifies
	fmt.Println("tampered:", errors.Is(h.Verify(kp.Public()), feedtree.ErrBadSignature))
	// Output:
	// length 3
	// verifies: true
	// tampered: true
}

// A replica that knows only the feed key verifies a block with a proof.
func ExampleVerifyProof() {
	kp := feedtree.KeyPairFromSeed([32]byte{1})
	w, _ := feedtree.OpenFeed(feedtree.NewMemStore(), kp.Public(), &kp)
	for i := range 10 {
		w.Append(fmt.Appendf(nil, "block-%d", i))
	}

	// The writer proves block 6 to a reader that trusts nothing yet (have 0):
	// the proof carries the signed head, the three siblings on the path to the
	// root over blocks 0..7, and the root over blocks 8..9.
	p, _ := w.Proof(6, 7, 0)
	block, _ := w.Get(6)
	wire, _ := p.AppendBinary(nil)

	// The reader decodes and verifies it against the key alone.
	got, _ := feedtree.DecodeProof(wire)
	_, err := feedtree.VerifyProof(kp.Public(), got, nil, [][]byte{block})
	fmt.Println("block 6 verifies:", err == nil, "nodes:", len(got.Nodes))

	_, err = feedtree.VerifyProof(kp.Public(), got, nil, [][]byte{[]byte("forged")})
	var me *feedtree.MismatchError
	fmt.Println("forged block:", errors.As(err, &me))

	// A replica Feed does the same and stores what verified.
	r, _ := feedtree.OpenFeed(feedtree.NewMemStore(), kp.Public(), nil)
	fmt.Println("put:", r.Put(got, [][]byte{block}), "length", r.Length(), "has 6:", r.Has(6), "has 5:", r.Has(5))
	// Output:
	// block 6 verifies: true nodes: 4
	// forged block: true
	// put: <nil> length 10 has 6: true has 5: false
}
