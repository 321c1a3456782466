package node

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"indexd/dag"
	"indexd/index"
	"indexd/internal/netguard"
)

// RSSRequest asks to publish the torrents of an RSS feed (a tracker's or
// indexer's feed, Torznab included) into an index, signed by this node.
type RSSRequest struct {
	URL      string   `json:"url"`
	Index    string   `json:"index,omitempty"`
	Category string   `json:"category,omitempty"` // for every item; default: the item's Torznab category, if any
	Tags     []string `json:"tags,omitempty"`
	// Every is how often a subscription (RSSAdd) fetches the feed, as a Go
	// duration ("30m"). Default 30m; at least 1s.
	Every string `json:"every,omitempty"`
}

// RSSResult says what one fetch of a feed did.
type RSSResult struct {
	Items     int          `json:"items"`     // items in the feed
	Published int          `json:"published"` // new entries
	Skipped   int          `json:"skipped"`   // already published (by this node, into that index) or seen
	Failed    []RSSFailure `json:"failed,omitempty"`
}

// RSSFailure is an item that could not be published.
type RSSFailure struct {
	Item  string `json:"item"`
	Error string `json:"error"`
}

// RSSFeed is a subscription: the daemon fetches it every Every.
type RSSFeed struct {
	RSSRequest
	LastFetch  time.Time  `json:"last_fetch,omitzero"`
	LastError  string     `json:"last_error,omitempty"`
	LastResult *RSSResult `json:"last_result,omitempty"`
	// Seen holds the ids (guid, else link) of the latest items handled, so
	// a poll fetches no .torrent twice.
	Seen []string `json:"seen,omitempty"`
}

// RSS limits.
const (
	maxRSSBody    = 16 << 20
	rssTimeout    = 30 * time.Second
	maxRSSSeen    = 2000
	defaultRSSAge = 30 * time.Minute
	minRSSEvery   = time.Second
)

// RSSFetch fetches the feed once and publishes its new items: an item's
// .torrent when it links one (enclosure or link; the whole file list), else
// its magnet link (link, enclosure, torrent:magnetURI, torznab magneturl,
// or an infohash attribute). An item whose infohash this node already
// published into the index is skipped. Item failures are reported, not
// fatal; a feed that cannot be fetched or parsed is an error.
func (n *Node) RSSFetch(ctx context.Context, req RSSRequest) (*RSSResult, error) {
	return n.rssFetch(ctx, req, nil, nil)
}

