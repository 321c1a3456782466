// Package recent keeps the values written last, for readers that follow a
// writer closely: the stages of the node's pipeline read back, moments
// later, what the stage before them has just written (the index reads the
// nodes the DAG appended, search reads the entries the index wrote). A hit
// saves a badger lookup and a decode; a miss costs a map lookup.
package recent

import "sync"

// Cache holds up to a fixed number of key/value pairs and forgets the
// oldest put first. It is safe for concurrent use. The values are shared
// with every reader: callers must not modify them.
type Cache[K comparable, V any] struct {
	mu   sync.Mutex
	m    map[K]slot[V]
	ring []K
	used []bool
	next int
}

type slot[V any] struct {
	v   V
	pos int // where in ring the key was put last
}

// New returns a cache of capacity pairs (at least 1).
func New[K comparable, V any](capacity int) *Cache[K, V] {
	capacity = max(capacity, 1)
	return &Cache[K, V]{m: make(map[K]slot[V], capacity), ring: make([]K, capacity), used: make([]bool, capacity)}
}

// Put stores v under k, replacing what k held, and forgets the oldest pair
// if the cache is full.
func (c *Cache[K, V]) Put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pos := c.next
	c.next = (c.next + 1) % len(c.ring)
	if c.used[pos] {
		old := c.ring[pos]
		if s, ok := c.m[old]; ok && s.pos == pos {
			delete(c.m, old)
		}
	}
	c.ring[pos], c.used[pos] = k, true
	c.m[k] = slot[V]{v: v, pos: pos}
}

// Get returns the value stored under k and whether there is one.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[k]
	return s.v, ok
}

// Delete forgets k.
func (c *Cache[K, V]) Delete(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}

// Clear forgets everything.
func (c *Cache[K, V]) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
	clear(c.used)
	c.next = 0
}

// Len returns how many pairs the cache holds.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
