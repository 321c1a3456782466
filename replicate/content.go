package replicate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"indexd/feedtree"
)

// ContentProtocol moves content feeds (and any other feed this node holds):
// block requests pipelined on one stream, each answered with only the
// proof nodes the requester cannot compute, signed-length upgrades, and
// live push of new heads and blocks. See the content frame types below and
// docs/content-network.md.
const ContentProtocol = protocol.ID("/indexd/content/1.0.0")

// Content protocol bounds.
const (
	// maxContentStreams bounds the content streams one peer may have open
	// to us at once (requests and live subscriptions together).
	maxContentStreams = 16
	// maxRequestBlocks bounds the blocks one request may name.
	maxRequestBlocks = 256
	// contentBudget bounds the block bytes of one answer (a block is at most
	// 1 MiB + a manifest header, so one block always fits in MaxFrame).
	contentBudget = 3 << 20
	// maxPushBlocks and maxPushBytes bound the blocks pushed with one live
	// head; a longer append is pushed as a head and fetched by request.
	maxPushBlocks = 64
	maxPushBytes  = 2 << 20
	// liveKeepalive is how often an idle live stream says it is alive (the
	// server re-sends its length, the client its own); a side that hears
	// nothing for liveDeadline drops the stream.
	liveKeepalive = 10 * time.Second
	liveDeadline  = 3 * liveKeepalive
	// probeTimeout bounds asking one peer whether it holds a feed.
	probeTimeout = 5 * time.Second
)

// Content frame types (same framing as the other protocols: uvarint(len)
// || type || body). The requester opens with cOpen; the server answers
// cHead, then one cData or cMissing per cRequest, in order. On a live
// stream the server instead pushes cData (an upgrade proof from the
// client's length, with the new blocks when small) whenever its length
// grows, and cHead as a keepalive; the client sends cHave.
const (
	cOpen    byte = 32 // key[32] flags byte uvarint(have)
	cHead    byte = 33 // uvarint(length) uvarint(len) proof: upgrade from the opener's have, or empty
	cRequest byte = 34 // uvarint(start) uvarint(end) uvarint(have)
	cData    byte = 35 // uvarint(len) proof uvarint(n) n × (uvarint(len) block)
	cMissing byte = 36 // uvarint(start) uvarint(end): not served here
	cHave    byte = 37 // uvarint(length): the client's length (live)
)

// Flags of cOpen.
const (
	openLive  byte = 1 // keep the stream open and push new heads
	openProbe byte = 2 // only tell the length (no proof) and close
)

type contentOpen struct {
	Key   [32]byte
	Flags byte
	Have  uint64
}

func (o *contentOpen) appendBody(b []byte) []byte {
	b = append(b, o.Key[:]...)
	b = append(b, o.Flags)
	return binary.AppendUvarint(b, o.Have)
}

func decodeContentOpen(b []byte) (contentOpen, error) {
	var o contentOpen
	d := decoder{b: b}
	d.fixed("open key", o.Key[:])
	o.Flags = d.byte("open flags")
	o.Have = d.uvarint("open have")
	if d.err == nil && (o.Flags&^(openLive|openProbe) != 0 || o.Have > feedtree.MaxLength) {
		d.fail("open flags")
	}
	return o, d.end("open")
}

type contentHead struct {
	Length uint64
	Proof  []byte
}

func (h *contentHead) appendBody(b []byte) []byte {
	b = binary.AppendUvarint(b, h.Length)
	b = binary.AppendUvarint(b, uint64(len(h.Proof)))
	return append(b, h.Proof...)
}

func decodeContentHead(b []byte) (contentHead, error) {
	var h contentHead
	d := decoder{b: b}
	h.Length = d.uvarint("head length")
	h.Proof = d.bytes("head proof", MaxFrame)
	if d.err == nil && h.Length > feedtree.MaxLength {
		d.fail("head length")
	}
	return h, d.end("head")
}

// blockRange is [Start, End) of block indexes; the body of cRequest (with
// Have) and cMissing.
type contentRequest struct {
	Start, End, Have uint64
}

