package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRSSCLI: `rss fetch` publishes a feed's torrents into the local
// directory; through a daemon, `rss add` subscribes and the daemon polls it,
// `rss list` shows it and `rss remove` ends it.
func TestRSSCLI(t *testing.T) {
	torrent, err := os.ReadFile(filepath.Join(fixturesDir(t), "single.torrent"))
	if err != nil {
		t.Fatal(err)
	}
	ih := strings.Repeat("f6", 20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/feed":
			fmt.Fprintf(w, `<rss version="2.0"><channel><title>t</title>
<item><title>Feed Single</title><guid>1</guid><enclosure url="http://%s/single.torrent" type="application/x-bittorrent"/></item>
<item><title>Feed Magnet</title><guid>2</guid><link>magnet:?xt=urn:btih:%s</link></item>
</channel></rss>`, r.Host, ih)
		case "/single.torrent":
			w.Write(torrent)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	dir := t.TempDir()
	mustRun(t, dir, "init")
	out := mustRun(t, dir, "rss", "fetch", srv.URL+"/feed", "--tag", "fromrss")
	if !strings.Contains(out, "2 items: 2 published") {
		t.Errorf("rss fetch: %q", out)
	}
	if hits := searchJSON(t, dir, "tags:fromrss"); len(hits) != 2 {
		t.Errorf("after rss fetch: %d entries tagged fromrss, want 2", len(hits))
	}
	if out := mustRun(t, dir, "rss", "fetch", srv.URL+"/feed"); !strings.Contains(out, "0 published, 2 already here") {
		t.Errorf("second rss fetch: %q", out)
	}
	if _, errs, code := indexd(t, dir, "rss", "fetch", "ftp://example.org/feed"); code != 1 || !strings.Contains(errs, "http") {
		t.Errorf("rss fetch of an ftp URL: exit %d, %q", code, errs)
	}

	// Through a daemon, into a second index.
	other := t.TempDir()
	mustRun(t, other, "init")
	d := startDaemonIn(t, other)
	mustBin(t, "index", "create", "fromfeed", "--data", d.dir)
	mustBin(t, "rss", "add", srv.URL+"/feed", "--every", "1s", "--index", "fromfeed", "--data", d.dir)
	waitFor(t, 30*time.Second, "the daemon to publish the feed", func() bool {
		out, err := runBin(t, nil, "search", "--data", d.dir, "--index", "fromfeed", "--json", "feed")
		return err == nil && strings.Count(out, `"id"`) == 2
	})
	if out := mustBin(t, "rss", "list", "--data", d.dir); !strings.Contains(out, srv.URL+"/feed") || !strings.Contains(out, "every 1s") {
		t.Errorf("rss list: %q", out)
	}
	if out := mustBin(t, "status", "--data", d.dir); !strings.Contains(out, "1 RSS subscriptions") {
		t.Errorf("status does not count the subscription:\n%s", out)
	}
	mustBin(t, "rss", "remove", srv.URL+"/feed", "--data", d.dir)
	if out := mustBin(t, "rss", "list", "--json", "--data", d.dir); strings.TrimSpace(out) != "[]" {
		t.Errorf("rss list after remove: %q", out)
	}
}
