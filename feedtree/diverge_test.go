package feedtree

import (
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"testing"
)

// locateFrom runs the search a replica of history r does against a peer
// holding w: a first self-contained proof at the last block both may hold,
// then one from the middle of each span found, until the point is exact.
func locateFrom(t *testing.T, r, w *Feed) (*ForkProof, int) {
	t.Helper()
	m := min(r.Length(), w.Length()) - 1
	var fp *ForkProof
	probes := 0
	for {
		p, err := w.Proof(m, m+1, 0)
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := w.Get(m)
		probes++
		got, err := r.Locate(p, [][]byte{blk})
		if err != nil {
			t.Fatalf("Locate from block %d: %v", m, err)
		}
		if got == nil {
			if fp == nil {
				t.Fatalf("Locate from block %d found nothing", m)
			}
			t.Fatalf("Locate from block %d lost the span of %+v", m, fp.Div)
		}
		if fp != nil && !got.Narrows(fp) && got.Div.At < fp.Div.At {
			t.Fatalf("probe %d went back: %d after %d", probes, got.Div.At, fp.Div.At)
		}
		fp = got
		next, ok := fp.Div.Probe()
		if !ok {
			return fp, probes
		}
		if probes > 70 {
			t.Fatalf("no exact point after %d probes: %+v", probes, fp.Div)
		}
		m = next
	}
}

func TestLocate(t *testing.T) {
	for _, tc := range []struct{ common, a, b int }{
		{0, 1, 1}, {0, 3, 7}, {5, 9, 9}, {5, 9, 13}, {8, 8 + 1, 12}, {6, 7, 40}, {31, 64, 33}, {100, 300, 257}, {999, 1000, 1024},
	} {
		t.Run(fmt.Sprintf("%d-%d-%d", tc.common, tc.a, tc.b), func(t *testing.T) {
			fa, fb := forkPair(t, tc.common, tc.a, tc.b)
			ra := replicaOf(t, fa)
			fp, probes := locateFrom(t, ra, fb)
			if fp.Div.At != uint64(tc.common) || !fp.Div.Exact() {
				t.Fatalf("divergence at %d (span %d); histories part at %d", fp.Div.At, fp.Div.Span, tc.common)
			}
			if max := bits.Len(uint(min(tc.a, tc.b))) + 1; probes > max {
				t.Errorf("%d probes; want at most %d", probes, max)
			}
			if err := fp.Verify(fa.Key()); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			b, err := fp.AppendBinary(nil)
			if err != nil {
				t.Fatal(err)
			}
			back, err := DecodeForkProof(b)
			if err != nil {
				t.Fatalf("decoding: %v", err)
			}
			if err := back.Verify(fa.Key()); err != nil || back.Div == nil || back.Div.At != fp.Div.At {
				t.Fatalf("decoded proof: %v, %+v", err, back.Div)
			}
			again, _ := back.AppendBinary(nil)
			if string(again) != string(b) {
				t.Error("encoding is not stable")
			}
			// Every byte matters: a flipped one fails to decode or verify.
			for i := range b {
				c := append([]byte(nil), b...)
				c[i] ^= 0x40
				if q, err := DecodeForkProof(c); err == nil && q.Verify(fa.Key()) == nil {
					t.Fatalf("byte %d flipped still verifies", i)
				}
			}
			// The same history on both sides is no fork.
			p, _ := fa.Proof(uint64(tc.a)-1, uint64(tc.a), 0)
			blk, _ := fa.Get(uint64(tc.a) - 1)
			if got, err := ra.Locate(p, [][]byte{blk}); err != nil || got != nil {
				t.Errorf("Locate on its own history = %v, %v; want nil, nil", got, err)
			}
		})
	}
}

func TestLocateRejects(t *testing.T) {
	fa, fb := forkPair(t, 4, 9, 9)
	ra := replicaOf(t, fa)
	p, _ := fb.Proof(8, 9, 0)
	blk, _ := fb.Get(8)
	bad := *p
	bad.Nodes = append([]Node(nil), p.Nodes...)
	bad.Nodes[0].Hash[0] ^= 1
	if _, err := ra.Locate(&bad, [][]byte{blk}); err == nil {
		t.Error("Locate took a proof that does not verify")
	}
	trusting, _ := fb.Proof(8, 9, 8)
	if _, err := ra.Locate(trusting, [][]byte{blk}); !errors.Is(err, ErrBadProof) {
		t.Errorf("Locate of a proof that is not self-contained = %v; want ErrBadProof", err)
	}
	// A Divergence and coarse nodes together are refused.
	fp, _ := locateFrom(t, ra, fb)
	both := *fp
	both.Nodes = []Node{{}}
	if both.Verify(fa.Key()) == nil {
		t.Error("a proof with nodes and a divergence verified")
	}
	if _, err := both.AppendBinary(nil); err == nil {
		t.Error("a proof with nodes and a divergence encoded")
	}
}

