package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"

	"indexd/content"
	"indexd/dag"
	"indexd/feedtree"
	"indexd/replicate"
)

// Badger keys under prefixNode used by content sharing:
//
//	n/share/<absolute path> -> JSON shareRecord: the feed a folder is shared
//	                           as, and the entry published for it
//	n/held/<feed key bytes> -> empty: a content replica this node downloaded
//	                           (served and advertised while serving)
var (
	keyShare = []byte("n/share/")
	keyHeld  = []byte("n/held/")
)

type shareRecord struct {
	Feed  string `json:"feed"`
	Entry string `json:"entry,omitempty"`
}

// ShareRequest shares a file or folder as a content feed.
type ShareRequest struct {
	Path        string   `json:"path"`              // file or folder (absolute, or relative to the caller's working directory)
	Publish     bool     `json:"publish,omitempty"` // also publish (first time) or amend (later) an index entry
	Index       string   `json:"index,omitempty"`
	Title       string   `json:"title,omitempty"`
	Description string   `json:"description,omitempty"`
	Category    string   `json:"category,omitempty"`
	Tags        []string `json:"tags,omitempty"`
}

// ShareResult describes a shared feed after Share.
type ShareResult struct {
	Feed     string `json:"feed"`
	Length   uint64 `json:"length"`
	Appended uint64 `json:"appended"` // blocks this call appended (0: nothing changed)
	Files    int    `json:"files"`
	Size     uint64 `json:"size"`
	Entry    string `json:"entry,omitempty"` // the published entry, when Publish
}

// ContentInfohash is the synthetic BitTorrent-v2-sized infohash of an entry
// published for a content feed: SHA-256("indexd-content-feed:" || feed key).
// A content feed is not a torrent and its content changes with each
// append, so no real infohash would stay valid; this one is stable for the
// feed's life and cannot collide with a real v2 infohash (which hashes a
// bencoded info dictionary).
func ContentInfohash(k feedtree.Key) []byte {
	b := k.Bytes()
	h := sha256.Sum256(append([]byte("indexd-content-feed:"), b[:]...))
	return h[:]
}

// Share turns the file or folder at req.Path into a content feed, or, when
// that path was shared before, appends what changed to the same feed. With
// Publish it publishes an entry linking the feed (first time) or amends the
// entry to the new length. While serving, the feed is advertised on the DHT.
func (n *Node) Share(ctx context.Context, req ShareRequest) (*ShareResult, error) {
	abs, err := filepath.Abs(req.Path)
	if err != nil {
		return nil, fmt.Errorf("%w: path: %v", ErrBadRequest, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	rec, err := n.shareRecord(abs)
	if err != nil {
		return nil, err
	}
	var f *feedtree.Feed
	if rec.Feed != "" {
		k, err := feedtree.ParseKey(rec.Feed)
		if err != nil {
			return nil, err
		}
		if f, err = n.Feed(k); err != nil {
			return nil, err
		}
	} else {
		if f, err = n.NewFeed(); err != nil {
			return nil, err
		}
		rec.Feed = f.Key().String()
		if err := n.putShareRecord(abs, rec); err != nil {
			return nil, err
		}
	}
	if !f.Writable() {
		return nil, fmt.Errorf("%w: feed %s of %s is not writable here", ErrForbidden, rec.Feed, abs)
	}
	before := f.Length()
	m, head, err := content.Share(ctx, f, abs, content.ShareOptions{})
	if err != nil {
		return nil, fmt.Errorf("sharing %s: %w", abs, err)
	}
	res := &ShareResult{Feed: rec.Feed, Length: head.Length, Appended: head.Length - before, Files: len(m.Files), Size: m.TotalSize}
	if h := n.host(); h != nil {
		h.Provide(f.Key())
	}
	if !req.Publish {
		res.Entry = rec.Entry
		return res, nil
	}
	ref := &dag.FeedRef{Key: f.Key(), Length: head.Length}
	if rec.Entry != "" {
		e, err := n.ownEntry(rec.Entry)
		if err == nil {
			if e.Content == nil || e.Content.Length != ref.Length || e.Content.Key != ref.Key {
				if _, err := n.appendOps(ctx, e.Index, dag.Op{Kind: dag.OpAmend, Target: e.ID, Amend: &dag.Amend{Content: ref}}); err != nil {
					return nil, err
				}
			}
			res.Entry = rec.Entry
			return res, nil
		}
		if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrBadRequest) {
			return nil, err
		}
		// Retracted or gone: publish anew.
	}
	idx, err := n.ResolveIndex(req.Index)
	if err != nil {
		return nil, err
	}
	name := m.Name
	if name == "" {
		name = filepath.Base(abs)
	}
	put := &dag.Put{InfohashV2: ContentInfohash(f.Key()), Name: name, Size: m.TotalSize, Content: ref}
	for _, file := range m.Files {
		if len(put.Files) >= maxEntryFiles {
			break
		}
		put.Files = append(put.Files, dag.File{Path: file.Path, Size: file.Size})
	}
	if err := applyFields(put, PublishRequest{Title: req.Title, Description: req.Description, Category: req.Category, Tags: req.Tags}); err != nil {
		return nil, err
	}
	ids, err := n.appendOps(ctx, idx, dag.Op{Kind: dag.OpPut, Put: put})
	if err != nil {
		return nil, err
	}
	rec.Entry = ids[0].String()
	if err := n.putShareRecord(abs, rec); err != nil {
		return nil, err
	}
	res.Entry = rec.Entry
	return res, nil
}

// maxEntryFiles bounds the file list copied from a manifest into an entry.
const maxEntryFiles = 1000

func (n *Node) shareRecord(abs string) (shareRecord, error) {
	var rec shareRecord
	err := n.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(append(append([]byte(nil), keyShare...), abs...))
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error { return json.Unmarshal(v, &rec) })
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return shareRecord{}, nil
	}
	return rec, err
}

