package dag

import (
	"errors"
	"strings"
	"testing"
)

// TestLimits: every limit is enforced both by Marshal and by DecodeNode
// (the bytes are made with the raw encoder, as a hostile writer would).
func TestLimits(t *testing.T) {
	base := func() *Node {
		return &Node{Index: IndexKey{hash256([]byte("i"))}, Log: testKey(1), Seq: 1, Time: 1, Op: putOp(1)}
	}
	manyLinks := make([]Link, MaxLinks+1)
	for i := range manyLinks {
		manyLinks[i] = Link{Log: testKey(byte(10 + i)), Seq: 1, Hash: testID(1)}
	}
	manyFiles := make([]File, MaxFiles+1)
	for i := range manyFiles {
		manyFiles[i] = File{Path: "f", Size: 1}
	}
	cases := []struct {
		name string
		mut  func(n *Node)
		want error
	}{
		{"links", func(n *Node) { n.Links = manyLinks }, ErrTooLarge},
		{"files", func(n *Node) { n.Op.Put.Files = manyFiles }, ErrTooLarge},
		{"tags", func(n *Node) { n.Op.Put.Tags = strings.Split(strings.Repeat("t,", MaxTags)+"t", ",") }, ErrTooLarge},
		{"tag-len", func(n *Node) { n.Op.Put.Tags = []string{strings.Repeat("t", MaxTagLen+1)} }, ErrTooLarge},
		{"title", func(n *Node) { n.Op.Put.Title = strings.Repeat("x", MaxStringLen+1) }, ErrTooLarge},
		{"description", func(n *Node) { n.Op.Put.Description = strings.Repeat("x", MaxDescriptionLen+1) }, ErrTooLarge},
		{"node-size", func(n *Node) {
			for i := range 200 {
				n.Op.Put.Files = append(n.Op.Put.Files, File{Path: strings.Repeat("p", MaxStringLen-10) + string(rune('a'+i%26)), Size: 1})
			}
		}, ErrTooLarge},
		{"no-infohash", func(n *Node) { n.Op.Put.InfohashV1 = nil }, ErrMalformed},
		{"short-infohash", func(n *Node) { n.Op.Put.InfohashV1 = []byte{1} }, ErrMalformed},
		{"seq-0", func(n *Node) { n.Seq = 0 }, ErrMalformed},
		{"no-prev-link", func(n *Node) { n.Seq = 2 }, ErrMalformed},
		{"prev-link-not-first", func(n *Node) {
			n.Seq = 2
			n.Links = []Link{{Log: testKey(7), Seq: 1, Hash: testID(1)}, {Log: n.Log, Seq: 1, Hash: testID(1)}}
		}, ErrMalformed},
		{"two-links-one-log", func(n *Node) {
			n.Links = []Link{{Log: testKey(7), Seq: 1, Hash: testID(1)}, {Log: testKey(7), Seq: 2, Hash: testID(1)}}
		}, ErrMalformed},
		{"put-with-target", func(n *Node) { n.Op.Target = testID(1) }, ErrMalformed},
		{"empty-amend", func(n *Node) { n.Op = Op{Kind: OpAmend, Target: testID(1), Amend: &Amend{}} }, ErrMalformed},
		{"unknown-op", func(n *Node) { n.Op = Op{Kind: 99} }, ErrMalformed},
		{"bad-fork-proof", func(n *Node) {
			n.Op = Op{Kind: OpForkProof, ForkProof: &ForkProofOp{Log: testKey(3), Proof: []byte{1, 2, 3}}}
		}, ErrMalformed},
	}
	for _, c := range cases {
		n := base()
		c.mut(n)
		if _, err := n.Marshal(); !errors.Is(err, c.want) {
			t.Errorf("%s: Marshal = %v; want %v", c.name, err, c.want)
		}
		raw, err := encMode.Marshal(n.wire())
		if err != nil {
			t.Fatalf("%s: raw encoding: %v", c.name, err)
		}
		if _, err := DecodeNode(raw); !errors.Is(err, c.want) {
			t.Errorf("%s: DecodeNode = %v; want %v", c.name, err, c.want)
		}
	}
	if _, err := NewManifest(strings.Repeat("n", MaxNameLen+1), PolicyOpen, testAuthor(1).Identity, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("NewManifest(long name) = %v; want ErrMalformed", err)
	}
}

func TestIDText(t *testing.T) {
	id := testID(0xab)
	for _, s := range []string{id.String(), "entry:" + id.String()} {
		if got, err := ParseID(s); err != nil || got != id {
			t.Errorf("ParseID(%q) = %v, %v; want %v", s, got, err, id)
		}
	}
	k := IndexKey{id.b}
	if !strings.HasPrefix(k.String(), "index:") {
		t.Errorf("IndexKey.String() = %q; want index: prefix", k)
	}
	for _, s := range []string{k.String(), k.String()[len("index:"):]} {
		if got, err := ParseIndexKey(s); err != nil || got != k {
			t.Errorf("ParseIndexKey(%q) = %v, %v", s, got, err)
		}
	}
	who := testAuthor(1).Identity.Public()
	var back Identity
	if b, _ := who.MarshalText(); back.UnmarshalText(b) != nil || back != who || !strings.HasPrefix(string(b), "id:") {
		t.Errorf("Identity text round trip: %q -> %v", b, back)
	}
	for _, bad := range []string{"", "zz", strings.Repeat("0", 64), "index:" + strings.Repeat("g", 64)} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) = nil error", bad)
		}
	}
	if p, err := ParsePolicy("allowlist"); err != nil || p != PolicyAllowlist || p.String() != "allowlist" {
		t.Errorf("ParsePolicy = %v, %v", p, err)
	}
	if DiscoveryKey(k) == k.b || DiscoveryKey(k) == DiscoveryKey(IndexKey{testID(1).b}) {
		t.Error("DiscoveryKey is not a keyed hash of the index key")
	}
}