func (r *contentRequest) appendBody(b []byte, withHave bool) []byte {
	b = binary.AppendUvarint(b, r.Start)
	b = binary.AppendUvarint(b, r.End)
	if withHave {
		b = binary.AppendUvarint(b, r.Have)
	}
	return b
}

func decodeContentRequest(b []byte, withHave bool) (contentRequest, error) {
	var r contentRequest
	d := decoder{b: b}
	r.Start = d.uvarint("request start")
	r.End = d.uvarint("request end")
	if withHave {
		r.Have = d.uvarint("request have")
	}
	if d.err == nil && (r.End <= r.Start || r.End-r.Start > maxRequestBlocks || r.End > feedtree.MaxLength) {
		d.fail("request range")
	}
	return r, d.end("request")
}

type contentData struct {
	Proof  []byte
	Blocks [][]byte
}

func (m *contentData) appendBody(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(m.Proof)))
	b = append(b, m.Proof...)
	b = binary.AppendUvarint(b, uint64(len(m.Blocks)))
	for _, blk := range m.Blocks {
		b = binary.AppendUvarint(b, uint64(len(blk)))
		b = append(b, blk...)
	}
	return b
}

func (m *contentData) size() int {
	n := 10 + len(m.Proof) + 10
	for _, blk := range m.Blocks {
		n += 10 + len(blk)
	}
	return n
}

// decodeContentData decodes a cData body. The slices alias b.
func decodeContentData(b []byte) (contentData, error) {
	var m contentData
	d := decoder{b: b}
	m.Proof = d.bytes("data proof", MaxFrame)
	n := d.uvarint("data block count")
	if d.err == nil && (n > maxRequestBlocks || n > uint64(len(d.b))) {
		d.fail("data block count")
	}
	if d.err == nil && n > 0 {
		m.Blocks = make([][]byte, 0, n)
		for i := uint64(0); i < n && d.err == nil; i++ {
			m.Blocks = append(m.Blocks, d.bytes("data block", MaxFrame))
		}
	}
	return m, d.end("data")
}

func decodeContentHave(b []byte) (uint64, error) {
	d := decoder{b: b}
	v := d.uvarint("have length")
	if d.err == nil && v > feedtree.MaxLength {
		d.fail("have length")
	}
	return v, d.end("have")
}

// contentState is the Host's bookkeeping for the content protocol.
type contentState struct {
	mu       sync.Mutex
	streams  map[peer.ID]int                     // open inbound content streams per peer
	provided map[feedtree.Key]context.CancelFunc // feeds advertised on the DHT

	proofBytesIn, blocksIn, blockBytesIn, blocksOut atomic.Uint64
}

// ContentStats are counters of the content protocol since New.
type ContentStats struct {
	BlocksIn     uint64 // blocks received and stored
	BlockBytesIn uint64 // bytes of those blocks
	ProofBytesIn uint64 // bytes of the proofs that came with them (and of upgrades)
	BlocksOut    uint64 // blocks served
}

// ContentStats returns the content protocol's counters.
func (x *Host) ContentStats() ContentStats {
	c := x.content()
	return ContentStats{BlocksIn: c.blocksIn.Load(), BlockBytesIn: c.blockBytesIn.Load(),
		ProofBytesIn: c.proofBytesIn.Load(), BlocksOut: c.blocksOut.Load()}
}

var contentStates sync.Map // *Host -> *contentState, until the Host has a field for it

// content returns x's content state, creating it on first use.
func (x *Host) content() *contentState {
	if v, ok := contentStates.Load(x); ok {
		return v.(*contentState)
	}
	v, _ := contentStates.LoadOrStore(x, &contentState{streams: map[peer.ID]int{}, provided: map[feedtree.Key]context.CancelFunc{}})
	return v.(*contentState)
}

// ServeContent registers the content protocol handler on x. New calls it;
// calling it again is harmless.
func (x *Host) ServeContent() {
	x.content()
	x.h.SetStreamHandler(ContentProtocol, x.handleContent)
	x.goRun(func() {
		<-x.ctx.Done()
		contentStates.Delete(x)
	})
}