func (n *Node) putShareRecord(abs string, rec shareRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return n.db.Update(func(txn *badger.Txn) error {
		return txn.Set(append(append([]byte(nil), keyShare...), abs...), b)
	})
}

func (n *Node) markHeld(k feedtree.Key) error {
	b := k.Bytes()
	return n.db.Update(func(txn *badger.Txn) error {
		return txn.Set(append(append([]byte(nil), keyHeld...), b[:]...), nil)
	})
}

// contentKeys lists the content feeds this node serves: the ones it writes
// (feeds/*.key) and the replicas it downloaded.
func (n *Node) contentKeys() []feedtree.Key {
	var out []feedtree.Key
	ents, _ := os.ReadDir(filepath.Join(n.dir, "feeds"))
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".key")
		if !ok {
			continue
		}
		b, err := hex.DecodeString(name)
		if err != nil {
			continue
		}
		if k, err := feedtree.KeyFromBytes(b); err == nil {
			out = append(out, k)
		}
	}
	n.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: keyHeld})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if k, err := feedtree.KeyFromBytes(it.Item().Key()[len(keyHeld):]); err == nil {
				out = append(out, k)
			}
		}
		return nil
	})
	return out
}

// provideContent advertises every content feed this node holds on the DHT
// (a no-op without the DHT). StartNet calls it.
func (n *Node) provideContent(h *replicate.Host) {
	for _, k := range n.contentKeys() {
		h.Provide(k)
	}
}

// FetchOptions say how Get and StreamFeed find peers when the node is not
// serving (they then start the network for the duration of the call).
type FetchOptions struct {
	Peers []string `json:"peers,omitempty"` // multiaddrs with /p2p/<id>, dialled first
	DHT   bool     `json:"dht,omitempty"`   // look for providers on the DHT
	MDNS  bool     `json:"mdns,omitempty"`  // find LAN peers by mDNS
}

// GetRequest downloads a content feed.
type GetRequest struct {
	Feed  string   `json:"feed"`
	Out   string   `json:"out"`             // output folder (absolute, or relative to the caller's working directory)
	Files []string `json:"files,omitempty"` // only these paths (sparse); default all
	FetchOptions
}

// GetResult describes a finished Get.
type GetResult struct {
	Feed    string `json:"feed"`
	Length  uint64 `json:"length"`
	Files   int    `json:"files"`
	Size    uint64 `json:"size"`
	Fetched uint64 `json:"fetched"` // blocks downloaded by this call
	Peers   int    `json:"peers"`
}

