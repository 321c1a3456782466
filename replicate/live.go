package replicate

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/crypto/blake2b"
	"golang.org/x/sync/errgroup"

	"indexd/dag"
	"indexd/feedtree"
)

// topicName is the GossipSub topic of an index: named from its discovery
// key, so the topic does not reveal the index key.
func topicName(idx dag.IndexKey) string {
	dk := dag.DiscoveryKey(idx)
	return "/indexd/index/" + hex.EncodeToString(dk[:])
}

// rendezvous is the DHT namespace of an index.
func rendezvous(idx dag.IndexKey) string {
	dk := dag.DiscoveryKey(idx)
	return "indexd/index/" + hex.EncodeToString(dk[:])
}

// messageID names a gossip message by its content, so the same update
// relayed by several peers is delivered once.
func messageID(m *pb.Message) string {
	h := blake2b.Sum256(m.Data)
	return string(h[:20])
}

func (x *Host) scoreParams() *pubsub.PeerScoreParams {
	return &pubsub.PeerScoreParams{
		Topics: map[string]*pubsub.TopicScoreParams{},
		AppSpecificScore: func(p peer.ID) float64 {
			return x.score(p)
		},
		AppSpecificWeight:         100,
		IPColocationFactorWeight:  0,
		BehaviourPenaltyWeight:    -10,
		BehaviourPenaltyThreshold: 1,
		BehaviourPenaltyDecay:     0.9,
		DecayInterval:             time.Second,
		DecayToZero:               0.01,
		RetainScore:               banDuration,
		SkipAtomicValidation:      true,
	}
}

func scoreThresholds() *pubsub.PeerScoreThresholds {
	return &pubsub.PeerScoreThresholds{
		GossipThreshold:             -100,
		PublishThreshold:            -200,
		GraylistThreshold:           -300,
		AcceptPXThreshold:           10,
		OpportunisticGraftThreshold: 5,
	}
}

func topicScore() *pubsub.TopicScoreParams {
	return &pubsub.TopicScoreParams{
		TopicWeight:                    1,
		TimeInMeshQuantum:              time.Second,
		FirstMessageDeliveriesWeight:   1,
		FirstMessageDeliveriesDecay:    0.9,
		FirstMessageDeliveriesCap:      100,
		InvalidMessageDeliveriesWeight: -100,
		InvalidMessageDeliveriesDecay:  0.9,
		SkipAtomicValidation:           true,
	}
}

func (x *Host) following(idx dag.IndexKey) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	_, ok := x.follows[idx]
	return ok
}

// Follow starts replicating idx: it joins the index's gossip topic,
// advertises and looks for peers on the DHT (when on), and syncs with every
// peer that follows it too, now and whenever one appears. If the manifest is
// unknown it is fetched from connected peers and checked against the key; if
// no peer has it yet, Follow still succeeds and keeps asking new peers.
// Following an index already followed does nothing.
func (x *Host) Follow(ctx context.Context, idx dag.IndexKey) error {
	if idx.IsZero() {
		return errors.New("replicate: follow: zero index key")
	}
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return ErrClosed
	}
	if _, ok := x.follows[idx]; ok {
		x.mu.Unlock()
		return nil
	}
	name := topicName(idx)
	if err := x.ps.RegisterTopicValidator(name, x.validate, pubsub.WithValidatorInline(true)); err != nil {
		x.mu.Unlock()
		return fmt.Errorf("replicate: registering validator: %w", err)
	}
	t, err := x.ps.Join(name)
	if err != nil {
		x.ps.UnregisterTopicValidator(name)
		x.mu.Unlock()
		return fmt.Errorf("replicate: joining topic: %w", err)
	}
	t.SetScoreParams(topicScore())
	ev, err := t.EventHandler()
	if err == nil {
		var sub *pubsub.Subscription
		if sub, err = t.Subscribe(); err == nil {
			fctx, cancel := context.WithCancel(x.ctx)
			f := &following{idx: idx, topic: t, sub: sub, ev: ev, cancel: cancel}
			x.follows[idx] = f
			x.byTopic[name] = idx
			x.mu.Unlock()
			x.goRun(func() { x.drain(fctx, sub) })
			x.goRun(func() { x.watchPeers(fctx, idx, ev) })
			x.goRun(func() { x.antiEntropy(fctx, idx, t) })
			if x.disc != nil {
				x.goRun(func() { x.rendezvousLoop(fctx, idx) })
			}
			if _, err := x.d.Manifest(idx); errors.Is(err, dag.ErrNotFound) {
				if err := x.fetchManifest(ctx, idx, x.h.Network().Peers()); err != nil {
					x.log.Info("replicate: manifest not found yet; will ask new peers", "index", idx, "err", err)
				}
			}
			for _, p := range t.ListPeers() {
				x.requestSync(p, idx)
			}
			return nil
		}
		ev.Cancel()
	}
	t.Close()
	x.ps.UnregisterTopicValidator(name)
	x.mu.Unlock()
	return fmt.Errorf("replicate: subscribing: %w", err)
}

