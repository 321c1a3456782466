package replicate

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"indexd/dag"
	"indexd/feedtree"
)

func TestFrameRoundTrip(t *testing.T) {
	k, _ := feedtree.GenerateKeyPair(nil)
	d := data{Key: k.Public(), Proof: []byte{1, 2, 3}, Blocks: [][]byte{[]byte("a"), {}, []byte("ccc")}}
	var buf bytes.Buffer
	body := d.appendBody(nil)
	buf.Write(appendFrameHeader(nil, frameData, len(body)))
	buf.Write(body)
	var scratch []byte
	typ, got, n, err := readFrame(bufio.NewReader(&buf), &scratch)
	if err != nil || typ != frameData || n != len(body)+1+uvarintLen(uint64(len(body)+1)) {
		t.Fatalf("readFrame = %d, %d bytes, %v; want a Data frame", typ, n, err)
	}
	dd, err := decodeData(got)
	if err != nil || dd.Key != d.Key || !bytes.Equal(dd.Proof, d.Proof) || len(dd.Blocks) != 3 || string(dd.Blocks[2]) != "ccc" {
		t.Fatalf("decodeData = %+v, %v; want %+v", dd, err, d)
	}
	if _, err := decodeData(append(body, 0)); !errors.Is(err, ErrMalformed) {
		t.Errorf("decodeData(trailing byte) = %v; want ErrMalformed", err)
	}
	var big bytes.Buffer
	big.Write(binary.AppendUvarint(nil, MaxFrame+1))
	if _, _, _, err := readFrame(bufio.NewReader(&big), &scratch); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("readFrame(oversized) = %v; want ErrFrameTooLarge", err)
	}
}

func TestIndexLink(t *testing.T) {
	var raw [32]byte
	raw[0] = 7
	idx := dag.IndexKeyFromBytes(raw)
	addrs := []string{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWPU3Aw7gcc5ivMeoQGqqVoFFuw37J7NKtz7V99tAMKJyM"}
	link := IndexLink(idx, addrs)
	gotIdx, gotAddrs, err := ParseIndexLink(link)
	if err != nil || gotIdx != idx || len(gotAddrs) != 1 || gotAddrs[0] != addrs[0] {
		t.Fatalf("ParseIndexLink(%q) = %v, %v, %v; want %v, %v", link, gotIdx, gotAddrs, err, idx, addrs)
	}
	if got, _, err := ParseIndexLink(idx.String()); err != nil || got != idx {
		t.Errorf("ParseIndexLink(bare key) = %v, %v", got, err)
	}
	for _, bad := range []string{"", "indexd:index:zz", "indexd:" + idx.String() + "?peer=/ip4/1.2.3.4", "indexd:" + idx.String() + "?peer=%zz"} {
		if _, _, err := ParseIndexLink(bad); err == nil {
			t.Errorf("ParseIndexLink(%q) succeeded; want an error", bad)
		}
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "host.key")
	a, err := LoadOrCreateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", st.Mode(), err)
	}
	b, err := LoadOrCreateKey(p)
	if err != nil || !bytes.Equal(a, b) {
		t.Fatalf("second LoadOrCreateKey = %v; want the same key", err)
	}
	os.WriteFile(p, []byte("junk"), 0o600)
	if _, err := LoadOrCreateKey(p); err == nil {
		t.Error("LoadOrCreateKey(junk) succeeded")
	}
}

func FuzzReadFrame(f *testing.F) {
	k, _ := feedtree.GenerateKeyPair(nil)
	d := data{Key: k.Public(), Proof: []byte{1}, Blocks: [][]byte{[]byte("x")}}
	body := d.appendBody(nil)
	f.Add(append(appendFrameHeader(nil, frameData, len(body)), body...))
	h := hello{Count: 3}
	f.Add(append(appendFrameHeader(nil, frameHello, 0), h.appendBody(nil)...))
	f.Add(binary.AppendUvarint(nil, MaxFrame+1))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var scratch []byte
		r := bufio.NewReader(bytes.NewReader(b))
		for {
			typ, body, _, err := readFrame(r, &scratch)
			if err != nil {
				return
			}
			switch typ {
			case frameHello:
				if h, err := decodeHello(body); err == nil {
					if h2, err := decodeHello(h.appendBody(nil)); err != nil || h2 != h {
						t.Fatalf("hello round trip: %v", err)
					}
				}
			case frameData:
				if m, err := decodeData(body); err == nil {
					m2, err := decodeData(m.appendBody(nil))
					if err != nil || m2.Key != m.Key || !bytes.Equal(m2.Proof, m.Proof) || len(m2.Blocks) != len(m.Blocks) {
						t.Fatalf("data round trip: %v", err)
					}
					for i := range m.Blocks {
						if !bytes.Equal(m.Blocks[i], m2.Blocks[i]) {
							t.Fatalf("data round trip: block %d differs", i)
						}
					}
					feedtree.DecodeProof(m.Proof)
				}
			case frameRanges:
				decodeRanges(body)
			case frameWant:
				if w, err := decodeWant(body); err == nil {
					if w2, err := decodeWant(w.appendBody(nil)); err != nil || w2 != w {
						t.Fatalf("want round trip: %v", err)
					}
				}
			case frameError:
				decodeError(body)
			}
		}
	})
}

// FuzzParseIndexLink: links come from other people (chat, web pages):
// parsing never panics, and whatever parses prints back as a link that
// parses to the same index and peers.
func FuzzParseIndexLink(f *testing.F) {
	var raw [32]byte
	raw[0] = 7
	idx := dag.IndexKeyFromBytes(raw)
	f.Add(IndexLink(idx, []string{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWPU3Aw7gcc5ivMeoQGqqVoFFuw37J7NKtz7V99tAMKJyM"}))
	f.Add(idx.String())
	f.Add("indexd:" + idx.String() + "?peer=%zz&peer=")
	f.Fuzz(func(t *testing.T, s string) {
		k, peers, err := ParseIndexLink(s)
		if err != nil {
			return
		}
		if len(peers) > maxLinkPeers {
			t.Fatalf("%d peers parsed, limit %d", len(peers), maxLinkPeers)
		}
		k2, peers2, err := ParseIndexLink(IndexLink(k, peers))
		if err != nil || k2 != k || !slices.Equal(peers, peers2) {
			t.Fatalf("round trip of %q: %v, %q, %v; want %v, %q", s, k2, peers2, err, k, peers)
		}
	})
}