// rssFetch is RSSFetch skipping the items whose id is in seen (when not
// nil), adding those it handles; current gets the feed's item ids in order.
func (n *Node) rssFetch(ctx context.Context, req RSSRequest, seen map[string]bool, current *[]string) (*RSSResult, error) {
	u, err := rssURL(req.URL)
	if err != nil {
		return nil, err
	}
	idx, err := n.ResolveIndex(req.Index)
	if err != nil {
		return nil, err
	}
	body, err := httpGet(ctx, http.DefaultClient, u, maxRSSBody)
	if err != nil {
		return nil, fmt.Errorf("%w: fetching the feed: %v", ErrUpstream, err)
	}
	items, err := parseRSS(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not an RSS feed: %v", ErrBadRequest, u, err)
	}
	res := &RSSResult{Items: len(items)}
	for _, it := range items {
		if current != nil && it.id != "" {
			*current = append(*current, it.id)
		}
		if seen != nil && it.id != "" && seen[it.id] {
			res.Skipped++
			continue
		}
		published, err := n.rssPublish(ctx, idx, req, it)
		switch {
		case err != nil:
			res.Failed = append(res.Failed, RSSFailure{Item: it.title, Error: err.Error()})
		case published:
			res.Published++
		default:
			res.Skipped++
		}
		if seen != nil && it.id != "" && err == nil {
			seen[it.id] = true
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
	}
	return res, nil
}

// rssPublish publishes one item unless this node already published its
// infohash into idx.
func (n *Node) rssPublish(ctx context.Context, idx dag.IndexKey, req RSSRequest, it rssItem) (bool, error) {
	pub := PublishRequest{Index: idx.String(), Title: it.title, Category: req.Category, Tags: req.Tags}
	if pub.Category == "" {
		pub.Category = it.category
	}
	var put *dag.Put
	var terr error
	if it.torrent != "" {
		// The feed's own host may be on this machine or the LAN (Prowlarr,
		// Jackett), as the user chose it; any other host a feed names
		// must be public.
		c := netguard.Client(sameHost(req.URL, it.torrent))
		if pub.Torrent, terr = httpGet(ctx, c, it.torrent, index.MaxTorrentSize); terr == nil {
			if put, terr = index.FromTorrent(pub.Torrent); terr != nil {
				pub.Torrent = nil
			}
		}
		if terr != nil && it.magnet == "" {
			return false, fmt.Errorf("the .torrent: %v", terr)
		}
	}
	if put == nil {
		if it.magnet == "" {
			return false, errors.New("no magnet link, infohash or .torrent")
		}
		var err error
		if put, err = index.FromMagnet(it.magnet); err != nil {
			return false, err
		}
		pub.Magnet = it.magnet
	}
	if n.publishedHere(idx, put) {
		return false, nil
	}
	if n.isBlocked(&index.Entry{Put: *put}) {
		return false, nil // never sign what this node blocks
	}
	if _, err := n.Publish(ctx, pub); err != nil {
		return false, err
	}
	return true, nil
}

// publishedHere reports whether this node has a live entry in idx with one
// of put's infohashes.
func (n *Node) publishedHere(idx dag.IndexKey, put *dag.Put) bool {
	_, ok := n.ownEntryWith(idx, put)
	return ok
}

// ownEntryWith returns the id of this identity's live entry in idx that
// has one of put's infohashes, if there is one.
func (n *Node) ownEntryWith(idx dag.IndexKey, put *dag.Put) (string, bool) {
	for _, ih := range [][]byte{put.InfohashV1, put.InfohashV2} {
		if len(ih) == 0 {
			continue
		}
		ids, _ := n.idx.ByInfohash(ih)
		for _, id := range ids {
			if e, err := n.idx.Entry(id); err == nil && e.Index == idx && e.Author == n.Identity() && !e.Retracted {
				return hex.EncodeToString(idBytes(id)), true
			}
		}
	}
	return "", false
}

// rssItem is what an item offers.
type rssItem struct {
	id, title       string
	magnet, torrent string // a magnet link, a .torrent URL
	category        string // a Torznab number
}

// rssXMLItem is an RSS 2.0 item with the torrent extensions in use:
// Torznab/Newznab attributes, ezRSS's torrent: namespace, Nyaa's
// nyaa:infoHash. Element names match in any namespace.
type rssXMLItem struct {
	Title      string         `xml:"title"`
	Link       string         `xml:"link"`
	GUID       string         `xml:"guid"`
	Enclosures []rssEnclosure `xml:"enclosure"`
	torrentExt
}

type rssEnclosure struct {
	URL    string `xml:"url,attr"`
	Type   string `xml:"type,attr"`
	Length string `xml:"length,attr"`
}

// torrentExt is what RSS items and Atom entries share: Torznab/Newznab
// attributes, ezRSS's torrent: namespace, Nyaa's nyaa:infoHash.
type torrentExt struct {
	Attrs []struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	} `xml:"attr"`
	InfoHash      string `xml:"infoHash"`
	MagnetURI     string `xml:"magnetURI"`
	ContentLength string `xml:"contentLength"`
}

// maxRSSItems bounds the items taken from one feed.
const maxRSSItems = 5000

