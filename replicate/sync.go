package replicate

import (
	"bufio"
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"indexd/dag"
	"indexd/feedtree"
)

// dagStore is what replicate calls on *dag.DAG.
type dagStore interface {
	Logs(idx dag.IndexKey) ([]dag.LogState, error)
	Feed(log feedtree.Key) (*feedtree.Feed, error)
	Ingest(ctx context.Context, idx dag.IndexKey, log feedtree.Key, p *feedtree.Proof, blocks [][]byte) (int, error)
	Store(ctx context.Context, idx dag.IndexKey, rs []dag.Range) []error
	Manifest(idx dag.IndexKey) (*dag.Manifest, error)
	PutManifest(m *dag.Manifest) error
	CheckFork(idx dag.IndexKey, log feedtree.Key, p *feedtree.Proof, blocks [][]byte) error
	Forks(idx dag.IndexKey) ([]dag.Fork, error)
	AddForkProof(idx dag.IndexKey, log feedtree.Key, fp *feedtree.ForkProof) (bool, error)
	FlushForks(idx dag.IndexKey, age time.Duration) (int, error)
}

// Push chunking: one Data frame carries at most chunkBlocks blocks and about
// chunkBytes bytes of them. Pushes to one peer are merged by node time
// (which is greater than the time of every node a node links): the writer
// always continues the log whose next node is oldest, and a chunk stops
// before a node newer than the next node of any other log. Nodes therefore
// arrive in causal order and the receiver's bounded pending set stays small.
const (
	chunkBlocks = 256
	chunkBytes  = 256 << 10
	// readAhead is how many blocks of a log a push reads in one ordered
	// read (a seek per range instead of a lookup per block); at most
	// readAhead+behindBlocks blocks per pushed log stay in memory.
	readAhead = 32
	// nodeWindow is how many blocks' worth of stored tree nodes a push
	// reads in one ordered read for the proofs of its chunks (see
	// pushState.known): at most nodeWindow nodes per pushed log stay in
	// memory.
	nodeWindow = 128
	// ingestBatch is how many queued Data frames the receiver stores with
	// one commit.
	ingestBatch = 16
)

// maxStaleFrames bounds the Data frames of one session that verify but do
// not apply (stale proofs, gaps): beyond it the session ends. Each costs a
// proof check; an honest peer sends at most a few per log it was asked to
// stop (frames already in flight).
const maxStaleFrames = 4096

// items returns the reconciliation set of idx: one item per author log.
func (x *Host) items(idx dag.IndexKey) (*itemSet, error) {
	logs, err := x.d.Logs(idx)
	if err != nil {
		return nil, err
	}
	its := make([]item, 0, len(logs))
	for _, l := range logs {
		if l.Length == 0 {
			continue
		}
		it := item{Key: l.Key.Bytes(), Length: l.Length, Trust: max(l.Length, l.Head.Length)}
		if l.Head.Length == l.Length {
			it.Head = headHash(l.Length, l.Head.Fork, l.Head.TreeHash)
		} else {
			it.Head = headHash(l.Length, l.Head.Fork, [32]byte{})
		}
		its = append(its, it)
	}
	return newItemSet(its), nil
}

// wire frames one stream and counts its bytes.
type wire struct {
	x   *Host
	s   network.Stream
	r   *bufio.Reader
	w   *bufio.Writer
	buf []byte
	in  atomic.Uint64
	out atomic.Uint64
}

func newWire(x *Host, s network.Stream) *wire {
	return &wire{x: x, s: s, r: bufio.NewReaderSize(s, 64<<10), w: bufio.NewWriterSize(s, 64<<10)}
}

func (c *wire) read() (byte, []byte, error) {
	c.s.SetReadDeadline(time.Now().Add(idleTimeout))
	typ, body, n, err := readFrame(c.r, &c.buf)
	c.in.Add(uint64(n))
	c.x.st.bytesIn.Add(uint64(n))
	return typ, body, err
}

// write buffers one frame; flush sends it.
func (c *wire) write(typ byte, body []byte) error {
	if len(body)+1 > MaxFrame {
		return fmt.Errorf("writing frame of %d bytes: %w", len(body)+1, ErrFrameTooLarge)
	}
	var hdr [11]byte
	h := appendFrameHeader(hdr[:0], typ, len(body))
	c.s.SetWriteDeadline(time.Now().Add(idleTimeout))
	if _, err := c.w.Write(h); err != nil {
		return err
	}
	if _, err := c.w.Write(body); err != nil {
		return err
	}
	n := uint64(len(h) + len(body))
	c.out.Add(n)
	c.x.st.bytesOut.Add(n)
	return nil
}

func (c *wire) flush() error {
	c.s.SetWriteDeadline(time.Now().Add(idleTimeout))
	return c.w.Flush()
}

