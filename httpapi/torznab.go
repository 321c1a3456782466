package httpapi

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"indexd/index"
	"indexd/node"
)

// Torznab limits advertised in t=caps.
const (
	torznabDefaultLimit = 100
	torznabMaxLimit     = node.MaxLimit
)

// TorznabNS is the Torznab XML namespace.
const TorznabNS = "http://torznab.com/schemas/2015/feed"

// Torznab error codes (newznab API spec), as Sonarr and Radarr read them.
const (
	tzBadCredentials    = 100
	tzMissingParameter  = 200
	tzIncorrectParam    = 201
	tzNoSuchFunction    = 202
	tzUnknownError      = 900
	tzMissingDescriptor = "Missing parameter"
)

type tzError struct {
	XMLName     xml.Name `xml:"error"`
	Code        int      `xml:"code,attr"`
	Description string   `xml:"description,attr"`
}

// tzCaps is the t=caps document.
type tzCaps struct {
	XMLName    xml.Name     `xml:"caps"`
	Server     tzServer     `xml:"server"`
	Limits     tzLimits     `xml:"limits"`
	Searching  tzSearching  `xml:"searching"`
	Categories []tzCategory `xml:"categories>category"`
	Tags       *struct{}    `xml:"tags,omitempty"`
}

type tzServer struct {
	Version string `xml:"version,attr"`
	Title   string `xml:"title,attr"`
	URL     string `xml:"url,attr,omitempty"`
}

type tzLimits struct {
	Max     int `xml:"max,attr"`
	Default int `xml:"default,attr"`
}

type tzSearching struct {
	Search      tzSearchCap `xml:"search"`
	TVSearch    tzSearchCap `xml:"tv-search"`
	MovieSearch tzSearchCap `xml:"movie-search"`
	MusicSearch tzSearchCap `xml:"music-search"`
	AudioSearch tzSearchCap `xml:"audio-search"`
	BookSearch  tzSearchCap `xml:"book-search"`
}

type tzSearchCap struct {
	Available       string `xml:"available,attr"`
	SupportedParams string `xml:"supportedParams,attr"`
}

type tzCategory struct {
	ID      int          `xml:"id,attr"`
	Name    string       `xml:"name,attr"`
	Subcats []tzCategory `xml:"subcat"`
}

// tzRSS is a Torznab result page (RSS 2.0 with torznab:attr elements).
type tzRSS struct {
	XMLName   xml.Name  `xml:"rss"`
	Version   string    `xml:"version,attr"`
	XMLNSAtom string    `xml:"xmlns:atom,attr"`
	XMLNSTorz string    `xml:"xmlns:torznab,attr"`
	Channel   tzChannel `xml:"channel"`
}

type tzChannel struct {
	AtomLink    atomLink    `xml:"atom:link"`
	Title       string      `xml:"title"`
	Description string      `xml:"description"`
	Link        string      `xml:"link"`
	Language    string      `xml:"language,omitempty"`
	Response    *tzResponse `xml:"torznab:response,omitempty"`
	Items       []tzItem    `xml:"item"`
}

type atomLink struct {
	Href string `xml:"href,attr"`
	Rel  string `xml:"rel,attr"`
	Type string `xml:"type,attr"`
}

type tzResponse struct {
	Offset int    `xml:"offset,attr"`
	Total  uint64 `xml:"total,attr"`
}

type tzItem struct {
	Title       string      `xml:"title"`
	GUID        tzGUID      `xml:"guid"`
	Link        string      `xml:"link"`
	Comments    string      `xml:"comments,omitempty"`
	PubDate     string      `xml:"pubDate"`
	Size        uint64      `xml:"size"`
	Description string      `xml:"description,omitempty"`
	Categories  []string    `xml:"category"`
	Enclosure   tzEnclosure `xml:"enclosure"`
	Attrs       []tzAttr    `xml:"torznab:attr"`
}

type tzGUID struct {
	IsPermaLink string `xml:"isPermaLink,attr"`
	Value       string `xml:",chardata"`
}

type tzEnclosure struct {
	URL    string `xml:"url,attr"`
	Length uint64 `xml:"length,attr"`
	Type   string `xml:"type,attr"`
}

