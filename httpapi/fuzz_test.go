package httpapi

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzParseSearch feeds arbitrary query strings to the URL parameter
// decoder of the API, UI, RSS and subscribe: it must never panic, and what
// it accepts must be within bounds.
func FuzzParseSearch(f *testing.F) {
	for _, s := range []string{
		"", "q=ubuntu", "q=a&cat=2000,5040&tag=x&tag=y&author=id:00&sort=-date&offset=20&limit=50&facets=1",
		"offset=-1", "limit=99999999999999999999", "sort=seeders", "q=%ff%fe", "cat=" + strings.Repeat(",", 100),
		"facets=maybe", "q=" + strings.Repeat("a", 1100),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		req, err := parseSearch(v)
		if err != nil {
			return
		}
		if len(req.Query) > maxQueryLen || req.Offset < 0 || req.Limit < 0 {
			t.Fatalf("parseSearch(%q) accepted out-of-bounds %+v", raw, req)
		}
		if len(req.Categories) > maxListParams || len(req.Tags) > maxListParams || len(req.Authors) > maxListParams {
			t.Fatalf("parseSearch(%q) accepted too many filters", raw)
		}
	})
}

// FuzzTorznabQuery does the same for Torznab parameters.
func FuzzTorznabQuery(f *testing.F) {
	for _, s := range []string{
		"t=search&q=show", "t=tvsearch&q=show&season=1&ep=2", "t=tvsearch&season=2024&ep=03/15",
		"t=movie&imdbid=tt0133093", "t=movie&imdbid=ttx", "cat=2000,abc", "limit=0&offset=5", "limit=-3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		req, imdb, err := torznabQuery(v, v.Get("t"))
		if err != nil {
			return
		}
		if req.Limit <= 0 || req.Limit > torznabMaxLimit || req.Offset < 0 {
			t.Fatalf("torznabQuery(%q) = limit %d offset %d", raw, req.Limit, req.Offset)
		}
		if imdb != "" && normIMDb(imdb) != imdb {
			t.Fatalf("imdb id %q is not normal", imdb)
		}
	})
}

// FuzzSession feeds arbitrary cookie values to the session check: it must
// never panic and never accept a value it did not mint.
func FuzzSession(f *testing.F) {
	s := &Server{opts: Options{Token: "0123456789abcdef"}}
	f.Add(s.newSession())
	f.Add("")
	f.Add("a.b.c")
	f.Add(strings.Repeat("a", 32) + ".9999999999.00")
	f.Fuzz(func(t *testing.T, v string) {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", sessionCookie+"="+v)
		if nonce := s.session(r); nonce != "" {
			parts := strings.Split(v, ".")
			if len(parts) != 3 || parts[2] != s.mac("session", parts[0], parts[1]) {
				t.Fatalf("session(%q) accepted a value it did not mint", v)
			}
		}
	})
}
