package httpapi

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"time"

	"indexd/node"
)

// RSS feed sizes.
const (
	rssDefaultLimit = 50
	rssMaxLimit     = node.MaxLimit
)

// ezRSSNS is the namespace torrent clients know for torrent:infoHash and
// torrent:magnetURI.
const ezRSSNS = "http://xmlns.ezrss.it/0.1/"

type rssDoc struct {
	XMLName      xml.Name   `xml:"rss"`
	Version      string     `xml:"version,attr"`
	XMLNSAtom    string     `xml:"xmlns:atom,attr"`
	XMLNSTorrent string     `xml:"xmlns:torrent,attr"`
	Channel      rssChannel `xml:"channel"`
}

type rssChannel struct {
	AtomLink      atomLink  `xml:"atom:link"`
	Title         string    `xml:"title"`
	Link          string    `xml:"link"`
	Description   string    `xml:"description"`
	LastBuildDate string    `xml:"lastBuildDate,omitempty"`
	TTL           int       `xml:"ttl"`
	Items         []rssItem `xml:"item"`
}

type rssItem struct {
	Title       string      `xml:"title"`
	Link        string      `xml:"link"`
	GUID        tzGUID      `xml:"guid"`
	PubDate     string      `xml:"pubDate"`
	Description string      `xml:"description,omitempty"`
	Category    string      `xml:"category,omitempty"`
	Author      string      `xml:"author,omitempty"`
	Enclosure   tzEnclosure `xml:"enclosure"`
	InfoHash    string      `xml:"torrent:infoHash,omitempty"`
	MagnetURI   string      `xml:"torrent:magnetURI"`
	Length      uint64      `xml:"torrent:contentLength"`
}

// rss serves RSS 2.0 of the newest entries matching the search parameters
// (index, author, q, cat, tag, limit): per index, per author, per saved
// query. Enclosures are magnet links, which torrent clients' RSS
// downloaders fetch.
func (s *Server) rss(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("apikey") != "" && !s.apiKeyOK(r) {
		http.Error(w, "wrong apikey", http.StatusUnauthorized)
		return
	}
	if !s.canRead(r) {
		http.Error(w, "feeds for other machines need ?apikey= (indexd status shows it)", http.StatusUnauthorized)
		return
	}
	v := r.URL.Query()
	req, err := parseSearch(v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Limit == 0 {
		req.Limit = rssDefaultLimit
	}
	req.Limit = min(req.Limit, rssMaxLimit)
	if v.Get("sort") == "" {
		req.Sort = "date"
	}
	req.Facets, req.Highlight = false, false
	res, err := s.search(r, req, "rss")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	self := url.Values{}
	for k, vs := range v {
		if k != "apikey" {
			self[k] = vs
		}
	}
	doc := rssDoc{
		Version:      "2.0",
		XMLNSAtom:    "http://www.w3.org/2005/Atom",
		XMLNSTorrent: ezRSSNS,
		Channel: rssChannel{
			AtomLink:    atomLink{Href: absURL(r, "/rss", self), Rel: "self", Type: "application/rss+xml"},
			Title:       rssTitle(s.opts.Title, req),
			Link:        absURL(r, "/", self),
			Description: "New entries on this indexd node",
			TTL:         15,
			Items:       make([]rssItem, 0, len(res.Hits)),
		},
	}
	var newest time.Time
	for _, e := range res.Hits {
		if e.Published.After(newest) {
			newest = e.Published
		}
		doc.Channel.Items = append(doc.Channel.Items, rssItem{
			Title:       e.Title,
			Link:        absURL(r, "/entries/"+e.ID, nil),
			GUID:        tzGUID{IsPermaLink: "false", Value: e.ID},
			PubDate:     e.Published.UTC().Format(time.RFC1123Z),
			Description: truncate(e.Description, 2000),
			Category:    e.CategoryName,
			Enclosure:   tzEnclosure{URL: e.Magnet, Length: e.Size, Type: "application/x-bittorrent"},
			InfoHash:    firstNonEmpty(e.InfohashV1, e.InfohashV2),
			MagnetURI:   e.Magnet,
			Length:      e.Size,
		})
	}
	if !newest.IsZero() {
		doc.Channel.LastBuildDate = newest.UTC().Format(time.RFC1123Z)
	}
	b, err := xml.MarshalIndent(doc, "", " ")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
	w.Write([]byte(xml.Header))
	w.Write(b)
	w.Write([]byte("\n"))
}

func rssTitle(base string, req node.SearchRequest) string {
	var parts []string
	if req.Query != "" {
		parts = append(parts, "“"+req.Query+"”")
	}
	if len(req.Index) > 0 {
		parts = append(parts, "index "+strings.Join(req.Index, ", "))
	}
	if len(req.Authors) > 0 {
		a := req.Authors[0]
		parts = append(parts, "by "+truncate(a, 20))
	}
	if len(req.Categories) > 0 {
		parts = append(parts, "in "+strings.Join(req.Categories, ", "))
	}
	if len(parts) == 0 {
		return base + ": new entries"
	}
	return base + ": " + strings.Join(parts, " ")
}

func firstNonEmpty(a ...string) string {
	for _, s := range a {
		if s != "" {
			return s
		}
	}
	return ""
}
