package dag

import (
	"crypto/sha256"
	"strconv"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"indexd/feedtree"
)

func benchNode() *Node { return sampleNodes()["put-full"] }

func BenchmarkNodeMarshal(b *testing.B) {
	n := benchNode()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeNode(b *testing.B) {
	raw, _ := benchNode().Marshal()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeNode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineCBORMarshal is fxamacker/cbor's default (non-canonical)
// encoding of the same wire struct: the cost of canonical form + checks.
func BenchmarkBaselineCBORMarshal(b *testing.B) {
	w := benchNode().wire()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cbor.Marshal(w); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineCBORUnmarshal is a lenient default decode of the same
// bytes: the cost of strict decoding, re-encoding and validation.
func BenchmarkBaselineCBORUnmarshal(b *testing.B) {
	raw, _ := benchNode().Marshal()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		var w wireNode
		if err := cbor.Unmarshal(raw, &w); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineSHA256 hashes the same bytes with SHA-256.
func BenchmarkBaselineSHA256(b *testing.B) {
	raw, _ := benchNode().Marshal()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		sha256.Sum256(raw)
	}
}

func BenchmarkHashNode(b *testing.B) {
	raw, _ := benchNode().Marshal()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		HashNode(raw)
	}
}

// BenchmarkAppend measures Append of batches of puts into one index, per
// node (ns/op is per batch; see nodes/s).
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{1, 16, 256} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			m := testManifest(b)
			d := testDAG(b, Options{})
			d.PutManifest(m)
			a := testAuthor(1)
			ops := make([]Op, batch)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				for j := range ops {
					ops[j] = putOp(i)
					i++
				}
				mustAppend(b, d, m.Key(), a, ops...)
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "nodes/s")
		})
	}
}

// TestAllocations pins the allocation behaviour documented on HashNode and
// the text appenders.
func TestAllocations(t *testing.T) {
	raw, _ := benchNode().Marshal()
	if n := testing.AllocsPerRun(100, func() { HashNode(raw) }); n != 0 {
		t.Errorf("HashNode allocates %v times; want 0", n)
	}
	id := HashNode(raw)
	buf := make([]byte, 0, 80)
	if n := testing.AllocsPerRun(100, func() { id.AppendText(buf[:0]) }); n != 0 {
		t.Errorf("ID.AppendText allocates %v times; want 0", n)
	}
}

// BenchmarkBaselineFeedAppend appends the same node blocks straight to a
// feed in the same badger: the DAG's overhead is Append minus this.
func BenchmarkBaselineFeedAppend(b *testing.B) {
	for _, batch := range []int{1, 16, 256} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			db := openDB(b, b.TempDir())
			defer db.Close()
			a := testAuthor(1)
			f, err := feedtree.OpenFeed(feedtree.NewBadgerStore(db, []byte("f/")), a.Log.Public(), &a.Log)
			if err != nil {
				b.Fatal(err)
			}
			idx := testManifest(b).Key()
			blocks := make([][]byte, batch)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				for j := range blocks {
					n := &Node{Index: idx, Log: a.Log.Public(), Seq: uint64(i + 1), Time: 1, Op: putOp(i)}
					if i > 0 {
						n.Links = []Link{{Log: n.Log, Seq: uint64(i), Hash: testID(1)}}
					}
					blocks[j], _ = n.Marshal()
					i++
				}
				if _, err := f.Append(blocks...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "nodes/s")
		})
	}
}
