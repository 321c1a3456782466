package replicate

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"

	"indexd/feedtree"
)

// feedSet is a Feeds of in-memory feeds, as node keeps badger-backed ones.
type feedSet struct {
	mu sync.Mutex
	m  map[feedtree.Key]*feedtree.Feed
}

func (s *feedSet) Feed(k feedtree.Key) (*feedtree.Feed, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.m[k]; ok {
		return f, nil
	}
	return nil, ErrNotFound
}

func (s *feedSet) add(f *feedtree.Feed) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[f.Key()] = f
}

type contentNode struct {
	h     *Host
	feeds *feedSet
}

func newContentNode(t testing.TB) *contentNode {
	t.Helper()
	return newContentNodeOpts(t, Options{})
}

func (n *contentNode) connect(t testing.TB, o *contentNode) {
	t.Helper()
	if err := n.h.Connect(context.Background(), o.h.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
}

// writerFeed makes a writable in-memory feed of n random blocks of size bs.
func writerFeed(t testing.TB, n, bs int) (*feedtree.Feed, [][]byte) {
	t.Helper()
	kp, err := feedtree.GenerateKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := feedtree.OpenFeed(feedtree.NewMemStore(), kp.Public(), &kp)
	if err != nil {
		t.Fatal(err)
	}
	blocks := randomBlocks(n, bs)
	for i := 0; i < n; i += 100 {
		if _, err := f.Append(blocks[i:min(n, i+100)]...); err != nil {
			t.Fatal(err)
		}
	}
	return f, blocks
}

func randomBlocks(n, bs int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, bs)
		rand.Read(out[i])
	}
	return out
}