// session is one sync session for one index over one stream. Both sides run
// the same loop once the opening is done: a reader goroutine feeds Data
// frames to an ingester (in order) and control frames to the loop; a writer
// goroutine sends control frames first, then the pushes owed, then Done.
type session struct {
	x    *Host
	idx  dag.IndexKey
	peer peer.ID
	c    *wire
	set  *itemSet

	ctx    context.Context
	cancel context.CancelCauseFunc

	mu        sync.Mutex
	ctrl      []outFrame
	pushes    pushQueue
	queued    uint64     // pushes queued so far (pushState.order)
	inflight  *pushState // the push writeChunk is writing, out of pushes
	finishing bool
	wake      chan struct{}

	// The writer goroutine's own (no lock): writeChunk's proof and frame
	// buffers, reused frame to frame.
	proofBuf, frameBuf []byte

	retry atomic.Bool   // something could not apply yet; sync again later
	stale atomic.Uint64 // Data frames that did not apply

	tmu     sync.Mutex
	touched map[[32]byte]bool // logs this side ingested in the session
	stopped map[[32]byte]bool // logs the peer asked us to stop pushing: it may not hold them
	// left is, per log received in the session, how many blocks the
	// peer's signed head holds beyond what it has sent; leftSum their sum
	// (see Host.CatchingUp).
	left    map[[32]byte]uint64
	leftSum uint64
}

type outFrame struct {
	typ  byte
	body []byte
}

type pushState struct {
	key       feedtree.Key
	feed      *feedtree.Feed
	next, end uint64
	trust     uint64 // the peer's trusted head length
	// selfContained: proofs for a verifier that trusts nothing (Have 0),
	// which carry every node left of the range (see Host.checkFork).
	selfContained bool
	ahead         [][]byte // blocks next, next+1, … read ahead in one ordered read
	nextTime      int64    // time of block next, ahead[0] (math.MinInt64 for a certificate)
	behind        [][]byte // the blocks just before next once pushed (see pushed)
	// nodes holds the feed's stored nodes with flat indexes in
	// [2·winLo, 2·winHi), in index order: a chunk's proof carries its
	// neighbours in the tree, which are there, read once for several chunks
	// instead of once each.
	nodes        []feedtree.Node
	winLo, winHi uint64
	order        uint64 // when the push was queued: it breaks ties of nextTime
}

// pushQueue is a session's pushes that have a block to send, a min-heap
// (container/heap) on the time of each one's next block, then on when it
// was queued: the writer takes the top and needs the next one's time as
// its chunk limit, so each chunk costs O(log pushes), not a scan of every
// log (a fresh follower of an index of 10,000 authors is owed 10,000).
type pushQueue []*pushState

func (q pushQueue) Len() int { return len(q) }

func (q pushQueue) Less(i, j int) bool {
	if q[i].nextTime != q[j].nextTime {
		return q[i].nextTime < q[j].nextTime
	}
	return q[i].order < q[j].order
}

func (q pushQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }

func (q *pushQueue) Push(x any) { *q = append(*q, x.(*pushState)) }

func (q *pushQueue) Pop() any {
	old := *q
	ps := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return ps
}

// known returns node x of the log for the proof of a chunk from block
// start on when the push holds it: a leaf of a block in memory (left, block
// start-1, or one read ahead; the chunk's own leaves are never proof nodes),
// a stored node of the current window, or a low parent over blocks read
// ahead. It is ProofWith's source.
func (ps *pushState) known(x, start uint64, before [][]byte) (feedtree.Node, bool) {
	lo, hi := feedtree.Spans(x)
	lo, hi = lo>>1, hi>>1
	// Blocks in memory: before (up to start), read ahead (from next).
	var blocks [][]byte
	switch {
	case hi < start && lo+uint64(len(before)) >= start:
		blocks = before[len(before)-int(start-lo):][:hi-lo+1]
	case lo >= ps.next && hi-ps.next < uint64(len(ps.ahead)):
		blocks = ps.ahead[lo-ps.next : hi-ps.next+1]
	}
	if x&1 == 0 {
		if blocks == nil {
			return feedtree.Node{}, false
		}
		return feedtree.LeafNode(lo, blocks[0]), true
	}
	if x >= 2*ps.winLo && x < 2*ps.winHi {
		j, ok := slices.BinarySearchFunc(ps.nodes, x, func(n feedtree.Node, x uint64) int { return cmp.Compare(n.Index, x) })
		if ok {
			return ps.nodes[j], true
		}
	}
	// A low parent the store leaves out (feedtree's implicit nodes), over
	// blocks in memory: hashed from them.
	if blocks == nil {
		return feedtree.Node{}, false
	}
	return feedtree.SubtreeNode(x, blocks)
}

// Up to behindBlocks blocks of at most behindBytes in all stay behind a
// push (at least one): a chunk's proof may carry the leaf of the block just
// before it and, when the peer trusts a longer head, the low parents left
// of it that the store leaves out (each at most 8 blocks over 4 KiB; the
// left siblings of one path cover at most the 15 blocks before it).
const (
	behindBlocks = 16
	behindBytes  = 8 << 10
)

// pushed records blocks, just pushed, as the ones behind next.
func (ps *pushState) pushed(blocks [][]byte) {
	all := append(append(make([][]byte, 0, len(ps.behind)+len(blocks)), ps.behind...), blocks...)
	k, size := len(all)-1, len(all[len(all)-1])
	for k > 0 && len(all)-k < behindBlocks && size+len(all[k-1]) <= behindBytes {
		k--
		size += len(all[k])
	}
	ps.behind = all[k:len(all):len(all)]
}

