package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rssServer serves an RSS feed whose items a test can change, and the
// multi.torrent fixture at /multi.torrent (counting its fetches).
type rssServer struct {
	*httptest.Server
	mu       sync.Mutex
	items    []string
	torrents atomic.Int32
}

func newRSSServer(t *testing.T) *rssServer {
	t.Helper()
	torrent, err := os.ReadFile(filepath.Join("..", "..", "shared", "fixtures", "multi.torrent"))
	if err != nil {
		t.Skipf("fixtures: %v", err)
	}
	s := &rssServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/feed.xml":
			s.mu.Lock()
			body := `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:torznab="http://torznab.com/schemas/2015/feed" xmlns:nyaa="https://nyaa.si/xmlns/nyaa">
<channel><title>test tracker</title>` + strings.Join(s.items, "\n") + `</channel></rss>`
			s.mu.Unlock()
			w.Header().Set("Content-Type", "application/rss+xml")
			fmt.Fprint(w, body)
		case "/multi.torrent":
			s.torrents.Add(1)
			w.Write(torrent)
		case "/notrss":
			fmt.Fprint(w, "<html><body>hello</body></html>")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *rssServer) set(items ...string) {
	s.mu.Lock()
	s.items = items
	s.mu.Unlock()
}

func rssIH(pair string) string { return strings.Repeat(pair, 20) }

// TestRSSFetch: every way a torrent feed offers an item is published (a
// .torrent with its files, magnets in link, enclosure or Torznab attribute,
// a bare infohash), a second fetch publishes nothing twice, an item with
// nothing usable is reported, and what is not a feed is refused.
func TestRSSFetch(t *testing.T) {
	ctx := context.Background()
	n := openOfflineNode(t)
	s := newRSSServer(t)
	s.set(
		`<item><title>Multi From RSS</title><guid>g1</guid><enclosure url="`+s.URL+`/multi.torrent" type="application/x-bittorrent" length="1"/><torznab:attr name="category" value="5040"/></item>`,
		`<item><title>Magnet Link Item</title><link>magnet:?xt=urn:btih:`+rssIH("a1")+`&amp;dn=x</link></item>`,
		`<item><title>Nyaa Item</title><guid>g3</guid><nyaa:infoHash>`+rssIH("b2")+`</nyaa:infoHash><torznab:attr name="size" value="123456"/></item>`,
		`<item><title>Torznab Magnet</title><guid>g4</guid><torznab:attr name="magneturl" value="magnet:?xt=urn:btih:`+rssIH("c3")+`&amp;dn=y"/></item>`,
		`<item><title>Nothing Here</title><guid>g5</guid><link>https://example.invalid/page</link></item>`,
		`<item><title>Broken Torrent &amp; Fallback</title><guid>g6</guid><enclosure url="`+s.URL+`/missing.torrent" type="application/x-bittorrent"/><torznab:attr name="magneturl" value="magnet:?xt=urn:btih:`+rssIH("d4")+`"/></item>`,
		`<item><title>Elsewhere Private</title><guid>g7</guid><enclosure url="http://127.0.0.2:9/x.torrent" type="application/x-bittorrent"/></item>`,
	)
	res, err := n.RSSFetch(ctx, RSSRequest{URL: s.URL + "/feed.xml", Tags: []string{"rss"}})
	if err != nil {
		t.Fatalf("RSSFetch: %v", err)
	}
	if res.Items != 7 || res.Published != 5 || len(res.Failed) != 2 || res.Failed[0].Item != "Nothing Here" {
		t.Fatalf("RSSFetch = %+v; want 7 items, 5 published, Nothing Here and Elsewhere Private failed", res)
	}
	// A .torrent on another host than the feed's must be public.
	if f := res.Failed[1]; f.Item != "Elsewhere Private" || !strings.Contains(f.Error, "non-public") {
		t.Errorf("the .torrent on another private host: %+v; want it refused", f)
	}
	hits := func(q string) []*EntryView {
		t.Helper()
		r, err := n.Search(ctx, SearchRequest{Query: q})
		if err != nil {
			t.Fatal(err)
		}
		return r.Hits
	}
	if h := hits("multi"); len(h) != 1 || len(h[0].Files) != 3 || h[0].Category != 5040 || h[0].Title != "Multi From RSS" || h[0].TorrentFeed == "" {
		t.Errorf("the .torrent item: %+v; want its 3 files, category 5040, the item's title and the .torrent kept", h)
	}
	if h := hits("nyaa"); len(h) != 1 || h[0].InfohashV1 != rssIH("b2") || h[0].Size != 123456 {
		t.Errorf("the infohash item: %+v; want its infohash and the size attribute", h)
	}
	if h := hits("fallback"); len(h) != 1 || h[0].InfohashV1 != rssIH("d4") {
		t.Errorf("the item whose .torrent is missing: %+v; want its magnet published", h)
	}
	if h := hits("tags:rss"); len(h) != 5 {
		t.Errorf("entries tagged rss: %d, want 5", len(h))
	}
	res, err = n.RSSFetch(ctx, RSSRequest{URL: s.URL + "/feed.xml"})
	if err != nil || res.Published != 0 || res.Skipped != 5 {
		t.Errorf("second RSSFetch = %+v, %v; want 0 published, 5 skipped", res, err)
	}
	// A blocked infohash is never signed from a feed.
	if _, err := n.Block(ctx, []string{rssIH("f0")}, "", true); err != nil {
		t.Fatal(err)
	}
	s.set(`<item><title>Blocked In Feed</title><guid>g8</guid><link>magnet:?xt=urn:btih:` + rssIH("f0") + `</link></item>`)
	res, err = n.RSSFetch(ctx, RSSRequest{URL: s.URL + "/feed.xml"})
	if err != nil || res.Published != 0 || res.Skipped != 1 {
		t.Errorf("RSSFetch of a blocked infohash = %+v, %v; want it skipped", res, err)
	}
	if h, _ := n.Search(ctx, SearchRequest{Query: "blocked", IncludeBlocked: true}); len(h.Hits) != 0 {
		t.Errorf("the blocked item was published: %+v", h.Hits)
	}
	for _, bad := range []string{s.URL + "/notrss", "file:///etc/passwd", "not a url"} {
		if _, err := n.RSSFetch(ctx, RSSRequest{URL: bad}); !errors.Is(err, ErrBadRequest) {
			t.Errorf("RSSFetch(%s) error = %v; want ErrBadRequest", bad, err)
		}
	}
	if _, err := n.RSSFetch(ctx, RSSRequest{URL: s.URL + "/gone.xml"}); !errors.Is(err, ErrUpstream) || !strings.Contains(err.Error(), "404") {
		t.Errorf("RSSFetch of a missing feed: %v; want ErrUpstream with the HTTP status", err)
	}
}

