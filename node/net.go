package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"indexd/dag"
	"indexd/feedtree"
	"indexd/replicate"
)

// netState holds the replication host while the node serves.
type netState struct {
	mu   sync.Mutex
	host *replicate.Host
	// served are the indexes written here that host follows and pump
	// keeps searchable (see serveIndex).
	served map[dag.IndexKey]bool
}

// NetOptions configures the replication host started by StartNet.
type NetOptions struct {
	Listen    []string // Default: TCP and QUIC on all interfaces, free ports
	Bootstrap []string
	MDNS      bool
	DHT       bool
	// Scrape asks trackers, in the background, for the swarm health of the
	// entries that searches show without a fresh figure (swarm.go). It
	// tells those trackers which torrents this node looks at.
	Scrape bool
	// ScrapePrivate lets those trackers be on loopback or LAN addresses.
	ScrapePrivate bool
	// temporary: a host started for one call (a fetch without a daemon),
	// which neither polls RSS nor follows subscribed blocklists live.
	temporary bool
}

// StartNet starts the libp2p host, follows every followed index and keeps
// the pipeline running as replicated nodes arrive.
func (n *Node) StartNet(ctx context.Context, opts NetOptions) error {
	key, err := replicate.LoadOrCreateKey(filepath.Join(n.dir, hostKeyFile))
	if err != nil {
		return fmt.Errorf("host key: %w", err)
	}
	h, err := replicate.New(ctx, n.dag, n, replicate.Options{
		PrivKey:   key,
		Listen:    opts.Listen,
		Bootstrap: opts.Bootstrap,
		MDNS:      opts.MDNS,
		DHT:       opts.DHT,
		Logger:    n.log,
	})
	if err != nil {
		return err
	}
	n.net.mu.Lock()
	n.net.host = h
	n.net.served = map[dag.IndexKey]bool{}
	n.net.mu.Unlock()
	n.provideContent(h) // content.go: advertise held content feeds on the DHT
	if opts.Scrape && n.scrapeDone == nil {
		n.scrapeDone = make(chan struct{})
		n.swarmQ.private = opts.ScrapePrivate
		n.swarmQ.on.Store(true)
		go n.scrapeLoop(ctx) // swarm.go: scrape what searches show
	}
	if n.rssDone == nil && !opts.temporary {
		n.rssDone = make(chan struct{})
		go n.pollRSS(ctx) // rss.go: fetch the RSS subscriptions as they come due
	}
	if !opts.temporary {
		n.startLists(h) // blocklists.go: follow subscribed blocklists live
	}
	if err := n.syncOwnList(ctx); err != nil {
		n.log.Warn("blocklist: publishing", "err", err)
	}
	follows, err := n.Follows(ctx)
	if err != nil {
		return err
	}
	for _, f := range follows {
		k, err := dag.ParseIndexKey(f.Index)
		if err != nil {
			continue
		}
		if err := h.Follow(ctx, k); err != nil {
			n.log.Warn("follow", "index", f.Index, "err", err)
		}
	}
	// Serve our own indexes too, so peers can follow them. An index this
	// node neither follows nor writes (one unfollowed) is not replicated:
	// its data stays searchable until RemoveIndex deletes it.
	keys, _ := n.dag.Indexes()
	for _, k := range keys {
		if n.isFollowed(k) || n.isOwn(k) {
			n.serveIndex(ctx, h, k)
		}
	}
	return nil
}

// isOwn reports whether this node writes idx: the default index, one it
// created, or one it has a log key for (it published into it).
func (n *Node) isOwn(idx dag.IndexKey) bool {
	if d, err := n.defaultIndex(); err == nil && d == idx {
		return true
	}
	if m, err := n.dag.Manifest(idx); err == nil && m.Creator == n.Identity() {
		return true
	}
	_, err := os.Stat(n.logKeyPath(idx))
	return err == nil
}

// serveIndex has h follow idx, so peers that follow it find this node on
// its topic (by mDNS, the DHT or a link) and sync, and keeps the index and
// search up to date as nodes arrive until ctx ends or the node closes; once
// per index while serving.
func (n *Node) serveIndex(ctx context.Context, h *replicate.Host, idx dag.IndexKey) {
	n.net.mu.Lock()
	if n.net.host != h || n.net.served[idx] {
		n.net.mu.Unlock()
		return
	}
	n.net.served[idx] = true
	n.net.mu.Unlock()
	if err := h.Follow(ctx, idx); err != nil {
		n.log.Warn("serving index", "index", idx.String(), "err", err)
	}
	go n.pump(ctx, idx)
}

