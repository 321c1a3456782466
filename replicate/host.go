package replicate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"indexd/dag"
	"indexd/feedtree"
)

// Protocol IDs.
const (
	// SyncProtocol is the per-index catch-up session (see sync.go).
	SyncProtocol = protocol.ID("/indexd/sync/1.0.0")
	// ManifestProtocol serves an index manifest by index key.
	ManifestProtocol = protocol.ID("/indexd/manifest/1.0.0")
	// FeedProtocol serves a range of any feed this node holds (author logs and
	// the content feeds of Options' Feeds).
	FeedProtocol = protocol.ID("/indexd/feed/1.0.0")
	// MDNSService is the mDNS service name indexd peers meet under on a LAN.
	MDNSService = "indexd"
	// dhtPrefix makes indexd's Kademlia DHT private to indexd peers.
	dhtPrefix = protocol.ID("/indexd")
)

// Limits. Each is a bound on what one peer can make this node do.
const (
	// maxInboundSessions bounds concurrent sync sessions a peer may open to us.
	maxInboundSessions = 4
	// idleTimeout bounds the wait for the next frame of a session.
	idleTimeout = 30 * time.Second
	// dialTimeout bounds one Connect or stream open.
	dialTimeout = 15 * time.Second
	// liveRatePerLog and liveBurstPerLog bound live (gossip) messages per
	// author log: tokens per second and bucket size. Catch-up is never throttled.
	liveRatePerLog  = 50.0
	liveBurstPerLog = 200.0
	// liveRatePerPeer and liveBurstPerPeer bound live messages first delivered
	// by one peer.
	liveRatePerPeer  = 200.0
	liveBurstPerPeer = 1000.0
	// maxLiveBlocks and maxLiveBytes bound one live message; bigger updates
	// are announced with their last block only and go through sync.
	maxLiveBlocks = 64
	maxLiveBytes  = 256 << 10
	// maxGossipMessage bounds a GossipSub message on indexd topics.
	maxGossipMessage = 1 << 20
	// banDuration is how long a peer that sent unverifiable data is refused.
	banDuration = 10 * time.Minute
	// antiEntropyInterval is how often a followed index syncs with one random peer.
	antiEntropyInterval = time.Minute
	// syncSoonDelay is how long after an ignored live message (over a limit)
	// the sync that fetches it starts, so a burst costs one session.
	syncSoonDelay = 100 * time.Millisecond
	// meshSettle is when to sync again with a peer that joined a topic,
	// after GossipSub has formed its mesh (heartbeat 1 s).
	meshSettle = 2500 * time.Millisecond
	// minFindInterval and maxFindInterval: a followed index looks for peers
	// on the DHT after minFindInterval, doubling up to maxFindInterval.
	minFindInterval = time.Second
	maxFindInterval = 5 * time.Minute
	// maxCursors bounds the per-(peer, index) views kept for 1-RTT resyncs.
	maxCursors = 256
	// connLow, connHigh: connection manager watermarks.
	connLow, connHigh = 64, 192
)

// Feeds gives access to extra (content) feeds this node serves. May be nil.
type Feeds interface {
	Feed(k feedtree.Key) (*feedtree.Feed, error)
}

// Options configure New. The zero value is usable.
type Options struct {
	// PrivKey is the libp2p private key (crypto.MarshalPrivateKey bytes); see
	// LoadOrCreateKey. Default: a random key.
	PrivKey []byte
	// Listen are the multiaddrs to listen on.
	// Default: /ip4/0.0.0.0/tcp/0 and /ip4/0.0.0.0/udp/0/quic-v1.
	Listen []string
	// Bootstrap are multiaddrs with /p2p/ to dial at start (and the DHT's
	// bootstrap peers). Default: none.
	Bootstrap []string
	// MDNS turns on LAN discovery on every up interface with multicast, as
	// they are when New runs; without any, New logs a warning and goes on
	// without mDNS. Default: off.
	MDNS bool
	// DHT turns on the private indexd Kademlia DHT and rendezvous on each
	// followed index's discovery key. Default: off.
	DHT bool
	// Logger receives events. Default: slog.Default().
	Logger *slog.Logger
}

