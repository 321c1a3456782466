package feedtree

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

func openBadger(t testing.TB, dir string) *badger.DB {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func blocksN(from, n int) [][]byte {
	bs := make([][]byte, n)
	for i := range bs {
		bs[i] = fmt.Appendf(nil, "block-%d", from+i)
	}
	return bs
}

func TestFeedPersistence(t *testing.T) {
	dir := t.TempDir()
	db := openBadger(t, dir)
	kp := KeyPairFromSeed([32]byte{1})
	f, err := OpenFeed(NewBadgerStore(db, []byte("ft/")), kp.Public(), &kp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Append(blocksN(0, 5)...); err != nil {
		t.Fatal(err)
	}
	h, err := f.Append(blocksN(5, 6)...)
	if err != nil {
		t.Fatal(err)
	}
	roots := f.Roots()
	f.Close()
	if _, err := f.Append([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v; want ErrClosed", err)
	}
	db.Close()

	db = openBadger(t, dir)
	defer db.Close()
	s := NewBadgerStore(db, []byte("ft/"))
	f, err = OpenFeed(s, kp.Public(), &kp)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Head() != h || f.Length() != 11 {
		t.Fatalf("reopened head = %+v; want %+v", f.Head(), h)
	}
	if got := f.Roots(); fmt.Sprint(got) != fmt.Sprint(roots) {
		t.Errorf("reopened roots = %v; want %v", got, roots)
	}
	for i, want := range blocksN(0, 11) {
		if got, err := f.Get(uint64(i)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("Get(%d) = %q, %v; want %q", i, got, err, want)
		}
	}
	h2, err := f.Append(blocksN(11, 1)...)
	if err != nil || h2.Length != 12 {
		t.Fatalf("Append after reopen = %+v, %v", h2, err)
	}
	// Another feed in the same store is independent; a read-only open sees the head.
	ro, err := OpenFeed(s, kp.Public(), nil)
	if err != nil || ro.Writable() || ro.Head() != h2 {
		t.Fatalf("read-only open = %+v, %v", ro.Head(), err)
	}
	if _, err := ro.Append([]byte("x")); !errors.Is(err, ErrNotWritable) {
		t.Errorf("Append on a replica = %v; want ErrNotWritable", err)
	}
	other := KeyPairFromSeed([32]byte{2})
	of, _ := OpenFeed(s, other.Public(), nil)
	if of.Length() != 0 || of.Has(0) {
		t.Errorf("another feed sees length %d", of.Length())
	}
	if _, err := OpenFeed(s, other.Public(), &kp); err == nil {
		t.Error("OpenFeed with a key pair of another key succeeded")
	}
}

// TestFeedReplicate: a contiguous replica catches up in ranges with one
// proof each, and a sparse replica fetches random blocks; both serve
// proofs of what they hold.
func TestFeedReplicate(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	w := newTestFeed(t, r, 300)
	db := openBadger(t, t.TempDir())
	defer db.Close()
	store := NewBadgerStore(db, []byte{0x01})

	// Contiguous: ranges [have, have+k).
	c, err := OpenFeed(store, w.f.Key(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for c.Length() < 300 {
		have := c.Length()
		end := min(300, have+uint64(1+r.IntN(70)))
		// The writer's proof at its current head covers [have, end).
		p, err := w.f.Proof(have, end, have)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Put(p, w.blocks[have:end]); err != nil {
			t.Fatalf("Put [%d, %d): %v", have, end, err)
		}
		if c.Length() != 300 {
			t.Fatalf("after Put the replica has length %d; want 300 (the proof's head)", c.Length())
		}
		// Already at the head: later ranges are proven against it.
		for c.Length() == 300 && end < 300 {
			e2 := min(300, end+uint64(1+r.IntN(70)))
			p, err := w.f.Proof(end, e2, 300)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Put(p, w.blocks[end:e2]); err != nil {
				t.Fatalf("Put [%d, %d) at head: %v", end, e2, err)
			}
			end = e2
		}
	}
	if c.Head() != w.f.Head() {
		t.Fatalf("replica head %+v; want %+v", c.Head(), w.f.Head())
	}
	for i := range uint64(300) {
		if !c.Has(i) {
			t.Fatalf("replica lacks block %d", i)
		}
	}
	// It serves proofs like the writer.
	for range 20 {
		s := uint64(r.IntN(300))
		e := s + uint64(r.IntN(300-int(s)+1))
		have := uint64(r.IntN(301))
		p1, err1 := w.f.Proof(s, e, have)
		p2, err2 := c.Proof(s, e, have)
		if err1 != nil || err2 != nil || fmt.Sprint(p1) != fmt.Sprint(p2) {
			t.Fatalf("replica Proof(%d, %d, %d) = %v, %v; writer %v, %v", s, e, have, p2, err2, p1, err1)
		}
	}

	// Sparse: a head-only upgrade, then single blocks.
	sp, err := OpenFeed(store, w.f.Key(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = sp
	sstore := NewMemStore()
	sp, _ = OpenFeed(sstore, w.f.Key(), nil)
	p, _ := w.f.Proof(0, 0, 0)
	if err := sp.PutHead(p.Head, p); err != nil {
		t.Fatalf("PutHead: %v", err)
	}
	if sp.Length() != 300 {
		t.Fatalf("sparse length %d", sp.Length())
	}
	held := map[uint64]bool{}
	for range 40 {
		i := uint64(r.IntN(300))
		p, err := w.f.Proof(i, i+1, 300)
		if err != nil {
			t.Fatal(err)
		}
		if err := sp.Put(p, w.blocks[i:i+1]); err != nil {
			t.Fatalf("sparse Put %d: %v", i, err)
		}
		held[i] = true
		// A bad block is refused and not stored.
		j := (i + 1) % 300
		if !held[j] {
			p, _ := w.f.Proof(j, j+1, 300)
			if err := sp.Put(p, [][]byte{[]byte("forged")}); err == nil || sp.Has(j) {
				t.Fatalf("sparse Put of a forged block %d = %v", j, err)
			}
		}
	}
	for i := range uint64(300) {
		if sp.Has(i) != held[i] {
			t.Fatalf("sparse Has(%d) = %v; want %v", i, sp.Has(i), held[i])
		}
		if held[i] {
			p, err := sp.Proof(i, i+1, 300)
			if err != nil {
				t.Fatalf("sparse Proof(%d): %v", i, err)
			}
			if _, err := VerifyProof(sp.Key(), p, w.roots(300), w.blocks[i:i+1]); err != nil {
				t.Fatalf("sparse proof of %d: %v", i, err)
			}
		} else if _, err := sp.Get(i); !errors.Is(err, ErrNotFound) {
			t.Fatalf("sparse Get(%d) = %v; want ErrNotFound", i, err)
		}
	}
}

// forkPair returns two writers holding the same key pair, sharing the
// first common blocks and then diverging to lengths a and b.
func forkPair(t *testing.T, common, a, b int) (*Feed, *Feed) {
	kp := KeyPairFromSeed([32]byte{7})
	fa, _ := OpenFeed(NewMemStore(), kp.Public(), &kp)
	fb, _ := OpenFeed(NewMemStore(), kp.Public(), &kp)
	if common > 0 {
		fa.Append(blocksN(0, common)...)
		fb.Append(blocksN(0, common)...)
	}
	if a > common {
		fa.Append(blocksN(1000, a-common)...)
	}
	if b > common {
		fb.Append(blocksN(2000, b-common)...)
	}
	return fa, fb
}

func replicaOf(t *testing.T, w *Feed) *Feed {
	r, _ := OpenFeed(NewMemStore(), w.Key(), nil)
	p, err := w.Proof(0, w.Length(), 0)
	if err != nil {
		t.Fatal(err)
	}
	bs := make([][]byte, w.Length())
	for i := range bs {
		bs[i], _ = w.Get(uint64(i))
	}
	if err := r.Put(p, bs); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFork(t *testing.T) {
	for _, tc := range []struct{ common, a, b int }{{5, 9, 9}, {5, 9, 13}, {0, 3, 7}, {8, 8, 12}, {6, 7, 40}} {
		t.Run(fmt.Sprintf("%d-%d-%d", tc.common, tc.a, tc.b), func(t *testing.T) {
			fa, fb := forkPair(t, tc.common, tc.a, tc.b)
			ra, rb := replicaOf(t, fa), replicaOf(t, fb)
			var err error
			if tc.a == tc.b {
				// Same length, different tree: the heads themselves conflict.
				p, _ := fb.Proof(0, 1, uint64(tc.a))
				err = ra.Put(p, blocksN(0, 1))
			} else {
				// The holder of the longer history learns the shorter head.
				err = rb.PutHead(fa.Head(), nil)
				if tc.a == tc.common {
					if err != nil {
						t.Fatalf("PutHead of a prefix head = %v; want nil", err)
					}
					return
				}
			}
			var fe *ForkError
			if !errors.As(err, &fe) || !errors.Is(err, ErrForked) {
				t.Fatalf("conflicting head = %v; want *ForkError", err)
			}
			if err := fe.Proof.Verify(fa.Key()); err != nil {
				t.Fatalf("fork proof does not verify: %v", err)
			}
			enc, err := fe.Proof.AppendBinary(nil)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := DecodeForkProof(enc)
			if err != nil || dec.Verify(fa.Key()) != nil {
				t.Fatalf("decoded fork proof: %v", err)
			}
			// Tampered evidence does not verify.
			for i := range dec.Nodes {
				bad := *dec
				bad.Nodes = append([]Node(nil), dec.Nodes...)
				bad.Nodes[i].Hash[3] ^= 4
				if bad.Verify(fa.Key()) == nil {
					t.Fatalf("fork proof verifies with node %d flipped", i)
				}
			}
			// The forked replica refuses the other history still, and takes
			// what fits its own; another learns the proof.
			holder, own, other := ra, fa, fb
			if tc.a != tc.b {
				holder, own, other = rb, fb, fa
			}
			if err := holder.PutHead(other.Head(), nil); !errors.Is(err, ErrForked) {
				t.Errorf("PutHead of the other head after a fork = %v; want ErrForked", err)
			}
			p, _ := own.Proof(0, 1, own.Length())
			b0, _ := own.Get(0)
			if err := holder.Put(p, [][]byte{b0}); err != nil {
				t.Errorf("Put of its own history after a fork = %v; want nil", err)
			}
			if holder.Fork() == nil {
				t.Error("fork not recorded")
			}
			third := replicaOf(t, fa)
			if err := third.AddForkProof(dec); err != nil {
				t.Fatal(err)
			}
			// It still takes what fits its history, not the other one.
			if err := third.PutHead(fa.Head(), nil); err != nil {
				t.Errorf("PutHead of its own head after AddForkProof = %v; want nil", err)
			}
			if tc.b <= tc.a {
				if err := third.PutHead(fb.Head(), nil); !errors.Is(err, ErrForked) {
					t.Errorf("PutHead of the other head after AddForkProof = %v; want ErrForked", err)
				}
			}
			if err := third.ResolveFork(); err != nil || third.Fork() != nil {
				t.Errorf("after ResolveFork: %v", err)
			}
		})
	}
	// Heads of one history are no fork.
	fa, _ := forkPair(t, 4, 4, 4)
	h4 := fa.Head()
	fa.Append(blocksN(4, 3)...)
	if err := (&ForkProof{A: h4, B: fa.Head()}).Verify(fa.Key()); err == nil {
		t.Error("ForkProof of two heads of one history verifies")
	}
	// The shorter side cannot prove the fork from a longer head's upgrade, and
	// says the proof does not match rather than storing anything.
	fa, fb := forkPair(t, 3, 6, 9)
	ra := replicaOf(t, fa)
	p, _ := fb.Proof(6, 9, 6)
	bs := make([][]byte, 3)
	for i := range bs {
		bs[i], _ = fb.Get(uint64(6 + i))
	}
	var me *MismatchError
	if err := ra.Put(p, bs); !errors.As(err, &me) || ra.Length() != 6 || ra.Has(6) {
		t.Errorf("Put of a diverging longer head = %v (length %d); want *MismatchError", err, ra.Length())
	}
}

func TestFeedWait(t *testing.T) {
	kp := KeyPairFromSeed([32]byte{3})
	f, _ := OpenFeed(NewMemStore(), kp.Public(), &kp)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan Head, 1)
	go func() {
		h, err := f.Wait(ctx, 2)
		if err != nil {
			t.Error(err)
		}
		got <- h
	}()
	f.Append(blocksN(0, 2)...)
	f.Append(blocksN(2, 1)...)
	select {
	case h := <-got:
		if h.Length != 3 {
			t.Errorf("Wait(2) = length %d; want 3", h.Length)
		}
	case <-ctx.Done():
		t.Fatal("Wait did not return")
	}
	short, c2 := context.WithCancel(context.Background())
	c2()
	if _, err := f.Wait(short, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with a cancelled ctx = %v", err)
	}
	errc := make(chan error, 1)
	go func() { _, err := f.Wait(ctx, 10); errc <- err }()
	f.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("Wait across Close = %v; want ErrClosed", err)
	}
}

// TestFeedConcurrent runs readers beside one writer (run with -race).
func TestFeedConcurrent(t *testing.T) {
	db := openBadger(t, t.TempDir())
	defer db.Close()
	kp := KeyPairFromSeed([32]byte{4})
	f, _ := OpenFeed(NewBadgerStore(db, nil), kp.Public(), &kp)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				h := f.Head()
				if h.Length == 0 {
					continue
				}
				if err := h.Verify(f.Key()); err != nil {
					t.Error(err)
					return
				}
				i := uint64(r) % h.Length
				if _, err := f.Get(i); err != nil {
					t.Error(err)
					return
				}
				if _, err := f.Proof(i, i+1, h.Length); err != nil && !errors.Is(err, ErrBadProof) {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := range 200 {
		if _, err := f.Append(blocksN(i*3, 3)...); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if f.Length() != 600 {
		t.Fatalf("length %d", f.Length())
	}
}

// TestFeedConcurrentPut stores ranges from several goroutines at once, some
// under the trusted head (the shared-lock path), one upgrading the head
// meanwhile and one sending a corrupt block, and checks the replica ends
// up exactly the writer's feed with nothing corrupt stored.
func TestFeedConcurrentPut(t *testing.T) {
	for _, size := range []int{40, 64 << 10} { // small, and large enough to hash leaves on several cores
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			r := rand.New(rand.NewPCG(21, uint64(size)))
			kp := KeyPairFromSeed([32]byte{9})
			w, _ := OpenFeed(NewMemStore(), kp.Public(), &kp)
			var blocks [][]byte
			add := func(n int) {
				for range n {
					b := make([]byte, 1+r.IntN(size))
					for k := range b {
						b[k] = byte(r.Uint32())
					}
					blocks = append(blocks, b)
				}
				if _, err := w.Append(blocks[len(blocks)-n:]...); err != nil {
					t.Fatal(err)
				}
			}
			add(96)
			db := openBadger(t, t.TempDir())
			defer db.Close()
			c, _ := OpenFeed(NewBadgerStore(db, nil), w.Key(), nil)
			hp, _ := w.Proof(0, 0, 0)
			if err := c.Put(hp, nil); err != nil {
				t.Fatal(err)
			}
			first := w.Length()
			// src holds the feed at length first, to prove ranges at that
			// head after the writer has grown.
			src, _ := OpenFeed(NewMemStore(), w.Key(), nil)
			if p, _ := w.Proof(0, first, 0); src.Put(p, blocks) != nil {
				t.Fatal("src")
			}
			add(96)
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			put := func(start, end, have uint64) {
				defer wg.Done()
				p, err := src.Proof(start, end, have)
				if err == nil {
					err = c.Put(p, blocks[start:end])
				}
				if err != nil {
					errs <- fmt.Errorf("Put [%d, %d) from %d: %w", start, end, have, err)
				}
			}
			for s := uint64(0); s < first; s += 8 {
				wg.Add(1)
				go put(s, s+8, first)
			}
			wg.Add(1)
			go func() { // the upgrade, racing the ranges above
				defer wg.Done()
				p, _ := w.Proof(first, first, first)
				if err := c.Put(p, nil); err != nil {
					errs <- fmt.Errorf("upgrade: %w", err)
				}
			}()
			wg.Add(1)
			go func() { // a corrupt block under the trusted head
				defer wg.Done()
				p, _ := src.Proof(8, 16, first)
				bad := append([][]byte(nil), blocks[8:16]...)
				bad[3] = append([]byte{0xff}, bad[3]...)
				if err := c.Put(p, bad); err == nil {
					errs <- errors.New("a corrupt block was accepted")
				}
			}()
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			// The rest, at the upgraded head.
			for s := first; s < w.Length(); s += 16 {
				p, _ := w.Proof(s, s+16, w.Length())
				if err := c.Put(p, blocks[s:s+16]); err != nil {
					t.Fatal(err)
				}
			}
			if c.Head() != w.Head() {
				t.Fatalf("replica head %+v; want %+v", c.Head(), w.Head())
			}
			for i := range blocks {
				got, err := c.Get(uint64(i))
				if err != nil || !bytes.Equal(got, blocks[i]) {
					t.Fatalf("block %d: %v (equal %v)", i, err, bytes.Equal(got, blocks[i]))
				}
			}
			if p, err := c.Proof(0, w.Length(), 0); err != nil {
				t.Fatal(err)
			} else if _, err := NewMemFeedFromProof(t, w.Key(), p, blocks); err != nil {
				t.Fatalf("the replica's own proof does not verify: %v", err)
			}
		})
	}
}

// NewMemFeedFromProof puts p and blocks into a fresh in-memory replica.
func NewMemFeedFromProof(t *testing.T, k Key, p *Proof, blocks [][]byte) (*Feed, error) {
	t.Helper()
	f, _ := OpenFeed(NewMemStore(), k, nil)
	return f, f.Put(p, blocks[p.Start:p.End])
}

func TestFeedGetRange(t *testing.T) {
	db := openBadger(t, t.TempDir())
	defer db.Close()
	for name, store := range map[string]Store{"mem": NewMemStore(), "badger": NewBadgerStore(db, []byte{7})} {
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(5, 6))
			w := newTestFeed(t, r, 40)
			// A sparse replica: blocks [0, 10) and [20, 30).
			c, _ := OpenFeed(store, w.f.Key(), nil)
			for _, rg := range [][2]uint64{{0, 10}, {20, 30}} {
				p, err := w.f.Proof(rg[0], rg[1], c.Length())
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Put(p, w.blocks[rg[0]:rg[1]]); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range []struct{ start, end, want uint64 }{
				{0, 10, 10}, {0, 40, 10}, {3, 7, 4}, {5, 5, 0}, {7, 3, 0},
				{10, 20, 0}, {15, 25, 0}, {20, 40, 10}, {25, 28, 3}, {29, 1 << 40, 1},
			} {
				got, err := c.GetRange(tc.start, tc.end, nil)
				if err != nil {
					t.Fatalf("[%d, %d): %v", tc.start, tc.end, err)
				}
				if uint64(len(got)) != tc.want {
					t.Fatalf("[%d, %d): %d blocks; want %d", tc.start, tc.end, len(got), tc.want)
				}
				for j, b := range got {
					if !bytes.Equal(b, w.blocks[tc.start+uint64(j)]) {
						t.Fatalf("[%d, %d): block %d differs", tc.start, tc.end, tc.start+uint64(j))
					}
				}
			}
		})
	}
}

// nodeRecords counts the records of parent nodes of feed k in s (leaf
// records are the roots of odd lengths, and leaves of blocks not held).
func nodeRecords(t *testing.T, s Store, k Key) int {
	t.Helper()
	n := 0
	if err := s.Iterate(k, []byte{recNode}, func(k, _ []byte) error { n += int(k[len(k)-1] & 1); return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestImplicitNodes: low parents over small stored blocks are not stored
// (a writer of 1,000 small blocks keeps about one node record per 8 blocks,
// not one per block), yet every proof a cold replica builds from the store
// holds the reference tree's nodes and verifies — on the writer, on a
// replica filled in unaligned ranges, and on a sparse replica, which keeps
// the low parents over blocks it lacks. Large blocks keep every parent.
func TestImplicitNodes(t *testing.T) {
	const n = 1000
	kp := KeyPairFromSeed([32]byte{21})
	ws := NewMemStore()
	w, blocks := dagShapedFeed(t, ws, kp, n)
	ref := refTree(blocks)
	// Parents of depth 4 and up: about n/16 + n/32 + … = n/8 (the roots
	// of lengths 16k+1 are those and a leaf).
	if got := nodeRecords(t, ws, w.Key()); got > n/8 {
		t.Errorf("writer stores %d node records for %d small blocks; want at most %d", got, n, n/8)
	}

	// checkProofs builds, from a cold replica of s, the proof of each range
	// of k blocks it holds and checks its nodes against the reference.
	checkProofs := func(t *testing.T, s Store, held func(i uint64) bool) {
		t.Helper()
		for _, k := range []uint64{1, 3, 16, 17} {
			c, err := OpenFeed(s, kp.Public(), nil)
			if err != nil {
				t.Fatal(err)
			}
			for start := uint64(0); start+k <= n; start += k {
				all := true
				for i := start; i < start+k; i++ {
					all = all && held(i)
				}
				for _, have := range []uint64{start, n} {
					if !all {
						continue
					}
					p, err := c.Proof(start, start+k, have)
					if err != nil {
						t.Fatalf("proof of [%d, %d) from %d: %v", start, start+k, have, err)
					}
					for _, nd := range p.Nodes {
						if nd != ref[nd.Index] {
							t.Fatalf("proof of [%d, %d): node %d differs from the reference", start, start+k, nd.Index)
						}
					}
				}
			}
		}
	}
	t.Run("writer", func(t *testing.T) { checkProofs(t, ws, func(uint64) bool { return true }) })

	// A replica fed contiguous ranges of random sizes, by Put and by
	// PutContiguous: the latter also leaves out the parents joining each
	// range to the blocks before it, so it stores about what the writer
	// does.
	replica := func(t *testing.T, put func(*Feed, *Proof, [][]byte) error) int {
		s := NewMemStore()
		c, err := OpenFeed(s, kp.Public(), nil)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(21, 22))
		for have := uint64(0); have < n; {
			end := min(n, have+uint64(1+r.IntN(40)))
			p, err := w.Proof(have, end, c.Length())
			if err != nil {
				t.Fatal(err)
			}
			if err := put(c, p, blocks[have:end]); err != nil {
				t.Fatalf("Put [%d, %d): %v", have, end, err)
			}
			have = end
		}
		checkProofs(t, s, func(uint64) bool { return true })
		return nodeRecords(t, s, c.Key())
	}
	var viaPut int // node records of the replica fed by Put
	t.Run("replica", func(t *testing.T) {
		viaPut = replica(t, (*Feed).Put)
		t.Logf("replica: %d node records", viaPut)
		if viaPut > n/2 {
			t.Errorf("replica stores %d node records for %d small blocks; want at most %d", viaPut, n, n/2)
		}
	})
	t.Run("contiguous replica", func(t *testing.T) {
		contiguous := replica(t, (*Feed).PutContiguous)
		t.Logf("contiguous replica: %d node records", contiguous)
		// The roots of each head it was given stay stored (see
		// implicitDepth): about three per range here.
		if contiguous > 3*n/10 || contiguous >= viaPut {
			t.Errorf("contiguous replica stores %d node records for %d small blocks (Put: %d); want at most %d and fewer than Put", contiguous, n, viaPut, 3*n/10)
		}
	})

	t.Run("sparse", func(t *testing.T) {
		s := NewMemStore()
		c, err := OpenFeed(s, kp.Public(), nil)
		if err != nil {
			t.Fatal(err)
		}
		ranges := [][2]uint64{{100, 104}, {101, 102}, {500, 501}, {509, 530}, {999, 1000}}
		held := map[uint64]bool{}
		for _, rg := range ranges {
			p, err := w.Proof(rg[0], rg[1], c.Length())
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Put(p, blocks[rg[0]:rg[1]]); err != nil {
				t.Fatalf("Put %v: %v", rg, err)
			}
			for i := rg[0]; i < rg[1]; i++ {
				held[i] = true
			}
		}
		checkProofs(t, s, func(i uint64) bool { return held[i] })
		if _, err := c.Proof(0, 1, n); !errors.Is(err, ErrNotFound) {
			t.Errorf("proof of a block the sparse replica lacks: %v; want ErrNotFound", err)
		}
	})

	t.Run("large blocks", func(t *testing.T) {
		s := NewMemStore()
		kp := KeyPairFromSeed([32]byte{22})
		f, err := OpenFeed(s, kp.Public(), &kp)
		if err != nil {
			t.Fatal(err)
		}
		for range 64 {
			if _, err := f.Append(bytes.Repeat([]byte{1}, 8<<10)); err != nil {
				t.Fatal(err)
			}
		}
		if got := nodeRecords(t, s, f.Key()); got != 63 {
			t.Errorf("%d node records for 64 blocks of 8 KiB; want all 63 parents", got)
		}
	})
}

// dagShapedFeed writes n small blocks to a writable feed of kp in s as a DAG
// author does: a certificate, then batches of 16.
func dagShapedFeed(t *testing.T, s Store, kp KeyPair, n int) (*Feed, [][]byte) {
	t.Helper()
	w, err := OpenFeed(s, kp.Public(), &kp)
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]byte
	for len(blocks) < n {
		batch := blocksN(len(blocks), min(16, n-len(blocks)))
		if len(blocks) == 0 {
			batch = batch[:1]
		}
		if _, err := w.Append(batch...); err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, batch...)
	}
	return w, blocks
}

// TestCheckFork: the holder of the shorter history learns a longer
// conflicting head from a self-contained proof of the blocks past its own
// length, which carries the other history's roots at that length; a head
// that extends its history is no fork, and a proof that is not
// self-contained or does not verify is refused without recording anything.
func TestCheckFork(t *testing.T) {
	for _, tc := range []struct{ common, a, b int }{{3, 6, 9}, {0, 1, 2}, {5, 7, 8}, {6, 7, 40}, {4, 12, 13}} {
		t.Run(fmt.Sprintf("%d-%d-%d", tc.common, tc.a, tc.b), func(t *testing.T) {
			fa, fb := forkPair(t, tc.common, tc.a, tc.b)
			ra := replicaOf(t, fa)
			n := uint64(tc.a)
			p, _ := fb.Proof(n, n+1, 0)
			blk, _ := fb.Get(n)
			bad := *p
			bad.Nodes = append([]Node(nil), p.Nodes...)
			bad.Nodes[0].Hash[0] ^= 1
			upgrade, _ := fb.Proof(n, n+1, n)
			for _, q := range []*Proof{&bad, upgrade} {
				if err := ra.CheckFork(q, [][]byte{blk}); err == nil || errors.Is(err, ErrForked) || ra.Fork() != nil {
					t.Fatalf("CheckFork of a bad proof = %v (fork %v); want an error, no fork", err, ra.Fork())
				}
			}
			err := ra.CheckFork(p, [][]byte{blk})
			var fe *ForkError
			if !errors.As(err, &fe) {
				t.Fatalf("CheckFork = %v; want *ForkError", err)
			}
			if fe.Proof.A != fa.Head() || fe.Proof.B != fb.Head() || fe.Proof.Verify(fa.Key()) != nil {
				t.Errorf("fork proof %+v does not prove the two heads", fe.Proof)
			}
			if ra.Fork() == nil {
				t.Error("fork not recorded")
			}
		})
	}
	// A longer head of the same history extends it.
	fa, _ := forkPair(t, 4, 4, 4)
	ra := replicaOf(t, fa)
	fa.Append(blocksN(4, 3)...)
	p, _ := fa.Proof(4, 5, 0)
	blk, _ := fa.Get(4)
	if err := ra.CheckFork(p, [][]byte{blk}); err != nil || ra.Fork() != nil {
		t.Errorf("CheckFork of a head extending the history = %v; want nil", err)
	}
}
