package replicate

import (
	"fmt"
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
