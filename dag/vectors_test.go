package dag

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"indexd/feedtree"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors and testdata/noncanonical from the current code")

// vector is one checked-in encoding: testdata/vectors/<name>.json.
type vector struct {
	Kind string `json:"kind"` // node, manifest, cert
	CBOR string `json:"cbor"` // canonical bytes, hex
	Hash string `json:"hash"` // BLAKE2b-256 of the bytes (node ID, index key), hex
}

// rejectVector is one non-canonical or malformed encoding that must be
// refused: testdata/noncanonical/<mutation>.json.
type rejectVector struct {
	Kind string `json:"kind"`
	CBOR string `json:"cbor"`
}

func vectorManifest(t testing.TB) (*Manifest, IdentityKey) {
	id := IdentityFromSeed([32]byte{1})
	m, err := NewManifest("vectors", PolicyAllowlist, id, bytes.NewReader(bytes.Repeat([]byte{7}, 16)))
	if err != nil {
		t.Fatal(err)
	}
	return m, id
}

// currentVectors returns the encodings the code produces now.
func currentVectors(t testing.TB) map[string]vector {
	out := make(map[string]vector)
	for name, n := range sampleNodes() {
		b, err := n.Marshal()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out["node-"+name] = vector{Kind: "node", CBOR: hex.EncodeToString(b), Hash: HashNode(b).String()}
	}
	fp := vectorForkProof(t)
	fn := &Node{Index: IndexKey{hash256([]byte("sample index"))}, Log: testKey(1), Seq: 1, Time: 3,
		Op: Op{Kind: OpForkProof, ForkProof: &ForkProofOp{Log: testKey(4), Proof: fp}}}
	fb, err := fn.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out["node-fork-proof"] = vector{Kind: "node", CBOR: hex.EncodeToString(fb), Hash: HashNode(fb).String()}

	m, id := vectorManifest(t)
	mb, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out["manifest-allowlist"] = vector{Kind: "manifest", CBOR: hex.EncodeToString(mb), Hash: hexKey(m.Key())}
	c, err := NewCert(id, m.Key(), feedtree.KeyPairFromSeed([32]byte{2}).Public(), 1700000000000)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out["cert"] = vector{Kind: "cert", CBOR: hex.EncodeToString(cb), Hash: hexKey(IndexKey{hash256(cb)})}
	return out
}

// noOmitRetract encodes the sample retract node with an explicit zero time,
// which the canonical form omits.
type noOmitNode struct {
	Index [32]byte   `cbor:"0,keyasint"`
	Log   [32]byte   `cbor:"1,keyasint"`
	Seq   uint64     `cbor:"2,keyasint"`
	Links []wireLink `cbor:"3,keyasint"`
	Time  int64      `cbor:"4,keyasint"`
	Op    wireOp     `cbor:"5,keyasint"`
}

// currentRejects returns mutations of canonical encodings that decoders
// must refuse.
func currentRejects(t testing.TB) map[string]rejectVector {
	n := sampleNodes()["retract"]
	good, err := n.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// good = a6 | 00 5820 <index> | 01 5820 <log> | 02 04 | 03 ... | 04 01 | 05 ...
	idxItem, logItem, rest := good[1:36], good[36:71], good[71:]
	w := n.wire()
	zeroTime := noOmitNode{Index: w.Index, Log: w.Log, Seq: w.Seq, Links: w.Links, Time: 0, Op: w.Op}
	zt, err := encMode.Marshal(zeroTime)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"node-trailing-bytes":      cat(good, []byte{0x00}),
		"node-unsorted-keys":       cat([]byte{0xa6}, logItem, idxItem, rest),
		"node-duplicate-key":       cat([]byte{0xa7}, idxItem, idxItem, logItem, rest),
		"node-indefinite-map":      cat([]byte{0xbf}, good[1:], []byte{0xff}),
		"node-non-minimal-int":     cat(good[:71], []byte{0x02, 0x18, 0x04}, rest[2:]),
		"node-non-minimal-length":  cat([]byte{0xb8, 0x06}, good[1:]),
		"node-indefinite-bytes":    cat([]byte{0xa6, 0x00, 0x5f, 0x58, 0x20}, good[4:36], []byte{0xff}, good[36:]),
		"node-explicit-zero-field": zt,
		"node-tagged":              cat([]byte{0xd8, 0x18}, good),
		"node-truncated":           good[:len(good)-1],
		"node-text-key":            cat([]byte{0xa6, 0x61, 0x30}, good[2:]),
	}
	out := make(map[string]rejectVector)
	for name, b := range bad {
		out[name] = rejectVector{Kind: "node", CBOR: hex.EncodeToString(b)}
	}
	m, _ := vectorManifest(t)
	mb, _ := m.Marshal()
	out["manifest-trailing-bytes"] = rejectVector{Kind: "manifest", CBOR: hex.EncodeToString(cat(mb, []byte{0xf6}))}
	out["manifest-short-signature"] = rejectVector{Kind: "manifest", CBOR: hex.EncodeToString(cat(mb[:len(mb)-66], []byte{0x58, 0x3f}, mb[len(mb)-64:len(mb)-1]))}
	return out
}

