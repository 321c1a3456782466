package index

import (
	"bytes"
	"testing"

	"indexd/dag"
)

// FuzzDecodeEntry: DecodeEntry never panics, and what it accepts encodes
// back to the same bytes.
func FuzzDecodeEntry(f *testing.F) {
	b, _ := fullEntry().MarshalBinary()
	f.Add(b)
	e := fullEntry()
	e.Put = dag.Put{InfohashV1: e.InfohashV1}
	e.Retracted = true
	b, _ = e.MarshalBinary()
	f.Add(b)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEntry(b)
		if err != nil {
			return
		}
		re, err := e.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encoding a decoded entry: %v", err)
		}
		if !bytes.Equal(re, b) {
			t.Fatalf("round trip changed the bytes:\n%x\n%x", b, re)
		}
	})
}

// FuzzDecodeRecords covers the fixed-layout records read back from badger:
// the first byte picks the decoder. None may panic; accepted revision
// records and clocks re-encode to the same bytes.
func FuzzDecodeRecords(f *testing.F) {
	rr := &revRecord{kind: dag.OpAmend, time: 5, amend: &dag.Amend{Title: strp("x"), Meta: map[string]string{"a": ""}}}
	b, _ := rr.encode()
	f.Add(append([]byte{0}, b...))
	rr = &revRecord{kind: dag.OpRetract, time: -1}
	b, _ = rr.encode()
	f.Add(append([]byte{0}, b...))
	c := clock{}.set([32]byte{2}, 3).set([32]byte{1}, 9)
	f.Add(append([]byte{1}, c.encode()...))
	g := grantRecord{kind: dag.OpGrant, time: 3, seq: 4}
	f.Add(append([]byte{2}, appendListItem(appendListItem(nil, g.encode()), []byte{1, 2})...))
	f.Add(append([]byte{3}, statsRecord{1, 2, 3}.encode()...))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		b := in[1:]
		switch in[0] % 4 {
		case 0:
			r, err := decodeRevRecord(b)
			if err != nil {
				return
			}
			re, err := r.encode()
			if err != nil {
				t.Fatalf("re-encoding: %v", err)
			}
			if !bytes.Equal(re, b) {
				t.Fatalf("revision round trip changed the bytes:\n%x\n%x", b, re)
			}
		case 1:
			c, err := decodeClock(b)
			if err == nil && !bytes.Equal(c.encode(), b) {
				t.Fatalf("clock round trip changed the bytes")
			}
		case 2:
			items, err := splitList(b)
			if err != nil {
				return
			}
			var re []byte
			for _, it := range items {
				re = appendListItem(re, it)
				if g, err := decodeGrantRecord(it); err == nil && !bytes.Equal(g.encode(), it) {
					t.Fatalf("grant round trip changed the bytes")
				}
			}
			if !bytes.Equal(re, b) && len(items) > 0 {
				// Non-minimal uvarints are accepted by binary.Uvarint; they
				// are only ever written minimal, so that is fine.
				return
			}
		case 3:
			decodeStats(b)
			decodeU64("x", b)
		}
	})
}
