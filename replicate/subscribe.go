package replicate

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"indexd/feedtree"
)

// Live and discovery tuning.
const (
	// resubscribeDelay is the wait before a dropped live stream is opened again.
	resubscribeDelay = time.Second
	// maxProbePeers bounds the connected peers asked directly for a feed.
	maxProbePeers = 32
	// provideInterval bounds how long a DHT provider record is left to age
	// before it is renewed.
	provideInterval = 10 * time.Minute
	// maxProvideRetry bounds the wait before a failed DHT provide is tried
	// again (the wait doubles from minFindInterval).
	maxProvideRetry = time.Minute
	// routingTableWait bounds how long a lookup waits for the DHT's routing
	// table to take in a connected DHT peer; routingTablePoll is how often
	// it looks.
	routingTableWait = 5 * time.Second
	routingTablePoll = 20 * time.Millisecond
)

// Subscribe keeps f live from peers until ctx is done: one live stream per
// peer, on which the peer pushes each new signed length (with the new
// blocks when few) as soon as it has it, without polling. A dropped stream
// is reopened after resubscribeDelay; a peer that pushes what does not
// verify is penalised and left. Blocks that come only as a head (long
// appends) are not fetched here: callers fetch what they want (Download,
// or content.Stream's FetchFunc). It returns ctx.Err().
func (x *Host) Subscribe(ctx context.Context, f *feedtree.Feed, peers []string) error {
	var wg sync.WaitGroup
	for _, p := range peers {
		pid, err := peer.Decode(p)
		if err != nil {
			return fmt.Errorf("replicate: peer id %q: %w", p, err)
		}
		if pid == x.h.ID() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && !x.banned(pid) && !x.isClosed() {
				err := x.live(ctx, pid, f)
				if ctx.Err() != nil {
					break
				}
				x.log.Debug("replicate: live stream ended", "peer", pid, "feed", f.Key(), "err", err)
				t := time.NewTimer(resubscribeDelay)
				select {
				case <-ctx.Done():
				case <-t.C:
				}
				t.Stop()
			}
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// live runs one live stream with pid.
func (x *Host) live(ctx context.Context, pid peer.ID, f *feedtree.Feed) error {
	fc, err := x.openContent(ctx, pid, f, openLive)
	if err != nil {
		return err
	}
	st := fc.c.s
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	var wmu sync.Mutex
	sayHave := func() error {
		wmu.Lock()
		defer wmu.Unlock()
		b := binary.AppendUvarint(nil, f.Length())
		if err := fc.c.write(cHave, b); err != nil {
			return err
		}
		return fc.c.flush()
	}
	go func() {
		t := time.NewTicker(liveKeepalive)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if sayHave() != nil {
					cancel()
					return
				}
			}
		}
	}()
	var buf []byte
	for {
		st.SetReadDeadline(time.Now().Add(liveDeadline))
		typ, body, n, err := readFrame(fc.c.r, &buf)
		x.st.bytesIn.Add(uint64(n))
		if err != nil {
			return err
		}
		switch typ {
		case cHead:
			if _, err := decodeContentHead(body); err != nil {
				x.penalize(pid, err)
				return err
			}
		case cData:
			m, err := decodeContentData(body)
			var p *feedtree.Proof
			if err == nil {
				p, err = feedtree.DecodeProof(m.Proof)
			}
			if err == nil && uint64(len(m.Blocks)) != p.End-p.Start {
				err = fmt.Errorf("push of [%d, %d) with %d blocks: %w", p.Start, p.End, len(m.Blocks), ErrMalformed)
			}
			if err != nil {
				x.penalize(pid, err)
				return err
			}
			if p.Head.Length <= f.Length() && len(m.Blocks) == 0 {
				continue // we already trust that length
			}
			if err := f.Put(p, m.Blocks); err != nil {
				if stale(p, f.Length()) && !errors.Is(err, feedtree.ErrForked) {
					// Another peer upgraded us first: tell this one where we are.
					if err := sayHave(); err != nil {
						return err
					}
					continue
				}
				if peerFault(err) {
					x.penalize(pid, err)
				}
				return err
			}
			cs := x.content()
			cs.proofBytesIn.Add(uint64(len(m.Proof)))
			cs.blocksIn.Add(uint64(len(m.Blocks)))
			for _, b := range m.Blocks {
				cs.blockBytesIn.Add(uint64(len(b)))
			}
		case frameError:
			if re, err := decodeError(body); err == nil {
				return re
			}
			return ErrMalformed
		default:
			err := fmt.Errorf("live frame of type %d: %w", typ, ErrMalformed)
			x.penalize(pid, err)
			return err
		}
	}
}

// contentNamespace is the DHT rendezvous of a feed: its discovery key, so
// the feed key itself is not published.
func contentNamespace(k feedtree.Key) string {
	dk := feedtree.DiscoveryKey(k)
	return "/indexd/content/" + hex.EncodeToString(dk[:])
}