// GetProgress reports a download: blocks stored so far of those missing.
type GetProgress func(done, total uint64)

// network returns the host to use, starting one for the duration of the
// call (stop) when the node is not serving, and the peers to ask for feed
// k: the explicit ones, DHT providers and connected peers that hold it.
func (n *Node) network(ctx context.Context, k feedtree.Key, o FetchOptions) (h *replicate.Host, peers []string, stop func(), err error) {
	stop = func() {}
	if h = n.host(); h == nil {
		if err := n.StartNet(ctx, NetOptions{Bootstrap: o.Peers, DHT: o.DHT, MDNS: o.MDNS, temporary: true}); err != nil {
			return nil, nil, nil, err
		}
		stop = n.stopNet
		h = n.host()
	}
	if peers, err = n.findPeers(ctx, h, k, o.Peers); err != nil {
		stop()
		return nil, nil, nil, err
	}
	return h, peers, stop, nil
}

// findPeers dials addrs and returns the peers to ask for feed k: those
// addresses' peers, DHT providers and connected peers that hold it.
func (n *Node) findPeers(ctx context.Context, h *replicate.Host, k feedtree.Key, addrs []string) (peers []string, err error) {
	for _, a := range addrs {
		if err := h.Connect(ctx, a); err != nil {
			n.log.Warn("dialling peer", "addr", a, "err", err)
			continue
		}
		if id, err := peerIDOf(a); err == nil {
			peers = append(peers, id)
		}
	}
	found, err := h.FindFeedPeers(ctx, k, 0)
	if err == nil {
		for _, p := range found {
			peers = append(peers, p.ID)
		}
	}
	if len(peers) == 0 {
		return nil, fmt.Errorf("%w: no peer found holding %s (give --peer, or serve with the DHT on)", ErrNotFound, k)
	}
	return dedupe(peers), nil
}

func peerIDOf(addr string) (string, error) {
	i := strings.LastIndex(addr, "/p2p/")
	if i < 0 {
		return "", fmt.Errorf("%w: address %q has no /p2p/ part", ErrBadRequest, addr)
	}
	return addr[i+len("/p2p/"):], nil
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func (n *Node) replica(key string) (*feedtree.Feed, error) {
	k, err := feedtree.ParseKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: feed key: %v", ErrBadRequest, err)
	}
	return n.openFeed(k)
}