func parseRSS(b []byte) ([]rssItem, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = false
	d.Entity = xml.HTMLEntity
	d.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		if l := strings.ToLower(label); l == "utf-8" || l == "us-ascii" || l == "ascii" {
			return r, nil
		}
		return nil, fmt.Errorf("charset %q (only UTF-8 is read)", label)
	}
	// Items are decoded one at a time, up to maxRSSItems: a feed of
	// millions of empty items costs no more than the cap.
	var out []rssItem
	inChannel, sawRSS := false, false
	for len(out) < maxRSSItems {
		tok, err := d.Token()
		if err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		var x rssXMLItem
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Local == "rss":
				sawRSS = true
				continue
			case t.Name.Local == "channel" && sawRSS:
				inChannel = true
				continue
			case t.Name.Local == "item" && inChannel:
				if err := d.DecodeElement(&x, &t); err != nil {
					return nil, err
				}
			case t.Name.Local == "feed" && !sawRSS: // Atom
				sawRSS, inChannel = true, true
				continue
			case t.Name.Local == "entry" && inChannel:
				var a atomEntry
				if err := d.DecodeElement(&a, &t); err != nil {
					return nil, err
				}
				x = a.item()
			default:
				if err := d.Skip(); err != nil {
					return nil, err
				}
				continue
			}
		case xml.EndElement:
			if t.Name.Local == "channel" || t.Name.Local == "feed" {
				inChannel = false
			}
			continue
		default:
			continue
		}
		if len(x.Enclosures) > maxItemParts {
			x.Enclosures = x.Enclosures[:maxItemParts]
		}
		if len(x.Attrs) > maxItemParts {
			x.Attrs = x.Attrs[:maxItemParts]
		}
		it := rssItem{id: strings.TrimSpace(x.GUID), title: oneLineText(x.Title)}
		if it.id == "" {
			it.id = strings.TrimSpace(x.Link)
		}
		attrs := map[string]string{}
		for _, a := range x.Attrs {
			if _, ok := attrs[strings.ToLower(a.Name)]; !ok {
				attrs[strings.ToLower(a.Name)] = strings.TrimSpace(a.Value)
			}
		}
		var size string
		link := strings.TrimSpace(x.Link)
		for _, e := range x.Enclosures {
			eu := strings.TrimSpace(e.URL)
			switch {
			case isMagnet(eu):
				it.magnet = eu
			case it.torrent == "" && isHTTP(eu) && (strings.Contains(e.Type, "bittorrent") || strings.HasSuffix(urlPath(eu), ".torrent")):
				it.torrent = eu
				size = e.Length
			}
		}
		if it.torrent == "" && isHTTP(link) && strings.HasSuffix(urlPath(link), ".torrent") {
			it.torrent = link
		}
		switch {
		case isMagnet(strings.TrimSpace(x.MagnetURI)):
			it.magnet = strings.TrimSpace(x.MagnetURI)
		case isMagnet(attrs["magneturl"]):
			it.magnet = attrs["magneturl"]
		case it.magnet == "" && isMagnet(link):
			it.magnet = link
		}
		if it.magnet == "" {
			ih := strings.TrimSpace(x.InfoHash)
			if ih == "" {
				ih = attrs["infohash"]
			}
			if ih != "" {
				it.magnet = "magnet:?xt=urn:btih:" + url.QueryEscape(ih) + "&dn=" + url.QueryEscape(it.title)
			}
		}
		if s := cmp.Or(attrs["size"], strings.TrimSpace(x.ContentLength), size); s != "" && it.magnet != "" && !strings.Contains(it.magnet, "xl=") {
			if v, err := strconv.ParseUint(s, 10, 64); err == nil && v > 0 {
				it.magnet += "&xl=" + strconv.FormatUint(v, 10)
			}
		}
		if c := attrs["category"]; c != "" {
			if _, err := strconv.ParseUint(c, 10, 32); err == nil {
				it.category = c
			}
		}
		out = append(out, it)
	}
	if !sawRSS {
		return nil, errors.New("no <rss> or Atom <feed> element")
	}
	return out, nil
}

// atomEntry is an Atom entry with the same torrent extensions.
type atomEntry struct {
	Title string `xml:"title"`
	ID    string `xml:"id"`
	Links []struct {
		Href   string `xml:"href,attr"`
		Rel    string `xml:"rel,attr"`
		Type   string `xml:"type,attr"`
		Length string `xml:"length,attr"`
	} `xml:"link"`
	torrentExt
}

