package recent

import (
	"math/rand/v2"
	"testing"
)

// TestCacheAgainstModel puts, gets and deletes random keys and checks
// every Get against a model that remembers the last capacity puts.
func TestCacheAgainstModel(t *testing.T) {
	for _, capacity := range []int{1, 2, 7, 64} {
		c := New[int, int](capacity)
		var puts []int        // keys in put order
		vals := map[int]int{} // last value put per key
		deleted := map[int]bool{}
		r := rand.New(rand.NewPCG(1, uint64(capacity)))
		for i := range 5000 {
			k := r.IntN(3 * capacity)
			switch r.IntN(5) {
			case 0:
				c.Delete(k)
				deleted[k] = true
			case 1, 2:
				c.Put(k, i)
				puts = append(puts, k)
				vals[k] = i
				delete(deleted, k)
			default:
				// The model: k is held if it was put within the last
				// capacity puts and not deleted since its last put.
				want := false
				for _, p := range puts[max(0, len(puts)-capacity):] {
					if p == k {
						want = true
					}
				}
				want = want && !deleted[k]
				v, ok := c.Get(k)
				if ok != want {
					t.Fatalf("capacity %d, step %d: Get(%d) ok=%v, want %v", capacity, i, k, ok, want)
				}
				if ok && v != vals[k] {
					t.Fatalf("capacity %d, step %d: Get(%d) = %d, want %d", capacity, i, k, v, vals[k])
				}
			}
			if c.Len() > capacity {
				t.Fatalf("capacity %d: holds %d", capacity, c.Len())
			}
		}
		c.Clear()
		if c.Len() != 0 {
			t.Fatalf("after Clear: %d held", c.Len())
		}
		if _, ok := c.Get(puts[len(puts)-1]); ok {
			t.Fatal("a key survived Clear")
		}
	}
}