// TestCheckDivergence: an author signed three histories. A replica of the
// third, given the proof of where the first two part, finds that its own
// parts from them earlier and proves it.
func TestCheckDivergence(t *testing.T) {
	for _, tc := range []struct {
		c12, c3, n3 int
		lower       bool
	}{
		{8, 4, 12, true},  // parts from both at block 4
		{8, 8, 12, false}, // agrees below 8: the count at 8 holds
		{8, 10, 12, false},
		{13, 2, 20, true},
		{13, 2, 1, false}, // holds too little to tell
	} {
		t.Run(fmt.Sprintf("%d-%d-%d", tc.c12, tc.c3, tc.n3), func(t *testing.T) {
			f1, f2 := forkPair(t, tc.c12, tc.c12+5, tc.c12+7)
			fp, _ := locateFrom(t, replicaOf(t, f1), f2)
			kp := KeyPairFromSeed([32]byte{7})
			f3, _ := OpenFeed(NewMemStore(), kp.Public(), &kp)
			if tc.c3 > 0 {
				f3.Append(blocksN(0, min(tc.c3, tc.n3))...)
			}
			if tc.n3 > tc.c3 {
				f3.Append(blocksN(3000, tc.n3-tc.c3)...)
			}
			r3 := replicaOf(t, f3)
			got, err := r3.CheckDivergence(fp)
			if err != nil {
				t.Fatal(err)
			}
			if (got != nil) != tc.lower {
				t.Fatalf("CheckDivergence = %+v; want a lower proof: %v", got, tc.lower)
			}
			if got == nil {
				return
			}
			if err := got.Verify(kp.Public()); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Div.At > uint64(tc.c3) || !got.Narrows(fp) {
				t.Errorf("lower proof at %d; the third history parts at %d", got.Div.At, tc.c3)
			}
		})
	}
}

// BenchmarkLocate: the probes of a search for where two histories of
// 100,000 blocks part (at block 61,234), each a self-contained proof of
// one block: how many, their bytes, and Locate's time per probe.
func BenchmarkLocate(b *testing.B) {
	const n, common = 100_000, 61_234
	kp := KeyPairFromSeed([32]byte{9})
	fa, _ := OpenFeed(NewMemStore(), kp.Public(), &kp)
	fb, _ := OpenFeed(NewMemStore(), kp.Public(), &kp)
	for _, f := range []*Feed{fa, fb} {
		for i := 0; i < common; i += 1000 {
			f.Append(blocksN(i, min(1000, common-i))...)
		}
	}
	for i := common; i < n; i += 1000 {
		fa.Append(blocksN(1_000_000+i, min(1000, n-i))...)
		fb.Append(blocksN(2_000_000+i, min(1000, n-i))...)
	}
	type probe struct {
		p   *Proof
		blk [][]byte
	}
	var probes []probe
	bytes := 0
	for m := uint64(n - 1); ; {
		p, _ := fb.Proof(m, m+1, 0)
		blk, _ := fb.Get(m)
		pb, _ := p.AppendBinary(nil)
		bytes += len(pb) + len(blk)
		probes = append(probes, probe{p, [][]byte{blk}})
		fp, err := fa.Locate(p, [][]byte{blk})
		if err != nil || fp == nil {
			b.Fatal(err)
		}
		next, ok := fp.Div.Probe()
		if !ok {
			if fp.Div.At != common {
				b.Fatalf("located at %d", fp.Div.At)
			}
			break
		}
		m = next
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pr := probes[i%len(probes)]
		if _, err := fa.Locate(pr.p, pr.blk); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(probes)), "probes")
	b.ReportMetric(float64(bytes), "probe-bytes")
}

// TestLocateRandom: for random shared prefixes and lengths, the probes
// always end at the exact point, within log2 of the shorter length plus
// one, and every intermediate proof verifies and never moves away from it.
func TestLocateRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 7))
	for range 150 {
		common := rng.IntN(200)
		a := common + 1 + rng.IntN(100)
		b := common + 1 + rng.IntN(100)
		fa, fb := forkPair(t, common, a, b)
		ra := replicaOf(t, fa)
		m := min(ra.Length(), fb.Length()) - 1
		for probes := 1; ; probes++ {
			p, _ := fb.Proof(m, m+1, 0)
			blk, _ := fb.Get(m)
			fp, err := ra.Locate(p, [][]byte{blk})
			if err != nil || fp == nil {
				t.Fatalf("%d-%d-%d: Locate from %d = %v, %v", common, a, b, m, fp, err)
			}
			if err := fp.Verify(fa.Key()); err != nil {
				t.Fatalf("%d-%d-%d: %v", common, a, b, err)
			}
			dv := fp.Div
			if dv.At > uint64(common) || dv.At+countLeaves(dv.Span) <= uint64(common) {
				t.Fatalf("%d-%d-%d: span [%d, %d) misses the point", common, a, b, dv.At, dv.At+countLeaves(dv.Span))
			}
			next, ok := dv.Probe()
			if !ok {
				if dv.At != uint64(common) {
					t.Fatalf("%d-%d-%d: exact at %d", common, a, b, dv.At)
				}
				if max := bits.Len(uint(min(a, b))) + 1; probes > max {
					t.Errorf("%d-%d-%d: %d probes; want at most %d", common, a, b, probes, max)
				}
				break
			}
			m = next
		}
	}
}
