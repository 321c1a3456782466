package feedtree

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
)

// Record keys inside a feed's keyspace (see the package doc).
const (
	recHead  = 'h' // the signed head: Head wire form
	recFork  = 'f' // a recorded fork: ForkProof wire form
	recBlock = 'b' // 'b' || u64be(block index) -> block bytes
	recRun   = 'r' // 'r' || u64be(last block index) -> a run of small blocks (runs.go)
	recNode  = 'n' // 'n' || u64be(flat index) -> u64be(size) || hash (40 bytes)
)

const nodeRecordSize = 40

// Parents low in the tree are not stored when their blocks are: a parent
// of depth up to implicitDepth (8 blocks) over at most implicitBytes of
// data is rehashed from its blocks when a proof needs it, as a leaf is,
// unless it is a root of the head it was written with (OpenFeed loads the
// roots from records, so a damaged block cannot stop a feed opening).
// Dear future reader: stored, they were about one badger key per block of
// a feed of small blocks (DAG nodes), the same again as the blocks
// themselves, on every replica; a proof needs one or two of them per
// range, and eight small blocks hash in a few microseconds. Content feeds
// of large blocks keep every parent: rehashing 8 × 64 KiB per proof node
// would cost more than the key saves.
const (
	implicitDepth = 3
	implicitBytes = 4 << 10
)

// implicit reports whether parent n is left out of the store when its
// blocks are stored (see implicitDepth).
func implicit(n Node) bool {
	return n.Index&1 == 1 && Depth(n.Index) <= implicitDepth && n.Size <= implicitBytes
}

// SubtreeNode returns the node over blocks, which are the blocks under
// node x in order (x's span), hashed as leaves and combined up to x.
func SubtreeNode(x uint64, blocks [][]byte) (Node, bool) {
	lo, hi := Spans(x)
	if uint64(len(blocks)) != (hi-lo)/2+1 || len(blocks) > 1<<implicitDepth {
		return Node{}, false
	}
	var buf [1 << implicitDepth]Node
	level := buf[:len(blocks)]
	for j, b := range blocks {
		level[j] = LeafNode(lo/2+uint64(j), b)
	}
	for len(level) > 1 {
		for j := range len(level) / 2 {
			level[j] = ParentNode(level[2*j], level[2*j+1])
		}
		level = level[:len(level)/2]
	}
	return level[0], true
}

func blockKey(dst []byte, i uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, recBlock), i)
}

func nodeKey(dst []byte, x uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, recNode), x)
}

func appendNodeRecord(dst []byte, n Node) []byte {
	dst = binary.BigEndian.AppendUint64(dst, n.Size)
	return append(dst, n.Hash[:]...)
}

// setNode records the write of n's record, its key and value appended to
// arena (which it returns; see Batch.Set on keeping them unchanged).
func (b *Batch) setNode(arena []byte, n Node) []byte {
	start := len(arena)
	arena = nodeKey(arena, n.Index)
	k := arena[start:len(arena):len(arena)]
	start = len(arena)
	arena = appendNodeRecord(arena, n)
	b.Set(k, arena[start:len(arena):len(arena)])
	return arena
}

// Feed is one feed held in a Store: a writable feed (opened with its key
// pair) or a replica that stores only what verifies. It is safe for
// concurrent use: readers never wait for the writer; writes (Append, Put,
// PutHead) are serialized, except Puts of ranges under an already trusted
// head, which run together (see putTrusted) but for the commits of those
// that extend the blocks held from 0 (see verifyAndStore).
type Feed struct {
	store Store
	key   Key
	kp    *KeyPair

	wmu   sync.RWMutex          // serializes writers; Puts under a trusted head share it
	state atomic.Pointer[state] // current head and roots, replaced on each upgrade
	fork  atomic.Pointer[ForkProof]

	nodes nodeCache // tree nodes read from the store, for proofs

	// Which records hold the blocks (runs.go). Stored before the head that
	// covers them is published, so a reader that sees a head sees them.
	hmu    sync.Mutex    // serializes the commits that extend held, and its advance
	held   atomic.Uint64 // blocks [0, held) are stored (in runs or 'b' records), and no run lies beyond
	runLo  atomic.Uint64 // no run holds a block below runLo (noRun: no run at all)
	sparse atomic.Bool   // 'b' records may lie at held or beyond

	// The right-edge frontier of a contiguous replica (frontier.go): the
	// tree nodes beyond held that the last range put under a trusted head
	// brought, kept here rather than stored until Close or an upgrade.
	fmu         sync.Mutex
	frontier    []Node
	frontierEnd uint64

	mu      sync.Mutex    // guards changed
	changed chan struct{} // closed and replaced whenever the head grows
	done    chan struct{} // closed by Close
	closed  atomic.Bool
}