// Unfollow stops replicating idx. Data already held stays.
func (x *Host) Unfollow(idx dag.IndexKey) error {
	x.mu.Lock()
	f, ok := x.follows[idx]
	if ok {
		delete(x.follows, idx)
		delete(x.byTopic, topicName(idx))
	}
	x.mu.Unlock()
	if !ok {
		return nil
	}
	f.stop()
	x.ps.UnregisterTopicValidator(topicName(idx))
	return nil
}

func (f *following) stop() {
	f.cancel()
	f.sub.Cancel()
	f.ev.Cancel()
	f.topic.Close()
}

// drain consumes delivered messages; the validator already stored them.
func (x *Host) drain(ctx context.Context, sub *pubsub.Subscription) {
	for {
		if _, err := sub.Next(ctx); err != nil {
			return
		}
	}
}

// watchPeers syncs with every peer that joins the index's topic.
func (x *Host) watchPeers(ctx context.Context, idx dag.IndexKey, ev *pubsub.TopicEventHandler) {
	for {
		e, err := ev.NextPeerEvent(ctx)
		if err != nil {
			return
		}
		if e.Type == pubsub.PeerJoin {
			fetched := false
			if _, err := x.d.Manifest(idx); errors.Is(err, dag.ErrNotFound) {
				fetched = x.fetchManifest(ctx, idx, []peer.ID{e.Peer}) == nil
			}
			// Sessions sync both ways: one side starts it. A side that
			// just learnt the manifest starts one too: the peer's own
			// attempt may have met "index not held" and would wait for
			// meshSettle.
			if x.h.ID() < e.Peer || fetched {
				x.requestSync(e.Peer, idx)
				// Gossip sent before the mesh forms can be lost: sync once
				// more when it has (cheap: the cursor makes it one exchange).
				p := e.Peer
				time.AfterFunc(meshSettle, func() { x.requestSync(p, idx) })
			}
		}
	}
}

// antiEntropy syncs with one random peer of the topic now and then, which
// repairs anything gossip missed (cheap with a cursor: one small exchange).
func (x *Host) antiEntropy(ctx context.Context, idx dag.IndexKey, t *pubsub.Topic) {
	tk := time.NewTicker(antiEntropyInterval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			if ps := t.ListPeers(); len(ps) > 0 {
				x.requestSync(randomPeer(ps), idx)
			}
		}
	}
}