type tzAttr struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

func writeXML(w http.ResponseWriter, status int, v any) {
	b, err := xml.MarshalIndent(v, "", " ")
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(xml.Header))
	w.Write(b)
	w.Write([]byte("\n"))
}

// torznabError answers with a newznab <error>. The HTTP status is 200, as
// newznab servers do: Sonarr and Radarr read the code from the body.
func torznabError(w http.ResponseWriter, code int, desc string) {
	writeXML(w, http.StatusOK, tzError{Code: code, Description: desc})
}

// torznabAuth checks the apikey: a wrong key is always refused; a missing
// one only from other machines without a session.
func (s *Server) torznabAuth(w http.ResponseWriter, r *http.Request) bool {
	q := r.URL.Query()
	if q.Get("apikey") != "" || r.Header.Get("X-Api-Key") != "" {
		if !s.apiKeyOK(r) {
			torznabError(w, tzBadCredentials, "Incorrect user credentials")
			return false
		}
		return true
	}
	if isLoopback(r) || s.session(r) != "" || s.bearerOK(r) {
		return true
	}
	torznabError(w, tzMissingParameter, tzMissingDescriptor)
	return false
}

// torznab serves /torznab/api (every index) and /torznab/{index}/api.
func (s *Server) torznab(w http.ResponseWriter, r *http.Request) {
	if !s.torznabAuth(w, r) {
		return
	}
	q := r.URL.Query()
	var which []string
	if ix := r.PathValue("index"); ix != "" {
		if _, err := s.n.ResolveIndex(ix); err != nil {
			torznabError(w, tzIncorrectParam, "Incorrect parameter: no index "+truncate(ix, 80))
			return
		}
		which = []string{ix}
	}
	switch t := q.Get("t"); t {
	case "caps":
		s.torznabCaps(w, r)
	case "search", "tvsearch", "tv-search", "movie", "movie-search":
		s.torznabSearch(w, r, t, which)
	case "":
		torznabError(w, tzMissingParameter, tzMissingDescriptor+": t")
	default:
		torznabError(w, tzNoSuchFunction, "No such function: "+truncate(t, 40))
	}
}

func (s *Server) torznabCaps(w http.ResponseWriter, r *http.Request) {
	caps := tzCaps{
		Server: tzServer{Version: "1.3", Title: s.opts.Title},
		Limits: tzLimits{Max: torznabMaxLimit, Default: torznabDefaultLimit},
		Searching: tzSearching{
			Search:      tzSearchCap{Available: "yes", SupportedParams: "q"},
			TVSearch:    tzSearchCap{Available: "yes", SupportedParams: "q,season,ep"},
			MovieSearch: tzSearchCap{Available: "yes", SupportedParams: "q,imdbid"},
			MusicSearch: tzSearchCap{Available: "no", SupportedParams: "q"},
			AudioSearch: tzSearchCap{Available: "no", SupportedParams: "q"},
			BookSearch:  tzSearchCap{Available: "no", SupportedParams: "q"},
		},
	}
	for _, c := range index.Categories() {
		if c.Parent() == c {
			caps.Categories = append(caps.Categories, tzCategory{ID: int(c), Name: c.Name()})
			continue
		}
		if n := len(caps.Categories); n > 0 && caps.Categories[n-1].ID == int(c.Parent()) {
			caps.Categories[n-1].Subcats = append(caps.Categories[n-1].Subcats, tzCategory{ID: int(c), Name: c.Name()})
		}
	}
	writeXML(w, http.StatusOK, caps)
}

