package replicate

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"indexd/feedtree"
)

// readCounter counts the point reads of a Store.
type readCounter struct {
	feedtree.Store
	gets int
}

func (s *readCounter) Get(feed feedtree.Key, key, dst []byte) ([]byte, error) {
	s.gets++
	return s.Store.Get(feed, key, dst)
}

// TestPushProofsFromMemory pushes a 1,000-block log in unaligned chunks, as a
// fresh catch-up of interleaved authors does, through pushState's node
// window and in-memory leaves: every proof must equal the one Feed.Proof
// builds from the store, and the store must be read far less than once per
// proof node (the window is one ordered scan; a chunk's proof carries
// several nodes, two of them leaves beside the chunk): at most half the
// point reads the same proofs take from a feed's own node cache and store.
func TestPushProofsFromMemory(t *testing.T) {
	kp := feedtree.KeyPairFromSeed([32]byte{9})
	rc := &readCounter{Store: feedtree.NewMemStore()}
	f, err := feedtree.OpenFeed(rc, kp.Public(), &kp)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	for i := 0; i < n; i++ {
		if _, err := f.Append([]byte(fmt.Sprintf("block %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, chunk := range []uint64{1, 16, 17, 100, 256} {
		t.Run(fmt.Sprint(chunk), func(t *testing.T) {
			// Both feeds are fresh replicas of the log, with empty caches.
			f, err := feedtree.OpenFeed(rc, kp.Public(), nil)
			if err != nil {
				t.Fatal(err)
			}
			base := &readCounter{Store: rc.Store}
			g, err := feedtree.OpenFeed(base, kp.Public(), nil)
			if err != nil {
				t.Fatal(err)
			}
			ps := &pushState{feed: f, next: 0, end: n}
			rc.gets = 0
			for ps.next < ps.end {
				start, before := ps.next, ps.behind
				var blocks [][]byte
				for uint64(len(blocks)) < chunk && ps.peek() {
					blocks = append(blocks, ps.pop())
				}
				end := start + uint64(len(blocks))
				ps.topUp()
				ps.window(start, end)
				got, err := f.ProofWith(start, end, n, func(x uint64) (feedtree.Node, bool) {
					return ps.known(x, start, before)
				})
				if err != nil {
					t.Fatal(err)
				}
				ps.pushed(blocks)
				want, err := g.Proof(start, end, n)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("proof of [%d, %d) from memory differs from the store's", start, end)
				}
				if _, err := feedtree.VerifyProof(f.Key(), got, f.Roots(), blocks); err != nil {
					t.Fatalf("proof of [%d, %d): %v", start, end, err)
				}
			}
			if rc.gets*2 > base.gets {
				t.Errorf("%d point reads, %d without the window and leaves; want at most half", rc.gets, base.gets)
			}
			t.Logf("%d point reads, %d without", rc.gets, base.gets)
		})
	}
}

// TestPushQueueMerge drives the session's push queue as writeLoop does,
// with random block times (non-decreasing within a log, often equal across
// logs) and pushes stopped at random: each pick must be the push whose next
// block is oldest (ties: the one queued first), its limit the oldest next
// block of the others, the blocks must go out in time order, and every
// block of a push not stopped must go out exactly once.
func TestPushQueueMerge(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 77))
			s := &session{}
			times := map[*pushState][]int64{}
			var all []*pushState
			for i := range 1 + r.IntN(300) {
				var ts []int64
				t0 := int64(r.IntN(50))
				for range 1 + r.IntN(40) {
					t0 += int64(r.IntN(3))
					ts = append(ts, t0)
				}
				ps := &pushState{key: feedtree.KeyPairFromSeed([32]byte{byte(i), byte(i >> 8), 1}).Public(), nextTime: ts[0], order: s.queued}
				s.queued++
				times[ps] = ts
				all = append(all, ps)
				heap.Push(&s.pushes, ps)
			}
			stopped := map[*pushState]bool{}
			sent := map[*pushState]int{}
			last := int64(math.MinInt64)
			for len(s.pushes) > 0 {
				if r.IntN(50) == 0 {
					victim := s.pushes[r.IntN(len(s.pushes))]
					s.stopPush(victim.key.Bytes())
					stopped[victim] = true
					continue
				}
				// The reference: a scan of what is queued.
				var want *pushState
				wantLimit := int64(math.MaxInt64)
				for _, q := range s.pushes {
					if want == nil || q.nextTime < want.nextTime || q.nextTime == want.nextTime && q.order < want.order {
						want = q
					}
				}
				for _, q := range s.pushes {
					if q != want {
						wantLimit = min(wantLimit, q.nextTime)
					}
				}
				ps, limit := s.oldest()
				if ps != want || limit != wantLimit {
					t.Fatalf("oldest: push queued %d (next %d), limit %d; want push queued %d (next %d), limit %d", ps.order, ps.nextTime, limit, want.order, want.nextTime, wantLimit)
				}
				// A chunk: at least one block, then up to the limit.
				ts := times[ps]
				for k := 0; sent[ps] < len(ts) && (k == 0 || ts[sent[ps]] <= limit); k++ {
					if ts[sent[ps]] < last {
						t.Fatalf("block of time %d sent after one of time %d", ts[sent[ps]], last)
					}
					last = ts[sent[ps]]
					sent[ps]++
				}
				if sent[ps] < len(ts) {
					ps.nextTime = ts[sent[ps]]
					heap.Push(&s.pushes, ps)
				}
			}
			for _, ps := range all {
				if !stopped[ps] && sent[ps] != len(times[ps]) {
					t.Errorf("push queued %d: %d of %d blocks sent", ps.order, sent[ps], len(times[ps]))
				}
			}
		})
	}
}
