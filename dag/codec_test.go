package dag

import (
	"bytes"
	"testing"

	"indexd/feedtree"
)

func testKey(b byte) feedtree.Key {
	var s [32]byte
	s[0] = b
	return feedtree.KeyPairFromSeed(s).Public()
}

func testID(b byte) ID {
	var x [32]byte
	for i := range x {
		x[i] = b
	}
	return ID{x}
}

func strp(s string) *string { return &s }

// sampleNodes returns one node of each kind, covering every field.
func sampleNodes() map[string]*Node {
	idx := IndexKey{hash256([]byte("sample index"))}
	log, other := testKey(1), testKey(2)
	cat := uint32(5040)
	ih1 := bytes.Repeat([]byte{0xab}, 20)
	ih2 := bytes.Repeat([]byte{0xcd}, 32)
	return map[string]*Node{
		"put-minimal": {Index: idx, Log: log, Seq: 1, Time: 1700000000000,
			Op: Op{Kind: OpPut, Put: &Put{InfohashV1: ih1, Name: "x"}}},
		"put-full": {Index: idx, Log: log, Seq: 2, Time: 1700000000001,
			Links: []Link{{Log: log, Seq: 1, Hash: testID(1)}, {Log: other, Seq: 7, Hash: testID(2)}},
			Op: Op{Kind: OpPut, Put: &Put{InfohashV1: ih1, InfohashV2: ih2,
				Name: "The.Matrix.1999.1080p.BluRay.x264-GRP", Title: "The Matrix (1999)", Description: "Wake up, Neo. ünïcödé",
				Category: 2040, Tags: []string{"movie", "1080p", "bluray"}, Size: 8 << 30,
				Files:    []File{{Path: "The.Matrix.1999.1080p.BluRay.x264-GRP/matrix.mkv", Size: 8<<30 - 100}, {Path: "The.Matrix.1999.1080p.BluRay.x264-GRP/matrix.nfo", Size: 100}},
				Trackers: []string{"udp://tracker.example:1337/announce"}, WebSeeds: []string{"https://example.org/ws/"},
				Private: true, Content: &FeedRef{Key: other, Length: 42}, Torrent: &FeedRef{Key: testKey(3), Length: 1},
				Meta: map[string]string{"imdb": "tt0133093", "year": "1999"}}}},
		"amend": {Index: idx, Log: log, Seq: 3, Time: -5,
			Links: []Link{{Log: log, Seq: 2, Hash: testID(3)}},
			Op: Op{Kind: OpAmend, Target: testID(4), Amend: &Amend{Title: strp("New title"), Description: strp(""),
				Category: &cat, Tags: &[]string{}, Content: &FeedRef{Key: other, Length: 43}, Meta: map[string]string{"imdb": "", "season": "2"}}}},
		"retract": {Index: idx, Log: log, Seq: 4, Time: 1, Links: []Link{{Log: log, Seq: 3, Hash: testID(5)}},
			Op: Op{Kind: OpRetract, Target: testID(4)}},
		"grant": {Index: idx, Log: log, Seq: 5, Links: []Link{{Log: log, Seq: 4, Hash: testID(6)}},
			Op: Op{Kind: OpGrant, Member: Identity{hash256([]byte("member"))}}},
		"revoke": {Index: idx, Log: log, Seq: 6, Links: []Link{{Log: log, Seq: 5, Hash: testID(7)}},
			Op: Op{Kind: OpRevoke, Member: Identity{hash256([]byte("member"))}}},
	}
}

func TestNodeRoundTrip(t *testing.T) {
	for name, n := range sampleNodes() {
		b, err := n.Marshal()
		if err != nil {
			t.Fatalf("%s: Marshal: %v", name, err)
		}
		got, err := DecodeNode(b)
		if err != nil {
			t.Fatalf("%s: DecodeNode: %v", name, err)
		}
		b2, err := got.Marshal()
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("%s: re-Marshal = %x, %v; want %x", name, b2, err, b)
		}
	}
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
