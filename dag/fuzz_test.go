package dag

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"testing"
)

func seedVectors(f *testing.F, kind string) {
	for _, v := range currentVectors(f) {
		if v.Kind == kind {
			b, _ := hex.DecodeString(v.CBOR)
			f.Add(b)
		}
	}
	for _, v := range currentRejects(f) {
		if v.Kind == kind {
			b, _ := hex.DecodeString(v.CBOR)
			f.Add(b)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0xa0})
}

// FuzzDecodeNode: decoding never panics, and whatever decodes re-encodes to
// the same bytes (so the hash of a node is a function of its value).
func FuzzDecodeNode(f *testing.F) {
	seedVectors(f, "node")
	f.Fuzz(func(t *testing.T, b []byte) {
		// decodeApplied reads bytes DecodeNode accepted before: it must
		// never panic, and on those bytes give the same node.
		quick, qerr := decodeApplied(b)
		n, err := DecodeNode(b)
		if err != nil {
			return
		}
		if qerr != nil || !reflect.DeepEqual(quick, n) {
			t.Fatalf("decodeApplied = %+v, %v; DecodeNode = %+v", quick, qerr, n)
		}
		re, err := n.Marshal()
		if err != nil {
			t.Fatalf("decoded node does not marshal: %v", err)
		}
		if !bytes.Equal(re, b) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", b, re)
		}
	})
}

func FuzzDecodeManifest(f *testing.F) {
	seedVectors(f, "manifest")
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			return
		}
		re, err := m.Marshal()
		if err != nil || !bytes.Equal(re, b) {
			t.Fatalf("re-encoding = %x, %v; want %x", re, err, b)
		}
		_ = m.Verify()
	})
}

func FuzzDecodeCert(f *testing.F) {
	seedVectors(f, "cert")
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCert(b)
		if err != nil {
			return
		}
		re, err := c.Marshal()
		if err != nil || !bytes.Equal(re, b) {
			t.Fatalf("re-encoding = %x, %v; want %x", re, err, b)
		}
		_ = c.Verify()
	})
}

// FuzzDecodeRecords: the DAG's own badger records (log, head) are read
// back from disk, where a damaged store can hold anything: decoding never
// panics and whatever decodes re-encodes to the same bytes.
func FuzzDecodeRecords(f *testing.F) {
	f.Add(append([]byte{0}, logRecord{applied: 3, forkAt: 2, forked: true}.encode()...))
	f.Add(append([]byte{1}, headRecord{seq: 5, applySeq: 9}.encode()...))
	f.Add([]byte{0, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		b := in[1:]
		switch in[0] % 2 {
		case 0:
			r, ok := decodeLogRecord(b)
			if ok && !bytes.Equal(r.encode(), b) {
				t.Fatalf("log record %x re-encodes as %x", b, r.encode())
			}
		case 1:
			if h, ok := decodeHeadRecord(b); ok && !bytes.Equal(h.encode(), b) {
				t.Fatalf("head record %x re-encodes as %x", b, h.encode())
			}
		}
	})
}