// state is an immutable snapshot of what the feed trusts.
type state struct {
	head  Head
	roots []Node // roots at head.Length, FullRoots order
}

// OpenFeed opens feed k held in s. A non-nil kp whose public key is k makes
// the feed writable. The head, its roots and any recorded fork load from s;
// a stored head whose roots do not hash to its tree hash is an error. Open
// one Feed per key of a store at a time: a Feed keeps in memory which
// blocks it holds and in which kind of record, and another Feed of the
// same key writing the store would not tell it.
func OpenFeed(s Store, k Key, kp *KeyPair) (*Feed, error) {
	if k.IsZero() {
		return nil, errors.New("feedtree: opening feed: zero key")
	}
	if kp != nil && kp.Public() != k {
		return nil, fmt.Errorf("feedtree: opening feed %v: key pair is for %v", k, kp.Public())
	}
	f := &Feed{store: s, key: k, changed: make(chan struct{}), done: make(chan struct{})}
	if kp != nil {
		c := *kp
		f.kp = &c
	}
	st := &state{}
	st.head.TreeHash = TreeHash(nil)
	hb, err := s.Get(k, []byte{recHead}, nil)
	switch {
	case errors.Is(err, ErrNotFound):
		if err := f.loadHeld(0, 0); err != nil {
			return nil, fmt.Errorf("feedtree: opening feed %v: finding held blocks: %w", k, err)
		}
		if f.kp != nil {
			msg := Signable(st.head.TreeHash, 0, 0)
			st.head.Signature = f.kp.Sign(msg[:])
		}
	case err != nil:
		return nil, fmt.Errorf("feedtree: opening feed %v: %w", k, err)
	default:
		h, err := DecodeHead(hb)
		if err != nil {
			return nil, fmt.Errorf("feedtree: opening feed %v: %w", k, err)
		}
		// Until loadHeld knows better, a block is looked up in runs and
		// then in 'b' records (a root is a stored node, so rootsAt reads
		// none unless its record is lost).
		f.held.Store(min(h.Length, MaxLength))
		f.sparse.Store(true)
		roots, err := f.rootsAt(h.Length)
		if err != nil {
			return nil, fmt.Errorf("feedtree: opening feed %v: loading roots: %w", k, err)
		}
		if th := TreeHash(roots); th != h.TreeHash {
			return nil, fmt.Errorf("feedtree: opening feed %v: %w", k, &MismatchError{Index: TreeIndex, Got: th, Want: h.TreeHash})
		}
		var size uint64
		for _, r := range roots {
			size += r.Size
		}
		if err := f.loadHeld(h.Length, size); err != nil {
			return nil, fmt.Errorf("feedtree: opening feed %v: finding held blocks: %w", k, err)
		}
		st = &state{head: h, roots: roots}
	}
	f.state.Store(st)
	fb, err := s.Get(k, []byte{recFork}, nil)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("feedtree: opening feed %v: %w", k, err)
	default:
		fp, err := DecodeForkProof(fb)
		if err != nil {
			return nil, fmt.Errorf("feedtree: opening feed %v: %w", k, err)
		}
		f.fork.Store(fp)
	}
	return f, nil
}

// Key returns the feed key.
func (f *Feed) Key() Key { return f.key }

// Writable reports whether the feed was opened with its key pair.
func (f *Feed) Writable() bool { return f.kp != nil }

// Length returns the length of the signed head this replica trusts.
func (f *Feed) Length() uint64 { return f.state.Load().head.Length }

// Held returns how many leading blocks this replica holds: it has blocks
// [0, Held()). A writable feed holds every block of its head. It is at
// most Length(), except while a Put that upgrades the head is between
// storing the blocks and publishing the head. Has(i) for i < Held() reads
// nothing.
func (f *Feed) Held() uint64 { return f.held.Load() }

// Head returns the signed head this replica trusts. A fresh feed's head has
// length 0 (signed when writable, zero signature otherwise).
func (f *Feed) Head() Head { return f.state.Load().head }

// Roots returns a copy of the roots of the tree at Length(), left to right.
func (f *Feed) Roots() []Node { return append([]Node(nil), f.state.Load().roots...) }

// Fork returns the recorded fork proof, or nil if none.
func (f *Feed) Fork() *ForkProof { return f.fork.Load() }