// rendezvousLoop advertises idx on the DHT (again before the record
// expires) and looks for peers there, first often, then every
// maxFindInterval, connecting to those it finds.
func (x *Host) rendezvousLoop(ctx context.Context, idx dag.IndexKey) {
	ns := rendezvous(idx)
	nextAd := time.Now()
	find := minFindInterval
	for {
		if !time.Now().Before(nextAd) {
			ttl, err := x.disc.Advertise(ctx, ns)
			if err != nil || ttl <= 0 {
				ttl = 2 * minFindInterval
			}
			nextAd = time.Now().Add(min(ttl*7/8, time.Hour))
		}
		if ch, err := x.disc.FindPeers(ctx, ns); err == nil {
			for ai := range ch {
				if ai.ID == x.h.ID() || len(ai.Addrs) == 0 || x.h.Network().Connectedness(ai.ID) == network.Connected {
					continue
				}
				cctx, cancel := context.WithTimeout(ctx, dialTimeout)
				if err := x.h.Connect(cctx, ai); err != nil {
					x.log.Debug("replicate: dialing a rendezvous peer", "peer", ai.ID, "err", err)
				}
				cancel()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(find):
		}
		find = min(2*find, maxFindInterval)
	}
}

// requestSync runs a session with p for idx in the background, unless one
// runs already, in which case that one is repeated once it ends.
func (x *Host) requestSync(p peer.ID, idx dag.IndexKey) {
	k := cursorKey{p, idx}
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return
	}
	if st := x.sessions[k]; st != nil {
		st.again = true
		x.mu.Unlock()
		return
	}
	st := &sessionState{}
	x.sessions[k] = st
	x.mu.Unlock()
	x.goRun(func() {
		for {
			if err := x.syncWith(x.ctx, p, idx); err != nil {
				x.log.Debug("replicate: sync", "peer", p, "index", idx, "err", err)
			}
			x.mu.Lock()
			if !st.again || x.closed {
				delete(x.sessions, k)
				x.mu.Unlock()
				return
			}
			st.again = false
			x.mu.Unlock()
		}
	})
}

// syncSoon schedules one requestSync with p after syncSoonDelay, at most one
// pending per (peer, index), so a burst of ignored messages costs one session.
func (x *Host) syncSoon(p peer.ID, idx dag.IndexKey) {
	k := cursorKey{p, idx}
	x.mu.Lock()
	if x.soon[k] || x.closed {
		x.mu.Unlock()
		return
	}
	x.soon[k] = true
	x.mu.Unlock()
	time.AfterFunc(syncSoonDelay, func() {
		x.mu.Lock()
		delete(x.soon, k)
		x.mu.Unlock()
		x.requestSync(p, idx)
	})
}

// SyncNow runs one catch-up session for idx with every connected peer that
// follows it, concurrently, and returns when all have ended (waiting for a
// session a peer runs with us to end first). It returns the first error.
func (x *Host) SyncNow(ctx context.Context, idx dag.IndexKey) error {
	x.mu.Lock()
	f, ok := x.follows[idx]
	closed := x.closed
	x.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if !ok {
		return fmt.Errorf("replicate: sync: %v is not followed", idx)
	}
	var g errgroup.Group
	for _, p := range f.topic.ListPeers() {
		g.Go(func() error {
			// A peer running its own session with us answers busy; that
			// session may have started before what the caller wants
			// synced, so wait for it to end and sync again.
			wait := 20 * time.Millisecond
			for {
				err := x.syncWith(ctx, p, idx)
				var re *RemoteError
				if !errors.As(err, &re) || re.Code != codeBusy {
					return err
				}
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return err
				}
				wait = min(2*wait, time.Second)
			}
		})
	}
	return g.Wait()
}

