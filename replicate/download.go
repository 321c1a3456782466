package replicate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"indexd/feedtree"
)

// Download tuning.
const (
	// requestBlocks is how many blocks one request asks for (2 MiB of 64 KiB
	// blocks): large enough that a proof costs a few bytes per block.
	requestBlocks = 32
	// requestWindow is how many requests one stream keeps in flight.
	requestWindow = 6
	// maxChunkAttempts bounds how often one chunk is asked again after
	// answers that were stale (the feed grew meanwhile) before the peer that
	// keeps answering so is treated as faulty.
	maxChunkAttempts = 8
	// answerStorers is how many goroutines per stream verify and store
	// answers at once.
	answerStorers = 2
)

// BlockRange is the block indexes [Start, End) of a feed.
type BlockRange struct{ Start, End uint64 }

// feedConn is one content stream to a peer for one feed.
type feedConn struct {
	x    *Host
	pid  peer.ID
	c    *wire
	f    *feedtree.Feed
	peer uint64 // the peer's length, as it said at open
}

// openContent opens a content stream to pid for f, sends cOpen with f's
// length and applies the upgrade proof of the answer.
func (x *Host) openContent(ctx context.Context, pid peer.ID, f *feedtree.Feed, flags byte) (*feedConn, error) {
	if x.isClosed() {
		return nil, ErrClosed
	}
	octx, cancel := context.WithTimeout(ctx, dialTimeout)
	st, err := x.h.NewStream(octx, pid, ContentProtocol)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("replicate: opening content stream to %s: %w", pid, err)
	}
	fc := &feedConn{x: x, pid: pid, c: newWire(x, st), f: f}
	// Cancelling ctx aborts the handshake at once, not after idleTimeout
	// when the peer has stalled.
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	o := contentOpen{Key: f.Key().Bytes(), Flags: flags, Have: f.Length()}
	if err := fc.c.write(cOpen, o.appendBody(nil)); err == nil {
		err = fc.c.flush()
	}
	if err != nil {
		st.Reset()
		return nil, err
	}
	typ, body, err := fc.c.read()
	if err == nil && typ == frameError {
		st.Reset()
		if re, err := decodeError(body); err == nil {
			return nil, re
		}
		return nil, ErrNotFound
	}
	var h contentHead
	if err == nil && typ != cHead {
		err = fmt.Errorf("content answer of type %d: %w", typ, ErrMalformed)
	}
	if err == nil {
		h, err = decodeContentHead(body)
	}
	if err == nil && len(h.Proof) > 0 {
		err = fc.putUpgrade(h.Proof)
	}
	if err != nil {
		if peerFault(err) {
			x.penalize(pid, err)
		}
		st.Reset()
		return nil, err
	}
	fc.peer = h.Length
	return fc, nil
}

// stale reports whether p was built for a length f no longer has: the
// feed was upgraded by someone else since the request went out.
func stale(p *feedtree.Proof, n uint64) bool {
	if p.Head.Length > n {
		return p.Have != n
	}
	return p.Have < p.Head.Length
}

// putUpgrade verifies and stores a head-only upgrade proof.
func (fc *feedConn) putUpgrade(b []byte) error {
	p, err := feedtree.DecodeProof(b)
	if err != nil {
		return err
	}
	if p.Start != p.End {
		return fmt.Errorf("head proof carries blocks: %w", ErrMalformed)
	}
	fc.x.content().proofBytesIn.Add(uint64(len(b)))
	if p.Head.Length <= fc.f.Length() {
		return nil // nothing new (another peer upgraded us meanwhile)
	}
	if err := fc.f.Put(p, nil); err != nil {
		if stale(p, fc.f.Length()) {
			return nil
		}
		return err
	}
	return nil
}

func (fc *feedConn) close() { fc.c.s.Close() }

// FetchRange makes blocks [start, end) of f present, fetching the missing
// ones from peer p (several requests in flight on one stream) and
// verifying each answer against f's trusted head before storing it. The
// head is first upgraded to the peer's when that is longer. It stops at
// end; a block the peer does not serve is an error wrapping ErrNotFound.
func (x *Host) FetchRange(ctx context.Context, p string, f *feedtree.Feed, start, end uint64) error {
	return x.Download(ctx, f, []BlockRange{{start, end}}, []string{p}, nil)
}

// workerAttempts bounds how often one peer's download worker reopens its
// stream after a failure that was not the peer's fault.
const workerAttempts = 3

// chunk is one request's worth of missing blocks.
type chunk struct {
	BlockRange
	missingAt []peer.ID // peers that said they do not serve it
	attempts  int
}