// window makes the node window cover the neighbourhood of blocks
// [start, end): from the block before start to a chunk's length past end.
func (ps *pushState) window(start, end uint64) {
	lo := max(start, 1) - 1
	if lo >= ps.winLo && end+(end-start) <= ps.winHi && ps.winHi > ps.winLo {
		return
	}
	hi := min(lo+max(nodeWindow, 3*(end-start)), ps.feed.Length())
	nodes, err := ps.feed.ScanNodes(2*lo, 2*hi, ps.nodes[:0])
	if err != nil {
		ps.nodes, ps.winLo, ps.winHi = nodes[:0], 0, 0 // the proof reads the store
		return
	}
	ps.nodes, ps.winLo, ps.winHi = nodes, lo, hi
}

// blockTime is the merge key of a log block: the node's time, the
// certificate (block 0) first, an undecodable block last.
func blockTime(i uint64, b []byte) int64 {
	if i == 0 {
		return math.MinInt64
	}
	t, err := dag.NodeTime(b)
	if err != nil {
		return math.MaxInt64
	}
	return t
}

// peek reads ahead from block next if nothing is read ahead, and sets
// nextTime; false when there is no block next.
func (ps *pushState) peek() bool {
	if len(ps.ahead) > 0 {
		return true
	}
	if ps.next >= ps.end {
		return false
	}
	ps.ahead, _ = ps.feed.GetRange(ps.next, min(ps.end, ps.next+readAhead), nil)
	if len(ps.ahead) == 0 {
		return false
	}
	ps.nextTime = blockTime(ps.next, ps.ahead[0])
	return true
}

// topUp reads the next readAhead blocks onto the read-ahead when fewer than
// behindBlocks are left in it: the proof of a chunk needs the low parents
// right of it, which the store leaves out, and hashes them from these.
func (ps *pushState) topUp() {
	from := ps.next + uint64(len(ps.ahead))
	if len(ps.ahead) >= behindBlocks || from >= ps.end {
		return
	}
	ps.ahead, _ = ps.feed.GetRange(from, min(ps.end, from+readAhead), ps.ahead)
	if len(ps.ahead) > 0 {
		ps.nextTime = blockTime(ps.next, ps.ahead[0])
	}
}

// pop takes block next off the read-ahead and moves to the one after.
func (ps *pushState) pop() []byte {
	b := ps.ahead[0]
	ps.ahead[0] = nil
	ps.ahead = ps.ahead[1:]
	ps.next++
	if len(ps.ahead) > 0 {
		ps.nextTime = blockTime(ps.next, ps.ahead[0])
	}
	return b
}

func (x *Host) newSession(ctx context.Context, idx dag.IndexKey, p peer.ID, c *wire, set *itemSet) *session {
	s := &session{x: x, idx: idx, peer: p, c: c, set: set, wake: make(chan struct{}, 1)}
	s.ctx, s.cancel = context.WithCancelCause(ctx)
	return s
}

// CatchUp estimates how far the running sync sessions of one index are
// from done.
type CatchUp struct {
	// Peers is how many peers are sending blocks that their signed heads
	// say are not all here yet (a peer syncing both ways counts once).
	Peers int
	// Remaining is how many more blocks those heads hold than the peers
	// have sent. It counts only logs a session has received blocks of (a
	// fresh follower's sessions reach every log early: pushes go in time
	// order), and a log two peers send counts twice.
	Remaining uint64
}

// CatchingUp reports the catch-up of idx by the sessions running now.
func (x *Host) CatchingUp(idx dag.IndexKey) CatchUp {
	x.mu.Lock()
	ss := make([]*session, 0, len(x.running))
	for s := range x.running {
		if s.idx == idx {
			ss = append(ss, s)
		}
	}
	x.mu.Unlock()
	var c CatchUp
	peers := map[peer.ID]bool{}
	for _, s := range ss {
		s.tmu.Lock()
		if s.leftSum > 0 {
			peers[s.peer] = true
			c.Remaining += s.leftSum
		}
		s.tmu.Unlock()
	}
	c.Peers = len(peers)
	return c
}

func (s *session) send(typ byte, body []byte) {
	s.mu.Lock()
	s.ctrl = append(s.ctrl, outFrame{typ, body})
	s.mu.Unlock()
	s.poke()
}

func (s *session) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// owe queues pushes of the logs the peer holds less of.
func (s *session) owe(ps []push) {
	for _, p := range ps {
		k, err := feedtree.KeyFromBytes(p.Key[:])
		if err != nil {
			continue
		}
		f, err := s.x.d.Feed(k)
		if err != nil {
			continue
		}
		it, _ := s.set.lookup(p.Key)
		if p.From >= it.Length {
			continue
		}
		ps := &pushState{key: k, feed: f, next: p.From, end: it.Length, trust: p.Trust}
		if !ps.peek() {
			continue // nothing held from p.From on
		}
		s.mu.Lock()
		ps.order = s.queued
		s.queued++
		heap.Push(&s.pushes, ps)
		s.mu.Unlock()
	}
	s.poke()
}