// item maps an Atom entry onto an RSS item: enclosure links (or links to
// a .torrent) become enclosures, the first other link the item's link.
func (a *atomEntry) item() rssXMLItem {
	x := rssXMLItem{Title: a.Title, GUID: a.ID, torrentExt: a.torrentExt}
	for _, l := range a.Links[:min(len(a.Links), maxItemParts)] {
		href := strings.TrimSpace(l.Href)
		if l.Rel == "enclosure" || strings.Contains(l.Type, "bittorrent") || strings.HasSuffix(urlPath(href), ".torrent") {
			x.Enclosures = append(x.Enclosures, rssEnclosure{href, l.Type, l.Length})
		} else if x.Link == "" {
			x.Link = href
		}
	}
	return x
}

// maxItemParts bounds the enclosures and attributes read of one item.
const maxItemParts = 64

func isMagnet(s string) bool { return len(s) > 8 && strings.EqualFold(s[:8], "magnet:?") }

func isHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func urlPath(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Path)
}

// oneLineText trims and joins the lines of a title.
func oneLineText(s string) string { return strings.Join(strings.Fields(s), " ") }

// rssURL checks a feed URL: http or https only.
func rssURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !isHTTP(s) {
		return "", fmt.Errorf("%w: feed URL %q: want an http:// or https:// URL", ErrBadRequest, s)
	}
	return s, nil
}

// sameHost reports whether URLs a and b name the same host and port.
func sameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && strings.EqualFold(ua.Host, ub.Host)
}

// httpGet fetches u (http or https) with c and a timeout, at most limit
// bytes.
func httpGet(ctx context.Context, c *http.Client, u string, limit int64) ([]byte, error) {
	if !isHTTP(u) {
		return nil, fmt.Errorf("%q is not an http(s) URL", u)
	}
	ctx, cancel := context.WithTimeout(ctx, rssTimeout)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	r.Header.Set("User-Agent", "indexd (+https://github.com/indexd)")
	resp, err := c.Do(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: over %d bytes", u, limit)
	}
	return b, nil
}

func rssKey(u string) []byte {
	h := sha256.Sum256([]byte(u))
	return append([]byte("n/rss/"), h[:16]...)
}

// RSSAdd subscribes to a feed: a running daemon fetches it now and every
// Every after (without a daemon, the next `serve` does). Adding a URL again
// replaces its settings.
func (n *Node) RSSAdd(ctx context.Context, req RSSRequest) (*RSSFeed, error) {
	u, err := rssURL(req.URL)
	if err != nil {
		return nil, err
	}
	req.URL = u
	idx, err := n.ResolveIndex(req.Index)
	if err != nil {
		return nil, err
	}
	req.Index = idx.String()
	if _, err := rssEvery(req.Every); err != nil {
		return nil, err
	}
	if req.Category != "" {
		if _, err := index.ParseCategory(req.Category); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
	}
	f := &RSSFeed{RSSRequest: req}
	if old, err := n.rssFeed(u); err == nil {
		f.Seen = old.Seen
	}
	if err := n.putRSSFeed(f); err != nil {
		return nil, err
	}
	n.rssKick()
	return f, nil
}

func rssEvery(s string) (time.Duration, error) {
	if s == "" {
		return defaultRSSAge, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < minRSSEvery {
		return 0, fmt.Errorf("%w: every %q: want a duration of at least 1s, like 30m", ErrBadRequest, s)
	}
	return d, nil
}

// RSSRemove ends a subscription.
func (n *Node) RSSRemove(ctx context.Context, u string) error {
	if _, err := n.rssFeed(strings.TrimSpace(u)); err != nil {
		return err
	}
	return n.db.Update(func(txn *badger.Txn) error { return txn.Delete(rssKey(strings.TrimSpace(u))) })
}

// RSSFeeds lists the subscriptions, by URL.
func (n *Node) RSSFeeds(ctx context.Context) ([]RSSFeed, error) {
	var out []RSSFeed
	err := n.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("n/rss/"), PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var f RSSFeed
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &f) }); err != nil {
				return fmt.Errorf("node: rss record: %w", err)
			}
			f.Seen = nil
			out = append(out, f)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b RSSFeed) int { return strings.Compare(a.URL, b.URL) })
	return out, err
}