// plan hands chunks to per-peer workers and gathers results.
type plan struct {
	mu       sync.Mutex
	cond     *sync.Cond
	queue    []*chunk
	left     int // chunks not stored yet
	workers  int // live workers
	waiting  int // workers waiting in take and not woken since (see wakeLocked)
	inflight int
	err      error

	done, total uint64
	progress    func(done, total uint64)
}

func (pl *plan) failLocked(err error) {
	if pl.err == nil {
		pl.err = err
	}
	pl.wakeLocked()
}

// take returns the next chunk pid has not been refused, or nil when the
// plan is finished or failed.
func (pl *plan) take(ctx context.Context, pid peer.ID) *chunk {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	for {
		if pl.err != nil || pl.left == 0 || ctx.Err() != nil {
			return nil
		}
		for i, ch := range pl.queue {
			if !slices.Contains(ch.missingAt, pid) {
				pl.queue = slices.Delete(pl.queue, i, i+1)
				pl.inflight++
				return ch
			}
		}
		pl.waiting++
		pl.checkStuckLocked()
		if pl.err != nil {
			return nil
		}
		pl.cond.Wait() // wakeLocked took this worker off waiting
	}
}

// wakeLocked wakes every worker waiting in take. Woken workers no longer
// count as waiting until they have looked at the queue again: a worker
// that was woken for a chunk but has not yet run must not make
// checkStuckLocked think that everyone is stuck.
func (pl *plan) wakeLocked() {
	pl.waiting = 0
	pl.cond.Broadcast()
}

// checkStuckLocked fails the plan when every live worker waits for a chunk
// none of them can get.
func (pl *plan) checkStuckLocked() {
	if pl.left > 0 && pl.inflight == 0 && pl.waiting >= pl.workers {
		var first BlockRange
		if len(pl.queue) > 0 {
			first = pl.queue[0].BlockRange
		}
		pl.failLocked(fmt.Errorf("replicate: no peer serves blocks [%d, %d): %w", first.Start, first.End, ErrNotFound))
	}
}

// requeue puts ch back (after a missing or stale answer, or a dead worker).
func (pl *plan) requeue(ch *chunk) {
	pl.mu.Lock()
	pl.inflight--
	pl.queue = append(pl.queue, ch)
	pl.wakeLocked()
	pl.mu.Unlock()
}

// stored records that [ch.Start, upto) are stored; the rest of ch, if any,
// goes back into the queue.
func (pl *plan) stored(ch *chunk, upto uint64, bytes uint64) {
	pl.mu.Lock()
	pl.inflight--
	if upto < ch.End {
		pl.queue = append(pl.queue, &chunk{BlockRange: BlockRange{upto, ch.End}})
		pl.left++
	}
	pl.left--
	pl.done += bytes
	if pl.progress != nil {
		pl.progress(pl.done, pl.total)
	}
	pl.wakeLocked()
	pl.mu.Unlock()
}

func (pl *plan) workerDone() {
	pl.mu.Lock()
	pl.workers--
	pl.checkStuckLocked()
	pl.wakeLocked()
	pl.mu.Unlock()
}

// Download makes the blocks of ranges present in f, fetching the missing
// ones from peers (peer IDs) in parallel: each peer gets one stream with
// requestWindow requests in flight, and chunks of requestBlocks blocks go
// to whichever peer is free. Each answer is verified against f's trusted
// head before it is stored (a peer with a longer head first upgrades f).
// A peer whose answer fails verification is penalised (disconnected and
// banned) and its chunks are fetched from the others; a chunk a peer does
// not serve goes to another. progress, if set, is called after each stored
// answer with the blocks stored so far and the blocks that were missing.
// It returns nil once every block is present, or an error wrapping
// ErrNotFound when no remaining peer serves some block.
func (x *Host) Download(ctx context.Context, f *feedtree.Feed, ranges []BlockRange, peers []string, progress func(done, total uint64)) error {
	pl := &plan{progress: progress}
	pl.cond = sync.NewCond(&pl.mu)
	for _, r := range ranges {
		for i := r.Start; i < r.End; {
			if f.Has(i) {
				i++
				continue
			}
			j := i + 1
			for j < r.End && j-i < requestBlocks && !f.Has(j) {
				j++
			}
			pl.queue = append(pl.queue, &chunk{BlockRange: BlockRange{i, j}})
			pl.total += j - i
			i = j
		}
	}
	pl.left = len(pl.queue)
	if pl.left == 0 {
		return nil
	}
	var pids []peer.ID
	for _, p := range peers {
		pid, err := peer.Decode(p)
		if err != nil {
			return fmt.Errorf("replicate: peer id %q: %w", p, err)
		}
		if pid != x.h.ID() && !slices.Contains(pids, pid) {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		return fmt.Errorf("replicate: downloading %v: no peers: %w", f.Key(), ErrNotFound)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		pl.mu.Lock()
		pl.wakeLocked()
		pl.mu.Unlock()
	})
	defer stop()
	pl.workers = len(pids)
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var errs []error
	for _, pid := range pids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pl.workerDone()
			// A worker whose stream failed for a passing reason (a dial or
			// stream timeout on a loaded machine) tries again a few times:
			// it may be the only peer holding some blocks. A banned peer
			// does not get another chance.
			for attempt := 1; ; attempt++ {
				err := x.downloadFrom(ctx, pid, f, pl)
				if err == nil {
					return
				}
				pl.mu.Lock()
				finished := pl.err != nil || pl.left == 0
				pl.mu.Unlock()
				if finished || attempt >= workerAttempts || ctx.Err() != nil || x.banned(pid) {
					errMu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", pid.ShortString(), err))
					errMu.Unlock()
					return
				}
				select {
				case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
				case <-ctx.Done():
				}
			}
		}()
	}
	wg.Wait()
	pl.mu.Lock()
	left, perr := pl.left, pl.err
	pl.mu.Unlock()
	if left == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if perr == nil {
		perr = fmt.Errorf("replicate: downloading %v: %d chunks left: %w", f.Key(), left, ErrNotFound)
	}
	return errors.Join(append([]error{perr}, errs...)...)
}

