package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"

	"indexd/content"
	"indexd/feedtree"
	"indexd/replicate"
)

// Blocklists are moderation as signed, subscribable data: a node publishes
// its local blocklist (Block) as a content feed, and other nodes subscribe
// to that feed and hide what it blocks, live, as the moderator adds and
// lifts blocks. The feed is an ordinary content feed (one signature per
// append, each block verified against the signed length before it is
// used), holding one file, listFile, of lines:
//
//	# a comment (the publisher writes a header)
//	+<40 or 64 hex infohash>[ <reason>]
//	-<40 or 64 hex infohash>
//
// read in order: the list blocks what was added and not lifted since. Like
// a local block, a subscribed one is a query-time preference: entries still
// replicate and digests never change. A local unblock of an infohash that
// a subscribed list blocks records an exception that wins over every list.
//
// Badger keys under prefixNode:
//
//	n/bl/own                      -> feed key (32 bytes) of the list published here
//	n/bl/sub/<feed key>           -> JSON listRecord: a subscription
//	n/bl/ih/<feed key><infohash>  -> reason (may be empty): what a subscribed list blocks now
//	n/bl/allow/<infohash>         -> empty: a local exception to every list
var (
	keyOwnList  = []byte("n/bl/own")
	keyListSub  = []byte("n/bl/sub/")
	keyListHash = []byte("n/bl/ih/")
	keyAllow    = []byte("n/bl/allow/")
)

const (
	// listFile is the file of a blocklist feed that holds its lines.
	listFile = "blocklist"
	// listHeader starts the file of a published list.
	listHeader = "# indexd blocklist v1: +INFOHASH [reason] blocks, -INFOHASH lifts\n"
	// maxListLine bounds one line of a list (a reason is at most 1 KiB).
	maxListLine = 2048
	// MaxListHashes bounds what one subscribed list may block at once;
	// what a list adds beyond it is ignored (and counted as rejected).
	MaxListHashes = 200_000
	// maxListBytes bounds the file a subscription reads: past it, the
	// subscription stops with an error, keeping what it applied.
	maxListBytes = 64 << 20
	// listRetryMin and listRetryMax bound the wait before a subscription
	// that failed (no peer, a bad feed) tries again.
	listRetryMin = 5 * time.Second
	listRetryMax = 5 * time.Minute
)

// Blocklist is a published or subscribed blocklist.
type Blocklist struct {
	Feed string `json:"feed"`           // "feed:<hex>"
	Link string `json:"link,omitempty"` // for others to subscribe: the feed and this node's addresses (own list)
	Own  bool   `json:"own,omitempty"`  // published here: it mirrors this node's local blocks
	Name string `json:"name,omitempty"` // a local label for a subscription
	// Infohashes is how many it blocks now.
	Infohashes int `json:"infohashes"`
	// Length is the feed's signed length held here.
	Length uint64 `json:"length"`
	// Rejected counts malformed lines and additions beyond MaxListHashes.
	Rejected int       `json:"rejected,omitempty"`
	Updated  time.Time `json:"updated,omitzero"` // when a change was last applied
	Error    string    `json:"error,omitempty"`  // why the last attempt to follow it failed
	Peers    []string  `json:"peers,omitempty"`  // addresses asked besides the DHT and connected peers
}

// BlocklistRequest subscribes to a blocklist.
type BlocklistRequest struct {
	// List is a link from PublishBlocklist, or a bare feed key.
	List  string   `json:"list"`
	Name  string   `json:"name,omitempty"`
	Peers []string `json:"peers,omitempty"` // more addresses to ask (each ends in /p2p/<peer id>)
}