// TestRSSSubscription: a running node fetches a subscription at once and
// again as it comes due, publishing new items and fetching no .torrent
// twice; removing it stops that.
func TestRSSSubscription(t *testing.T) {
	ctx := context.Background()
	n := openTestNode(t)
	s := newRSSServer(t)
	s.set(`<item><title>Multi From RSS</title><guid>g1</guid><enclosure url="` + s.URL + `/multi.torrent" type="application/x-bittorrent"/></item>`)
	if _, err := n.RSSAdd(ctx, RSSRequest{URL: s.URL + "/feed.xml", Every: "1s", Category: "tv"}); err != nil {
		t.Fatal(err)
	}
	found := func(q string) func() bool {
		return func() bool {
			r, err := n.Search(ctx, SearchRequest{Query: q})
			return err == nil && len(r.Hits) == 1
		}
	}
	waitFor(t, 20*time.Second, "the subscription's first item", found("multi"))
	s.set(
		`<item><title>Second Item</title><guid>g2</guid><link>magnet:?xt=urn:btih:`+rssIH("e5")+`</link></item>`,
		`<item><title>Multi From RSS</title><guid>g1</guid><enclosure url="`+s.URL+`/multi.torrent" type="application/x-bittorrent"/></item>`,
	)
	waitFor(t, 20*time.Second, "the subscription's new item", found("second"))
	waitFor(t, 20*time.Second, "a poll after the new item", func() bool {
		fs, err := n.RSSFeeds(ctx)
		return err == nil && len(fs) == 1 && fs[0].LastResult != nil && fs[0].LastResult.Skipped == 2
	})
	if k := s.torrents.Load(); k != 1 {
		t.Errorf(".torrent fetched %d times; want once (seen items are not fetched again)", k)
	}
	fs, _ := n.RSSFeeds(ctx)
	if fs[0].Category != "tv" || fs[0].LastError != "" || fs[0].LastFetch.IsZero() {
		t.Errorf("RSSFeeds = %+v", fs[0])
	}
	if err := n.RSSRemove(ctx, s.URL+"/feed.xml"); err != nil {
		t.Fatal(err)
	}
	if fs, _ := n.RSSFeeds(ctx); len(fs) != 0 {
		t.Errorf("after RSSRemove: %d subscriptions", len(fs))
	}
	if err := n.RSSRemove(ctx, s.URL+"/feed.xml"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RSSRemove again: %v; want ErrNotFound", err)
	}
	for _, every := range []string{"0s", "soon", "-1m"} {
		if _, err := n.RSSAdd(ctx, RSSRequest{URL: s.URL + "/feed.xml", Every: every}); !errors.Is(err, ErrBadRequest) {
			t.Errorf("RSSAdd every %q: %v; want ErrBadRequest", every, err)
		}
	}
}