// Append appends blocks, signs the new head once and commits blocks, new
// nodes and head in one Store.Commit. With no blocks it returns the current
// head. It fails with ErrNotWritable on a replica and ErrForked once a fork
// of this key is recorded (the key is compromised: start a new feed).
func (f *Feed) Append(blocks ...[]byte) (Head, error) {
	if f.kp == nil {
		return Head{}, ErrNotWritable
	}
	f.wmu.Lock()
	defer f.wmu.Unlock()
	old, err := f.writable()
	if err != nil {
		return Head{}, err
	}
	if len(blocks) == 0 {
		return old.head, nil
	}
	n := old.head.Length
	if uint64(len(blocks)) > MaxLength-n {
		return Head{}, fmt.Errorf("feedtree: appending: feed would exceed MaxLength")
	}
	roots := make([]Node, len(old.roots), len(old.roots)+bits.Len(uint(len(blocks)))+1)
	copy(roots, old.roots)
	// Keys and node values go in one arena; a block key is 9 bytes, a node
	// key 9 and its value 40, and about one parent forms per block.
	arena := make([]byte, 0, len(blocks)*(9+2*(9+nodeRecordSize)))
	var b Batch
	b.ops = make([]batchOp, 0, 2*len(blocks)+1)
	// The writer holds [0, n): every small block goes in a run.
	arena, firstRun := setBlocks(&b, arena, n, blocks, true)
	leaves := leafNodes(n, blocks)
	for j := range blocks {
		cur := leaves[j]
		for len(roots) > 0 && roots[len(roots)-1].Index == Sibling(cur.Index) {
			cur = ParentNode(roots[len(roots)-1], cur)
			roots = roots[:len(roots)-1]
			if implicit(cur) {
				continue // a writer holds every block
			}
			arena = b.setNode(arena, cur)
		}
		roots = append(roots, cur)
	}
	for _, r := range roots {
		if RightSpan(r.Index)>>1 >= n && (r.Index&1 == 0 || implicit(r)) {
			// A root of the new head is stored whatever its size: OpenFeed
			// loads the roots, and one damaged block must not stop that.
			arena = b.setNode(arena, r)
		}
	}
	h := Head{Length: n + uint64(len(blocks)), Fork: old.head.Fork, TreeHash: TreeHash(roots)}
	msg := Signable(h.TreeHash, h.Length, h.Fork)
	h.Signature = f.kp.Sign(msg[:])
	hb, _ := h.AppendBinary(nil)
	b.Set([]byte{recHead}, hb)
	if err := f.store.Commit(f.key, &b); err != nil {
		return Head{}, fmt.Errorf("feedtree: appending: %w", err)
	}
	if firstRun != noRun && f.runLo.Load() == noRun {
		f.runLo.Store(firstRun)
	}
	f.held.Store(h.Length)
	f.publish(&state{head: h, roots: roots})
	return h, nil
}

// parallelHashBytes is the batch size from which Append hashes leaves on
// several cores: below it, starting goroutines costs more than it saves.
const parallelHashBytes = 256 << 10

// leafNodes hashes blocks as leaves first..first+len(blocks)-1. Dear future
// reader: leaf hashes are independent, and hashing is the one part of an
// append that is pure CPU; on a 2-core machine splitting a large batch
// across cores nearly halves it (BENCHMARKS.md, feedtree append).
func leafNodes(first uint64, blocks [][]byte) []Node {
	out := make([]Node, len(blocks))
	total := 0
	for _, b := range blocks {
		total += len(b)
	}
	workers := min(runtime.GOMAXPROCS(0), len(blocks))
	if total < parallelHashBytes || workers < 2 {
		for j, b := range blocks {
			out[j] = LeafNode(first+uint64(j), b)
		}
		return out
	}
	var wg sync.WaitGroup
	per := (len(blocks) + workers - 1) / workers
	for w := 0; w < len(blocks); w += per {
		end := min(w+per, len(blocks))
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			for j := lo; j < hi; j++ {
				out[j] = LeafNode(first+uint64(j), blocks[j])
			}
		}(w, end)
	}
	wg.Wait()
	return out
}