// downloadFrom runs one peer's worker: a sender that keeps requestWindow
// requests in flight, a reader that takes the answers off the stream and a
// storer (this goroutine) that verifies and stores them in order, so
// reading the next answer overlaps with hashing and writing the last.
func (x *Host) downloadFrom(ctx context.Context, pid peer.ID, f *feedtree.Feed, pl *plan) error {
	fc, err := x.openContent(ctx, pid, f, 0)
	if err != nil {
		return err
	}
	// Cancelling ctx (an interrupted get) aborts the stream at once: the
	// reader would otherwise wait out idleTimeout for a peer that stalled,
	// and Download would return only then.
	stop := context.AfterFunc(ctx, func() { fc.c.s.Reset() })
	defer stop()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sent := make(chan *chunk, requestWindow)
	sendErr := make(chan error, 1)
	go func() {
		defer close(sent)
		var buf []byte
		for {
			ch := pl.take(wctx, pid)
			if ch == nil {
				fc.c.s.CloseWrite()
				sendErr <- nil
				return
			}
			select {
			case sent <- ch:
			case <-wctx.Done():
				pl.requeue(ch)
				sendErr <- nil
				return
			}
			r := contentRequest{Start: ch.Start, End: ch.End, Have: f.Length()}
			buf = r.appendBody(buf[:0], true)
			err := fc.c.write(cRequest, buf)
			if err == nil {
				err = fc.c.flush()
			}
			if err != nil {
				sendErr <- err
				return
			}
		}
	}()
	// The reader takes answers off the stream while storers verify and
	// store the previous ones: hashing and the store's write overlap with
	// receiving, and with answerStorers one answer's commit overlaps with
	// the next one's hashing (Put under a trusted head takes the feed's
	// lock shared). Answers are read into buffers the storers hand back, so
	// at most requestWindow+answerStorers answers are held at once.
	answers := make(chan answer, requestWindow)
	free := make(chan []byte, requestWindow+answerStorers+1)
	go fc.readAnswers(sent, answers, free)
	var rmu sync.Mutex
	var rerr error
	var swg sync.WaitGroup
	for range answerStorers {
		swg.Add(1)
		go func() {
			defer swg.Done()
			for a := range answers {
				rmu.Lock()
				failed := rerr != nil
				rmu.Unlock()
				var err error
				switch {
				case failed:
					pl.requeue(a.ch)
				case a.err != nil:
					pl.requeue(a.ch)
					err = a.err
				default:
					err = fc.store(a.ch, a.typ, a.body, pl)
				}
				select {
				case free <- a.buf:
				default:
				}
				if err != nil {
					rmu.Lock()
					if rerr == nil {
						rerr = err
						cancel()
						fc.c.s.Reset()
					}
					rmu.Unlock()
				}
			}
		}()
	}
	swg.Wait()
	if err := <-sendErr; rerr == nil && err != nil {
		rerr = err
	}
	if rerr == nil {
		fc.c.s.Close()
	}
	return rerr
}

// answer is one read answer (or the read error) to the request for ch.
type answer struct {
	ch   *chunk
	typ  byte
	body []byte // aliases buf
	buf  []byte
	err  error
}