// stopPush drops the push of log k.
func (s *session) stopPush(k [32]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, q := range s.pushes {
		if q.key.Bytes() == k {
			heap.Remove(&s.pushes, i)
			return
		}
	}
	if s.inflight != nil && s.inflight.key.Bytes() == k {
		s.inflight = nil // writeLoop does not put it back
	}
}

// finish says no more pushes will be queued: the writer sends Done after them.
func (s *session) finish() {
	s.mu.Lock()
	s.finishing = true
	s.mu.Unlock()
	s.poke()
}

// writeLoop is the writer goroutine. It returns after writing Done.
func (s *session) writeLoop() error {
	for {
		s.mu.Lock()
		var f *outFrame
		var ps *pushState
		var limit int64
		switch {
		case len(s.ctrl) > 0:
			f = &s.ctrl[0]
			s.ctrl = s.ctrl[1:]
		case len(s.pushes) > 0:
			ps, limit = s.oldest()
			s.inflight = ps
		}
		finishing := s.finishing
		s.mu.Unlock()
		switch {
		case f != nil:
			if err := s.c.write(f.typ, f.body); err != nil {
				return err
			}
			if err := s.c.flush(); err != nil {
				return err
			}
		case ps != nil:
			done, err := s.writeChunk(ps, limit)
			if err != nil {
				return err
			}
			// Out of the queue, ps is the writer's alone: it reads ahead
			// without the lock, and goes back unless stopPush dropped it.
			more := !done && ps.peek()
			s.mu.Lock()
			if s.inflight == ps {
				s.inflight = nil
				if more {
					heap.Push(&s.pushes, ps)
				}
			}
			s.mu.Unlock()
		case finishing:
			if err := s.c.write(frameDone, nil); err != nil {
				return err
			}
			return s.c.flush()
		default:
			if err := s.c.flush(); err != nil {
				return err
			}
			select {
			case <-s.wake:
			case <-s.ctx.Done():
				return context.Cause(s.ctx)
			}
		}
	}
}

// oldest takes the push whose next block is oldest out of the queue and
// returns it with the time of the next block of any other push (the chunk
// limit). The caller holds s.mu and puts the push back if it has more.
func (s *session) oldest() (*pushState, int64) {
	ps := heap.Pop(&s.pushes).(*pushState)
	limit := int64(math.MaxInt64)
	if len(s.pushes) > 0 {
		limit = s.pushes[0].nextTime
	}
	return ps, limit
}

// writeChunk writes the next Data frame of ps: blocks from ps.next up to
// chunkBlocks, about chunkBytes, and (after the first) no newer than limit.
// Dear future: a minimum chunk (say 16 blocks before the limit applies)
// saves proofs when logs interleave finely, but measured 2.5x slower fresh
// catch-up (200k entries, 1,000 logs): every chunk then ends inside the
// next causal batch and the receiver's pending set grows.
// done reports that ps is finished.
func (s *session) writeChunk(ps *pushState, limit int64) (done bool, err error) {
	start, before := ps.next, ps.behind
	var blocks [][]byte
	size := 0
	for len(blocks) < chunkBlocks && size < chunkBytes && ps.peek() {
		if len(blocks) > 0 && ps.nextTime > limit {
			break
		}
		b := ps.pop()
		blocks = append(blocks, b)
		size += len(b)
	}
	if len(blocks) == 0 {
		return true, nil
	}
	end := start + uint64(len(blocks))
	// The proof is for a verifier that trusts the peer's newest head when
	// that is not beyond ours, else only its contiguous prefix.
	have := start
	if ps.trust > have && ps.trust <= ps.feed.Length() {
		have = ps.trust
	}
	if ps.selfContained {
		have = 0
	}
	// The proof's nodes come mostly from memory: the leaves beside the
	// chunk from its neighbouring blocks, the rest from the node window.
	ps.topUp()
	ps.window(start, end)
	p, err := ps.feed.ProofWith(start, end, have, func(x uint64) (feedtree.Node, bool) {
		return ps.known(x, start, before)
	})
	if err != nil {
		s.x.log.Debug("replicate: no proof to push", "log", ps.key, "start", start, "end", end, "err", err)
		return true, nil
	}
	// The proof and the frame are built in buffers the writer reuses:
	// wire.write copies the body before it returns.
	pb, err := p.AppendBinary(s.proofBuf[:0])
	if err != nil {
		return true, nil
	}
	s.proofBuf = pb
	m := data{Key: ps.key, Proof: pb, Blocks: blocks}
	s.frameBuf = m.appendBody(slices.Grow(s.frameBuf[:0], 64+len(pb)+size+5*len(blocks)))
	if err := s.c.write(frameData, s.frameBuf); err != nil {
		return false, err
	}
	s.x.st.blocksOut.Add(uint64(len(blocks)))
	ps.pushed(blocks)
	ps.next = end
	ps.trust = max(ps.trust, p.Head.Length)
	return end >= ps.end, nil
}