// torznabQuery turns Torznab parameters into a node search. It never
// panics and reports malformed values as an error for code 201.
func torznabQuery(q url.Values, t string) (node.SearchRequest, string, error) {
	var req node.SearchRequest
	text := strings.TrimSpace(q.Get("q"))
	if len(text) > maxQueryLen {
		return req, "", fmt.Errorf("q is too long")
	}
	if t == "tvsearch" || t == "tv-search" {
		season, ep := strings.TrimSpace(q.Get("season")), strings.TrimSpace(q.Get("ep"))
		text = strings.TrimSpace(text + " " + episodeToken(season, ep))
	}
	req.Query = text
	cats, err := listParam(q, "cat")
	if err != nil {
		return req, "", err
	}
	for _, c := range cats {
		n, err := strconv.ParseUint(c, 10, 32)
		if err != nil {
			return req, "", fmt.Errorf("cat must be numbers, not %q", truncate(c, 20))
		}
		if !index.Category(n).Known() && n < 100000 {
			continue // an unknown standard number matches nothing; ignore it as newznab servers do
		}
		req.Categories = append(req.Categories, c)
	}
	if req.Offset, err = intParam(q, "offset", 0, 1<<20); err != nil {
		return req, "", err
	}
	limit := torznabDefaultLimit
	if q.Get("limit") != "" {
		if limit, err = intParam(q, "limit", 0, 1<<20); err != nil {
			return req, "", err
		}
	}
	if limit <= 0 || limit > torznabMaxLimit {
		limit = torznabMaxLimit
	}
	req.Limit = limit
	var imdb string
	if t == "movie" || t == "movie-search" {
		imdb = normIMDb(q.Get("imdbid"))
		if q.Get("imdbid") != "" && imdb == "" {
			return req, "", fmt.Errorf("imdbid %q is not an IMDb id", truncate(q.Get("imdbid"), 20))
		}
	}
	if req.Query == "" {
		req.Sort = "date"
	}
	return req, imdb, nil
}

// episodeToken renders season/ep the way release names write them:
// S01E02, S01, or the raw values for daily shows (2024 / 03/15).
func episodeToken(season, ep string) string {
	sn, serr := strconv.Atoi(season)
	en, eerr := strconv.Atoi(ep)
	switch {
	case season == "" && ep == "":
		return ""
	case serr == nil && sn >= 0 && sn < 1000 && eerr == nil && en >= 0 && en < 10000:
		return fmt.Sprintf("S%02dE%02d", sn, en)
	case serr == nil && sn >= 0 && sn < 1000 && ep == "":
		return fmt.Sprintf("S%02d", sn)
	default:
		return strings.TrimSpace(season + " " + strings.ReplaceAll(ep, "/", " "))
	}
}

// normIMDb returns the digits of an IMDb id ("tt0133093" -> "0133093"),
// or "" when s is not one.
func normIMDb(s string) string {
	s = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "tt")
	if s == "" || len(s) > 12 {
		return ""
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return ""
		}
	}
	n, _ := strconv.ParseUint(s, 10, 64)
	return fmt.Sprintf("%07d", n)
}

// entryIMDb is the IMDb id an entry carries in its meta fields, if any.
func entryIMDb(v *node.EntryView) string {
	for _, k := range []string{"imdb", "imdbid", "imdb_id"} {
		if id := normIMDb(v.Meta[k]); id != "" {
			return id
		}
	}
	return ""
}

func (s *Server) torznabSearch(w http.ResponseWriter, r *http.Request, t string, which []string) {
	q := r.URL.Query()
	req, imdb, err := torznabQuery(q, t)
	if err != nil {
		torznabError(w, tzIncorrectParam, "Incorrect parameter: "+err.Error())
		return
	}
	req.Index = which
	var hits []*node.EntryView
	var total uint64
	if imdb != "" {
		// The search index has no IMDb field: filter the best MaxLimit
		// matches by their meta fields, then page.
		page := req
		page.Offset, page.Limit = 0, node.MaxLimit
		res, err := s.search(r, page, "torznab")
		if err != nil {
			s.torznabFail(w, r, err)
			return
		}
		var all []*node.EntryView
		for _, h := range res.Hits {
			if entryIMDb(h) == imdb {
				all = append(all, h)
			}
		}
		total = uint64(len(all))
		if req.Offset < len(all) {
			all = all[req.Offset:]
			hits = all[:min(len(all), req.Limit)]
		}
	} else {
		res, err := s.search(r, req, "torznab")
		if err != nil {
			s.torznabFail(w, r, err)
			return
		}
		hits, total = res.Hits, res.Total
	}
	self := absURL(r, r.URL.Path, nil)
	feed := tzRSS{
		Version:   "2.0",
		XMLNSAtom: "http://www.w3.org/2005/Atom",
		XMLNSTorz: TorznabNS,
		Channel: tzChannel{
			AtomLink:    atomLink{Href: self, Rel: "self", Type: "application/rss+xml"},
			Title:       s.opts.Title,
			Description: "indexd: a decentralized torrent index",
			Link:        absURL(r, "/", nil),
			Language:    "en-us",
			Response:    &tzResponse{Offset: req.Offset, Total: total},
			Items:       make([]tzItem, 0, len(hits)),
		},
	}
	apikey := q.Get("apikey")
	for _, v := range hits {
		feed.Channel.Items = append(feed.Channel.Items, s.torznabItem(r, v, apikey))
	}
	writeXML(w, http.StatusOK, feed)
}

