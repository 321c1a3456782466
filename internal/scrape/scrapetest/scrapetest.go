// Package scrapetest runs a real HTTP tracker scrape endpoint for tests.
package scrapetest

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"

	"github.com/anacrolix/torrent/bencode"

	"indexd/internal/scrape"
)

// Tracker is an HTTP tracker answering scrapes at /scrape: Stats says what
// it knows of an infohash (false: unknown); while Down is set it answers
// 503.
type Tracker struct {
	*httptest.Server
	Down atomic.Bool
}

// New starts a tracker; its announce URL is URL+"/announce". Close it.
func New(stats func(ih [20]byte) (scrape.Stats, bool)) *Tracker {
	t := &Tracker{}
	t.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t.Down.Load() || r.URL.Path != "/scrape" {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		files := map[string]any{}
		for _, h := range r.URL.Query()["info_hash"] {
			if len(h) != 20 {
				continue
			}
			if s, ok := stats([20]byte([]byte(h))); ok {
				files[h] = map[string]int{"complete": s.Seeders, "incomplete": s.Leechers, "downloaded": s.Completed}
			}
		}
		b, err := bencode.Marshal(map[string]any{"files": files})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write(b)
	}))
	return t
}

// Announce is the tracker's announce URL.
func (t *Tracker) Announce() string { return t.URL + "/announce" }

// All answers s for every infohash.
func All(s scrape.Stats) func([20]byte) (scrape.Stats, bool) {
	return func([20]byte) (scrape.Stats, bool) { return s, true }
}