// untilClosed returns a context that ends with ctx or when the node closes.
func (n *Node) untilClosed(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-n.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// pump keeps index and search up to date with nodes that replication
// applies to the DAG, until ctx ends or the node closes.
func (n *Node) pump(ctx context.Context, idx dag.IndexKey) {
	ctx, cancel := n.untilClosed(ctx)
	defer cancel()
	// Search indexing runs in its own goroutine, as in Import: a catch-up
	// materialises a step of entries, hands it to search and goes on with
	// the next while bleve indexes it, on the other core. The kick blocks
	// while a search pass is queued, so search stays a step or two behind,
	// inside Index's cache of the entries just written.
	kick := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-kick:
			case <-ctx.Done():
				return
			}
			if _, err := n.syncSearch(ctx, idx); err != nil && ctx.Err() == nil {
				n.log.Warn("pipeline: search", "index", idx.String(), "err", err)
			}
		}
	}()
	// The catch-up is held to a lead over this pump (backlog.go).
	at, err := n.idx.Cursor(idx)
	if err != nil {
		n.log.Warn("pipeline", "index", idx.String(), "err", err)
		return
	}
	n.backlog.start(idx, at)
	defer n.backlog.stop(idx)
	var last uint64
	// While peers' signed heads say more is coming or the pump has more
	// than a step to do, the collector runs less often (gcMode). The last
	// blocks of a catch-up may be applied before the session learns it is
	// done, so while catching up the pump also looks again every
	// catchUpRecheck without new nodes.
	catchingUp := false
	setCatchingUp := func(c bool) {
		if c != catchingUp {
			catchingUp = c
			if c {
				gcm.change(0, 1)
			} else {
				gcm.change(0, -1)
			}
		}
	}
	defer setCatchingUp(false)
	for {
		wctx, done := ctx, context.CancelFunc(func() {})
		if catchingUp {
			wctx, done = context.WithTimeout(ctx, catchUpRecheck)
		}
		err := n.dag.WaitApplied(wctx, idx, last)
		done()
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, context.DeadlineExceeded) {
			setCatchingUp(n.catchingUp(idx))
			continue
		}
		if err != nil {
			return
		}
		c, err := n.dag.Counter(idx)
		if err != nil {
			return
		}
		last = c
		for more := true; more; {
			if more, err = n.syncEntriesSome(ctx, idx, pumpStep); err != nil {
				if ctx.Err() == nil {
					n.log.Warn("pipeline", "index", idx.String(), "err", err)
				}
				more = false
			}
			setCatchingUp(more || n.catchingUp(idx))
			select {
			case kick <- struct{}{}:
			case <-ctx.Done():
				return
			}
			if at, err := n.idx.Cursor(idx); err == nil {
				n.backlog.advance(idx, at)
			}
		}
	}
}

// catchUpRecheck is how long a catching-up pump waits for new nodes before
// it asks again whether the catch-up still runs.
const catchUpRecheck = 500 * time.Millisecond

// catchingUp reports whether sync sessions are bringing idx blocks that
// peers' signed heads say are not all here yet, or the DAG has not yet
// applied all that they stored.
func (n *Node) catchingUp(idx dag.IndexKey) bool {
	if q, _, err := n.dag.Queued(idx); err == nil && q > 0 {
		return true // stored, still to apply
	}
	h := n.host()
	return h != nil && h.CatchingUp(idx).Peers > 0
}

// bulkRemaining is how many blocks peers' signed heads must still promise
// an index before its applier treats the sync under way as a bulk one and
// leaves the cores to storing it (dag.Options.Bulk): a pump step's worth.
// Live traffic and the small syncs beside it stay far below.
const bulkRemaining = pumpStep

// pumpStep is how many DAG nodes the pump materialises before it hands
// them to search: four of Index's chunks. Search then lags by at most
// two or three steps, inside Index's cache of the entries just written.
const pumpStep = 4096

func (n *Node) stopNet() {
	n.stopLists() // they follow on the host that closes
	n.net.mu.Lock()
	h := n.net.host
	n.net.host = nil
	n.net.mu.Unlock()
	if h != nil {
		h.Close()
	}
}

func (n *Node) host() *replicate.Host {
	n.net.mu.Lock()
	defer n.net.mu.Unlock()
	return n.net.host
}

func (n *Node) announce(ctx context.Context, idx dag.IndexKey, log feedtree.Key) {
	if h := n.host(); h != nil {
		// An index created while serving is followed from its first
		// write, or peers that follow it would never see this node share it.
		n.serveIndex(context.WithoutCancel(ctx), h, idx)
		if err := h.Announce(ctx, idx, log); err != nil {
			n.log.Debug("announce", "err", err)
		}
	}
}

func (n *Node) netUnfollow(idx dag.IndexKey) {
	if h := n.host(); h != nil {
		_ = h.Unfollow(idx)
	}
}

// Listening returns the libp2p peer ID and listen addresses once StartNet
// has run (empty before): the part of Status a starting daemon prints,
// without Status's per-index work.
func (n *Node) Listening() (id string, addrs []string) {
	_, id, addrs, _ = n.netStatus()
	return id, addrs
}

func (n *Node) netStatus() (serving bool, id string, addrs []string, peers int) {
	h := n.host()
	if h == nil {
		return false, "", nil, 0
	}
	return true, h.ID(), h.Addrs(), len(h.Peers())
}

// linkDialTimeout bounds how long Follow waits for a link's peers.
const linkDialTimeout = 10 * time.Second