func (c *contentState) acquire(p peer.ID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.streams[p] >= maxContentStreams {
		return false
	}
	c.streams[p]++
	return true
}

func (c *contentState) release(p peer.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.streams[p]--; c.streams[p] <= 0 {
		delete(c.streams, p)
	}
}

// handleContent serves one content stream: cOpen → cHead, then requests
// (or live pushes) until the requester closes.
func (x *Host) handleContent(st network.Stream) {
	p := st.Conn().RemotePeer()
	cs := x.content()
	c := newWire(x, st)
	if !cs.acquire(p) {
		c.write(frameError, appendError(nil, codeBusy, "too many content streams"))
		c.flush()
		st.Close()
		return
	}
	defer cs.release(p)
	o, ok := readRequest(x, st, c, cOpen, decodeContentOpen, "content open")
	if !ok {
		return
	}
	k, err := feedtree.KeyFromBytes(o.Key[:])
	var f *feedtree.Feed
	if err == nil {
		f, err = x.openFeed(k)
	}
	if err != nil || f.Length() == 0 {
		c.write(frameError, appendError(nil, codeNotFound, "no such feed"))
		c.flush()
		st.Close()
		return
	}
	have, err := x.writeHead(c, f, o.Have, o.Flags&openProbe == 0)
	if err != nil || c.flush() != nil {
		st.Reset()
		return
	}
	switch {
	case o.Flags&openProbe != 0:
		st.Close()
	case o.Flags&openLive != 0:
		if err := x.serveLive(c, f, have); err != nil {
			st.Reset()
			return
		}
		st.Close()
	default:
		if err := x.serveRequests(c, f); err != nil {
			if errors.Is(err, ErrMalformed) {
				x.penalize(p, err)
			}
			st.Reset()
			return
		}
		st.Close()
	}
}

// writeHead writes cHead: the feed's length and, when it is longer than
// have and withProof, an upgrade proof from have. It returns the length the
// client trusts afterwards.
func (x *Host) writeHead(c *wire, f *feedtree.Feed, have uint64, withProof bool) (uint64, error) {
	h := contentHead{Length: f.Length()}
	if withProof && h.Length > have {
		p, err := f.Proof(have, have, have)
		if err != nil {
			return 0, err
		}
		if h.Proof, err = p.AppendBinary(nil); err != nil {
			return 0, err
		}
		h.Length = p.Head.Length
		have = h.Length
	}
	return have, c.write(cHead, h.appendBody(nil))
}

