package feedtree

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// vectorsDir is ../shared/vectors beside the repository root.
var vectorsDir = filepath.Join("..", "..", "shared", "vectors")

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorsDir, name))
	if err != nil {
		t.Fatalf("reading vectors (they live in ../shared/vectors beside the repo): %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

func unhex32(t *testing.T, s string) (out [32]byte) {
	t.Helper()
	if copy(out[:], unhex(t, s)) != 32 {
		t.Fatalf("hex %q is not 32 bytes", s)
	}
	return out
}

func TestFlatTreeVectors(t *testing.T) {
	var v struct {
		Functions []struct {
			I, Depth, Offset, Parent, Sibling, LeftSpan, RightSpan, Count uint64
			Spans                                                         [2]uint64
			Children                                                      *[2]uint64
			IndexDepthOffset                                              uint64 `json:"index_depth_offset"`
		}
		FullRoots []struct {
			I         uint64
			FullRoots []uint64
		}
	}
	readJSON(t, "flat-tree.json", &v)
	if len(v.Functions) < 300 || len(v.FullRoots) < 300 {
		t.Fatalf("only %d function rows and %d fullRoots rows", len(v.Functions), len(v.FullRoots))
	}
	for _, r := range v.Functions {
		i := r.I
		check := func(name string, got, want uint64) {
			if got != want {
				t.Errorf("%s(%d) = %d; want %d", name, i, got, want)
			}
		}
		check("Depth", Depth(i), r.Depth)
		check("Offset", Offset(i), r.Offset)
		check("Parent", Parent(i), r.Parent)
		check("Sibling", Sibling(i), r.Sibling)
		check("LeftSpan", LeftSpan(i), r.LeftSpan)
		check("RightSpan", RightSpan(i), r.RightSpan)
		check("Count", Count(i), r.Count)
		check("Index(Depth, Offset)", Index(r.Depth, r.Offset), r.IndexDepthOffset)
		if l, rr := Spans(i); l != r.Spans[0] || rr != r.Spans[1] {
			t.Errorf("Spans(%d) = %d, %d; want %v", i, l, rr, r.Spans)
		}
		l, rr, ok := Children(i)
		switch {
		case r.Children == nil && ok:
			t.Errorf("Children(%d) = %d, %d, true; want none", i, l, rr)
		case r.Children != nil && (!ok || l != r.Children[0] || rr != r.Children[1]):
			t.Errorf("Children(%d) = %d, %d, %v; want %v", i, l, rr, ok, *r.Children)
		}
	}
	for _, r := range v.FullRoots {
		got := FullRoots(r.I)
		if !slices.Equal(got, r.FullRoots) && !(len(got) == 0 && len(r.FullRoots) == 0) {
			t.Errorf("FullRoots(%d) = %v; want %v", r.I, got, r.FullRoots)
		}
	}
}

type vecNode struct {
	Index, Size uint64
	Hash        string
}

func (n vecNode) node(t *testing.T) Node {
	return Node{Index: n.Index, Size: n.Size, Hash: unhex32(t, n.Hash)}
}

type hypercoreVectors struct {
	Seed, PublicKey, SecretKey string
	Blocks                     []string
	Nodes                      []vecNode
	Lengths                    []struct {
		Length         uint64
		Roots          []vecNode
		TreeHash       string
		SignableCompat string
		Signature      string
	}
}

func TestHypercoreVectors(t *testing.T) {
	var v hypercoreVectors
	readJSON(t, "hypercore-tree.json", &v)
	kp := KeyPairFromSeed(unhex32(t, v.Seed))
	if got := kp.Public().Bytes(); got != unhex32(t, v.PublicKey) {
		t.Fatalf("public key = %x; want %s", got, v.PublicKey)
	}
	seed, pub := kp.Seed(), kp.Public().Bytes()
	if got := append(seed[:], pub[:]...); !bytes.Equal(got, unhex(t, v.SecretKey)) {
		t.Errorf("secret key = %x; want %s", got, v.SecretKey)
	}
	k := kp.Public()

	// Every node: leaves from the blocks, parents from their children.
	want := map[uint64]Node{}
	for _, n := range v.Nodes {
		want[n.Index] = n.node(t)
	}
	computed := map[uint64]Node{}
	for i, b := range v.Blocks {
		n := LeafNode(uint64(i), unhex(t, b))
		computed[n.Index] = n
	}
	for changed := true; changed; {
		changed = false
		for idx := range want {
			if _, ok := computed[idx]; ok {
				continue
			}
			l, r, ok := Children(idx)
			a, okA := computed[l]
			b, okB := computed[r]
			if ok && okA && okB {
				computed[idx] = ParentNode(b, a) // order-insensitive
				changed = true
			}
		}
	}
	if len(want) != len(v.Nodes) || len(v.Nodes) < 2*len(v.Blocks)-5 {
		t.Fatalf("vectors hold %d nodes for %d blocks", len(v.Nodes), len(v.Blocks))
	}
	for idx, w := range want {
		if got, ok := computed[idx]; !ok || got != w {
			t.Errorf("node %d = %+v; want %+v", idx, got, w)
		}
	}

	if len(v.Lengths) != len(v.Blocks) {
		t.Fatalf("%d lengths for %d blocks", len(v.Lengths), len(v.Blocks))
	}
	for _, l := range v.Lengths {
		var roots []Node
		for _, idx := range FullRoots(2 * l.Length) {
			roots = append(roots, computed[idx])
		}
		if len(roots) != len(l.Roots) {
			t.Fatalf("length %d: %d roots; want %d", l.Length, len(roots), len(l.Roots))
		}
		for i, r := range l.Roots {
			if roots[i] != r.node(t) {
				t.Errorf("length %d root %d = %+v; want %+v", l.Length, i, roots[i], r)
			}
		}
		th := TreeHash(roots)
		if th != unhex32(t, l.TreeHash) {
			t.Errorf("TreeHash at length %d = %x; want %s", l.Length, th, l.TreeHash)
		}
		s := Signable(th, l.Length, 0)
		if !bytes.Equal(s[:], unhex(t, l.SignableCompat)) {
			t.Errorf("Signable at length %d = %x; want %s", l.Length, s, l.SignableCompat)
		}
		sig := kp.Sign(s[:])
		if !bytes.Equal(sig[:], unhex(t, l.Signature)) {
			t.Errorf("signature at length %d = %x; want %s", l.Length, sig, l.Signature)
		}
		h := Head{Length: l.Length, TreeHash: th, Signature: sig}
		if err := h.Verify(k); err != nil {
			t.Errorf("Head at length %d: Verify = %v", l.Length, err)
		}
	}

	// The same through a Feed: appending block by block gives every head.
	f, err := OpenFeed(NewMemStore(), k, &kp)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i, b := range v.Blocks {
		h, err := f.Append(unhex(t, b))
		if err != nil {
			t.Fatal(err)
		}
		l := v.Lengths[i]
		if h.Length != l.Length || h.TreeHash != unhex32(t, l.TreeHash) || !bytes.Equal(h.Signature[:], unhex(t, l.Signature)) {
			t.Errorf("Feed head after %d appends = %+v; want tree hash %s signature %s", i+1, h, l.TreeHash, l.Signature)
		}
	}
}

func TestExtendedVectors(t *testing.T) {
	var v struct {
		Seed, PublicKey, CompatKey, CompatDiscoveryKey string
		Namespaces                                     struct{ TREE string }
		Lengths                                        []struct {
			Length, Fork             uint64
			TreeHash, SignableCompat string
			SignatureCompat          string
			SignatureCompatVerifies  bool
		}
	}
	readJSON(t, "extended/hypercore-tree.json", &v)
	if treeNamespace != unhex32(t, v.Namespaces.TREE) {
		t.Errorf("TREE namespace = %x; want %s", treeNamespace, v.Namespaces.TREE)
	}
	kp := KeyPairFromSeed(unhex32(t, v.Seed))
	k := kp.Public()
	if k.Bytes() != unhex32(t, v.CompatKey) {
		t.Fatalf("public key = %v; want %s", k, v.CompatKey)
	}
	if got := DiscoveryKey(k); got != unhex32(t, v.CompatDiscoveryKey) {
		t.Errorf("DiscoveryKey = %x; want %s", got, v.CompatDiscoveryKey)
	}
	if len(v.Lengths) == 0 {
		t.Fatal("no lengths")
	}
	for _, l := range v.Lengths {
		s := Signable(unhex32(t, l.TreeHash), l.Length, l.Fork)
		if !bytes.Equal(s[:], unhex(t, l.SignableCompat)) {
			t.Errorf("Signable at length %d = %x; want %s", l.Length, s, l.SignableCompat)
		}
		sig := kp.Sign(s[:])
		if !bytes.Equal(sig[:], unhex(t, l.SignatureCompat)) {
			t.Errorf("signature at length %d = %x; want %s", l.Length, sig, l.SignatureCompat)
		}
	}
}