// Host is a node's presence on the network: a libp2p host that replicates
// the indexes it follows with its peers. Create it with New; Close stops it.
type Host struct {
	d     dagStore
	feeds Feeds
	log   *slog.Logger
	h     host.Host
	ps    *pubsub.PubSub
	kad   *dht.IpfsDHT
	disc  *drouting.RoutingDiscovery
	mdns  mdns.Service

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	follows   map[dag.IndexKey]*following
	byTopic   map[string]dag.IndexKey
	cursors   map[cursorKey]*itemSet
	announced map[feedtree.Key]uint64
	backoff   map[cursorKey]time.Duration // stalled-session retry waits
	// badMu guards bad alone: pubsub's event loop reads scores through
	// score, and must never wait for mu, which Follow holds while it
	// waits for that loop.
	badMu    sync.Mutex
	bad      map[peer.ID]*badness
	inbound  map[peer.ID]int
	sessions map[cursorKey]*sessionState
	running  map[*session]struct{} // sync sessions in progress, either side
	soon     map[cursorKey]bool
	outbound map[cursorKey]int
	// forkChecks: when checkFork last asked a peer about a log;
	// forksSent: when a session last showed a peer a fork of a log;
	// forkLocates: when locateFork last asked a peer about a log.
	forkChecks  map[forkCheckKey]time.Time
	forksSent   map[forkCheckKey]time.Time
	forkLocates map[forkCheckKey]time.Time
	// coarseSince: when a session first saw a coarse fork point pending;
	// refineWait: how long such a point waits for a peer to pin it down.
	coarseSince map[feedtree.Key]time.Time
	refineWait  time.Duration
	peerLive    map[peer.ID]*bucket
	logLive     map[feedtree.Key]*bucket

	st stats
}

type following struct {
	idx    dag.IndexKey
	topic  *pubsub.Topic
	sub    *pubsub.Subscription
	ev     *pubsub.TopicEventHandler
	cancel context.CancelFunc
}

type cursorKey struct {
	p   peer.ID
	idx dag.IndexKey
}

type sessionState struct{ again bool }

type badness struct {
	count int
	until time.Time
}

type stats struct {
	bytesIn, bytesOut, dataIn, rounds, rejected, liveAccepted, liveIgnored, blocksIn, blocksOut atomic.Uint64
}

// Stats are counters since New, for /metrics.
type Stats struct {
	BytesIn, BytesOut uint64 // bytes of sync, feed and manifest frames
	DataIn            uint64 // of BytesIn, bytes of sync Data frames (blocks and their proofs)
	Rounds            uint64 // completed sync sessions
	Rejected          uint64 // messages or frames that failed verification
	LiveAccepted      uint64 // gossip messages verified and stored
	LiveIgnored       uint64 // gossip messages not applicable (yet), over a limit or already held
	BlocksIn          uint64 // blocks received in sync sessions
	BlocksOut         uint64 // blocks sent in sync sessions
}

// PeerInfo describes a connected peer.
type PeerInfo struct {
	ID      string
	Addrs   []string
	Indexes []string // followed indexes the peer follows too
	Latency time.Duration
	Score   float64 // 0 for a well-behaved peer, negative per verification failure
}

// New starts a host replicating through d. It listens, dials the bootstrap
// peers and starts discovery; Close stops everything it started.
func New(ctx context.Context, d *dag.DAG, feeds Feeds, opts Options) (*Host, error) {
	return newHost(ctx, d, feeds, opts)
}

