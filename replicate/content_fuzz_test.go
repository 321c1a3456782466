package replicate

import (
	"testing"
)

// FuzzContentFrames decodes every content-protocol frame body: no panic,
// and decode -> encode -> decode gives the same value (varints may be
// non-minimal on the wire; these frames are never hashed, so that is fine).
func FuzzContentFrames(f *testing.F) {
	o := contentOpen{Flags: openLive, Have: 7}
	f.Add(byte(cOpen), o.appendBody(nil))
	h := contentHead{Length: 9, Proof: []byte{1, 2, 3}}
	f.Add(byte(cHead), h.appendBody(nil))
	r := contentRequest{Start: 3, End: 9, Have: 9}
	f.Add(byte(cRequest), r.appendBody(nil, true))
	f.Add(byte(cMissing), r.appendBody(nil, false))
	d := contentData{Proof: []byte{9}, Blocks: [][]byte{{1}, {}, {2, 3}}}
	f.Add(byte(cData), d.appendBody(nil))
	f.Add(byte(cHave), []byte{0x80, 0x01})
	f.Add(byte(cData), []byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, typ byte, b []byte) {
		switch typ % 6 {
		case 0:
			if o, err := decodeContentOpen(b); err == nil {
				if got, err := decodeContentOpen(o.appendBody(nil)); err != nil || got != o {
					t.Fatalf("open round trip of %x: %v", b, err)
				}
			}
		case 1:
			if h, err := decodeContentHead(b); err == nil {
				if got, err := decodeContentHead(h.appendBody(nil)); err != nil || got.Length != h.Length || string(got.Proof) != string(h.Proof) {
					t.Fatalf("head round trip of %x: %v", b, err)
				}
			}
		case 2:
			if r, err := decodeContentRequest(b, true); err == nil {
				if got, err := decodeContentRequest(r.appendBody(nil, true), true); err != nil || got != r {
					t.Fatalf("request round trip of %x: %v", b, err)
				}
			}
		case 3:
			decodeContentRequest(b, false)
		case 4:
			if m, err := decodeContentData(b); err == nil {
				if got, err := decodeContentData(m.appendBody(nil)); err != nil || len(got.Blocks) != len(m.Blocks) {
					t.Fatalf("data round trip of %x: %v", b, err)
				}
			}
		case 5:
			decodeContentHave(b)
		}
	})
}
