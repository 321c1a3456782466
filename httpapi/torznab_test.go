package httpapi

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Parsed forms of the Torznab documents, read the way Sonarr and Radarr
// read them: elements by name, torznab:attr by namespace URI.
type capsDoc struct {
	XMLName xml.Name `xml:"caps"`
	Limits  struct {
		Max     int `xml:"max,attr"`
		Default int `xml:"default,attr"`
	} `xml:"limits"`
	Searching struct {
		Search      capDoc `xml:"search"`
		TVSearch    capDoc `xml:"tv-search"`
		MovieSearch capDoc `xml:"movie-search"`
	} `xml:"searching"`
	Categories []struct {
		ID      int    `xml:"id,attr"`
		Name    string `xml:"name,attr"`
		Subcats []struct {
			ID   int    `xml:"id,attr"`
			Name string `xml:"name,attr"`
		} `xml:"subcat"`
	} `xml:"categories>category"`
}

type capDoc struct {
	Available       string `xml:"available,attr"`
	SupportedParams string `xml:"supportedParams,attr"`
}

type feedDoc struct {
	XMLName xml.Name `xml:"rss"`
	Version string   `xml:"version,attr"`
	Channel struct {
		Title    string `xml:"title"`
		Response struct {
			Offset int `xml:"offset,attr"`
			Total  int `xml:"total,attr"`
		} `xml:"http://torznab.com/schemas/2015/feed response"`
		Items []itemDoc `xml:"item"`
	} `xml:"channel"`
}

type itemDoc struct {
	Title     string `xml:"title"`
	GUID      string `xml:"guid"`
	Link      string `xml:"link"`
	Comments  string `xml:"comments"`
	PubDate   string `xml:"pubDate"`
	Size      int64  `xml:"size"`
	Enclosure struct {
		URL    string `xml:"url,attr"`
		Length int64  `xml:"length,attr"`
		Type   string `xml:"type,attr"`
	} `xml:"enclosure"`
	Attrs []struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	} `xml:"http://torznab.com/schemas/2015/feed attr"`
	MagnetURI string `xml:"http://xmlns.ezrss.it/0.1/ magnetURI"`
	InfoHash  string `xml:"http://xmlns.ezrss.it/0.1/ infoHash"`
}

func (it itemDoc) attr(name string) []string {
	var out []string
	for _, a := range it.Attrs {
		if a.Name == name {
			out = append(out, a.Value)
		}
	}
	return out
}

type errorDoc struct {
	XMLName     xml.Name `xml:"error"`
	Code        int      `xml:"code,attr"`
	Description string   `xml:"description,attr"`
}

// getXML fetches path and parses it into a fresh T.
func getXML[T any](e *testEnv, path string) T {
	e.t.Helper()
	var out T
	resp := e.do("GET", path, nil, "", false)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s = %d %s", path, resp.StatusCode, b)
	}
	if err := xml.Unmarshal(b, &out); err != nil {
		e.t.Fatalf("GET %s: parsing XML: %v\n%s", path, err, b)
	}
	return out
}

func TestTorznabCaps(t *testing.T) {
	e := newEnv(t, Options{})
	var c capsDoc
	c = getXML[capsDoc](e, "/torznab/api?t=caps")
	if c.Limits.Max < 100 || c.Limits.Default < 1 || c.Limits.Default > c.Limits.Max {
		t.Errorf("limits = %+v", c.Limits)
	}
	if c.Searching.Search.Available != "yes" || c.Searching.TVSearch.Available != "yes" || c.Searching.MovieSearch.Available != "yes" {
		t.Errorf("searching = %+v; want search, tv-search and movie-search available", c.Searching)
	}
	if !strings.Contains(c.Searching.TVSearch.SupportedParams, "season") || !strings.Contains(c.Searching.TVSearch.SupportedParams, "ep") {
		t.Errorf("tv-search params = %q; want season,ep", c.Searching.TVSearch.SupportedParams)
	}
	if !strings.Contains(c.Searching.MovieSearch.SupportedParams, "imdbid") {
		t.Errorf("movie-search params = %q; want imdbid", c.Searching.MovieSearch.SupportedParams)
	}
	found := map[int]bool{}
	for _, cat := range c.Categories {
		found[cat.ID] = true
		for _, s := range cat.Subcats {
			if s.ID/1000*1000 != cat.ID {
				t.Errorf("subcat %d under %d", s.ID, cat.ID)
			}
			found[s.ID] = true
		}
	}
	for _, id := range []int{2000, 2040, 5000, 5040, 8000} {
		if !found[id] {
			t.Errorf("caps lack category %d", id)
		}
	}
	// Per-index endpoint answers caps too.
	c = getXML[capsDoc](e, "/torznab/default/api?t=caps")
}