// listRecord is the value under a subscription key.
type listRecord struct {
	Name     string   `json:"name,omitempty"`
	Peers    []string `json:"peers,omitempty"`
	Added    int64    `json:"added"`             // unix ms
	Updated  int64    `json:"updated,omitempty"` // unix ms
	Length   uint64   `json:"length,omitempty"`
	Rejected int      `json:"rejected,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// lists is the node's blocklist state in memory.
type lists struct {
	mu      sync.Mutex
	running map[feedtree.Key]*listRun // subscriptions followed live (daemon)

	ownMu     sync.Mutex
	published map[string]string // what the own list blocks now (raw infohash -> reason); nil: not read yet
}

// listRun is one subscription followed live.
type listRun struct {
	h      *replicate.Host // the host it follows on
	cancel context.CancelFunc
	done   chan struct{}
}

// blocklistLinkScheme starts a shareable blocklist link:
//
//	indexd:blocklist:<64 hex feed key>?peer=<multiaddr>...
const blocklistLinkScheme = "indexd:blocklist:"

// BlocklistLink returns a shareable link to blocklist feed k, with the
// addresses to reach it.
func BlocklistLink(k feedtree.Key, addrs []string) string {
	b := k.Bytes()
	var sb strings.Builder
	sb.WriteString(blocklistLinkScheme)
	sb.WriteString(hex.EncodeToString(b[:]))
	for i, a := range addrs {
		sb.WriteByte("?&"[min(i, 1)])
		sb.WriteString("peer=")
		sb.WriteString(url.QueryEscape(a))
	}
	return sb.String()
}

// ParseBlocklistLink parses what BlocklistLink returns, or a bare feed key
// ("feed:<hex>" or 64 hex digits).
func ParseBlocklistLink(s string) (feedtree.Key, []string, error) {
	rest, query, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(s), blocklistLinkScheme), "?")
	k, err := feedtree.ParseKey(rest)
	if err != nil {
		return feedtree.Key{}, nil, fmt.Errorf("%w: blocklist %q: want a link from 'indexd blocklist publish' or a feed key: %v", ErrBadRequest, clipItem(s), err)
	}
	if query == "" {
		return k, nil, nil
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return feedtree.Key{}, nil, fmt.Errorf("%w: blocklist link: %v", ErrBadRequest, err)
	}
	peers := q["peer"]
	if err := checkPeerAddrs(peers); err != nil {
		return feedtree.Key{}, nil, err
	}
	return k, peers, nil
}

// checkPeerAddrs checks addresses to dial: at most 32, each with its peer id.
func checkPeerAddrs(peers []string) error {
	if len(peers) > 32 {
		return fmt.Errorf("%w: %d peer addresses, at most 32", ErrBadRequest, len(peers))
	}
	for _, a := range peers {
		if err := replicate.CheckPeerAddr(a); err != nil {
			return fmt.Errorf("%w: peer %q: %v", ErrBadRequest, clipItem(a), err)
		}
	}
	return nil
}

// listOp is one line of a blocklist: add (block) or lift an infohash.
type listOp struct {
	add    bool
	ih     []byte
	reason string
}

// parseListLine parses one line of a blocklist, without its newline. ok is
// false for a blank line or a comment; err says why a line is malformed.
func parseListLine(line []byte) (op listOp, ok bool, err error) {
	// The bound comes first, on the line as it came (less one '\r'), so a
	// listReader that skips an over-long line in pieces counts the same.
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) > maxListLine {
		return listOp{}, false, fmt.Errorf("a line of %d bytes, at most %d", len(line), maxListLine)
	}
	if len(bytes.TrimSpace(line)) == 0 || line[0] == '#' {
		return listOp{}, false, nil
	}
	switch line[0] {
	case '+':
		op.add = true
	case '-':
	default:
		return listOp{}, false, errors.New("a line must start with '+', '-' or '#'")
	}
	h, reason, _ := bytes.Cut(line[1:], []byte(" "))
	if len(h) != 40 && len(h) != 64 {
		return listOp{}, false, fmt.Errorf("an infohash of %d hex digits, want 40 or 64", len(h))
	}
	op.ih = make([]byte, len(h)/2)
	if _, err := hex.Decode(op.ih, h); err != nil {
		return listOp{}, false, fmt.Errorf("infohash: %v", err)
	}
	if op.add {
		op.reason = cleanReason(string(reason))
	}
	return op, true, nil
}

// maxReason bounds a reason read from a blocklist, in bytes.
const maxReason = 1024

// cleanReason makes a reason safe to store, print and write as part of a
// line: valid UTF-8, control characters as spaces (so a reason can never
// start a line of its own or drive a terminal), trimmed, at most maxReason
// bytes.
func cleanReason(r string) string {
	r = strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f || c >= 0x80 && c < 0xa0 {
			return ' '
		}
		return c
	}, strings.ToValidUTF8(r, "\uFFFD"))
	r = strings.TrimSpace(r)
	if len(r) > maxReason {
		r = r[:maxReason]
		for !utf8.ValidString(r) {
			r = r[:len(r)-1]
		}
		r = strings.TrimSpace(r)
	}
	return r
}

// listLine formats one line of a blocklist.
func listLine(add bool, ih []byte, reason string) string {
	if !add {
		return "-" + hex.EncodeToString(ih) + "\n"
	}
	if reason = cleanReason(reason); reason == "" {
		return "+" + hex.EncodeToString(ih) + "\n"
	}
	return "+" + hex.EncodeToString(ih) + " " + reason + "\n"
}

// listReader splits the bytes of a blocklist, in whatever pieces they
// arrive, into lines and hands each batch of whole lines' ops to apply. A
// line longer than maxListLine is skipped whole, counted in bad.
type listReader struct {
	apply    func(ops []listOp) error
	partial  []byte
	skipping bool // inside an over-long line
	read     uint64
	max      uint64 // bytes it takes at most (0: no bound)
	bad      int
}

func (r *listReader) Write(p []byte) (int, error) {
	n := len(p)
	if r.max > 0 && r.read+uint64(len(p)) > r.max {
		return 0, fmt.Errorf("blocklist: more than %d bytes", r.max)
	}
	r.read += uint64(len(p))
	var ops []listOp
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if !r.skipping {
				r.partial = append(r.partial, p...)
				if len(r.partial) > maxListLine+1 {
					r.partial, r.skipping = r.partial[:0], true
					r.bad++
				}
			}
			break
		}
		line := p[:i]
		p = p[i+1:]
		if r.skipping {
			r.skipping = false
			continue
		}
		if len(r.partial) > 0 {
			line = append(r.partial, line...)
			r.partial = r.partial[:0]
		}
		op, ok, err := parseListLine(line)
		if err != nil {
			r.bad++
		} else if ok {
			ops = append(ops, op)
		}
	}
	if len(ops) > 0 {
		if err := r.apply(ops); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// listKey returns a key of prefix followed by feed key k and more.
func listKey(prefix []byte, k feedtree.Key, more []byte) []byte {
	b := k.Bytes()
	out := make([]byte, 0, len(prefix)+32+len(more))
	return append(append(append(out, prefix...), b[:]...), more...)
}

// ownList returns the key of the list published here, if there is one.
func (n *Node) ownList() (feedtree.Key, bool) {
	var k feedtree.Key
	err := n.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(keyOwnList)
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			var err error
			k, err = feedtree.KeyFromBytes(v)
			return err
		})
	})
	return k, err == nil
}

// PublishBlocklist publishes this node's local blocklist as a content feed
// (created the first time) and returns it: from now on every Block and
// unblock is appended to it, and subscribers see it live. Subscribed
// lists' blocks are not republished.
func (n *Node) PublishBlocklist(ctx context.Context) (*Blocklist, error) {
	n.lists.ownMu.Lock()
	k, ok := n.ownList()
	if !ok {
		f, err := n.NewFeed()
		if err != nil {
			n.lists.ownMu.Unlock()
			return nil, err
		}
		k = f.Key()
		b := k.Bytes()
		if err := n.db.Update(func(txn *badger.Txn) error { return txn.Set(keyOwnList, b[:]) }); err != nil {
			n.lists.ownMu.Unlock()
			return nil, err
		}
		n.lists.published = map[string]string{}
	}
	n.lists.ownMu.Unlock()
	if err := n.syncOwnList(ctx); err != nil {
		return nil, err
	}
	if h := n.host(); h != nil {
		h.Provide(k)
	}
	return n.ownBlocklist(k)
}

// ownBlocklist describes the list published here.
func (n *Node) ownBlocklist(k feedtree.Key) (*Blocklist, error) {
	f, err := n.Feed(k)
	if err != nil {
		return nil, err
	}
	var addrs []string
	if h := n.host(); h != nil {
		addrs = h.Addrs()
	}
	n.lists.ownMu.Lock()
	count := len(n.lists.published)
	n.lists.ownMu.Unlock()
	return &Blocklist{Feed: k.String(), Link: BlocklistLink(k, addrs), Own: true, Infohashes: count, Length: f.Length()}, nil
}

// syncOwnList appends to the published list what the local blocklist
// changed since: additions, then lifts, each set sorted. Comparing the two
// sets, rather than logging each call, makes it whole again after a crash
// between a Block commit and its append. A no-op when nothing is published.
func (n *Node) syncOwnList(ctx context.Context) error {
	k, ok := n.ownList()
	if !ok {
		return nil
	}
	n.lists.ownMu.Lock()
	defer n.lists.ownMu.Unlock()
	f, err := n.Feed(k)
	if err != nil {
		return fmt.Errorf("blocklist: %w", err)
	}
	if n.lists.published == nil {
		pub := map[string]string{}
		r := &listReader{apply: func(ops []listOp) error {
			for _, op := range ops {
				if op.add {
					pub[string(op.ih)] = op.reason
				} else {
					delete(pub, string(op.ih))
				}
			}
			return nil
		}}
		err := content.Stream(ctx, f, listFile, r, content.StreamOptions{Once: true})
		if err != nil && !errors.Is(err, content.ErrNoFile) {
			return fmt.Errorf("blocklist: reading the published list: %w", err)
		}
		n.lists.published = pub
	}
	local, err := n.localBlocks()
	if err != nil {
		return err
	}
	var adds, lifts [][]byte
	for ih := range local {
		if _, ok := n.lists.published[ih]; !ok {
			adds = append(adds, []byte(ih))
		}
	}
	for ih := range n.lists.published {
		if _, ok := local[ih]; !ok {
			lifts = append(lifts, []byte(ih))
		}
	}
	if len(adds)+len(lifts) == 0 && f.Length() > 0 {
		return nil
	}
	slices.SortFunc(adds, bytes.Compare)
	slices.SortFunc(lifts, bytes.Compare)
	var buf bytes.Buffer
	if f.Length() == 0 {
		buf.WriteString(listHeader)
	}
	for _, ih := range adds {
		buf.WriteString(listLine(true, ih, local[string(ih)]))
	}
	for _, ih := range lifts {
		buf.WriteString(listLine(false, ih, ""))
	}
	if err := content.AppendStream(ctx, f, listFile, &buf, content.AppendOptions{}); err != nil {
		n.lists.published = nil // read it again next time
		return fmt.Errorf("blocklist: appending: %w", err)
	}
	for _, ih := range adds {
		n.lists.published[string(ih)] = local[string(ih)]
	}
	for _, ih := range lifts {
		delete(n.lists.published, string(ih))
	}
	return nil
}

// localBlocks returns the local blocks: raw infohash -> reason.
func (n *Node) localBlocks() (map[string]string, error) {
	out := map[string]string{}
	err := n.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("n/block/"), PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var r blockRecord
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &r) }); err != nil {
				return err
			}
			out[string(it.Item().Key()[len("n/block/"):])] = r.Reason
		}
		return nil
	})
	return out, err
}

// SubscribeBlocklist subscribes to a published blocklist: its blocks hide
// entries here as they would if blocked locally, and follow the list live
// while the daemon runs. It fetches the list's current length before it
// returns (without a daemon, through a host started for the call), and
// fails, keeping the subscription, when no peer holding it answers.
func (n *Node) SubscribeBlocklist(ctx context.Context, req BlocklistRequest) (*Blocklist, error) {
	k, peers, err := ParseBlocklistLink(req.List)
	if err != nil {
		return nil, err
	}
	if err := checkPeerAddrs(req.Peers); err != nil {
		return nil, err
	}
	if own, ok := n.ownList(); ok && own == k {
		return nil, fmt.Errorf("%w: %s is the blocklist this node publishes", ErrBadRequest, k)
	}
	if len(req.Name) > 200 {
		return nil, fmt.Errorf("%w: a name of %d bytes, at most 200", ErrBadRequest, len(req.Name))
	}
	peers = dedupe(append(peers, req.Peers...))
	rec := listRecord{Name: req.Name, Peers: peers, Added: n.now().UnixMilli()}
	err = n.db.Update(func(txn *badger.Txn) error {
		if it, err := txn.Get(listKey(keyListSub, k, nil)); err == nil {
			var old listRecord
			if err := it.Value(func(v []byte) error { return json.Unmarshal(v, &old) }); err == nil {
				rec.Added, rec.Updated, rec.Length, rec.Rejected = old.Added, old.Updated, old.Length, old.Rejected
				if rec.Name == "" {
					rec.Name = old.Name
				}
				rec.Peers = dedupe(append(rec.Peers, old.Peers...))
			}
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return txn.Set(listKey(keyListSub, k, nil), b)
	})
	if err != nil {
		return nil, err
	}
	ferr := n.fetchListOnce(ctx, k)
	if h := n.host(); h != nil {
		n.startList(h, k)
	}
	bl, err := n.subscribedList(k)
	if err != nil {
		return nil, err
	}
	if ferr != nil {
		return bl, fmt.Errorf("subscribed to %s, but fetching it failed (the daemon keeps trying): %w", k, ferr)
	}
	return bl, nil
}

// UnsubscribeBlocklist drops a subscription and what its list blocked.
func (n *Node) UnsubscribeBlocklist(ctx context.Context, list string) error {
	k, _, err := ParseBlocklistLink(list)
	if err != nil {
		return err
	}
	err = n.db.Update(func(txn *badger.Txn) error {
		if _, err := txn.Get(listKey(keyListSub, k, nil)); err != nil {
			return err
		}
		b := k.Bytes()
		if err := txn.Delete(append(slices.Clone(keyHeld), b[:]...)); err != nil {
			return err
		}
		return txn.Delete(listKey(keyListSub, k, nil))
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return fmt.Errorf("%w: no subscription to blocklist %s", ErrNotFound, k)
	} else if err != nil {
		return err
	}
	n.stopList(k)
	if h := n.host(); h != nil {
		h.Unprovide(k)
	}
	return n.clearList(k)
}

// clearList deletes what list k blocks.
func (n *Node) clearList(k feedtree.Key) error {
	defer n.blocks.gen.Add(1)
	wb := n.db.NewWriteBatch()
	defer wb.Cancel()
	err := n.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: listKey(keyListHash, k, nil)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := wb.Delete(it.Item().KeyCopy(nil)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return wb.Flush()
}

// Blocklists lists the published list (first) and the subscriptions.
func (n *Node) Blocklists(ctx context.Context) ([]Blocklist, error) {
	var out []Blocklist
	if k, ok := n.ownList(); ok {
		if err := n.loadOwn(ctx); err != nil {
			return nil, err
		}
		bl, err := n.ownBlocklist(k)
		if err != nil {
			return nil, err
		}
		out = append(out, *bl)
	}
	for _, k := range n.listSubs() {
		bl, err := n.subscribedList(k)
		if err != nil {
			return nil, err
		}
		out = append(out, *bl)
	}
	return out, nil
}

// loadOwn reads the published list's state if it was not read yet.
func (n *Node) loadOwn(ctx context.Context) error {
	n.lists.ownMu.Lock()
	loaded := n.lists.published != nil
	n.lists.ownMu.Unlock()
	if loaded {
		return nil
	}
	return n.syncOwnList(ctx)
}

// listSubs returns the keys of the subscribed lists, in key order.
func (n *Node) listSubs() []feedtree.Key {
	var out []feedtree.Key
	n.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: keyListSub})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if k, err := feedtree.KeyFromBytes(it.Item().Key()[len(keyListSub):]); err == nil {
				out = append(out, k)
			}
		}
		return nil
	})
	return out
}

// subscribedList describes subscription k.
func (n *Node) subscribedList(k feedtree.Key) (*Blocklist, error) {
	var rec listRecord
	count := 0
	err := n.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(listKey(keyListSub, k, nil))
		if err != nil {
			return err
		}
		if err := it.Value(func(v []byte) error { return json.Unmarshal(v, &rec) }); err != nil {
			return err
		}
		iter := txn.NewIterator(badger.IteratorOptions{Prefix: listKey(keyListHash, k, nil)})
		defer iter.Close()
		for iter.Rewind(); iter.Valid(); iter.Next() {
			count++
		}
		return nil
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: no subscription to blocklist %s", ErrNotFound, k)
	} else if err != nil {
		return nil, err
	}
	bl := &Blocklist{Feed: k.String(), Name: rec.Name, Infohashes: count, Length: rec.Length,
		Rejected: rec.Rejected, Error: rec.Error, Peers: rec.Peers}
	if rec.Updated > 0 {
		bl.Updated = time.UnixMilli(rec.Updated).UTC()
	}
	return bl, nil
}

// startList follows subscription k live on h until it is dropped, h
// closes or the node closes; once per subscription.
func (n *Node) startList(h *replicate.Host, k feedtree.Key) {
	n.lists.mu.Lock()
	defer n.lists.mu.Unlock()
	if n.lists.running == nil {
		n.lists.running = map[feedtree.Key]*listRun{}
	}
	if run, ok := n.lists.running[k]; ok && run.h == h {
		return
	}
	ctx, cancel := n.untilClosed(context.Background())
	run := &listRun{h: h, cancel: cancel, done: make(chan struct{})}
	n.lists.running[k] = run
	go func() {
		defer close(run.done)
		defer cancel()
		wait := listRetryMin
		for ctx.Err() == nil && n.host() == h {
			start := time.Now()
			err := n.followList(ctx, h, k, false)
			if ctx.Err() != nil || n.host() != h {
				return
			}
			if time.Since(start) > listRetryMax {
				wait = listRetryMin // it ran a while: a fresh failure
			}
			n.log.Warn("blocklist: following", "feed", k.String(), "err", err, "retry", wait)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			wait = min(2*wait, listRetryMax)
		}
	}()
}

// stopList stops following subscription k and waits for it.
func (n *Node) stopList(k feedtree.Key) {
	n.lists.mu.Lock()
	run := n.lists.running[k]
	delete(n.lists.running, k)
	n.lists.mu.Unlock()
	if run != nil {
		run.cancel()
		<-run.done
	}
}

// stopLists stops following every subscription and waits for them.
func (n *Node) stopLists() {
	n.lists.mu.Lock()
	runs := n.lists.running
	n.lists.running = nil
	n.lists.mu.Unlock()
	for _, run := range runs {
		run.cancel()
		<-run.done
	}
}

// startLists follows every subscription live; StartNet calls it.
func (n *Node) startLists(h *replicate.Host) {
	for _, k := range n.listSubs() {
		n.startList(h, k)
	}
}

// fetchListOnce fetches subscribed list k up to the newest length a peer
// holds and applies it, through a host started for the call when the node
// is not serving.
func (n *Node) fetchListOnce(ctx context.Context, k feedtree.Key) error {
	h, stop, err := n.hostForFetch(ctx)
	if err != nil {
		return err
	}
	defer stop()
	return n.followList(ctx, h, k, true)
}

// hostForFetch returns the serving host, or starts one until stop.
func (n *Node) hostForFetch(ctx context.Context) (h *replicate.Host, stop func(), err error) {
	if h = n.host(); h != nil {
		return h, func() {}, nil
	}
	if err := n.StartNet(ctx, NetOptions{temporary: true}); err != nil {
		return nil, nil, err
	}
	return n.host(), n.stopNet, nil
}

// followList fetches subscribed list k from its peers on h and applies it
// from the start (applying is idempotent, so a restart replays it whole):
// once, up to the newest length a peer holds, or, unless once, live until
// ctx ends. The outcome is recorded in the subscription.
func (n *Node) followList(ctx context.Context, h *replicate.Host, k feedtree.Key, once bool) (err error) {
	bl, err := n.subscribedList(k)
	if err != nil {
		return err
	}
	defer func() {
		if ctx.Err() == nil {
			n.recordList(k, func(r *listRecord) {
				r.Error = ""
				if err != nil {
					r.Error = err.Error()
				}
			})
		}
	}()
	f, err := n.openFeed(k)
	if err != nil {
		return err
	}
	if f.Writable() {
		return fmt.Errorf("%w: %s is written here", ErrBadRequest, k)
	}
	peers, err := n.findPeers(ctx, h, k, bl.Peers)
	if err != nil {
		return err
	}
	if _, err := h.Upgrade(ctx, f, peers); err != nil && f.Length() == 0 {
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	if err := n.markHeld(k); err != nil {
		return err
	}
	h.Provide(k)
	fetch := func(ctx context.Context, start, end uint64) error {
		return h.Download(ctx, f, []replicate.BlockRange{{Start: start, End: end}}, peers, nil)
	}
	if !once {
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go h.Subscribe(sctx, f, peers)
	}
	ap := &listApplier{n: n, k: k, f: f, set: map[string]bool{}}
	r := &listReader{apply: ap.apply, max: maxListBytes}
	ap.bad = &r.bad
	err = content.Stream(ctx, f, listFile, r, content.StreamOptions{Fetch: fetch, Once: once})
	ap.record()
	if errors.Is(err, content.ErrRewritten) {
		// The file changed other than by appending (a new manifest that
		// drops lines): replay it from a clean slate next time.
		if cerr := n.clearList(k); cerr != nil {
			return cerr
		}
	}
	return err
}

// listApplier applies a subscribed list's ops to badger as they are read.
type listApplier struct {
	n        *Node
	k        feedtree.Key
	f        *feedtree.Feed
	set      map[string]bool // what the list blocks after the ops read so far
	rejected int             // additions beyond MaxListHashes
	bad      *int            // malformed lines (the listReader's count)
}

func (a *listApplier) apply(ops []listOp) error {
	wb := a.n.db.NewWriteBatch()
	defer wb.Cancel()
	for _, op := range ops {
		key := listKey(keyListHash, a.k, op.ih)
		switch {
		case op.add && !a.set[string(op.ih)] && len(a.set) >= MaxListHashes:
			a.rejected++
			continue
		case op.add:
			a.set[string(op.ih)] = true
			if err := wb.Set(key, []byte(op.reason)); err != nil {
				return err
			}
		default:
			delete(a.set, string(op.ih))
			if err := wb.Delete(key); err != nil {
				return err
			}
		}
	}
	if err := wb.Flush(); err != nil {
		return err
	}
	a.n.blocks.gen.Add(1)
	a.record()
	return nil
}

// record notes the length applied and what was rejected.
func (a *listApplier) record() {
	length, rejected := a.f.Length(), a.rejected
	if a.bad != nil {
		rejected += *a.bad
	}
	a.n.recordList(a.k, func(r *listRecord) {
		if r.Length != length {
			r.Updated = a.n.now().UnixMilli()
		}
		r.Length, r.Rejected = length, rejected
	})
}

// recordList updates subscription k's record, unless it was dropped.
func (n *Node) recordList(k feedtree.Key, update func(*listRecord)) {
	err := n.db.Update(func(txn *badger.Txn) error {
		it, err := txn.Get(listKey(keyListSub, k, nil))
		if err != nil {
			return err
		}
		var r listRecord
		if err := it.Value(func(v []byte) error { return json.Unmarshal(v, &r) }); err != nil {
			return err
		}
		update(&r)
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return txn.Set(listKey(keyListSub, k, nil), b)
	})
	if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
		n.log.Warn("blocklist: recording", "feed", k.String(), "err", err)
	}
}

var _ io.Writer = (*listReader)(nil)