func (n *Node) rssFeed(u string) (*RSSFeed, error) {
	var f RSSFeed
	err := n.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(rssKey(u))
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error { return json.Unmarshal(v, &f) })
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: no subscription to %s", ErrNotFound, u)
	}
	return &f, err
}

func (n *Node) putRSSFeed(f *RSSFeed) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return n.db.Update(func(txn *badger.Txn) error { return txn.Set(rssKey(f.URL), b) })
}

// rssKick wakes the poller (if serving) to look for due feeds now.
func (n *Node) rssKick() {
	select {
	case n.rssWake <- struct{}{}:
	default:
	}
}

// pollRSS fetches every due subscription, then waits for the next one to
// come due (or a kick), until ctx ends or the node closes. The daemon runs
// it (StartNet).
func (n *Node) pollRSS(ctx context.Context) {
	defer close(n.rssDone)
	ctx, cancel := n.untilClosed(ctx) // a fetch in flight ends when the node closes
	defer cancel()
	for {
		next := n.pollDueRSS(ctx)
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-n.closed:
			t.Stop()
			return
		case <-n.rssWake:
		case <-t.C:
		}
		t.Stop()
	}
}

// pollDueRSS fetches the feeds that are due and returns when the next is.
func (n *Node) pollDueRSS(ctx context.Context) time.Time {
	next := n.now().Add(time.Hour)
	feeds, err := n.RSSFeeds(ctx)
	if err != nil {
		n.log.Warn("rss: listing subscriptions", "err", err)
		return next
	}
	for _, f := range feeds {
		every, err := rssEvery(f.Every)
		if err != nil {
			continue
		}
		due := f.LastFetch.Add(every)
		if f.LastFetch.IsZero() || !n.now().Before(due) {
			n.pollOne(ctx, f.URL)
			due = n.now().Add(every)
		}
		if due.Before(next) {
			next = due
		}
	}
	return next
}

// pollOne fetches one subscription and records the outcome.
func (n *Node) pollOne(ctx context.Context, u string) {
	f, err := n.rssFeed(u)
	if err != nil {
		return
	}
	seen := map[string]bool{}
	for _, s := range f.Seen {
		seen[s] = true
	}
	var current []string
	res, err := n.rssFetch(ctx, f.RSSRequest, seen, &current)
	f.LastFetch = n.now()
	f.LastError = ""
	if err != nil {
		f.LastError = err.Error()
		n.log.Warn("rss: fetching a subscription", "url", u, "err", err)
	}
	if res != nil {
		f.LastResult = res
		if res.Published > 0 {
			n.log.Info("rss: published", "url", u, "entries", res.Published)
		}
	}
	// Keep the ids handled of the feed's current items first, then the
	// older ones, up to maxRSSSeen.
	old := f.Seen
	f.Seen = nil
	kept := map[string]bool{}
	for _, s := range append(current, old...) {
		if seen[s] && !kept[s] && len(f.Seen) < maxRSSSeen {
			kept[s] = true
			f.Seen = append(f.Seen, s)
		}
	}
	// Record the fetch unless the subscription went meanwhile, keeping
	// settings changed meanwhile; read and write in one transaction, so an
	// unsubscribe cannot be undone by a poll in flight.
	err = n.db.Update(func(txn *badger.Txn) error {
		it, err := txn.Get(rssKey(u))
		if err != nil {
			return err
		}
		var cur RSSFeed
		if err := it.Value(func(v []byte) error { return json.Unmarshal(v, &cur) }); err != nil {
			return err
		}
		f.RSSRequest = cur.RSSRequest
		b, err := json.Marshal(f)
		if err != nil {
			return err
		}
		return txn.Set(rssKey(u), b)
	})
	if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
		n.log.Warn("rss: recording a fetch", "url", u, "err", err)
	}
}