func TestTorznabSearch(t *testing.T) {
	e := newEnv(t, Options{})
	tv := e.publishFile("multi.torrent", map[string]string{"title": "Show.Name.S02E05.1080p.WEB", "category": "5040"})
	mv := e.publishFile("single.torrent", map[string]string{"title": "A Film 1999", "category": "2040", "meta.imdb": "tt0133093"})

	// Empty query: recent entries, newest first (Sonarr's indexer test).
	var f feedDoc
	f = getXML[feedDoc](e, "/torznab/api?t=search")
	if f.Version != "2.0" || len(f.Channel.Items) != 2 {
		t.Fatalf("empty search: %d items; want 2", len(f.Channel.Items))
	}
	if f.Channel.Response.Total != 2 {
		t.Errorf("torznab:response total = %d; want 2", f.Channel.Response.Total)
	}
	for _, it := range f.Channel.Items {
		if _, err := time.Parse(time.RFC1123Z, it.PubDate); err != nil {
			t.Errorf("pubDate %q is not RFC 822/1123Z: %v", it.PubDate, err)
		}
		if it.Enclosure.Type != "application/x-bittorrent" || it.Enclosure.URL == "" || it.Enclosure.Length <= 0 {
			t.Errorf("enclosure = %+v", it.Enclosure)
		}
		if _, err := url.Parse(it.Link); err != nil || it.Link == "" {
			t.Errorf("link %q", it.Link)
		}
		for _, name := range []string{"infohash", "magneturl", "size", "category", "files", "author", "entryid"} {
			if len(it.attr(name)) == 0 {
				t.Errorf("item %q lacks torznab:attr %s", it.Title, name)
			}
		}
		for _, name := range []string{"seeders", "peers", "leechers"} {
			if len(it.attr(name)) != 0 {
				t.Errorf("item %q reports %s without swarm data", it.Title, name)
			}
		}
		if !strings.HasPrefix(it.attr("magneturl")[0], "magnet:?") {
			t.Errorf("magneturl = %q", it.attr("magneturl")[0])
		}
		if sz, _ := strconv.ParseInt(it.attr("size")[0], 10, 64); sz != it.Size || sz <= 0 {
			t.Errorf("size attr %v, element %d", it.attr("size"), it.Size)
		}
	}

	// A text search.
	f = getXML[feedDoc](e, "/torznab/api?t=search&q=gamma")
	if len(f.Channel.Items) != 1 || f.Channel.Items[0].GUID != tv.ID {
		t.Errorf("q=gamma: %+v", f.Channel.Items)
	} else {
		it := f.Channel.Items[0]
		if it.attr("infohash")[0] != tv.InfohashV1 || it.attr("entryid")[0] != tv.ID || it.attr("author")[0] != tv.Author {
			t.Errorf("attrs = %+v", it.Attrs)
		}
		if cats := it.attr("category"); len(cats) != 2 || cats[0] != "5040" || cats[1] != "5000" {
			t.Errorf("category attrs = %v; want [5040 5000]", cats)
		}
		// Published from a file: the link downloads the .torrent.
		if !strings.Contains(it.Link, "/api/v1/entries/"+tv.ID+"/torrent") {
			t.Errorf("link = %q; want the .torrent URL", it.Link)
		}
	}

	// Category filter: a parent matches its subcategories.
	f = getXML[feedDoc](e, "/torznab/api?t=search&cat=2000")
	if len(f.Channel.Items) != 1 || f.Channel.Items[0].GUID != mv.ID {
		t.Errorf("cat=2000: %d items; want the film", len(f.Channel.Items))
	}
	f = getXML[feedDoc](e, "/torznab/api?t=search&cat=5000,7000")
	if len(f.Channel.Items) != 1 || f.Channel.Items[0].GUID != tv.ID {
		t.Errorf("cat=5000,7000: %d items; want the show", len(f.Channel.Items))
	}

	// tvsearch with season/ep.
	f = getXML[feedDoc](e, "/torznab/api?t=tvsearch&q=show+name&season=2&ep=5")
	if len(f.Channel.Items) != 1 || f.Channel.Items[0].GUID != tv.ID {
		t.Errorf("tvsearch S02E05: %d items; want the show", len(f.Channel.Items))
	}
	f = getXML[feedDoc](e, "/torznab/api?t=tvsearch&q=show+name&season=3&ep=1")
	if len(f.Channel.Items) != 0 {
		t.Errorf("tvsearch S03E01: %d items; want none", len(f.Channel.Items))
	}

	// movie with imdbid, with and without the tt prefix.
	for _, id := range []string{"tt0133093", "0133093"} {
		f = getXML[feedDoc](e, "/torznab/api?t=movie&imdbid="+id)
		if len(f.Channel.Items) != 1 || f.Channel.Items[0].GUID != mv.ID {
			t.Errorf("movie imdbid=%s: %d items; want the film", id, len(f.Channel.Items))
		} else if got := f.Channel.Items[0].attr("imdb"); len(got) != 1 || got[0] != "0133093" {
			t.Errorf("imdb attr = %v", got)
		}
	}
	f = getXML[feedDoc](e, "/torznab/api?t=movie&imdbid=tt7654321")
	if len(f.Channel.Items) != 0 {
		t.Errorf("movie with an unknown imdbid: %d items", len(f.Channel.Items))
	}

	// Paging.
	f = getXML[feedDoc](e, "/torznab/api?t=search&limit=1")
	first := f.Channel.Items
	f = getXML[feedDoc](e, "/torznab/api?t=search&limit=1&offset=1")
	if len(first) != 1 || len(f.Channel.Items) != 1 || first[0].GUID == f.Channel.Items[0].GUID {
		t.Errorf("paging: %v then %v", first, f.Channel.Items)
	}
	if f.Channel.Response.Offset != 1 {
		t.Errorf("response offset = %d", f.Channel.Response.Offset)
	}

	// Per-index endpoint.
	f = getXML[feedDoc](e, "/torznab/default/api?t=search")
	if len(f.Channel.Items) != 2 {
		t.Errorf("per-index search: %d items", len(f.Channel.Items))
	}
}