// publish installs st and wakes Wait callers.
func (f *Feed) publish(st *state) {
	f.state.Store(st)
	f.mu.Lock()
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

// Get returns block i, or an error wrapping ErrNotFound if this replica
// lacks it.
func (f *Feed) Get(i uint64) ([]byte, error) {
	if f.closed.Load() {
		return nil, ErrClosed
	}
	b, err := f.block(i, nil)
	if err != nil {
		return nil, fmt.Errorf("feedtree: getting block %d: %w", i, err)
	}
	return b, nil
}

// GetRange appends to dst the blocks from start on, up to end or the first
// block this replica lacks, and returns the result: one ordered read per
// stretch of the range held in runs or in 'b' records (one for a feed of
// one kind) instead of a lookup per block. Each block is a fresh copy.
func (f *Feed) GetRange(start, end uint64, dst [][]byte) ([][]byte, error) {
	if f.closed.Load() {
		return dst, ErrClosed
	}
	if start >= end {
		return dst, nil
	}
	dst, _, err := f.appendRange(start, end, dst)
	if err != nil {
		return dst, fmt.Errorf("feedtree: getting blocks [%d, %d): %w", start, end, err)
	}
	return dst, nil
}

var errStopScan = errors.New("feedtree: stop scan")

// ScanNodes appends to dst the stored tree nodes with flat indexes in
// [lo, hi), in index order, in one ordered read, and returns the result.
// Only parents are stored, and of those only the ones above the implicit
// bound over stored blocks (implicitDepth): the rest are hashes of blocks
// (LeafNode, SubtreeNode).
func (f *Feed) ScanNodes(lo, hi uint64, dst []Node) ([]Node, error) {
	if f.closed.Load() {
		return dst, ErrClosed
	}
	if lo >= hi {
		return dst, nil
	}
	var from, to [9]byte
	err := f.store.Scan(f.key, nodeKey(from[:0], lo), nodeKey(to[:0], hi), func(k, v []byte) error {
		if len(k) != 9 {
			return fmt.Errorf("node key %x", k)
		}
		n, err := nodeRecord(binary.BigEndian.Uint64(k[1:]), v)
		dst = append(dst, n)
		return err
	})
	if err != nil {
		return dst, fmt.Errorf("feedtree: reading nodes [%d, %d): %w", lo, hi, err)
	}
	return dst, nil
}

// Has reports whether this replica holds block i. Below Held() it reads
// nothing.
func (f *Feed) Has(i uint64) bool {
	if i < f.held.Load() {
		return true
	}
	if !f.sparse.Load() {
		return false
	}
	var kb [9]byte
	ok, err := f.store.Has(f.key, blockKey(kb[:0], i))
	return err == nil && ok
}

// node returns the stored node at flat index x, hashing the block for a
// leaf whose node is not stored. The error wraps ErrNotFound if neither is.
func (f *Feed) node(x uint64) (Node, error) {
	if n, ok := f.nodes.get(x); ok {
		return n, nil
	}
	if n, ok := f.frontierNode(x); ok {
		return n, nil
	}
	n, err := f.readNode(x)
	if err == nil {
		f.nodes.put(n)
	}
	return n, err
}

// nodeCacheSize is how many tree nodes a feed keeps from its store reads.
// Proofs of consecutive ranges ask for the same uncles again and again: 256
// slots hold every uncle of a 1,000-block log pushed 16 blocks at a time
// (TestProofChunksHitCache; 114 nodes).
const nodeCacheSize = 1 << nodeCacheBits

const nodeCacheBits = 8

// nodeCache is a small direct-mapped cache of stored tree nodes, allocated
// at the first read (a node holds thousands of author logs open; only
// those it proves ranges of pay for it, 14 KiB each). A node at an index
// never changes once stored (a fork stops the feed), so entries need no
// invalidation.
type nodeCache struct {
	mu    sync.Mutex
	slots *[nodeCacheSize]cachedNode
}

// cacheSlot is the slot of node x. Flat-tree indexes are structured (the
// roots of 16-block subtrees are 15 + 32k: four values mod 128), so the
// index is mixed first (Fibonacci hashing) to spread the uncles of a
// log's successive proofs over every slot.
func cacheSlot(x uint64) uint64 {
	return (x * 0x9e3779b97f4a7c15) >> (64 - nodeCacheBits)
}

type cachedNode struct {
	Node
	valid bool
}

func (c *nodeCache) get(x uint64) (Node, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.slots == nil {
		return Node{}, false
	}
	if s := c.slots[cacheSlot(x)]; s.valid && s.Index == x {
		return s.Node, true
	}
	return Node{}, false
}

func (c *nodeCache) put(n Node) {
	c.mu.Lock()
	if c.slots == nil {
		c.slots = new([nodeCacheSize]cachedNode)
	}
	c.slots[cacheSlot(n.Index)] = cachedNode{n, true}
	c.mu.Unlock()
}

// readNode reads node x from the store (see node).
func (f *Feed) readNode(x uint64) (Node, error) {
	var kb [9]byte
	var vb [nodeRecordSize]byte
	v, err := f.store.Get(f.key, nodeKey(kb[:0], x), vb[:0])
	if err == nil {
		return nodeRecord(x, v)
	}
	if !errors.Is(err, ErrNotFound) || Depth(x) > implicitDepth {
		return Node{}, fmt.Errorf("feedtree: node %d: %w", x, err)
	}
	if x&1 == 0 {
		data, err := f.block(x>>1, nil)
		if err != nil {
			return Node{}, fmt.Errorf("feedtree: node %d: %w", x, err)
		}
		return LeafNode(x>>1, data), nil
	}
	// An implicit parent: rehashed from its blocks, if this replica holds
	// them all.
	lo, hi := Spans(x)
	var bb [1 << implicitDepth][]byte
	blocks, err := f.GetRange(lo>>1, hi>>1+1, bb[:0])
	if err != nil {
		return Node{}, fmt.Errorf("feedtree: node %d: %w", x, err)
	}
	n, ok := SubtreeNode(x, blocks)
	if !ok {
		return Node{}, fmt.Errorf("feedtree: node %d: %w", x, ErrNotFound)
	}
	return n, nil
}

// nodeRecord decodes the stored record v of node x (appendNodeRecord).
func nodeRecord(x uint64, v []byte) (Node, error) {
	if len(v) != nodeRecordSize {
		return Node{}, fmt.Errorf("feedtree: node %d: stored record is %d bytes", x, len(v))
	}
	n := Node{Index: x, Size: binary.BigEndian.Uint64(v)}
	copy(n.Hash[:], v[8:])
	return n, nil
}

// rootsAt loads the roots of length n from the store.
func (f *Feed) rootsAt(n uint64) ([]Node, error) {
	if n > MaxLength {
		return nil, fmt.Errorf("%w: length %d", ErrBadProof, n)
	}
	var rb [64]uint64
	idx := AppendFullRoots(rb[:0], 2*n)
	roots := make([]Node, len(idx))
	for i, x := range idx {
		r, err := f.node(x)
		if err != nil {
			return nil, err
		}
		roots[i] = r
	}
	return roots, nil
}

// Proof returns a proof of blocks [start, end) at the current head for a
// verifier that trusts the roots at length have (have >= Length() means it
// trusts the current head). The blocks themselves are not included: send
// them beside it (Get). The error wraps ErrNotFound if this replica lacks a
// node the proof needs, ErrBadProof if end > Length() or start > end.
func (f *Feed) Proof(start, end, have uint64) (*Proof, error) {
	return f.ProofWith(start, end, have, nil)
}

// ProofWith is Proof taking the nodes it needs from known first (nil:
// none) and from the feed's cache and store only for the rest. A sender
// that proves consecutive ranges of one feed knows the leaves of the blocks
// it holds in memory and the nodes of a ScanNodes window around them, which
// saves a store read per node (a chunk's proof carries several). known
// must return only nodes of this feed.
func (f *Feed) ProofWith(start, end, have uint64, known func(x uint64) (Node, bool)) (*Proof, error) {
	if f.closed.Load() {
		return nil, ErrClosed
	}
	st := f.state.Load()
	s, err := newShape(start, end, have, st.head.Length)
	if err != nil {
		return nil, err
	}
	var buf [4 * 64]uint64
	idx := s.appendIndexes(buf[:0])
	p := &Proof{Head: st.head, Start: start, End: end, Have: have}
	if len(idx) > 0 {
		p.Nodes = make([]Node, len(idx))
	}
	for i, x := range idx {
		// A root of the current head is in memory; the rest is in the store.
		if n, ok := findRoot(st.roots, x); ok {
			p.Nodes[i] = n
			continue
		}
		if known != nil {
			if n, ok := known(x); ok {
				p.Nodes[i] = n
				continue
			}
		}
		if p.Nodes[i], err = f.node(x); err != nil {
			return nil, fmt.Errorf("feedtree: proving [%d, %d) from %d: %w", start, end, have, err)
		}
	}
	return p, nil
}

// isRoot reports whether x is the index of one of roots.
func isRoot(roots []Node, x uint64) bool {
	_, ok := findRoot(roots, x)
	return ok
}

func findRoot(roots []Node, x uint64) (Node, bool) {
	for _, r := range roots {
		if r.Index == x {
			return r, true
		}
	}
	return Node{}, false
}

// Put verifies p and blocks (len == p.End−p.Start) and stores the blocks
// and every node the verification produced in one Store.Commit; it costs one
// signature check per call, whatever the range.
//
//   - p.Head longer than Length(): p must be built with Have == Length()
//     (the roots this replica trusts); the feed then upgrades to p.Head.
//   - p.Head at Length() or shorter: p must be built with Have >=
//     p.Head.Length. The head must agree with this replica's history (the
//     roots it holds at that length).
//
// A validly signed p.Head that conflicts with the trusted head returns a
// *ForkError (errors.Is(err, ErrForked)), after recording the fork proof;
// from then on Append returns ErrForked. Put and PutHead go on taking what
// fits the history this replica trusts: a forked log counts up to where
// its histories part, and a replica behind that point must still fill its
// prefix. A head that
// conflicts but whose evidence this replica cannot assemble (a sparse
// replica missing old roots, or a longer head whose upgrade does not match)
// is an ordinary verification error and nothing is stored.
func (f *Feed) Put(p *Proof, blocks [][]byte) error { return f.put(p, blocks, p.Start, false) }

// PutContiguous is Put for a replica that holds every block before
// p.Start, as dag keeps its author logs. Low parents over those blocks and
// the range's (see implicitDepth) are then not stored either: a range that
// does not start on a subtree boundary (a log's batches follow its first
// block, so they start at 16k+1) would otherwise store the parents that
// join it to the block before, about three records per range that the
// blocks already fix. The caller vouches for the prefix: a parent left out
// over a block that is missing cannot be rehashed, and proofs that need it
// fail with ErrNotFound.
func (f *Feed) PutContiguous(p *Proof, blocks [][]byte) error { return f.put(p, blocks, 0, true) }

// put is Put, leaving out the low parents over blocks from floor to p.End;
// with prefix (PutContiguous) the nodes beyond p.End go to the frontier.
func (f *Feed) put(p *Proof, blocks [][]byte, floor uint64, prefix bool) error {
	if done, err := f.putTrusted(p, blocks, floor, prefix); done {
		return err
	}
	f.wmu.Lock()
	defer f.wmu.Unlock()
	st, err := f.current()
	if err != nil {
		return err
	}
	n, L := st.head.Length, p.Head.Length
	var trusted []Node
	switch {
	case L > n:
		if p.Have != n {
			return fmt.Errorf("%w: upgrade proof from length %d, replica holds %d", ErrBadProof, p.Have, n)
		}
		trusted = st.roots
	case p.Have < L:
		return fmt.Errorf("%w: proof upgrades from %d to %d, replica already holds %d", ErrBadProof, p.Have, L, n)
	default:
		if trusted, err = f.checkOlder(st, p.Head); err != nil {
			return err
		}
	}
	roots, err := f.verifyAndStore(p, blocks, trusted, L > n, floor, prefix)
	if err != nil {
		return err
	}
	if L > n {
		f.publish(&state{head: p.Head, roots: roots})
	}
	return nil
}

// putTrusted is Put for a proof whose head this replica already trusts (no
// longer than Length() and agreeing with its history), the common case of a
// download after the head was learnt. It holds the writers' lock shared, so
// several such Puts hash and commit at once: they only add blocks and nodes
// the trusted tree already fixes. It returns done == false, having stored
// nothing, when Put's exclusive path must decide: an upgrade, or a head
// that conflicts (which may be a fork to record).
func (f *Feed) putTrusted(p *Proof, blocks [][]byte, floor uint64, prefix bool) (done bool, err error) {
	f.wmu.RLock()
	defer f.wmu.RUnlock()
	if f.closed.Load() {
		return true, ErrClosed
	}
	st := f.state.Load()
	n, L := st.head.Length, p.Head.Length
	if L > n {
		return false, nil
	}
	if p.Have < L {
		return true, fmt.Errorf("%w: proof upgrades from %d to %d, replica already holds %d", ErrBadProof, p.Have, L, n)
	}
	roots := st.roots
	if L < n {
		if roots, err = f.rootsAt(L); err != nil {
			return true, fmt.Errorf("feedtree: checking head at length %d: %w", L, err)
		}
	}
	if TreeHash(roots) != p.Head.TreeHash {
		return false, nil
	}
	_, err = f.verifyAndStore(p, blocks, roots, false, floor, prefix)
	return true, err
}

// verifyAndStore verifies p and blocks against trusted and commits the
// blocks this replica lacks, every node the verification produced and, for
// an upgrade, the new head in one Store.Commit, less the leaves and low
// parents over blocks from floor (at most p.Start; the blocks before it
// held) to p.End, and for a prefix replica under a trusted head the nodes
// beyond p.End (frontier.go). It returns the roots at p.Head.Length.
//
// Blocks below Held() are already stored and not written again. The rest
// of a range that reaches Held() extends it: those blocks go in runs, under
// hmu, so that two Puts cannot both write runs from the same Held(). A
// range beyond Held() (a sparse replica's) goes in 'b' records.
func (f *Feed) verifyAndStore(p *Proof, blocks [][]byte, trusted []Node, upgrade bool, floor uint64, prefix bool) ([]Node, error) {
	if !upgrade && len(blocks) == 0 {
		// Nothing to store: the head was checked against the history.
		_, roots, err := verifyProof(f.key, p, trusted, nil, nil)
		return roots, err
	}
	out, roots, err := verifyProof(f.key, p, trusted, blocks, make([]Node, 0, outBound(p, blocks, trusted)))
	if err != nil {
		return nil, err
	}
	length := max(p.Head.Length, f.state.Load().head.Length) // held stays below it
	// A PutContiguous under the trusted head keeps the nodes beyond its end
	// in the frontier; an upgrade stores them, and the frontier with them;
	// so does a put proved under a shorter head (a peer behind this
	// replica), whose nodes stop at that head's end.
	contiguous := prefix && !upgrade && p.Head.Length == f.state.Load().head.Length
	var front []Node
	var b Batch
	b.ops = make([]batchOp, 0, len(blocks)+len(out)+1)
	arena := make([]byte, 0, len(blocks)*9+len(out)*(9+nodeRecordSize))
	// commit writes the nodes, then the blocks from first (if any; with
	// runs or not), then the head: a commit too big for one backend
	// transaction that is cut short leaves no run without the nodes over
	// it (OpenFeed trusts a run to say its blocks are held) and no head
	// without what it covers.
	commit := func(first uint64, runs bool) (firstRun uint64, err error) {
		firstRun = noRun
		front = front[:0]
		for _, nd := range out {
			lo, hi := Spans(nd.Index)
			if lo>>1 >= floor && hi>>1 < p.End && (nd.Index&1 == 0 || implicit(nd)) &&
				!(upgrade && isRoot(roots, nd.Index)) {
				continue // over blocks stored here: recomputed from them when needed
			}
			if contiguous && hi>>1 >= p.End {
				if !isRoot(roots, nd.Index) { // the trusted roots are stored
					front = append(front, nd)
				}
				continue
			}
			arena = b.setNode(arena, nd)
		}
		if first < p.End {
			arena, firstRun = setBlocks(&b, arena, first, blocks[first-p.Start:], runs)
		}
		if upgrade {
			arena = f.frontierTo(&b, arena)
			hb, _ := p.Head.AppendBinary(nil)
			b.Set([]byte{recHead}, hb)
		}
		if b.Len() == 0 {
			return firstRun, nil
		}
		if err := f.store.Commit(f.key, &b); err != nil {
			return firstRun, fmt.Errorf("feedtree: storing verified blocks: %w", err)
		}
		return firstRun, nil
	}
	switch h := f.held.Load(); {
	case len(blocks) == 0 || p.End <= h:
		_, err = commit(p.End, false) // the blocks are held: nodes and head only
	case p.Start > h:
		// Beyond the prefix. If the prefix reaches the range meanwhile,
		// whichever commits last moves held over it: the Put that extends
		// held looks for 'b' records after storing held, this one for held
		// after storing its records.
		f.sparse.Store(true)
		if _, err = commit(p.Start, false); err == nil && f.held.Load() >= p.Start {
			f.hmu.Lock()
			f.advanceHeld(length)
			f.hmu.Unlock()
		}
	default:
		f.hmu.Lock()
		defer f.hmu.Unlock()
		h = max(h, f.held.Load()) // another Put may have extended it
		var firstRun uint64
		if firstRun, err = commit(max(h, p.Start), true); err != nil || h >= p.End {
			break
		}
		if firstRun != noRun && f.runLo.Load() == noRun {
			f.runLo.Store(firstRun)
		}
		f.held.Store(p.End)
		f.advanceHeld(length)
	}
	if err != nil {
		return nil, err
	}
	f.frontierDone(upgrade, contiguous, p.End, front)
	return roots, nil
}

// checkOlder checks a head h no longer than the trusted one against this
// replica's history and returns the roots at h.Length. A validly signed
// conflicting h is recorded as a fork and returned as *ForkError.
func (f *Feed) checkOlder(st *state, h Head) ([]Node, error) {
	n := st.head.Length
	var roots []Node
	if h.Length == n {
		roots = st.roots
	} else {
		var err error
		if roots, err = f.rootsAt(h.Length); err != nil {
			return nil, fmt.Errorf("feedtree: checking head at length %d: %w", h.Length, err)
		}
	}
	th := TreeHash(roots)
	if th == h.TreeHash {
		return roots, nil
	}
	if err := h.Verify(f.key); err != nil {
		return nil, err
	}
	fp := &ForkProof{A: h, B: st.head}
	if h.Length < n {
		var buf [4 * 64]uint64
		s := shape{start: h.Length, end: h.Length, trusted: h.Length, length: n}
		fp.Nodes = append(fp.Nodes, roots...)
		for _, x := range s.appendIndexes(buf[:0]) {
			nd, ok := findRoot(st.roots, x)
			if !ok {
				var err error
				if nd, err = f.node(x); err != nil {
					return nil, fmt.Errorf("feedtree: head at length %d conflicts, but proving it: %w", h.Length, err)
				}
			}
			fp.Nodes = append(fp.Nodes, nd)
		}
	}
	if err := f.keepFork(fp); err != nil {
		return nil, err
	}
	return nil, &ForkError{Proof: *fp}
}

// AddForkProof verifies fp (from another peer, say) and records it: from
// then on Append returns ErrForked. A fork already recorded
// is kept unless fp narrows or refines it (ForkProof.Narrows, Refines).
func (f *Feed) AddForkProof(fp *ForkProof) error {
	if err := fp.Verify(f.key); err != nil {
		return fmt.Errorf("feedtree: adding fork proof: %w", err)
	}
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if f.closed.Load() {
		return ErrClosed
	}
	return f.keepFork(fp)
}

// ResolveFork forgets a recorded fork so the feed accepts writes again. The
// caller decides what resolution means (say, the DAG has truncated the log
// at the last length both histories share).
func (f *Feed) ResolveFork() error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if f.closed.Load() {
		return ErrClosed
	}
	var b Batch
	b.Delete([]byte{recFork})
	if err := f.store.Commit(f.key, &b); err != nil {
		return fmt.Errorf("feedtree: resolving fork: %w", err)
	}
	f.fork.Store(nil)
	return nil
}