// Provide advertises on the DHT that this node holds feed k (under the
// feed's discovery key), renewing the record until Unprovide or Close. It
// does nothing without the DHT, or if k is already provided.
func (x *Host) Provide(k feedtree.Key) {
	if x.disc == nil || x.isClosed() {
		return
	}
	cs := x.content()
	cs.mu.Lock()
	if _, ok := cs.provided[k]; ok {
		cs.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(x.ctx)
	cs.provided[k] = cancel
	cs.mu.Unlock()
	ns := contentNamespace(k)
	x.goRun(func() {
		retry := minFindInterval
		for {
			var wait time.Duration
			ttl, err := x.disc.Advertise(ctx, ns)
			if err == nil && ttl > 0 {
				wait = min(ttl*7/8, provideInterval)
				retry = minFindInterval
			} else {
				// Typically the DHT has met no one yet (Provide right after
				// New, while the bootstrap dials are under way): try again
				// soon, not a record lifetime later, or the record would
				// reach the network only then.
				x.log.Debug("replicate: providing a feed", "feed", k, "err", err)
				wait = retry
				retry = min(2*retry, maxProvideRetry)
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	})
}

// Unprovide stops advertising k.
func (x *Host) Unprovide(k feedtree.Key) {
	cs := x.content()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cancel, ok := cs.provided[k]; ok {
		cancel()
		delete(cs.provided, k)
	}
}

// FeedPeer is a peer that holds a feed.
type FeedPeer struct {
	ID     string
	Length uint64 // the length it said it holds
}

// FindFeedPeers looks for peers holding feed k: providers of its discovery
// key on the DHT (dialled), plus connected peers (at most maxProbePeers,
// asked directly; typically peers of followed indexes). It returns those
// that answer that they hold a non-empty k, longest first. max bounds the
// DHT providers tried (0: 20).
func (x *Host) FindFeedPeers(ctx context.Context, k feedtree.Key, max int) ([]FeedPeer, error) {
	if x.isClosed() {
		return nil, ErrClosed
	}
	if max <= 0 {
		max = 20
	}
	cands := map[peer.ID]bool{}
	if x.disc != nil {
		x.waitRoutingTable(ctx)
		fctx, cancel := context.WithTimeout(ctx, dialTimeout)
		ch, err := x.disc.FindPeers(fctx, contentNamespace(k))
		if err == nil {
			for ai := range ch {
				if ai.ID == x.h.ID() || len(cands) >= max {
					continue
				}
				if len(ai.Addrs) > 0 {
					cctx, c := context.WithTimeout(ctx, dialTimeout)
					err := x.h.Connect(cctx, ai)
					c()
					if err != nil {
						continue
					}
				}
				cands[ai.ID] = true
			}
		}
		cancel()
	}
	for _, p := range x.h.Network().Peers() {
		if len(cands) >= max+maxProbePeers {
			break
		}
		cands[p] = true
	}
	var mu sync.Mutex
	var out []FeedPeer
	var wg sync.WaitGroup
	for p := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if n, err := x.probe(ctx, p, k); err == nil && n > 0 {
				mu.Lock()
				out = append(out, FeedPeer{ID: p.String(), Length: n})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sortFeedPeers(out)
	return out, nil
}

// waitRoutingTable waits, for at most routingTableWait, until the DHT's
// routing table holds a peer when a connected peer speaks the DHT: the
// table fills asynchronously after a connection is identified, so a lookup
// made right after Connect (a `get` that starts its host and dials its
// bootstrap peers) would otherwise find nobody to ask.
func (x *Host) waitRoutingTable(ctx context.Context) {
	rt := x.kad.RoutingTable()
	if rt.Size() > 0 || !x.dhtPeerConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, routingTableWait)
	defer cancel()
	t := time.NewTicker(routingTablePoll)
	defer t.Stop()
	for rt.Size() == 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// dhtProtocol is the protocol indexd's DHT speaks (kad-dht names it from
// the prefix New gives it).
const dhtProtocol = dhtPrefix + "/kad/1.0.0"

// dhtPeerConnected reports whether a connected peer speaks indexd's DHT.
func (x *Host) dhtPeerConnected() bool {
	for _, p := range x.h.Network().Peers() {
		if ps, err := x.h.Peerstore().SupportsProtocols(p, dhtProtocol); err == nil && len(ps) > 0 {
			return true
		}
	}
	return false
}

func sortFeedPeers(ps []FeedPeer) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && (ps[j].Length > ps[j-1].Length || ps[j].Length == ps[j-1].Length && ps[j].ID < ps[j-1].ID); j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// probe asks p for the length of its feed k.
func (x *Host) probe(ctx context.Context, p peer.ID, k feedtree.Key) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	st, err := x.h.NewStream(ctx, p, ContentProtocol)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	c := newWire(x, st)
	o := contentOpen{Key: k.Bytes(), Flags: openProbe}
	if err := c.write(cOpen, o.appendBody(nil)); err != nil {
		return 0, err
	}
	if err := c.flush(); err != nil {
		return 0, err
	}
	typ, body, err := c.read()
	if err != nil {
		return 0, err
	}
	if typ == frameError {
		return 0, ErrNotFound
	}
	if typ != cHead {
		return 0, ErrMalformed
	}
	h, err := decodeContentHead(body)
	return h.Length, err
}
