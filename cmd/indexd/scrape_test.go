package main

import (
	"net/url"
	"strings"
	"testing"

	"indexd/internal/scrape"
	"indexd/internal/scrape/scrapetest"
)

// TestScrapeCLI: `scrape ID` asks the entry's tracker and prints the
// figures, which `search` and `show` then show.
func TestScrapeCLI(t *testing.T) {
	tr := scrapetest.New(scrapetest.All(scrape.Stats{Seeders: 42, Leechers: 8, Completed: 5}))
	defer tr.Close()
	dir := t.TempDir()
	mustRun(t, dir, "init")
	mustRun(t, dir, "publish", "magnet:?xt=urn:btih:"+strings.Repeat("9e", 20)+"&dn=Scrape.Me&tr="+url.QueryEscape(tr.Announce()))
	hits := searchJSON(t, dir, "scrape")
	if len(hits) != 1 {
		t.Fatalf("%d hits", len(hits))
	}
	if out := mustRun(t, dir, "scrape", "--private", hits[0].ID); !strings.Contains(out, "42 seeders, 8 leechers, 5 completed (1 trackers answered)") {
		t.Errorf("scrape: %q", out)
	}
	if out := mustRun(t, dir, "search", "scrape"); !strings.Contains(out, "S:42 L:8") {
		t.Errorf("search line lacks the swarm: %q", out)
	}
	if out := mustRun(t, dir, "show", hits[0].ID); !strings.Contains(out, "swarm:       42 seeders, 8 leechers") {
		t.Errorf("show lacks the swarm:\n%s", out)
	}
	if _, _, code := indexd(t, dir, "scrape"); code != 2 {
		t.Errorf("scrape with nothing: exit %d, want 2", code)
	}
}