// keepFork records fp unless the fork recorded already says as much.
// Caller holds wmu.
func (f *Feed) keepFork(fp *ForkProof) error {
	if cur := f.fork.Load(); cur != nil && !fp.Narrows(cur) && !fp.Refines(cur) {
		return nil
	}
	return f.recordFork(fp)
}

// recordFork stores fp. Caller holds wmu.
func (f *Feed) recordFork(fp *ForkProof) error {
	fb, err := fp.AppendBinary(nil)
	if err != nil {
		return err
	}
	var b Batch
	b.Set([]byte{recFork}, fb)
	if err := f.store.Commit(f.key, &b); err != nil {
		return fmt.Errorf("feedtree: recording fork: %w", err)
	}
	f.fork.Store(fp)
	return nil
}

// PutHead learns head h. With p == nil, h must be no longer than Length():
// it is checked against this replica's history (the way a replica holding a
// longer history detects a fork from a peer's shorter head). With a proof,
// it is Put(p, nil) after checking p.Head == h and p.Start == p.End.
func (f *Feed) PutHead(h Head, p *Proof) error {
	if p != nil {
		if p.Head != h || p.Start != p.End {
			return fmt.Errorf("%w: PutHead proof is not a head-only proof of that head", ErrBadProof)
		}
		return f.Put(p, nil)
	}
	f.wmu.Lock()
	defer f.wmu.Unlock()
	st, err := f.current()
	if err != nil {
		return err
	}
	if h.Length > st.head.Length {
		return fmt.Errorf("%w: head at length %d needs an upgrade proof from %d", ErrBadProof, h.Length, st.head.Length)
	}
	_, err = f.checkOlder(st, h)
	return err
}