// ingest verifies and stores Data frames, in order, with one dag commit for
// all of them; the DAG applies them in the background. A frame that fails verification is the peer's fault: the
// session ends and the peer is penalised (the frames before it are kept).
func (s *session) ingest(bodies [][]byte) error {
	if !s.x.following(s.idx) {
		return errNotFollowed // unfollowed during the session: store nothing more
	}
	rs := make([]dag.Range, 0, len(bodies))
	var bad error
	for _, body := range bodies {
		m, err := decodeData(body)
		if err != nil {
			bad = err
			break
		}
		p, err := feedtree.DecodeProof(m.Proof)
		if err != nil {
			bad = fmt.Errorf("decoding proof: %v: %w", err, ErrMalformed)
			break
		}
		rs = append(rs, dag.Range{Log: m.Key, Proof: p, Blocks: m.Blocks})
	}
	if len(rs) > 0 {
		// Stored, not applied: the DAG's applier takes them behind (and
		// Store waits while too much waits for it).
		errs := s.x.d.Store(s.ctx, s.idx, rs)
		for i, r := range rs {
			if err := s.ingested(r, errs[i]); err != nil {
				return err
			}
		}
	}
	return bad
}

// ingested handles the outcome err of ingesting r.
func (s *session) ingested(r dag.Range, err error) error {
	switch {
	case err == nil:
		s.x.st.blocksIn.Add(uint64(len(r.Blocks)))
		k := r.Log.Bytes()
		s.tmu.Lock()
		if s.touched == nil {
			s.touched = map[[32]byte]bool{}
			s.left = map[[32]byte]uint64{}
		}
		s.touched[k] = true
		var left uint64
		if r.Proof.Head.Length > r.Proof.End {
			left = r.Proof.Head.Length - r.Proof.End
		}
		s.leftSum = s.leftSum - s.left[k] + left
		if left == 0 {
			delete(s.left, k)
		} else {
			s.left[k] = left
		}
		s.tmu.Unlock()
		return nil
	case s.x.faulty(r.Log, r.Proof, r.Blocks, err):
		return err
	case errors.Is(err, feedtree.ErrForked), errors.Is(err, dag.ErrForked), s.x.forkedOther(r.Log, r.Proof, err):
		// dag recorded the fork proof, or knew it. The peer holds the other
		// history: ask it where the two part (which also finds a third
		// history: checkFork has nothing to add), and stop it pushing that
		// log (a forked feed takes only what fits its own history).
		s.x.locateFork(s.peer, s.idx, r.Log)
		k := r.Log.Bytes()
		s.send(frameStop, k[:])
		return nil
	default:
		// Not applicable now (not contiguous, pending full, a stale proof):
		// ask the peer to stop pushing this log, and sync again later. A
		// peer whose frames keep failing is cut off. An upgrade that does
		// not fit this replica's history may be the other history of an
		// equivocating author: ask the peer for the proof that would show.
		if otherHistory(r.Proof, err) {
			s.x.checkFork(s.peer, s.idx, r.Log)
		}
		if s.stale.Add(1) > maxStaleFrames {
			return fmt.Errorf("more than %d frames that do not apply: %w", maxStaleFrames, err)
		}
		s.retry.Store(true)
		k := r.Log.Bytes()
		s.send(frameStop, k[:])
		s.x.log.Debug("replicate: sync data not applied", "log", r.Log, "err", err)
		return nil
	}
}

// faulty reports whether an Ingest error is the sender's fault. A bad
// signature always is (it is checked on its own). A proof that does not fit
// is only when it is self-contained (Have == 0) and fails on its own: one
// for a verifier at another trusted length can be stale (sessions and
// gossip race, heads move), which costs a retry, not a ban.
func (x *Host) faulty(k feedtree.Key, p *feedtree.Proof, blocks [][]byte, err error) bool {
	if !peerFault(err) {
		return false
	}
	if errors.Is(err, dag.ErrBadCert) && p.Start != 0 {
		return false // we lack the log's certificate: not applicable yet
	}
	var me *feedtree.MismatchError
	if !errors.Is(err, feedtree.ErrBadProof) && !errors.As(err, &me) {
		return true
	}
	if p.Have == 0 {
		_, verr := feedtree.VerifyProof(k, p, nil, blocks)
		return verr != nil
	}
	return false
}

// peerFault reports whether err means that the data itself is invalid, so
// that whoever sent it did not verify it.
func peerFault(err error) bool {
	if err == nil {
		return false
	}
	var me *feedtree.MismatchError
	if errors.Is(err, dag.ErrBadNode) && strings.Contains(err.Error(), "stuck") {
		return false // our own log state, not this data
	}
	return errors.As(err, &me) || errors.Is(err, feedtree.ErrBadSignature) || errors.Is(err, feedtree.ErrBadProof) ||
		errors.Is(err, dag.ErrBadCert) || errors.Is(err, dag.ErrBadSignature) || errors.Is(err, dag.ErrMalformed) ||
		errors.Is(err, dag.ErrNonCanonical) || errors.Is(err, dag.ErrTooLarge) || errors.Is(err, dag.ErrBadNode) ||
		errors.Is(err, dag.ErrWrongIndex) || errors.Is(err, ErrMalformed) || errors.Is(err, ErrFrameTooLarge)
}