// serveRequests answers cRequest frames in order until the client closes
// its side. It flushes whenever no further request is buffered, so a
// pipelining client keeps the stream full.
func (x *Host) serveRequests(c *wire, f *feedtree.Feed) error {
	var buf []byte
	for {
		typ, body, err := c.read()
		if err != nil {
			if errors.Is(err, ErrFrameTooLarge) {
				return fmt.Errorf("content request: %w", ErrMalformed)
			}
			if c.r.Buffered() == 0 {
				return nil // EOF or reset: the client is done
			}
			return err
		}
		if typ != cRequest {
			return fmt.Errorf("content frame of type %d where a request was expected: %w", typ, ErrMalformed)
		}
		r, err := decodeContentRequest(body, true)
		if err != nil {
			return err
		}
		buf = x.answer(buf[:0], f, r)
		typ, body = buf[0], buf[1:]
		if err := c.write(typ, body); err != nil {
			return err
		}
		if c.r.Buffered() == 0 {
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
}

// answer appends type || body of the answer to r: cData for a non-empty
// prefix of [Start, End) proved for a verifier trusting Have, or cMissing.
func (x *Host) answer(dst []byte, f *feedtree.Feed, r contentRequest) []byte {
	missing := func() []byte {
		return (&contentRequest{Start: r.Start, End: r.End}).appendBody(append(dst, cMissing), false)
	}
	L := f.Length()
	if r.End > L || r.Have > L {
		return missing()
	}
	var m contentData
	size := 0
	// One ordered read of the run held from Start, in slices of 32 blocks
	// (2 MiB of 64 KiB blocks) until the budget is spent.
	for i := r.Start; i < r.End && size < contentBudget; {
		run, _ := f.GetRange(i, min(r.End, i+32), nil)
		for _, b := range run {
			if size+len(b) > contentBudget && len(m.Blocks) > 0 {
				break
			}
			m.Blocks = append(m.Blocks, b)
			size += len(b)
		}
		if len(run) < int(min(r.End, i+32)-i) || uint64(len(m.Blocks)) < i+uint64(len(run))-r.Start {
			break // a block not held, or the budget spent
		}
		i += uint64(len(run))
	}
	if len(m.Blocks) == 0 {
		return missing()
	}
	p, err := f.Proof(r.Start, r.Start+uint64(len(m.Blocks)), r.Have)
	if err != nil {
		return missing()
	}
	if m.Proof, err = p.AppendBinary(nil); err != nil {
		return missing()
	}
	x.content().blocksOut.Add(uint64(len(m.Blocks)))
	dst = append(dst, cData)
	if cap(dst)-len(dst) < m.size() {
		dst = append(make([]byte, 0, len(dst)+m.size()), dst...)
	}
	return m.appendBody(dst)
}

// serveLive pushes every new head of f to the client, starting from its
// length have: an upgrade proof from the client's length with the new
// blocks when they are few, else the head alone (the client requests the
// blocks). The client's cHave frames correct the length the server proves
// from, when other peers upgraded the client in between.
func (x *Host) serveLive(c *wire, f *feedtree.Feed, have uint64) error {
	ctx, cancel := context.WithCancel(x.ctx)
	defer cancel()
	corr := make(chan uint64, 1) // the client's latest cHave, newest wins
	go func() {
		defer cancel()
		var buf []byte
		for {
			c.s.SetReadDeadline(time.Now().Add(liveDeadline))
			typ, body, _, err := readFrame(c.r, &buf)
			if err != nil || typ != cHave {
				return
			}
			v, err := decodeContentHave(body)
			if err != nil {
				return
			}
			select {
			case <-corr:
			default:
			}
			corr <- v
		}
	}()
	sent := have // the length the client trusts, as far as we know
	grown := make(chan struct{}, 1)
	for {
		wctx, wcancel := context.WithTimeout(ctx, liveKeepalive)
		go func(n uint64) {
			f.Wait(wctx, n) // growth, keepalive timeout or cancel: the loop looks at f.Length()
			grown <- struct{}{}
		}(sent)
		select {
		case <-grown:
		case v := <-corr:
			sent = v
			wcancel()
			<-grown
		case <-ctx.Done():
		}
		wcancel()
		if ctx.Err() != nil {
			return nil
		}
		L := f.Length()
		if L <= sent {
			h := contentHead{Length: L}
			if err := c.write(cHead, h.appendBody(nil)); err != nil {
				return err
			}
			if err := c.flush(); err != nil {
				return err
			}
			continue
		}
		var m contentData
		size := 0
		for i := sent; i < L && len(m.Blocks) < maxPushBlocks; i++ {
			b, err := f.Get(i)
			if err != nil || size+len(b) > maxPushBytes {
				break
			}
			m.Blocks = append(m.Blocks, b)
			size += len(b)
		}
		end := sent + uint64(len(m.Blocks))
		p, err := f.Proof(sent, end, sent)
		if err != nil && len(m.Blocks) > 0 {
			m.Blocks = nil
			p, err = f.Proof(sent, sent, sent)
		}
		if err != nil {
			return err
		}
		if m.Proof, err = p.AppendBinary(nil); err != nil {
			return err
		}
		if err := c.write(cData, m.appendBody(make([]byte, 0, m.size()))); err != nil {
			return err
		}
		if err := c.flush(); err != nil {
			return err
		}
		x.content().blocksOut.Add(uint64(len(m.Blocks)))
		sent = p.Head.Length
	}
}