// Wait returns the head once Length() > n, or an error when ctx is done or
// the feed is closed (ErrClosed).
func (f *Feed) Wait(ctx context.Context, n uint64) (Head, error) {
	for {
		f.mu.Lock()
		ch := f.changed
		f.mu.Unlock()
		if h := f.state.Load().head; h.Length > n {
			return h, nil
		}
		if f.closed.Load() {
			return Head{}, ErrClosed
		}
		select {
		case <-ch:
		case <-f.done:
			return Head{}, ErrClosed
		case <-ctx.Done():
			return Head{}, ctx.Err()
		}
	}
}

// Close releases the feed, waiting for a write in progress. Later calls
// return ErrClosed, Wait callers included. The Store stays open.
func (f *Feed) Close() error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if f.closed.Swap(true) {
		return nil
	}
	close(f.done)
	return f.storeFrontier()
}

// current returns the current state of a feed that is not closed.
// Caller holds wmu.
func (f *Feed) current() (*state, error) {
	if f.closed.Load() {
		return nil, ErrClosed
	}
	return f.state.Load(), nil
}

// writable returns the current state of a feed that takes appends, or
// ErrClosed or ErrForked. Caller holds wmu.
func (f *Feed) writable() (*state, error) {
	if f.closed.Load() {
		return nil, ErrClosed
	}
	if f.fork.Load() != nil {
		return nil, ErrForked
	}
	return f.state.Load(), nil
}