func (s *Server) torznabFail(w http.ResponseWriter, r *http.Request, err error) {
	status := errStatus(err)
	msg := s.publicMessage(r, err, status)
	if status == http.StatusBadRequest || status == http.StatusNotFound {
		torznabError(w, tzIncorrectParam, "Incorrect parameter: "+msg)
		return
	}
	torznabError(w, tzUnknownError, msg)
}

// downloadURL is where a client gets the torrent: the original .torrent
// when this node holds it, the magnet link otherwise.
func downloadURL(r *http.Request, v *node.EntryView, apikey string) string {
	if v.TorrentFeed == "" {
		return v.Magnet
	}
	var q url.Values
	if apikey != "" {
		q = url.Values{"apikey": {apikey}}
	}
	return absURL(r, "/api/v1/entries/"+v.ID+"/torrent", q)
}

func (s *Server) torznabItem(r *http.Request, v *node.EntryView, apikey string) tzItem {
	link := downloadURL(r, v, apikey)
	it := tzItem{
		Title:       v.Title,
		GUID:        tzGUID{IsPermaLink: "false", Value: v.ID},
		Link:        link,
		Comments:    absURL(r, "/entries/"+v.ID, nil),
		PubDate:     v.Published.UTC().Format(time.RFC1123Z),
		Size:        v.Size,
		Description: truncate(v.Description, 2000),
		Enclosure:   tzEnclosure{URL: link, Length: v.Size, Type: "application/x-bittorrent"},
	}
	attr := func(name, value string) { it.Attrs = append(it.Attrs, tzAttr{Name: name, Value: value}) }
	for _, c := range torznabCategories(v.Category) {
		it.Categories = append(it.Categories, c)
		attr("category", c)
	}
	attr("size", strconv.FormatUint(v.Size, 10))
	attr("files", strconv.Itoa(len(v.Files)))
	if v.InfohashV1 != "" {
		attr("infohash", v.InfohashV1)
	} else if v.InfohashV2 != "" {
		attr("infohash", v.InfohashV2)
	}
	if v.InfohashV2 != "" {
		attr("infohashv2", v.InfohashV2)
	}
	attr("magneturl", v.Magnet)
	if id := entryIMDb(v); id != "" {
		attr("imdb", id)
	}
	for _, t := range v.Tags {
		attr("tag", t)
	}
	attr("author", v.Author)
	attr("entryid", v.ID)
	if v.Publishers > 0 {
		attr("publishers", strconv.Itoa(v.Publishers))
	}
	// Seeders and peers only when a scrape said so: a made-up 0 would make
	// Sonarr and Radarr drop every item under their minimum-seeders rule.
	if v.Seeders != nil && v.Leechers != nil {
		attr("seeders", strconv.Itoa(*v.Seeders))
		attr("peers", strconv.Itoa(*v.Seeders+*v.Leechers))
	}
	return it
}

// torznabCategories lists an entry's category and its parent, as numbers;
// an entry without a category is filed under Other (8000) so that clients
// that filter by category still see it.
func torznabCategories(c uint32) []string {
	cat := index.Category(c)
	if cat == 0 {
		cat = index.CatOther
	}
	out := []string{strconv.FormatUint(uint64(cat), 10)}
	if p := cat.Parent(); p != cat {
		out = append(out, strconv.FormatUint(uint64(p), 10))
	}
	return out
}