// FollowRequest subscribes to an index by key or shareable link.
type FollowRequest struct {
	Index   string   `json:"index"` // index key or link from `indexd index link`
	Authors []string `json:"authors,omitempty"`
}

// Follow subscribes to an index: persisted, and replicated when serving.
// When the index is new here and a link names peers, they are dialled and
// the manifest is fetched and checked against the key.
func (n *Node) Follow(ctx context.Context, req FollowRequest) (*Follow, error) {
	idx, peers, err := replicate.ParseIndexLink(req.Index)
	if err != nil {
		if idx, err = dag.ParseIndexKey(req.Index); err != nil {
			if idx, err = n.ResolveIndex(req.Index); err != nil {
				return nil, fmt.Errorf("%w: not an index key or link: %q", ErrBadRequest, req.Index)
			}
		}
	}
	var authors []dag.Identity
	for _, a := range req.Authors {
		id, err := dag.ParseIdentity(a)
		if err != nil {
			return nil, fmt.Errorf("%w: author: %v", ErrBadRequest, err)
		}
		authors = append(authors, id)
	}
	if err := n.setFollow(idx, authors); err != nil {
		return nil, err
	}
	if h := n.host(); h != nil {
		// Dial the link's addresses at once: some (a LAN or public
		// address seen from elsewhere) may not be reachable from here.
		var wg sync.WaitGroup
		dctx, cancel := context.WithTimeout(ctx, linkDialTimeout)
		for _, p := range peers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := h.Connect(dctx, p); err != nil {
					n.log.Debug("dial peer from link", "addr", p, "err", err)
				}
			}()
		}
		wg.Wait()
		cancel()
		if err := h.Follow(ctx, idx); err != nil {
			return nil, err
		}
		go n.pump(context.Background(), idx)
	}
	f := &Follow{Index: idx.String()}
	for _, a := range authors {
		f.Authors = append(f.Authors, a.String())
	}
	if m, err := n.dag.Manifest(idx); err == nil {
		f.Name = m.Name
	}
	return f, nil
}

// PeerView is a connected peer.
type PeerView struct {
	ID        string   `json:"id"`
	Addrs     []string `json:"addrs"`
	Indexes   []string `json:"indexes,omitempty"`
	LatencyMS float64  `json:"latency_ms,omitempty"`
}

// Peers lists connected peers (none when not serving).
func (n *Node) Peers(ctx context.Context) ([]PeerView, error) {
	h := n.host()
	if h == nil {
		return []PeerView{}, nil
	}
	out := []PeerView{}
	for _, p := range h.Peers() {
		out = append(out, PeerView{ID: p.ID, Addrs: p.Addrs, Indexes: p.Indexes, LatencyMS: float64(p.Latency.Microseconds()) / 1000})
	}
	return out, nil
}

// AddPeer dials a peer multiaddr (with /p2p/<id>). An address that is not
// one is a bad request; a peer that cannot be reached is ErrUpstream, with
// libp2p's reasons on one line.
func (n *Node) AddPeer(ctx context.Context, addr string) error {
	h := n.host()
	if h == nil {
		return fmt.Errorf("%w: not serving (start 'indexd serve')", ErrBadRequest)
	}
	addr = strings.TrimSpace(addr)
	if err := replicate.CheckPeerAddr(addr); err != nil {
		return fmt.Errorf("%w: %q is not a peer address: want a multiaddr ending in /p2p/<peer id>, as 'indexd serve' prints", ErrBadRequest, addr)
	}
	if err := h.Connect(ctx, addr); err != nil {
		if ctx.Err() != nil || errors.Is(err, replicate.ErrClosed) {
			return err
		}
		return fmt.Errorf("%w: %s", ErrUpstream, strings.Join(strings.Fields(err.Error()), " "))
	}
	return nil
}

// IndexLink returns a shareable link for an index: its key plus this
// node's reachable addresses when serving.
func (n *Node) IndexLink(ctx context.Context, which string) (string, error) {
	idx, err := n.ResolveIndex(which)
	if err != nil {
		return "", err
	}
	var addrs []string
	if h := n.host(); h != nil {
		addrs = h.Addrs()
	}
	return replicate.IndexLink(idx, addrs), nil
}

// DaemonInfo is what a running daemon writes to daemon.json so the CLI
// can reach it.
type DaemonInfo struct {
	HTTP string `json:"http"` // e.g. http://127.0.0.1:7870
	PID  int    `json:"pid"`
}

// WriteDaemonInfo records the daemon's HTTP address; RemoveDaemonInfo
// removes it on shutdown.
func WriteDaemonInfo(dir string, info DaemonInfo) error {
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, daemonFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, daemonFile))
}

// RemoveDaemonInfo deletes daemon.json.
func RemoveDaemonInfo(dir string) { os.Remove(filepath.Join(dir, daemonFile)) }

// ReadDaemonInfo reads daemon.json, if a daemon wrote one.
func ReadDaemonInfo(dir string) (DaemonInfo, error) {
	var info DaemonInfo
	b, err := os.ReadFile(filepath.Join(dir, daemonFile))
	if err != nil {
		return info, err
	}
	return info, json.Unmarshal(b, &info)
}