func newHost(ctx context.Context, d dagStore, feeds Feeds, opts Options) (*Host, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	var sk crypto.PrivKey
	var err error
	if len(opts.PrivKey) > 0 {
		if sk, err = crypto.UnmarshalPrivateKey(opts.PrivKey); err != nil {
			return nil, fmt.Errorf("replicate: decoding host key: %w", err)
		}
	} else if sk, _, err = crypto.GenerateEd25519Key(nil); err != nil {
		return nil, fmt.Errorf("replicate: generating host key: %w", err)
	}
	listen := opts.Listen
	if len(listen) == 0 {
		listen = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}
	}
	boot := make([]peer.AddrInfo, 0, len(opts.Bootstrap))
	for _, a := range opts.Bootstrap {
		ai, err := peer.AddrInfoFromString(a)
		if err != nil {
			return nil, fmt.Errorf("replicate: bootstrap address %q: %w", a, err)
		}
		boot = append(boot, *ai)
	}

	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	for _, p := range []protocol.ID{SyncProtocol, FeedProtocol, ManifestProtocol} {
		limits.AddProtocolLimit(p, rcmgr.BaseLimit{Streams: 256, StreamsInbound: 128, StreamsOutbound: 128, Memory: 256 << 20},
			rcmgr.BaseLimitIncrease{Streams: 64, StreamsInbound: 32, StreamsOutbound: 32, Memory: 64 << 20})
		limits.AddProtocolPeerLimit(p, rcmgr.BaseLimit{Streams: 16, StreamsInbound: 8, StreamsOutbound: 8, Memory: 32 << 20},
			rcmgr.BaseLimitIncrease{})
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.AutoScale()))
	if err != nil {
		return nil, fmt.Errorf("replicate: resource manager: %w", err)
	}
	cm, err := connmgr.NewConnManager(connLow, connHigh, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, fmt.Errorf("replicate: connection manager: %w", err)
	}
	hctx, cancel := context.WithCancel(context.Background())
	x := &Host{
		d: d, feeds: feeds, log: logger, ctx: hctx, cancel: cancel,
		follows: map[dag.IndexKey]*following{}, byTopic: map[string]dag.IndexKey{},
		cursors: map[cursorKey]*itemSet{}, announced: map[feedtree.Key]uint64{},
		bad: map[peer.ID]*badness{}, inbound: map[peer.ID]int{}, sessions: map[cursorKey]*sessionState{}, running: map[*session]struct{}{}, soon: map[cursorKey]bool{}, outbound: map[cursorKey]int{}, forkChecks: map[forkCheckKey]time.Time{}, forksSent: map[forkCheckKey]time.Time{}, forkLocates: map[forkCheckKey]time.Time{}, coarseSince: map[feedtree.Key]time.Time{}, refineWait: refineWait,
		peerLive: map[peer.ID]*bucket{}, logLive: map[feedtree.Key]*bucket{},
	}
	h, err := libp2p.New(
		libp2p.Identity(sk),
		libp2p.ListenAddrStrings(listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.ConnectionGater(gater{x}),
		libp2p.UserAgent("indexd"),
	)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("replicate: starting libp2p host: %w", err)
	}
	x.h = h
	fail := func(err error) (*Host, error) {
		cancel()
		h.Close()
		return nil, err
	}
	x.ps, err = pubsub.NewGossipSub(hctx, h,
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(messageID),
		pubsub.WithMaxMessageSize(maxGossipMessage),
		pubsub.WithPeerScore(x.scoreParams(), scoreThresholds()),
	)
	if err != nil {
		return fail(fmt.Errorf("replicate: starting gossipsub: %w", err))
	}
	h.SetStreamHandler(SyncProtocol, x.handleSync)
	h.SetStreamHandler(ManifestProtocol, x.handleManifest)
	h.SetStreamHandler(FeedProtocol, x.handleFeed)
	x.ServeContent() // content.go: content feeds (requests, live push)

	if opts.DHT {
		x.kad, err = dht.New(h, dht.Mode(dht.ModeAutoServer), dht.ProtocolPrefix(dhtPrefix), dht.BootstrapPeers(boot...))
		if err != nil {
			return fail(fmt.Errorf("replicate: starting DHT: %w", err))
		}
		if err := x.kad.Bootstrap(hctx); err != nil {
			return fail(fmt.Errorf("replicate: bootstrapping DHT: %w", err))
		}
		x.disc = drouting.NewRoutingDiscovery(x.kad)
	}
	if opts.MDNS {
		// mDNS is a convenience: a machine with no multicast interface
		// (only loopback, some containers) still serves, without it.
		s := mdns.NewMdnsService(h, MDNSService, notifee{x})
		if err := s.Start(); err != nil {
			s.Close()
			x.log.Warn("replicate: mDNS unavailable, LAN peers will not be found by it", "err", err)
		} else {
			x.mdns = s
		}
	}
	for _, ai := range boot {
		x.goRun(func() {
			cctx, c := context.WithTimeout(hctx, dialTimeout)
			defer c()
			if err := h.Connect(cctx, ai); err != nil {
				x.log.Debug("replicate: bootstrap dial failed", "peer", ai.ID, "err", err)
			}
		})
	}
	return x, nil
}

