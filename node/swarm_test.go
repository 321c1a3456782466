package node

import (
	"context"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"indexd/internal/scrape"
	"indexd/internal/scrape/scrapetest"
)

// TestScrape: an entry's trackers are asked over HTTP, the best answer is
// kept and shown by search and Entry; a tracker that fails leaves the last
// record and says why; entries without trackers say so.
func TestScrape(t *testing.T) {
	ctx := context.Background()
	n := openOfflineNode(t)
	ihA, ihB := rssIH("a7"), rssIH("b8")
	knows := func(seeders int) func([20]byte) (scrape.Stats, bool) {
		return func(ih [20]byte) (scrape.Stats, bool) {
			return scrape.Stats{Seeders: seeders, Leechers: 3, Completed: 99}, hex.EncodeToString(ih[:]) == ihA
		}
	}
	t1, t2 := scrapetest.New(knows(12)), scrapetest.New(knows(30))
	defer t1.Close()
	defer t2.Close()
	a := publishMagnet(t, n, "", "magnet:?xt=urn:btih:"+ihA+"&dn=swarmy&tr="+url.QueryEscape(t1.Announce())+"&tr="+url.QueryEscape(t2.Announce()))
	b := publishMagnet(t, n, "", "magnet:?xt=urn:btih:"+ihB+"&dn=lonely")
	if v, _ := n.Entry(ctx, a.ID); v.Seeders != nil {
		t.Fatalf("before any scrape: seeders %d; want none", *v.Seeders)
	}
	got, err := n.Scrape(ctx, ScrapeRequest{Items: []string{a.ID, "magnet:?xt=urn:btih:" + ihB}, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Seeders != 30 || got[0].Leechers != 3 || got[0].Trackers != 2 || got[0].Error != "" {
		t.Errorf("Scrape[0] = %+v; want the best of two trackers: 30 seeders, 3 leechers", got[0])
	}
	if got[1].Error == "" || !strings.Contains(got[1].Error, "no tracker") {
		t.Errorf("Scrape[1] = %+v; want 'no tracker to ask'", got[1])
	}
	res, err := n.Search(ctx, SearchRequest{Query: "swarmy"})
	if err != nil || len(res.Hits) != 1 || res.Hits[0].Seeders == nil || *res.Hits[0].Seeders != 30 || *res.Hits[0].Leechers != 3 {
		t.Errorf("search hit after the scrape: %+v, %v; want 30 seeders, 3 leechers", res, err)
	}
	if v, _ := n.Entry(ctx, b.ID); v.Seeders != nil {
		t.Errorf("an entry never scraped shows seeders %d", *v.Seeders)
	}

	t1.Down.Store(true)
	t2.Down.Store(true)
	got, err = n.Scrape(ctx, ScrapeRequest{Items: []string{ihA}, Private: true})
	if err != nil || got[0].Error == "" || !strings.Contains(got[0].Error, "503") {
		t.Errorf("Scrape with trackers down = %+v, %v; want the HTTP error", got, err)
	}
	if v, _ := n.Entry(ctx, a.ID); v.Seeders == nil || *v.Seeders != 30 {
		t.Errorf("a failed scrape dropped the last record: %+v", v.Seeders)
	}
	if _, err := n.Scrape(ctx, ScrapeRequest{Items: []string{"nonsense"}}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("Scrape(nonsense): %v; want ErrBadRequest", err)
	}
	// Without Private the loopback trackers are not asked; the failure is
	// remembered and the last figure kept.
	t1.Down.Store(false)
	t2.Down.Store(false)
	got, err = n.Scrape(ctx, ScrapeRequest{Items: []string{ihA}})
	if err != nil || got[0].Trackers != 0 || !strings.Contains(got[0].Error, "non-public") {
		t.Errorf("Scrape of loopback trackers without Private = %+v, %v; want a refusal", got, err)
	}
	if v, _ := n.Entry(ctx, a.ID); v.Seeders == nil || *v.Seeders != 30 {
		t.Errorf("a refused scrape dropped the last record: %+v", v.Seeders)
	}
}

// TestScrapeBackground: with NetOptions.Scrape a search that shows an entry
// without a figure queues its scrape, and the figure arrives by itself.
func TestScrapeBackground(t *testing.T) {
	ctx := context.Background()
	tr := scrapetest.New(scrapetest.All(scrape.Stats{Seeders: 7, Leechers: 1}))
	defer tr.Close()
	n := openOfflineNode(t)
	if err := n.StartNet(ctx, NetOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Scrape: true, ScrapePrivate: true}); err != nil {
		t.Fatal(err)
	}
	a := publishMagnet(t, n, "", "magnet:?xt=urn:btih:"+rssIH("d9")+"&dn=background&tr="+url.QueryEscape(tr.Announce()))
	if _, err := n.Search(ctx, SearchRequest{Query: "background"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the background scrape's figure", func() bool {
		v, err := n.Entry(ctx, a.ID)
		return err == nil && v.Seeders != nil && *v.Seeders == 7
	})
}

// TestScrapeOffByDefault: without NetOptions.Scrape nothing asks a tracker.
func TestScrapeOffByDefault(t *testing.T) {
	ctx := context.Background()
	n := openTestNode(t)
	if n.swarmQ.on.Load() {
		t.Fatal("background scraping on without NetOptions.Scrape")
	}
	a := publishMagnet(t, n, "", "magnet:?xt=urn:btih:"+rssIH("e1")+"&dn=quiet&tr=http%3A%2F%2F127.0.0.1%3A1%2Fannounce")
	n.Search(ctx, SearchRequest{Query: "quiet"})
	n.swarmQ.mu.Lock()
	queued := len(n.swarmQ.order)
	n.swarmQ.mu.Unlock()
	if v, _ := n.Entry(ctx, a.ID); queued != 0 || v.Seeders != nil {
		t.Errorf("scraping off: %d queued, seeders %v", queued, v.Seeders)
	}
}

func TestPickSwarm(t *testing.T) {
	s := func(k int) scrape.Stats { return scrape.Stats{Seeders: k} }
	for _, tt := range []struct {
		in   []scrape.Stats
		want int
	}{
		{[]scrape.Stats{s(5)}, 5},
		{[]scrape.Stats{s(5), s(9)}, 9},
		{[]scrape.Stats{s(10), s(1 << 30), s(12)}, 12}, // one liar among three
		{[]scrape.Stats{s(1), s(2), s(3), s(1 << 30)}, 2},
	} {
		if got := pickSwarm(tt.in); got.Seeders != tt.want {
			t.Errorf("pickSwarm(%v) = %d seeders, want %d", tt.in, got.Seeders, tt.want)
		}
	}
}