func TestTorznabErrors(t *testing.T) {
	e := newEnv(t, Options{})
	for _, tt := range []struct {
		path string
		code int
	}{
		{"/torznab/api?t=search&apikey=wrong", 100},
		{"/torznab/api", 200},
		{"/torznab/api?t=music", 202},
		{"/torznab/api?t=search&offset=x", 201},
		{"/torznab/api?t=search&cat=abc", 201},
		{"/torznab/api?t=movie&imdbid=nope", 201},
		{"/torznab/nosuchindex/api?t=search", 201},
	} {
		ed := getXML[errorDoc](e, tt.path)
		if ed.Code != tt.code || ed.Description == "" {
			t.Errorf("GET %s: error %d %q; want code %d", tt.path, ed.Code, ed.Description, tt.code)
		}
	}
	// The right key works.
	getXML[feedDoc](e, "/torznab/api?t=search&apikey="+e.n.APIKey())
}

func TestRSS(t *testing.T) {
	e := newEnv(t, Options{})
	a := e.publishFile("multi.torrent", map[string]string{"category": "5040"})
	b := e.publishFile("single.torrent", map[string]string{"category": "2040"})

	var f feedDoc
	f = getXML[feedDoc](e, "/rss")
	if f.Version != "2.0" || len(f.Channel.Items) != 2 {
		t.Fatalf("rss: %d items", len(f.Channel.Items))
	}
	// Newest first.
	if f.Channel.Items[0].GUID != b.ID {
		t.Errorf("first item %s; want the newest (%s)", f.Channel.Items[0].GUID, b.ID)
	}
	for _, it := range f.Channel.Items {
		if !strings.HasPrefix(it.Enclosure.URL, "magnet:?") || it.Enclosure.Type != "application/x-bittorrent" {
			t.Errorf("enclosure = %+v; want a magnet link", it.Enclosure)
		}
		if it.MagnetURI != it.Enclosure.URL || it.InfoHash == "" {
			t.Errorf("torrent:magnetURI %q, infoHash %q", it.MagnetURI, it.InfoHash)
		}
		if _, err := time.Parse(time.RFC1123Z, it.PubDate); err != nil {
			t.Errorf("pubDate %q: %v", it.PubDate, err)
		}
	}
	f = getXML[feedDoc](e, "/rss?q=gamma")
	if len(f.Channel.Items) != 1 || f.Channel.Items[0].GUID != a.ID {
		t.Errorf("rss?q=gamma: %d items", len(f.Channel.Items))
	}
	f = getXML[feedDoc](e, "/rss?cat=movies")
	if len(f.Channel.Items) != 1 || f.Channel.Items[0].GUID != b.ID {
		t.Errorf("rss?cat=movies: %d items", len(f.Channel.Items))
	}
	f = getXML[feedDoc](e, "/rss?author="+url.QueryEscape(a.Author))
	if len(f.Channel.Items) != 2 {
		t.Errorf("rss?author: %d items", len(f.Channel.Items))
	}
	f = getXML[feedDoc](e, "/rss?index=default")
	if len(f.Channel.Items) != 2 {
		t.Errorf("rss?index=default: %d items", len(f.Channel.Items))
	}
	resp := e.do("GET", "/rss?limit=x", nil, "", false)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("rss?limit=x: %d; want 400", resp.StatusCode)
	}
	resp = e.do("GET", "/rss?apikey=wrong", nil, "", false)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("rss with a wrong apikey: %d; want 401", resp.StatusCode)
	}
}