// goRun runs f in a goroutine Close waits for, unless the host is closed.
func (x *Host) goRun(f func()) {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return
	}
	x.wg.Add(1)
	x.mu.Unlock()
	go func() {
		defer x.wg.Done()
		f()
	}()
}

// Close stops discovery, sessions and the host, and waits for its goroutines.
// Later calls return ErrClosed.
func (x *Host) Close() error {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return ErrClosed
	}
	x.closed = true
	fs := make([]*following, 0, len(x.follows))
	for _, f := range x.follows {
		fs = append(fs, f)
	}
	x.mu.Unlock()
	for _, f := range fs {
		f.stop()
	}
	x.cancel()
	var errs []error
	if x.mdns != nil {
		errs = append(errs, x.mdns.Close())
	}
	if x.kad != nil {
		errs = append(errs, x.kad.Close())
	}
	errs = append(errs, x.h.Close())
	x.wg.Wait()
	return errors.Join(errs...)
}

func (x *Host) isClosed() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.closed
}

// ID returns the host's peer id.
func (x *Host) ID() string { return x.h.ID().String() }

// Addrs returns the host's listen addresses as full multiaddrs ending in /p2p/<id>.
func (x *Host) Addrs() []string {
	ai := peer.AddrInfo{ID: x.h.ID(), Addrs: x.h.Addrs()}
	mas, err := peer.AddrInfoToP2pAddrs(&ai)
	if err != nil {
		return nil
	}
	out := make([]string, len(mas))
	for i, m := range mas {
		out[i] = m.String()
	}
	return out
}