// run drives the session after the opening frame (sent or received) until
// both sides have sent Done. reconDone is true when the opening already
// settled reconciliation.
func (s *session) run(reconDone bool) error {
	defer s.cancel(nil)
	s.x.mu.Lock()
	s.x.running[s] = struct{}{}
	s.x.mu.Unlock()
	defer func() {
		s.x.mu.Lock()
		delete(s.x.running, s)
		s.x.mu.Unlock()
	}()
	ctrl := make(chan outFrame, 4)
	datac := make(chan []byte, 16)
	errc := make(chan error, 3)
	var wg sync.WaitGroup
	wg.Add(3)
	writerDone := make(chan struct{})
	ingestDone := make(chan struct{})
	go func() { // reader
		defer wg.Done()
		defer close(datac)
		for {
			typ, body, err := s.c.read()
			if err != nil {
				if errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrMalformed) {
					s.x.penalize(s.peer, err)
				}
				errc <- fmt.Errorf("reading from %s: %w", s.peer, err)
				return
			}
			switch typ {
			case frameData:
				s.x.st.dataIn.Add(uint64(1 + len(body) + uvarintLen(uint64(1+len(body)))))
				b := make([]byte, len(body))
				copy(b, body)
				select {
				case datac <- b:
				case <-s.ctx.Done():
					return
				}
			default:
				b := append([]byte(nil), body...)
				select {
				case ctrl <- outFrame{typ, b}:
				case <-s.ctx.Done():
					return
				}
				if typ == frameDone || typ == frameError {
					return
				}
			}
		}
	}()
	go func() { // ingester
		defer wg.Done()
		defer close(ingestDone)
		for b := range datac {
			// Frames that queued up while the last batch was stored go
			// into the next one: one commit for all of them.
			batch := [][]byte{b}
		more:
			for len(batch) < ingestBatch {
				select {
				case b, ok := <-datac:
					if !ok {
						break more
					}
					batch = append(batch, b)
				default:
					break more
				}
			}
			if err := s.ingest(batch); err != nil {
				if peerFault(err) || errors.Is(err, ErrMalformed) {
					s.x.penalize(s.peer, err)
				}
				errc <- err
				return
			}
		}
	}()
	go func() { // writer
		defer wg.Done()
		defer close(writerDone)
		if err := s.writeLoop(); err != nil {
			errc <- fmt.Errorf("writing to %s: %w", s.peer, err)
		}
	}()
	fail := func(err error) error {
		s.cancel(err)
		s.c.s.Reset()
		wg.Wait()
		return err
	}
	s.forks()
	if reconDone {
		s.finish()
	}
	rounds, peerDone := 0, false
	for !peerDone {
		select {
		case err := <-errc:
			return fail(err)
		case <-s.ctx.Done():
			return fail(context.Cause(s.ctx))
		case f := <-ctrl:
			switch f.typ {
			case frameRanges:
				rs, err := decodeRanges(f.body)
				if err != nil {
					s.x.penalize(s.peer, err)
					return fail(err)
				}
				if len(rs) == 0 {
					reconDone = true
					s.finish()
					continue
				}
				if rounds++; rounds > maxReconRounds {
					return fail(fmt.Errorf("reconciling with %s: more than %d rounds", s.peer, maxReconRounds))
				}
				out, ps, err := s.set.reconcile(rs)
				if err != nil {
					s.x.penalize(s.peer, err)
					return fail(err)
				}
				s.owe(ps)
				s.send(frameRanges, appendRanges(nil, out))
				if out == nil {
					reconDone = true
					s.finish()
				}
			case frameCursor:
				view := s.x.cursor(s.peer, s.idx)
				if view == nil {
					return fail(fmt.Errorf("reconciling with %s: cursor lost", s.peer))
				}
				out, ps := diffView(s.set, view)
				s.owe(ps)
				s.send(frameRanges, appendRanges(nil, out))
				if out == nil {
					reconDone = true
					s.finish()
				}
			case frameFork:
				if err := s.fork(f.body); err != nil {
					s.x.penalize(s.peer, err)
					return fail(err)
				}
			case frameStop:
				if len(f.body) != 32 {
					err := fmt.Errorf("stop frame of %d bytes: %w", len(f.body), ErrMalformed)
					s.x.penalize(s.peer, err)
					return fail(err)
				}
				s.tmu.Lock()
				if s.stopped == nil {
					s.stopped = map[[32]byte]bool{}
				}
				s.stopped[[32]byte(f.body)] = true
				s.tmu.Unlock()
				s.stopPush([32]byte(f.body))
			case frameDone:
				peerDone = true
				if !reconDone {
					reconDone = true
					s.finish()
				}
			case frameError:
				re, err := decodeError(f.body)
				if err != nil {
					return fail(err)
				}
				return fail(re)
			default:
				err := fmt.Errorf("frame type %d in a sync session: %w", f.typ, ErrMalformed)
				s.x.penalize(s.peer, err)
				return fail(err)
			}
		}
	}
	for _, ch := range []chan struct{}{ingestDone, writerDone} {
		select {
		case <-ch:
		case err := <-errc:
			return fail(err)
		case <-s.ctx.Done():
			return fail(context.Cause(s.ctx))
		}
	}
	s.c.s.Close()
	wg.Wait()
	select {
	case err := <-errc:
		if !errors.Is(err, io.EOF) && !errors.Is(err, context.Canceled) {
			return err
		}
	default:
	}
	return nil
}