// Get downloads content feed req.Feed into req.Out: it finds peers (the
// explicit ones, DHT providers, connected peers), upgrades to the newest
// signed length they hold, reads the manifest, downloads the blocks of the
// wanted files from all of them at once (each block verified before it is
// stored) and writes the files (content.Extract: unsafe paths refuse the
// whole manifest). Blocks already held are not fetched again, so running it
// again after an interruption, or after the writer appended, fetches only
// what is missing.
func (n *Node) Get(ctx context.Context, req GetRequest, progress GetProgress) (*GetResult, error) {
	f, err := n.replica(req.Feed)
	if err != nil {
		return nil, err
	}
	if req.Out == "" {
		return nil, fmt.Errorf("%w: an output folder is required", ErrBadRequest)
	}
	out, err := filepath.Abs(req.Out)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	h, peers, stop, err := n.network(ctx, f.Key(), req.FetchOptions)
	if err != nil {
		return nil, err
	}
	defer stop()
	if !f.Writable() {
		if _, err := h.Upgrade(ctx, f, peers); err != nil && f.Length() == 0 {
			return nil, fmt.Errorf("%w: %v", ErrNotFound, err)
		}
		if err := n.markHeld(f.Key()); err != nil {
			return nil, err
		}
		h.Provide(f.Key())
	}
	// fetched counts the blocks this call's downloads stored (from their
	// progress), not the host's counters, which a daemon's other transfers
	// move too.
	var fetched atomic.Uint64
	download := func(ctx context.Context, ranges []replicate.BlockRange, progress GetProgress) error {
		var done atomic.Uint64
		err := h.Download(ctx, f, ranges, peers, func(d, total uint64) {
			done.Store(d)
			if progress != nil {
				progress(d, total)
			}
		})
		fetched.Add(done.Load())
		return err
	}
	fetch := func(ctx context.Context, start, end uint64) error {
		return download(ctx, []replicate.BlockRange{{Start: start, End: end}}, nil)
	}
	m, err := content.ReadManifest(ctx, f, fetch)
	if err != nil {
		return nil, fmt.Errorf("reading the manifest of %s: %w", req.Feed, err)
	}
	var ranges []replicate.BlockRange
	files := m.Files
	if len(req.Files) > 0 {
		files = nil
		for _, p := range req.Files {
			file := m.File(p)
			if file == nil {
				return nil, fmt.Errorf("%w: %w: %q", ErrNotFound, content.ErrNoFile, p)
			}
			files = append(files, *file)
		}
	}
	var size uint64
	for _, file := range files {
		size += file.Size
		for _, r := range file.Blocks {
			ranges = append(ranges, replicate.BlockRange{Start: r.Start, End: r.End})
		}
	}
	if err := download(ctx, ranges, progress); err != nil {
		return nil, fmt.Errorf("downloading %s: %w", req.Feed, err)
	}
	if err := content.Extract(ctx, f, m, out, content.ExtractOptions{Only: req.Files, Fetch: fetch}); err != nil {
		if errors.Is(err, content.ErrUnsafePath) {
			return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
		return nil, err
	}
	return &GetResult{Feed: req.Feed, Length: m.Length, Files: len(files), Size: size,
		Fetched: fetched.Load(), Peers: len(peers)}, nil
}

// StreamRequest follows one file of a content feed.
type StreamRequest struct {
	Feed string `json:"feed"`
	File string `json:"file,omitempty"` // default: the feed's only file
	Once bool   `json:"once,omitempty"` // write what the current length holds and stop
	FetchOptions
}

// StreamFeed writes the bytes of one file of a content feed to w and, unless
// req.Once, keeps following it: new signed lengths are pushed by the peers
// (replicate.Subscribe) and the new bytes written as they arrive, until ctx
// ends. For a feed this node writes it follows local appends.
func (n *Node) StreamFeed(ctx context.Context, req StreamRequest, w io.Writer) error {
	f, err := n.replica(req.Feed)
	if err != nil {
		return err
	}
	var fetch content.FetchFunc
	if !f.Writable() {
		h, peers, stop, err := n.network(ctx, f.Key(), req.FetchOptions)
		if err != nil {
			return err
		}
		defer stop()
		if _, err := h.Upgrade(ctx, f, peers); err != nil && f.Length() == 0 {
			return fmt.Errorf("%w: %v", ErrNotFound, err)
		}
		if err := n.markHeld(f.Key()); err != nil {
			return err
		}
		fetch = func(ctx context.Context, start, end uint64) error {
			return h.Download(ctx, f, []replicate.BlockRange{{Start: start, End: end}}, peers, nil)
		}
		if !req.Once {
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go h.Subscribe(sctx, f, peers)
		}
	}
	err = content.Stream(ctx, f, req.File, w, content.StreamOptions{Fetch: fetch, Once: req.Once})
	if errors.Is(err, content.ErrNoFile) {
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	return err
}

// CreateFeed creates an empty writable content feed (for AppendFeed) and
// returns its key.
func (n *Node) CreateFeed(ctx context.Context) (string, error) {
	f, err := n.NewFeed()
	if err != nil {
		return "", err
	}
	if h := n.host(); h != nil {
		h.Provide(f.Key())
	}
	return f.Key().String(), nil
}

// AppendFeed appends what it reads from r to file name of a content feed
// this node writes, as it arrives (content.AppendStream): each read becomes
// a signed length that followers get pushed at once. It returns the feed's
// length at EOF.
func (n *Node) AppendFeed(ctx context.Context, key, name string, r io.Reader) (uint64, error) {
	f, err := n.replica(key)
	if err != nil {
		return 0, err
	}
	if !f.Writable() {
		return 0, fmt.Errorf("%w: feed %s is not writable here", ErrForbidden, key)
	}
	if name == "" {
		name = "stream"
	}
	if err := content.CheckPath(name); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if h := n.host(); h != nil {
		h.Provide(f.Key())
	}
	if err := content.AppendStream(ctx, f, name, r, content.AppendOptions{}); err != nil {
		return f.Length(), err
	}
	return f.Length(), nil
}
