package dag

import (
	"encoding/hex"
	"testing"
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