// readAnswers reads one answer per chunk of sent, in order, into out. After
// a read error every further chunk is passed on with that error, so the
// storer requeues each exactly once. It closes out when sent is closed.
func (fc *feedConn) readAnswers(sent <-chan *chunk, out chan<- answer, free <-chan []byte) {
	defer close(out)
	var err error
	for ch := range sent {
		if err != nil {
			out <- answer{ch: ch, err: err}
			continue
		}
		var buf []byte
		select {
		case buf = <-free:
		default:
		}
		c := fc.c
		c.s.SetReadDeadline(time.Now().Add(idleTimeout))
		typ, body, n, rerr := readFrame(c.r, &buf)
		c.in.Add(uint64(n))
		c.x.st.bytesIn.Add(uint64(n))
		if rerr != nil {
			err = fmt.Errorf("reading content answer: %w", rerr)
			out <- answer{ch: ch, err: err}
			continue
		}
		out <- answer{ch: ch, typ: typ, body: body, buf: buf}
	}
}

// store verifies and stores the answer (typ, body) to ch. It requeues ch
// (or its remainder) unless it returns nil with ch fully stored; an error
// ends the worker.
func (fc *feedConn) store(ch *chunk, typ byte, body []byte, pl *plan) error {
	switch typ {
	case cMissing:
		r, err := decodeContentRequest(body, false)
		if err == nil && (r.Start != ch.Start || r.End != ch.End) {
			err = fmt.Errorf("missing [%d, %d) answers request [%d, %d): %w", r.Start, r.End, ch.Start, ch.End, ErrMalformed)
		}
		if err != nil {
			pl.requeue(ch)
			fc.x.penalize(fc.pid, err)
			return err
		}
		ch.missingAt = append(ch.missingAt, fc.pid)
		pl.requeue(ch)
		return nil
	case cData:
	case frameError:
		pl.requeue(ch)
		if re, err := decodeError(body); err == nil {
			return re
		}
		return ErrMalformed
	default:
		pl.requeue(ch)
		err := fmt.Errorf("content answer of type %d: %w", typ, ErrMalformed)
		fc.x.penalize(fc.pid, err)
		return err
	}
	m, err := decodeContentData(body)
	var p *feedtree.Proof
	if err == nil {
		p, err = feedtree.DecodeProof(m.Proof)
	}
	if err == nil && (p.Start != ch.Start || p.End <= p.Start || p.End > ch.End || uint64(len(m.Blocks)) != p.End-p.Start) {
		err = fmt.Errorf("answer [%d, %d) with %d blocks to request [%d, %d): %w", p.Start, p.End, len(m.Blocks), ch.Start, ch.End, ErrMalformed)
	}
	if err == nil {
		err = fc.f.Put(p, m.Blocks)
		if err != nil && stale(p, fc.f.Length()) && !errors.Is(err, feedtree.ErrForked) {
			ch.attempts++
			if ch.attempts <= maxChunkAttempts {
				pl.requeue(ch)
				return nil
			}
			err = fmt.Errorf("%w: %d stale answers for [%d, %d)", feedtree.ErrBadProof, ch.attempts, ch.Start, ch.End)
		}
	}
	if err != nil {
		pl.requeue(ch)
		if peerFault(err) {
			fc.x.penalize(fc.pid, err)
			return err
		}
		pl.mu.Lock()
		pl.failLocked(fmt.Errorf("replicate: storing blocks [%d, %d): %w", ch.Start, ch.End, err))
		pl.mu.Unlock()
		return err
	}
	cs := fc.x.content()
	var n uint64
	for _, b := range m.Blocks {
		n += uint64(len(b))
	}
	cs.blocksIn.Add(uint64(len(m.Blocks)))
	cs.blockBytesIn.Add(n)
	cs.proofBytesIn.Add(uint64(len(m.Proof)))
	pl.stored(ch, p.End, uint64(len(m.Blocks)))
	return nil
}

// Upgrade asks each of peers for its head of f and verifies and stores
// the longest signed length it hears of (an upgrade proof from f's length
// per peer). It returns the peers that hold a non-empty f, longest first,
// and an error wrapping ErrNotFound when none does.
func (x *Host) Upgrade(ctx context.Context, f *feedtree.Feed, peers []string) ([]FeedPeer, error) {
	var mu sync.Mutex
	var out []FeedPeer
	var errs []error
	var wg sync.WaitGroup
	for _, p := range peers {
		pid, err := peer.Decode(p)
		if err != nil {
			return nil, fmt.Errorf("replicate: peer id %q: %w", p, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fc, err := x.openContent(ctx, pid, f, 0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			fc.close()
			out = append(out, FeedPeer{ID: p, Length: fc.peer})
		}()
	}
	wg.Wait()
	sortFeedPeers(out)
	if len(out) == 0 {
		return nil, errors.Join(append([]error{fmt.Errorf("replicate: no peer holds %v: %w", f.Key(), ErrNotFound)}, errs...)...)
	}
	return out, nil
}