// diffView compares set with a view of the peer's set known exactly (a
// cursor): it returns the pushes owed and, as an item-diff range, the items
// where this side is behind, so the peer pushes those.
func diffView(set, view *itemSet) ([]rng, []push) {
	var back []item
	var ps []push
	for _, m := range set.items {
		v, ok := view.lookup(m.Key)
		switch {
		case !ok:
			ps = append(ps, push{Key: m.Key})
		case m.Length > v.Length:
			ps = append(ps, push{Key: m.Key, From: v.Length, Trust: v.Trust})
		case m.Length < v.Length:
			back = append(back, m)
		case m.Head != v.Head:
			ps = append(ps, push{Key: m.Key, From: forkFrom(m.Length), Trust: v.Trust})
			back = append(back, m)
		}
	}
	for _, v := range view.items {
		if _, ok := set.lookup(v.Key); !ok {
			back = append(back, item{Key: v.Key})
		}
	}
	if len(back) == 0 {
		return nil, ps
	}
	return []rng{{upper: bound{inf: true}, mode: modeItemsDiff, items: back}}, ps
}

// cursor returns the view of p's set for idx recorded at the end of the last
// successful session, or nil.
func (x *Host) cursor(p peer.ID, idx dag.IndexKey) *itemSet {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.cursors[cursorKey{p, idx}]
}

func (x *Host) setCursor(p peer.ID, idx dag.IndexKey, set *itemSet) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.cursors) >= maxCursors {
		for k := range x.cursors { // evict an arbitrary one
			delete(x.cursors, k)
			break
		}
	}
	x.cursors[cursorKey{p, idx}] = set
}

// syncWith runs one sync session for idx with p, as initiator.
func (x *Host) syncWith(ctx context.Context, p peer.ID, idx dag.IndexKey) error {
	if x.isClosed() {
		return ErrClosed
	}
	// A sync asked for while idx was followed (a retry, a timer) runs
	// after an Unfollow: nothing of idx is fetched once unfollowed.
	if !x.following(idx) {
		return fmt.Errorf("replicate: sync: %v: %w", idx, errNotFollowed)
	}
	tag := "indexd-sync"
	x.h.ConnManager().Protect(p, tag)
	defer x.h.ConnManager().Unprotect(p, tag)
	k := cursorKey{p, idx}
	x.mu.Lock()
	x.outbound[k]++
	x.mu.Unlock()
	defer func() {
		x.mu.Lock()
		if x.outbound[k]--; x.outbound[k] <= 0 {
			delete(x.outbound, k)
		}
		x.mu.Unlock()
	}()
	octx, cancel := context.WithTimeout(ctx, dialTimeout)
	st, err := x.h.NewStream(octx, p, SyncProtocol)
	cancel()
	if err != nil {
		return fmt.Errorf("replicate: opening sync stream to %s: %w", p, err)
	}
	st.Scope().SetService("indexd-sync")
	set, err := x.items(idx)
	if err != nil {
		st.Reset()
		return fmt.Errorf("replicate: reading logs of %v: %w", idx, err)
	}
	c := newWire(x, st)
	hl := hello{Index: idx.Bytes(), FP: set.all(), Count: uint64(len(set.items))}
	if v := x.cursor(p, idx); v != nil {
		hl.View = v.all()
	}
	if err := c.write(frameHello, hl.appendBody(nil)); err != nil {
		st.Reset()
		return err
	}
	if err := c.flush(); err != nil {
		st.Reset()
		return err
	}
	s := x.newSession(ctx, idx, p, c, set)
	if err := s.run(false); err != nil {
		var re *RemoteError
		if errors.As(err, &re) && re.Code == codeBusy {
			// The peer's own session with us goes on, but it may have
			// started before what we now want: try again once it ends.
			x.syncSoon(p, idx)
		}
		return fmt.Errorf("replicate: syncing %v with %s: %w", idx, p, err)
	}
	x.finished(s)
	return nil
}