func replicaOf(t testing.TB, k feedtree.Key, s feedtree.Store) *feedtree.Feed {
	t.Helper()
	if s == nil {
		s = feedtree.NewMemStore()
	}
	f, err := feedtree.OpenFeed(s, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func checkBlocks(t testing.TB, f *feedtree.Feed, want [][]byte, start, end int) {
	t.Helper()
	for i := start; i < end; i++ {
		b, err := f.Get(uint64(i))
		if err != nil || !bytes.Equal(b, want[i]) {
			t.Fatalf("block %d: %v (equal %v)", i, err, bytes.Equal(b, want[i]))
		}
	}
}

func TestContentDownloadTwoPeers(t *testing.T) {
	a, b, c := newContentNode(t), newContentNode(t), newContentNode(t)
	w, blocks := writerFeed(t, 700, 4096)
	a.feeds.add(w)
	// b holds a sparse replica: the first 300 blocks only.
	bf := replicaOf(t, w.Key(), nil)
	b.feeds.add(bf)
	b.connect(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.h.FetchRange(ctx, a.h.ID(), bf, 0, 300); err != nil {
		t.Fatal(err)
	}
	if bf.Length() != 700 || bf.Has(300) {
		t.Fatalf("sparse replica: length %d, has(300) %v", bf.Length(), bf.Has(300))
	}
	c.connect(t, a)
	c.connect(t, b)
	cf := replicaOf(t, w.Key(), nil)
	var calls int
	err := c.h.Download(ctx, cf, []BlockRange{{0, 700}}, []string{a.h.ID(), b.h.ID()}, func(done, total uint64) {
		calls++
		if total != 700 || done > total {
			t.Errorf("progress(%d, %d)", done, total)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	checkBlocks(t, cf, blocks, 0, 700)
	if calls == 0 {
		t.Error("progress never called")
	}
	st := c.h.ContentStats()
	if st.BlocksIn != 700 {
		t.Errorf("BlocksIn = %d; want 700", st.BlocksIn)
	}
	if per := float64(st.ProofBytesIn) / float64(st.BlocksIn); per > 64 {
		t.Errorf("proof bytes per block = %.1f; want <= 64", per)
	}
	// Both peers served: b's sparse half as well.
	if a.h.ContentStats().BlocksOut == 0 || b.h.ContentStats().BlocksOut == 0 {
		t.Logf("served: a %d, b %d", a.h.ContentStats().BlocksOut, b.h.ContentStats().BlocksOut)
	}
	// A second download transfers nothing.
	before := c.h.ContentStats().BlocksIn
	if err := c.h.Download(ctx, cf, []BlockRange{{0, 700}}, []string{a.h.ID()}, nil); err != nil {
		t.Fatal(err)
	}
	if got := c.h.ContentStats().BlocksIn; got != before {
		t.Errorf("second download fetched %d blocks", got-before)
	}
}

func TestContentMissingEverywhere(t *testing.T) {
	a, b := newContentNode(t), newContentNode(t)
	w, _ := writerFeed(t, 50, 1024)
	af := replicaOf(t, w.Key(), nil)
	// a holds blocks [0, 10) only.
	p, _ := w.Proof(0, 10, 0)
	bl := make([][]byte, 10)
	for i := range bl {
		bl[i], _ = w.Get(uint64(i))
	}
	if err := af.Put(p, bl); err != nil {
		t.Fatal(err)
	}
	a.feeds.add(af)
	b.connect(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bf := replicaOf(t, w.Key(), nil)
	err := b.h.FetchRange(ctx, a.h.ID(), bf, 0, 20)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("FetchRange beyond what the peer holds = %v; want ErrNotFound", err)
	}
	checkBlocks(t, bf, bl, 0, 10)
}

func TestContentCorruptPeer(t *testing.T) {
	good, bad, c := newContentNode(t), newContentNode(t), newContentNode(t)
	w, blocks := writerFeed(t, 3000, 1024)
	good.feeds.add(w)
	// bad holds a full, valid replica but its store corrupts every block it reads.
	bs := feedtree.NewMemStore()
	bf := replicaOf(t, w.Key(), bs)
	p, _ := w.Proof(0, 3000, 0)
	if err := bf.Put(p, blocks); err != nil {
		t.Fatal(err)
	}
	cf0, err := feedtree.OpenFeed(corruptAll{bs}, w.Key(), nil)
	if err != nil {
		t.Fatal(err)
	}
	bad.feeds.add(cf0)
	c.connect(t, good)
	c.connect(t, bad)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cf := replicaOf(t, w.Key(), nil)
	if err := c.h.Download(ctx, cf, []BlockRange{{0, 3000}}, []string{bad.h.ID(), good.h.ID()}, nil); err != nil {
		t.Fatal(err)
	}
	checkBlocks(t, cf, blocks, 0, 3000)
	if !c.h.banned(bad.h.h.ID()) {
		t.Errorf("the corrupting peer is not banned; bad served %d, good %d", bad.h.ContentStats().BlocksOut, good.h.ContentStats().BlocksOut)
	}
	if c.h.banned(good.h.h.ID()) {
		t.Error("the good peer is banned")
	}
}

// corruptAll flips a bit in every block read (Get and Scan): in the middle
// of a block record, at the end of a run record (its last block's last
// byte; the start of a run is its header).
type corruptAll struct{ feedtree.Store }

func (s corruptAll) Get(feed feedtree.Key, key, dst []byte) ([]byte, error) {
	v, err := s.Store.Get(feed, key, dst)
	if err == nil {
		v = corrupt(key, v)
	}
	return v, err
}

func (s corruptAll) Scan(feed feedtree.Key, from, to []byte, fn func(key, value []byte) error) error {
	return s.Store.Scan(feed, from, to, func(k, v []byte) error { return fn(k, corrupt(k, v)) })
}

func corrupt(k, v []byte) []byte {
	if len(k) != 9 || len(v) == 0 || k[0] != 'b' && k[0] != 'r' {
		return v
	}
	v = append([]byte(nil), v...)
	if k[0] == 'b' {
		v[len(v)/2] ^= 1
	} else {
		v[len(v)-1] ^= 1
	}
	return v
}

func TestContentLive(t *testing.T) {
	a, b := newContentNode(t), newContentNode(t)
	w, blocks := writerFeed(t, 10, 1000)
	a.feeds.add(w)
	b.connect(t, a)
	bf := replicaOf(t, w.Key(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sctx, scancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.h.Subscribe(sctx, bf, []string{a.h.ID()}) }()
	if _, err := bf.Wait(ctx, 9); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		nb := randomBlocks(1+i%3, 1000)
		blocks = append(blocks, nb...)
		if _, err := w.Append(nb...); err != nil {
			t.Fatal(err)
		}
		if _, err := bf.Wait(ctx, uint64(len(blocks)-1)); err != nil {
			t.Fatalf("append %d: replica did not follow: %v", i, err)
		}
	}
	// Small appends come with their blocks: nothing left to fetch.
	checkBlocks(t, bf, blocks, 10, len(blocks))
	// A long append comes as a head; the blocks are fetched on request.
	big := randomBlocks(300, 1000)
	blocks = append(blocks, big...)
	if _, err := w.Append(big...); err != nil {
		t.Fatal(err)
	}
	if _, err := bf.Wait(ctx, uint64(len(blocks)-1)); err != nil {
		t.Fatal(err)
	}
	if err := b.h.FetchRange(ctx, a.h.ID(), bf, 0, uint64(len(blocks))); err != nil {
		t.Fatal(err)
	}
	checkBlocks(t, bf, blocks, 0, len(blocks))
	scancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Subscribe = %v; want context.Canceled", err)
	}
}

func TestContentFindFeedPeers(t *testing.T) {
	a, b, c := newContentNode(t), newContentNode(t), newContentNode(t)
	w, _ := writerFeed(t, 5, 100)
	a.feeds.add(w)
	c.connect(t, a)
	c.connect(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ps, err := c.h.FindFeedPeers(ctx, w.Key(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].ID != a.h.ID() || ps[0].Length != 5 {
		t.Fatalf("FindFeedPeers = %+v; want only a at length 5", ps)
	}
}
