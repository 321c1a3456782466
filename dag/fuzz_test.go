package dag

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
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

// FuzzIngestHostileAuthor: an author of an open index signs whatever it
// likes, so its log verifies block by block and only the DAG's own checks
// stand between its nodes and the index. Each exec hands a fresh DAG (its
// own prefix in one badger) the author's certificate and up to three fuzzed
// nodes (seeded with valid ones). Whatever the DAG accepts, the applied
// counter counts exactly the nodes reported applied, nothing applies from a
// range that failed, what was applied reads back, decodes and re-encodes to
// the bytes the author signed and links only applied nodes, and an honest
// author's next node still applies on top. Through Store the same nodes
// apply as through Ingest (see the body).
func FuzzIngestHostileAuthor(f *testing.F) {
	m := testManifest(f)
	idx := m.Key()
	db := openDB(f, f.TempDir())
	f.Cleanup(func() { db.Close() })
	a, honest := testAuthor(2), testAuthor(3)
	node := func(seq uint64, links []Link, op Op) []byte {
		b, err := (&Node{Index: idx, Log: a.Log.Public(), Seq: seq, Links: links, Time: int64(seq), Op: op}).Marshal()
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	n1 := node(1, nil, putOp(1))
	n2 := node(2, []Link{{a.Log.Public(), 1, HashNode(n1)}}, Op{Kind: OpRetract, Target: HashNode(n1)})
	title := "renamed"
	n3 := node(3, []Link{{a.Log.Public(), 2, HashNode(n2)}}, Op{Kind: OpAmend, Target: HashNode(n1), Amend: &Amend{Title: &title}})
	f.Add(n1, n2, n3)
	f.Add(n1, n3, []byte(nil))
	f.Add(n1, n2, []byte{0xa0})
	f.Add(n1, []byte(nil), []byte(nil))
	f.Add(n2, []byte(nil), []byte(nil))
	f.Add(append(bytes.Clone(n1), 0), []byte(nil), []byte(nil))
	// n1 with one small integer in a non-minimal form: it decodes to n1's
	// value, so only the canonical check stands between it and the index.
	for i, c := range n1 {
		if c > 0x17 {
			continue
		}
		long := append(append(bytes.Clone(n1[:i]), 0x18, c), n1[i+1:]...)
		var w wireNode
		if decodeStrict("node", long, &w, MaxNodeSize) != nil {
			continue
		}
		if nd, err := w.checked(); err == nil {
			if b, _ := nd.Marshal(); bytes.Equal(b, n1) {
				f.Add(long, []byte(nil), []byte(nil))
				break
			}
		}
	}
	for _, v := range currentVectors(f) {
		if v.Kind == "node" {
			b, _ := hex.DecodeString(v.CBOR)
			f.Add(n1, b, []byte(nil))
		}
	}
	var execs int
	f.Fuzz(func(t *testing.T, b1, b2, b3 []byte) {
		execs++
		d := testDAGOn(t, db, fmt.Appendf(nil, "z%d/", execs), Options{})
		if err := d.PutManifest(m); err != nil {
			t.Fatal(err)
		}
		w := newWriter(t, a)
		w.append(w.cert(idx))
		for _, b := range [][]byte{b1, b2, b3} {
			if len(b) > 0 && len(b) <= MaxNodeSize {
				w.append(b)
			}
		}
		n, ierr := w.ingest(d, idx, 0, w.feed.Length(), 0)
		c, err := d.Counter(idx)
		if err != nil {
			t.Fatal(err)
		}
		if c != uint64(n) || ierr != nil && n != 0 {
			t.Fatalf("Ingest = %d, %v; the counter says %d applied", n, ierr, c)
		}
		as, err := d.Applied(idx, 0, 10)
		if err != nil {
			t.Fatalf("reading back what was applied: %v", err)
		}
		if len(as) != n {
			t.Fatalf("%d applied nodes read back; Ingest said %d", len(as), n)
		}
		for i, ap := range as {
			signed := mustGet(t, w.feed, uint64(i+1))
			b, err := ap.Node.Marshal()
			if err != nil || !bytes.Equal(b, signed) || ap.Hash != HashNode(signed) {
				t.Fatalf("applied node %d reads back as %x (%v); the author signed %x", i+1, b, err, signed)
			}
			if nd := ap.Node; nd.Index != idx || nd.Log != a.Log.Public() || nd.Seq != uint64(i+1) {
				t.Fatalf("applied node %d names index %v, log %v, seq %d", i+1, nd.Index, nd.Log, nd.Seq)
			}
			for _, l := range ap.Node.Links {
				if _, _, err := d.Node(l.Hash); err != nil {
					t.Fatalf("applied node %d links %v, which is not applied: %v", i+1, l.Hash, err)
				}
			}
		}
		// Store, given the nodes one at a time up to the first it refuses,
		// ends with what Ingest applies given them so: up to the first it
		// refuses, less what waits for a missing ancestor. Given the whole
		// range at once, Store holds it and applies the same, or refuses
		// it (a block that is no node of this log at its place) and holds
		// nothing.
		one := testDAGOn(t, db, fmt.Appendf(nil, "o%d/", execs), Options{})
		each := testDAGOn(t, db, fmt.Appendf(nil, "e%d/", execs), Options{})
		whole := testDAGOn(t, db, fmt.Appendf(nil, "w%d/", execs), Options{})
		for _, x := range []*DAG{one, each, whole} {
			x.PutManifest(m)
		}
		rangeOf := func(start, end, have uint64) Range {
			p, _ := w.feed.Proof(start, end, have)
			blocks, _ := w.feed.GetRange(start, end, nil)
			return Range{Log: a.Log.Public(), Proof: p, Blocks: blocks}
		}
		for _, x := range []*DAG{one, each} {
			for i := range w.feed.Length() {
				have := w.feed.Length() // the replica trusts the head the first range brought
				if i == 0 {
					have = 0
				}
				r := rangeOf(i, i+1, have)
				var err error
				if x == one {
					_, err = x.Ingest(context.Background(), idx, r.Log, r.Proof, r.Blocks)
				} else {
					err = x.Store(context.Background(), idx, []Range{r})[0]
				}
				if err != nil {
					break
				}
			}
		}
		drained(t, each, idx)
		want := appliedIDs(t, one, idx)
		if got := appliedIDs(t, each, idx); !slices.Equal(got, want) {
			t.Fatalf("Store node by node applied %d nodes; Ingest node by node applies %d", len(got), len(want))
		}
		werr := whole.Store(context.Background(), idx, []Range{rangeOf(0, w.feed.Length(), 0)})[0]
		drained(t, whole, idx)
		switch held, _ := whole.Held(idx); {
		case werr == nil:
			if got := appliedIDs(t, whole, idx); !slices.Equal(got, want) {
				t.Fatalf("Store of the whole range applied %d nodes; Ingest node by node applies %d", len(got), len(want))
			}
		case !errors.Is(werr, ErrBadNode) && !errors.Is(werr, ErrTooLarge):
			t.Fatalf("Store of a range its author signed: %v; want it held, or refused as not a node of the log", werr)
		case held != 0:
			t.Fatalf("Store refused the range (%v) but holds %d nodes", werr, held)
		}
		if _, err := d.Append(context.Background(), idx, honest, putOp(7)); err != nil {
			t.Fatalf("an honest author's node after the hostile log: %v", err)
		}
		if c2, _ := d.Counter(idx); c2 != c+1 {
			t.Fatalf("the honest node did not apply: counter %d -> %d", c, c2)
		}
	})
}