// Connect dials addr, a multiaddr ending in /p2p/<id>.
func (x *Host) Connect(ctx context.Context, addr string) error {
	if x.isClosed() {
		return ErrClosed
	}
	ai, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return fmt.Errorf("replicate: parsing address %q: %w", addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if err := x.h.Connect(ctx, *ai); err != nil {
		return fmt.Errorf("replicate: connecting to %s: %w", ai.ID, err)
	}
	x.h.ConnManager().TagPeer(ai.ID, "indexd-explicit", 100)
	return nil
}

// Peers lists the connected peers.
func (x *Host) Peers() []PeerInfo {
	x.mu.Lock()
	fs := make([]*following, 0, len(x.follows))
	for _, f := range x.follows {
		fs = append(fs, f)
	}
	x.mu.Unlock()
	var out []PeerInfo
	for _, p := range x.h.Network().Peers() {
		pi := PeerInfo{ID: p.String(), Latency: x.h.Peerstore().LatencyEWMA(p), Score: x.score(p)}
		for _, a := range x.h.Peerstore().Addrs(p) {
			pi.Addrs = append(pi.Addrs, a.String()+"/p2p/"+p.String())
		}
		for _, f := range fs {
			if slices.Contains(f.topic.ListPeers(), p) {
				pi.Indexes = append(pi.Indexes, f.idx.String())
			}
		}
		slices.Sort(pi.Addrs)
		slices.Sort(pi.Indexes)
		out = append(out, pi)
	}
	slices.SortFunc(out, func(a, b PeerInfo) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

// Stats returns the counters since New.
func (x *Host) Stats() Stats {
	return Stats{
		BytesIn: x.st.bytesIn.Load(), BytesOut: x.st.bytesOut.Load(), DataIn: x.st.dataIn.Load(), Rounds: x.st.rounds.Load(),
		Rejected: x.st.rejected.Load(), LiveAccepted: x.st.liveAccepted.Load(), LiveIgnored: x.st.liveIgnored.Load(),
		BlocksIn: x.st.blocksIn.Load(), BlocksOut: x.st.blocksOut.Load(),
	}
}

// penalize records that p sent data that failed verification: it is scored
// down, disconnected and refused for banDuration.
func (x *Host) penalize(p peer.ID, why error) {
	x.st.rejected.Add(1)
	x.badMu.Lock()
	b := x.bad[p]
	if b == nil {
		b = &badness{}
		x.bad[p] = b
	}
	b.count++
	b.until = time.Now().Add(banDuration)
	x.badMu.Unlock()
	x.log.Warn("replicate: peer sent data that does not verify; disconnecting", "peer", p, "err", why)
	x.h.ConnManager().Unprotect(p, "indexd-sync")
	go x.h.Network().ClosePeer(p)
}

func (x *Host) score(p peer.ID) float64 {
	x.badMu.Lock()
	defer x.badMu.Unlock()
	if b := x.bad[p]; b != nil {
		return -float64(b.count)
	}
	return 0
}

func (x *Host) banned(p peer.ID) bool {
	x.badMu.Lock()
	defer x.badMu.Unlock()
	b := x.bad[p]
	return b != nil && time.Now().Before(b.until)
}

// gater refuses connections from and to banned peers.
type gater struct{ x *Host }

func (g gater) InterceptPeerDial(p peer.ID) bool                 { return !g.x.banned(p) }
func (g gater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return !g.x.banned(p) }
func (g gater) InterceptAccept(network.ConnMultiaddrs) bool      { return true }
func (g gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !g.x.banned(p)
}
func (g gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// notifee connects to peers found by mDNS.
type notifee struct{ x *Host }

func (n notifee) HandlePeerFound(ai peer.AddrInfo) {
	if ai.ID == n.x.h.ID() || n.x.isClosed() {
		return
	}
	n.x.goRun(func() {
		// mDNS reports a peer once (zeroconf passes each entry on only
		// the first time it sees it), so a dial that fails — a loaded
		// machine, both sides dialling at once — is retried a few times.
		wait := time.Second
		for attempt := 1; ; attempt++ {
			ctx, cancel := context.WithTimeout(n.x.ctx, dialTimeout)
			err := n.x.h.Connect(ctx, ai)
			cancel()
			if err == nil || attempt == mdnsDialAttempts {
				if err != nil {
					n.x.log.Debug("replicate: mDNS dial failed", "peer", ai.ID, "err", err)
				}
				return
			}
			select {
			case <-time.After(wait):
			case <-n.x.ctx.Done():
				return
			}
			wait *= 2
		}
	})
}

// mdnsDialAttempts is how often a peer found by mDNS is dialled before it
// is left to the other discovery paths.
const mdnsDialAttempts = 4

// bucket is a token bucket for live traffic.
type bucket struct {
	tokens float64
	last   time.Time
}

// allow takes one token from the bucket of key in m (created full), refilled
// at rate per second up to burst. The caller holds x.mu.
func allow[K comparable](m map[K]*bucket, key K, rate, burst float64, now time.Time) bool {
	b := m[key]
	if b == nil {
		if len(m) > 1<<16 { // bound the table; a flood of keys resets it
			clear(m)
		}
		b = &bucket{tokens: burst, last: now}
		m[key] = b
	}
	b.tokens = min(burst, b.tokens+rate*now.Sub(b.last).Seconds())
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func randomPeer(ps []peer.ID) peer.ID { return ps[rand.IntN(len(ps))] }