// finished records a successful session: the cursor, and a later retry if
// something did not apply.
func (x *Host) finished(s *session) {
	x.st.rounds.Add(1)
	// The peer now holds what this side held at the start (it got our
	// pushes) plus what we ingested from it. Local appends made meanwhile
	// are not in its set, so they are left out of the view.
	if fresh, err := x.items(s.idx); err == nil {
		s.tmu.Lock()
		view := make([]item, 0, len(s.set.items)+len(s.touched))
		for _, it := range s.set.items {
			// A log the peer stopped did not reach it in full: leave it out
			// of the view, so the next session offers it again instead of
			// believing the peer holds it.
			if !s.touched[it.Key] && !s.stopped[it.Key] {
				view = append(view, it)
			}
		}
		for k := range s.touched {
			if it, ok := fresh.lookup(k); ok {
				view = append(view, it)
			}
		}
		s.tmu.Unlock()
		x.setCursor(s.peer, s.idx, newItemSet(view))
	}
	// Retry soon only while sessions make progress; otherwise gossip and
	// anti-entropy bring the next attempt.
	s.tmu.Lock()
	progress := len(s.touched) > 0
	s.tmu.Unlock()
	// Without progress, back off (up to stalledRetryMax) rather than wait
	// for anti-entropy: a gap that one session could not fill (frames that
	// raced a head upgrade) must not stay open for a minute.
	if s.retry.Load() {
		wait := time.Second
		if !progress {
			wait = x.stalledBackoff(s.peer, s.idx)
		} else {
			x.resetBackoff(s.peer, s.idx)
		}
		go func() {
			select {
			case <-time.After(wait):
				x.requestSync(s.peer, s.idx)
			case <-x.ctx.Done():
			}
		}()
	} else {
		x.resetBackoff(s.peer, s.idx)
	}
}

// handleSync serves a sync session a peer opened.
func (x *Host) handleSync(st network.Stream) {
	p := st.Conn().RemotePeer()
	if err := st.Scope().SetService("indexd-sync"); err != nil {
		st.Reset()
		return
	}
	x.mu.Lock()
	if x.inbound[p] >= maxInboundSessions || x.closed {
		x.mu.Unlock()
		st.Reset()
		return
	}
	x.inbound[p]++
	x.wg.Add(1)
	x.mu.Unlock()
	defer x.wg.Done()
	defer func() {
		x.mu.Lock()
		if x.inbound[p]--; x.inbound[p] <= 0 {
			delete(x.inbound, p)
		}
		x.mu.Unlock()
	}()
	c := newWire(x, st)
	typ, body, err := c.read()
	if err != nil {
		if errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrMalformed) {
			x.penalize(p, err)
		}
		st.Reset()
		return
	}
	if typ != frameHello {
		x.penalize(p, fmt.Errorf("sync opened with frame type %d: %w", typ, ErrMalformed))
		st.Reset()
		return
	}
	hl, err := decodeHello(body)
	if err != nil {
		x.penalize(p, err)
		st.Reset()
		return
	}
	idx := dag.IndexKeyFromBytes(hl.Index)
	if !x.following(idx) {
		c.write(frameError, appendError(nil, codeNotFound, "index not followed"))
		c.flush()
		st.Close()
		return
	}
	set, err := x.items(idx)
	if err != nil {
		c.write(frameError, appendError(nil, codeNotFound, "index not held"))
		c.flush()
		st.Close()
		return
	}
	// One session per (peer, index) at a time: when both sides open one at
	// once, the one opened by the lower peer id goes on.
	x.mu.Lock()
	busy := x.outbound[cursorKey{p, idx}] > 0 && x.h.ID() < p
	x.mu.Unlock()
	if busy {
		c.write(frameError, appendError(nil, codeBusy, "a session is running"))
		c.flush()
		st.Close()
		return
	}
	x.h.ConnManager().Protect(p, "indexd-sync")
	defer x.h.ConnManager().Unprotect(p, "indexd-sync")
	s := x.newSession(x.ctx, idx, p, c, set)
	reconDone := false
	view := x.cursor(p, idx)
	x.log.Debug("replicate: sync opening", "peer", p, "equal", hl.FP == set.all(), "cursor", view != nil && view.all() == hl.FP,
		"peerCursor", hl.View != (fingerprint{}) && hl.View == set.all(), "haveCursor", view != nil)
	switch {
	case hl.FP == set.all():
		reconDone = true
	case view != nil && view.all() == hl.FP:
		out, ps := diffView(set, view)
		s.owe(ps)
		s.send(frameRanges, appendRanges(nil, out))
		reconDone = out == nil
	case hl.View != (fingerprint{}) && hl.View == set.all():
		s.send(frameCursor, nil)
	default:
		s.send(frameRanges, appendRanges(nil, set.initialRanges()))
	}
	if err := s.run(reconDone); err != nil {
		x.log.Debug("replicate: serving sync", "peer", p, "index", idx, "err", err)
		return
	}
	x.finished(s)
}

// stalledRetryMin and stalledRetryMax bound the wait before retrying a
// session that could not apply something and made no progress.
const (
	stalledRetryMin = 2 * time.Second
	stalledRetryMax = 30 * time.Second
)

// stalledBackoff doubles the wait for (p, idx), from stalledRetryMin up to
// stalledRetryMax.
func (x *Host) stalledBackoff(p peer.ID, idx dag.IndexKey) time.Duration {
	x.mu.Lock()
	defer x.mu.Unlock()
	k := cursorKey{p, idx}
	if x.backoff == nil {
		x.backoff = map[cursorKey]time.Duration{}
	}
	d := x.backoff[k]
	if d == 0 {
		d = stalledRetryMin
	} else {
		d = min(2*d, stalledRetryMax)
	}
	x.backoff[k] = d
	return d
}

func (x *Host) resetBackoff(p peer.ID, idx dag.IndexKey) {
	x.mu.Lock()
	delete(x.backoff, cursorKey{p, idx})
	x.mu.Unlock()
}