// FuzzParseRSS: any bytes parse or fail without panicking; what parses
// offers only magnet links and http(s) .torrent URLs, never more than
// maxRSSItems items.
func FuzzParseRSS(f *testing.F) {
	f.Add([]byte(`<rss><channel><item><title>a</title><link>magnet:?xt=urn:btih:` + rssIH("ab") + `</link></item></channel></rss>`))
	f.Add([]byte(`<rss><channel><item><enclosure url="http://h/x.torrent" type="application/x-bittorrent" length="9"/><attr name="size" value="12"/><infoHash>zz</infoHash></item></channel></rss>`))
	f.Add([]byte(`<?xml version="1.0" encoding="latin1"?><rss><channel><item/></channel></rss>`))
	f.Add([]byte(`<rss><channel>` + strings.Repeat(`<item/>`, maxRSSItems+10) + `</channel></rss>`))
	f.Add([]byte(`<feed><entry/></feed>`))
	f.Add([]byte(`<rss><channel><item><link>file:///etc/passwd.torrent</link><category>x</category><attr name="category" value="99999999999"/></item>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := parseRSS(b)
		if err != nil {
			return
		}
		if len(items) > maxRSSItems {
			t.Fatalf("%d items", len(items))
		}
		for _, it := range items {
			if it.magnet != "" && !isMagnet(it.magnet) {
				t.Fatalf("magnet %q", it.magnet)
			}
			if it.torrent != "" && !isHTTP(it.torrent) {
				t.Fatalf("torrent URL %q", it.torrent)
			}
			if strings.ContainsAny(it.title, "\n\r\t") {
				t.Fatalf("title %q spans lines", it.title)
			}
		}
	})
}

// TestParseRSSBounded: a feed of millions of items is read only up to
// maxRSSItems, without decoding the rest.
func TestParseRSSBounded(t *testing.T) {
	body := []byte(`<rss><channel>` + strings.Repeat(`<item><title>x</title></item>`, (maxRSSBody-100)/29) + `</channel></rss>`)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	items, err := parseRSS(body)
	runtime.ReadMemStats(&after)
	if err != nil || len(items) != maxRSSItems {
		t.Fatalf("parseRSS of %d bytes: %d items, %v; want %d", len(body), len(items), err, maxRSSItems)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("parseRSS allocated %d MiB for %d items; want it bounded by the cap", alloc>>20, maxRSSItems)
	}
}

// TestParseAtom: Atom feeds are read like RSS: enclosure links and links to
// a .torrent are the torrent, a magnet link the magnet, id the item's id.
func TestParseAtom(t *testing.T) {
	body := []byte(`<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
 <title>atom tracker</title>
 <entry><title>Atom Torrent</title><id>urn:1</id>
  <link rel="alternate" href="https://tracker.example/t/1"/>
  <link rel="enclosure" type="application/x-bittorrent" href="https://tracker.example/dl/1.torrent" length="1234"/></entry>
 <entry><title>Atom
   Magnet</title><id>urn:2</id><link href="magnet:?xt=urn:btih:` + rssIH("ab") + `"/></entry>
</feed>`)
	items, err := parseRSS(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 {
		t.Fatalf("%d items, want 2: %+v", len(items), items)
	}
	if it := items[0]; it.id != "urn:1" || it.torrent != "https://tracker.example/dl/1.torrent" || it.title != "Atom Torrent" {
		t.Errorf("Atom entry 1 = %+v", it)
	}
	if it := items[1]; it.id != "urn:2" || !strings.HasPrefix(it.magnet, "magnet:?xt=urn:btih:"+rssIH("ab")) || it.title != "Atom Magnet" {
		t.Errorf("Atom entry 2 = %+v", it)
	}
}