// Announce publishes the newest blocks of author log log of idx (after a
// local append) on the index's topic: the log key, the signed head and the
// blocks since the last announcement with the proof nodes that verify them.
// An update too big for one message is announced by its last block alone;
// peers then fetch the rest by sync.
func (x *Host) Announce(ctx context.Context, idx dag.IndexKey, log feedtree.Key) error {
	x.mu.Lock()
	f, ok := x.follows[idx]
	last, seen := x.announced[log]
	x.mu.Unlock()
	if !ok {
		return fmt.Errorf("replicate: announce: %v is not followed", idx)
	}
	feed, err := x.d.Feed(log)
	if err != nil {
		return fmt.Errorf("replicate: announce: %w", err)
	}
	n := feed.Length()
	if n == 0 {
		return nil
	}
	start := last
	if !seen || start >= n {
		start = n - 1
		if n <= 2 {
			start = 0 // a new log: send its certificate too
		}
	}
	if n-start > maxLiveBlocks {
		start = n - 1
	}
	var blocks [][]byte
	size := 0
	for i := start; i < n; i++ {
		b, err := feed.Get(i)
		if err != nil {
			return fmt.Errorf("replicate: announce: reading block %d: %w", i, err)
		}
		blocks = append(blocks, b)
		size += len(b)
	}
	for size > maxLiveBytes && len(blocks) > 1 {
		size -= len(blocks[0])
		blocks = blocks[1:]
		start++
	}
	p, err := feed.Proof(start, n, start)
	if err != nil {
		return fmt.Errorf("replicate: announce: proving: %w", err)
	}
	pbytes, err := p.AppendBinary(nil)
	if err != nil {
		return err
	}
	m := data{Key: log, Proof: pbytes, Blocks: blocks}
	if err := f.topic.Publish(ctx, m.appendBody(nil)); err != nil {
		return fmt.Errorf("replicate: publishing: %w", err)
	}
	x.mu.Lock()
	x.announced[log] = n
	x.mu.Unlock()
	return nil
}

// validate is the topic validator. It rejects only what fails to decode or
// verify; what is merely not applicable yet (missing earlier blocks or
// ancestors, over a rate limit, a fork) is ignored, and a sync with the
// peer that delivered it fetches what is missing.
func (x *Host) validate(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if from == x.h.ID() {
		return pubsub.ValidationAccept
	}
	idx, ok := x.topicIndex(msg.GetTopic())
	if !ok {
		return pubsub.ValidationIgnore
	}
	m, err := decodeData(msg.Data)
	if err != nil {
		x.penalize(from, err)
		return pubsub.ValidationReject
	}
	now := time.Now()
	x.mu.Lock()
	okRate := allow(x.peerLive, from, liveRatePerPeer, liveBurstPerPeer, now) &&
		allow(x.logLive, m.Key, liveRatePerLog, liveBurstPerLog, now)
	x.mu.Unlock()
	if !okRate {
		// Over a live limit: not verified here; a sync with the sender a
		// little later fetches it (catch-up is never throttled).
		x.st.liveIgnored.Add(1)
		x.syncSoon(from, idx)
		return pubsub.ValidationIgnore
	}
	p, err := feedtree.DecodeProof(m.Proof)
	if err != nil {
		x.penalize(from, err)
		return pubsub.ValidationReject
	}
	if err := p.Head.Verify(m.Key); err != nil {
		x.penalize(from, err)
		return pubsub.ValidationReject
	}
	applied, err := x.d.Ingest(ctx, idx, m.Key, p, m.Blocks)
	switch {
	case err == nil:
		x.st.liveAccepted.Add(1)
		if applied < len(m.Blocks) && !blocksAre0(p) {
			x.requestSync(from, idx) // some wait for ancestors
		}
		return pubsub.ValidationAccept
	case x.faulty(m.Key, p, m.Blocks, err):
		x.penalize(from, err)
		return pubsub.ValidationReject
	default:
		x.st.liveIgnored.Add(1)
		switch {
		case x.forkedOther(m.Key, p, err):
			x.locateFork(from, idx, m.Key) // settled but for where it parts
		case otherHistory(p, err):
			x.checkFork(from, idx, m.Key)
			x.requestSync(from, idx)
		default:
			x.requestSync(from, idx)
		}
		return pubsub.ValidationIgnore
	}
}

// blocksAre0 reports a range holding only the certificate, which applies nothing.
func blocksAre0(p *feedtree.Proof) bool { return p.Start == 0 && p.End <= 1 }

func (x *Host) topicIndex(topic string) (dag.IndexKey, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	idx, ok := x.byTopic[topic]
	return idx, ok
}
