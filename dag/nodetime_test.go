package dag

import (
	"encoding/hex"
	"testing"

	"indexd/feedtree"
)

// FuzzNodeTime: NodeTime never panics and agrees with DecodeNode on every
// node DecodeNode accepts.
func FuzzNodeTime(f *testing.F) {
	seedVectors(f, "node")
	f.Fuzz(func(t *testing.T, b []byte) {
		got, terr := NodeTime(b)
		n, err := DecodeNode(b)
		if err != nil {
			return
		}
		if terr != nil || got != n.Time {
			t.Fatalf("NodeTime = %d, %v; DecodeNode says %d", got, terr, n.Time)
		}
	})
}

func TestNodeTimeVectors(t *testing.T) {
	seen := 0
	for name, v := range currentVectors(t) {
		if v.Kind != "node" {
			continue
		}
		b, _ := hex.DecodeString(v.CBOR)
		n, err := DecodeNode(b)
		if err != nil {
			continue
		}
		seen++
		if got, err := NodeTime(b); err != nil || got != n.Time {
			t.Errorf("%s: NodeTime = %d, %v; want %d", name, got, err, n.Time)
		}
	}
	if seen == 0 {
		t.Fatal("no node vectors")
	}
	for _, b := range [][]byte{nil, {0xa0}, {0xbf}, {0xa1, 0x04}, {0xa1, 0x00, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		_, _ = NodeTime(b) // must not panic
	}
}

// FuzzDecodeRange: DecodeRange never panics on peer bytes, and it either
// accepts every block or names the first one it rejects with an error.
func FuzzDecodeRange(f *testing.F) {
	seedVectors(f, "node")
	f.Fuzz(func(t *testing.T, b []byte) {
		half := len(b) / 2
		for _, start := range []uint64{0, 1, 2} {
			p := &feedtree.Proof{Start: start, End: start + 2}
			r := DecodeRange(IndexKey{}, feedtree.Key{}, p, [][]byte{b[:half], b[half:]})
			if r.bad < len(r.blocks) && r.err == nil {
				t.Fatalf("block %d rejected without an error", r.bad)
			}
			if r.bad == len(r.blocks) && r.err != nil {
				t.Fatalf("error %v without a rejected block", r.err)
			}
		}
	})
}

func TestIngestRangeNil(t *testing.T) {
	var d DAG
	if _, err := d.IngestRange(t.Context(), nil); err == nil {
		t.Fatal("IngestRange(nil) succeeded")
	}
	if _, err := d.IngestRange(t.Context(), &Range{}); err == nil {
		t.Fatal("IngestRange of a zero Range succeeded")
	}
}