func writeJSONDir(t *testing.T, dir string, m map[string]any) {
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range m {
		b, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(filepath.Join(dir, name+".json"), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readJSONDir[T any](t *testing.T, dir string) map[string]T {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors in %s (run go test -run TestVectors -update): %v", dir, err)
	}
	out := make(map[string]T)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f[:len(f)-5])] = v
	}
	return out
}

// TestVectors checks that the code reproduces the checked-in encodings and
// hashes byte for byte, and that every stored encoding decodes and
// re-encodes to itself. A format change fails here until the vectors are
// regenerated with -update (and the change is then visible in review).
func TestVectors(t *testing.T) {
	cur := currentVectors(t)
	rej := currentRejects(t)
	if *update {
		m := make(map[string]any)
		for k, v := range cur {
			m[k] = v
		}
		writeJSONDir(t, "testdata/vectors", m)
		m = make(map[string]any)
		for k, v := range rej {
			m[k] = v
		}
		writeJSONDir(t, "testdata/noncanonical", m)
	}
	stored := readJSONDir[vector](t, "testdata/vectors")
	names := make([]string, 0, len(stored))
	for k := range stored {
		names = append(names, k)
	}
	sort.Strings(names)
	if len(stored) != len(cur) {
		t.Errorf("testdata/vectors has %d vectors; the code makes %d", len(stored), len(cur))
	}
	for _, name := range names {
		v := stored[name]
		if c, ok := cur[name]; !ok || c != v {
			t.Errorf("vector %s: code produces %+v; testdata has %+v", name, c, v)
		}
		b, err := hex.DecodeString(v.CBOR)
		if err != nil {
			t.Fatal(err)
		}
		var re []byte
		switch v.Kind {
		case "node":
			n, err := DecodeNode(b)
			if err != nil {
				t.Errorf("DecodeNode(%s) = %v", name, err)
				continue
			}
			re, _ = n.Marshal()
			if got := HashNode(b).String(); got != v.Hash {
				t.Errorf("HashNode(%s) = %s; want %s", name, got, v.Hash)
			}
		case "manifest":
			m, err := DecodeManifest(b)
			if err != nil {
				t.Errorf("DecodeManifest(%s) = %v", name, err)
				continue
			}
			if err := m.Verify(); err != nil {
				t.Errorf("%s: Verify = %v", name, err)
			}
			re, _ = m.Marshal()
			if got := hexKey(m.Key()); got != v.Hash {
				t.Errorf("Key(%s) = %s; want %s", name, got, v.Hash)
			}
		case "cert":
			c, err := DecodeCert(b)
			if err != nil {
				t.Errorf("DecodeCert(%s) = %v", name, err)
				continue
			}
			if err := c.Verify(); err != nil {
				t.Errorf("%s: Verify = %v", name, err)
			}
			re, _ = c.Marshal()
		}
		if !bytes.Equal(re, b) {
			t.Errorf("%s: re-encoding = %x; want %x", name, re, b)
		}
	}

	for name, v := range readJSONDir[rejectVector](t, "testdata/noncanonical") {
		b, _ := hex.DecodeString(v.CBOR)
		var err error
		switch v.Kind {
		case "node":
			_, err = DecodeNode(b)
		case "manifest":
			_, err = DecodeManifest(b)
		case "cert":
			_, err = DecodeCert(b)
		}
		if err == nil {
			t.Errorf("decoding %s succeeded; want rejection", name)
		} else if !errors.Is(err, ErrNonCanonical) && !errors.Is(err, ErrMalformed) {
			t.Errorf("decoding %s = %v; want ErrNonCanonical or ErrMalformed", name, err)
		}
	}
}

func hexKey(k IndexKey) string { return hex.EncodeToString(k.b[:]) }

// vectorForkProof returns the bytes of a deterministic fork proof against
// testKey(4): two histories of one block each, signed by the same key.
func vectorForkProof(t testing.TB) []byte {
	var seed [32]byte
	seed[0] = 4
	kp := feedtree.KeyPairFromSeed(seed)
	a, err := feedtree.OpenFeed(feedtree.NewMemStore(), kp.Public(), &kp)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := feedtree.OpenFeed(feedtree.NewMemStore(), kp.Public(), &kp)
	a.Append([]byte("history a"))
	b.Append([]byte("history b"))
	p, err := b.Proof(0, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	var fe *feedtree.ForkError
	if err := a.Put(p, [][]byte{[]byte("history b")}); !errors.As(err, &fe) {
		t.Fatalf("Put of a conflicting history = %v; want *ForkError", err)
	}
	out, err := fe.Proof.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
