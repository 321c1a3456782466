package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"indexd/node"
)

// maxTorrentFile bounds the .torrent part of a multipart publish; the
// whole body is bounded by Options.MaxUpload.
const maxMultipartMemory = 1 << 20

func (s *Server) apiNotFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path+" (see docs/api.md)")
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// apiSearch serves GET (URL parameters) and POST (a JSON SearchRequest).
func (s *Server) apiSearch(w http.ResponseWriter, r *http.Request) {
	var req node.SearchRequest
	if r.Method == http.MethodPost {
		if err := decodeJSON(w, r, &req, maxJSONBody); err != nil {
			s.fail(w, r, err)
			return
		}
		if len(req.Query) > maxQueryLen {
			s.fail(w, r, badRequest("q is longer than %d bytes", maxQueryLen))
			return
		}
	} else {
		var err error
		if req, err = parseSearch(r.URL.Query()); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	res, err := s.search(r, req, "api")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// search runs a node search and records its latency under endpoint.
func (s *Server) search(r *http.Request, req node.SearchRequest, endpoint string) (*node.SearchResponse, error) {
	start := time.Now()
	res, err := s.n.Search(r.Context(), req)
	s.metrics.searchLatency.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
	return res, err
}

func (s *Server) apiEntry(w http.ResponseWriter, r *http.Request) {
	v, err := s.n.Entry(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) apiTorrent(w http.ResponseWriter, r *http.Request) {
	data, name, err := s.n.Torrent(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !strings.HasSuffix(strings.ToLower(name), ".torrent") {
		name += ".torrent"
	}
	w.Header().Set("Content-Type", "application/x-bittorrent")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	w.Write(data)
}

// apiPublish takes a JSON node.PublishRequest (torrent as base64) or a
// multipart form with a "torrent" file part and text fields.
func (s *Server) apiPublish(w http.ResponseWriter, r *http.Request) {
	req, err := s.publishRequest(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.n.Publish(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/entries/"+v.ID)
	writeJSON(w, http.StatusCreated, v)
}

// publishRequest reads a publish from JSON or a multipart/urlencoded form.
func (s *Server) publishRequest(w http.ResponseWriter, r *http.Request) (node.PublishRequest, error) {
	var req node.PublishRequest
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		err := decodeJSON(w, r, &req, s.opts.MaxUpload)
		return req, err
	case "multipart/form-data", "application/x-www-form-urlencoded":
	default:
		return req, badRequest("Content-Type must be application/json or multipart/form-data")
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxUpload)
	if ct == "multipart/form-data" {
		if r.MultipartForm == nil {
			if err := r.ParseMultipartForm(maxMultipartMemory); err != nil {
				return req, formError(err)
			}
		}
	} else if err := r.ParseForm(); err != nil {
		return req, formError(err)
	}
	req.Index = r.FormValue("index")
	req.Magnet = strings.TrimSpace(r.FormValue("magnet"))
	req.Title = r.FormValue("title")
	req.Description = r.FormValue("description")
	req.Category = r.FormValue("category")
	if t := r.FormValue("tags"); t != "" {
		req.Tags = strings.Split(t, ",")
	}
	for k, vs := range r.Form {
		if m, ok := strings.CutPrefix(k, "meta."); ok && m != "" && len(vs) > 0 && vs[0] != "" {
			if req.Meta == nil {
				req.Meta = map[string]string{}
			}
			req.Meta[m] = vs[0]
		}
	}
	if r.MultipartForm != nil {
		if fhs := r.MultipartForm.File["torrent"]; len(fhs) > 0 && fhs[0].Size > 0 {
			f, err := fhs[0].Open()
			if err != nil {
				return req, err
			}
			defer f.Close()
			if req.Torrent, err = io.ReadAll(io.LimitReader(f, s.opts.MaxUpload)); err != nil {
				return req, err
			}
		}
	}
	return req, nil
}

// formError keeps 413 for oversize bodies and turns other parse failures
// into 400.
func formError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	return badRequest("malformed form: %v", err)
}

func (s *Server) apiAmend(w http.ResponseWriter, r *http.Request) {
	var req node.AmendRequest
	if err := decodeJSON(w, r, &req, maxJSONBody); err != nil {
		s.fail(w, r, err)
		return
	}
	if id := r.PathValue("id"); req.ID != "" && req.ID != id {
		s.fail(w, r, badRequest("id in the body (%s) differs from the path", truncate(req.ID, 80)))
		return
	}
	req.ID = r.PathValue("id")
	v, err := s.n.Amend(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) apiRetract(w http.ResponseWriter, r *http.Request) {
	v, err := s.n.Retract(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) apiIndexes(w http.ResponseWriter, r *http.Request) {
	out, err := s.n.Indexes(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if out == nil {
		out = []node.IndexInfo{}
	}
	writeJSON(w, http.StatusOK, out)
}

// createIndexRequest is the body of POST /api/v1/indexes.
type createIndexRequest struct {
	Name   string `json:"name"`
	Policy string `json:"policy,omitempty"`
}

func (s *Server) apiCreateIndex(w http.ResponseWriter, r *http.Request) {
	var req createIndexRequest
	if err := decodeJSON(w, r, &req, maxJSONBody); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Policy == "" {
		req.Policy = "open"
	}
	info, err := s.n.CreateIndex(r.Context(), req.Name, req.Policy)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, info)
}

// linkResponse is the body of GET /api/v1/indexes/{which}/link.
type linkResponse struct {
	Link string `json:"link"`
}

func (s *Server) apiIndexLink(w http.ResponseWriter, r *http.Request) {
	link, err := s.n.IndexLink(r.Context(), indexParam(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, linkResponse{Link: link})
}

func (s *Server) apiMembers(w http.ResponseWriter, r *http.Request) {
	out, err := s.n.Members(r.Context(), indexParam(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// memberRequest is the body of POST /api/v1/indexes/{which}/members.
type memberRequest struct {
	Author string `json:"author"`
	Grant  *bool  `json:"grant,omitempty"` // Default: true; false revokes
}

// apiSetMember grants or revokes, and answers with who may publish now.
func (s *Server) apiSetMember(w http.ResponseWriter, r *http.Request) {
	var req memberRequest
	if err := decodeJSON(w, r, &req, maxJSONBody); err != nil {
		s.fail(w, r, err)
		return
	}
	which := indexParam(r)
	if err := s.n.SetMember(r.Context(), which, req.Author, req.Grant == nil || *req.Grant); err != nil {
		s.fail(w, r, err)
		return
	}
	s.apiMembers(w, r)
}

// indexParam is the {which} of an index path: a key, name or link, with
// "default" or "-" for the default index.
func indexParam(r *http.Request) string {
	which := r.PathValue("which")
	if which == "default" || which == "-" {
		return ""
	}
	return which
}

func (s *Server) apiFollows(w http.ResponseWriter, r *http.Request) {
	out, err := s.n.Follows(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if out == nil {
		out = []node.Follow{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiFollow(w http.ResponseWriter, r *http.Request) {
	var req node.FollowRequest
	if err := decodeJSON(w, r, &req, maxJSONBody); err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := s.n.Follow(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, f)
}

func (s *Server) apiUnfollow(w http.ResponseWriter, r *http.Request) {
	if err := s.n.Unfollow(r.Context(), r.PathValue("which")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiRemoveIndex(w http.ResponseWriter, r *http.Request) {
	res, err := s.n.RemoveIndex(r.Context(), r.PathValue("which"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) apiPeers(w http.ResponseWriter, r *http.Request) {
	out, err := s.n.Peers(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if out == nil {
		out = []node.PeerView{}
	}
	writeJSON(w, http.StatusOK, out)
}

// addPeerRequest is the body of POST /api/v1/peers.
type addPeerRequest struct {
	Addr string `json:"addr"`
}

func (s *Server) apiAddPeer(w http.ResponseWriter, r *http.Request) {
	var req addPeerRequest
	if err := decodeJSON(w, r, &req, maxJSONBody); err != nil {
		s.fail(w, r, err)
		return
	}
	if strings.TrimSpace(req.Addr) == "" {
		s.fail(w, r, badRequest("addr is required"))
		return
	}
	if err := s.n.AddPeer(r.Context(), req.Addr); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.n.Status(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// mutedResponse is the body of GET /api/v1/mutes.
type mutedResponse struct {
	Muted []string `json:"muted"`
}

func (s *Server) apiMuted(w http.ResponseWriter, r *http.Request) {
	m, err := s.n.Muted(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if m == nil {
		m = []string{}
	}
	writeJSON(w, http.StatusOK, mutedResponse{Muted: m})
}

// muteRequest is the body of POST /api/v1/mutes.
type muteRequest struct {
	Identity string `json:"identity"`
	Mute     *bool  `json:"mute,omitempty"` // Default: true
}

func (s *Server) apiMute(w http.ResponseWriter, r *http.Request) {
	var req muteRequest
	if err := decodeJSON(w, r, &req, maxJSONBody); err != nil {
		s.fail(w, r, err)
		return
	}
	mute := req.Mute == nil || *req.Mute
	if err := s.n.Mute(r.Context(), req.Identity, mute); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// blockedResponse is the body of GET /api/v1/blocks.
type blockedResponse struct {
	Blocked []node.Block `json:"blocked"`
}

func (s *Server) apiBlocked(w http.ResponseWriter, r *http.Request) {
	b, err := s.n.Blocked(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if b == nil {
		b = []node.Block{}
	}
	writeJSON(w, http.StatusOK, blockedResponse{Blocked: b})
}

// blockRequest is the body of POST /api/v1/blocks.
type blockRequest struct {
	Items  []string `json:"items"`
	Reason string   `json:"reason,omitempty"`
	Block  *bool    `json:"block,omitempty"` // Default: true; false unblocks
}

// maxBlockBody bounds POST /api/v1/blocks: node.MaxBlockItems magnet
// links or infohashes of a blocklist.
const maxBlockBody = 8 << 20 // under Options.MaxUpload, which write() applies first

func (s *Server) apiBlock(w http.ResponseWriter, r *http.Request) {
	var req blockRequest
	if err := decodeJSON(w, r, &req, maxBlockBody); err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.n.Block(r.Context(), req.Items, req.Reason, req.Block == nil || *req.Block)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// blocklistsResponse is the body of GET /api/v1/blocklists.
type blocklistsResponse struct {
	Blocklists []node.Blocklist `json:"blocklists"`
}

func (s *Server) apiBlocklists(w http.ResponseWriter, r *http.Request) {
	bl, err := s.n.Blocklists(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if bl == nil {
		bl = []node.Blocklist{}
	}
	writeJSON(w, http.StatusOK, blocklistsResponse{Blocklists: bl})
}

// subscribeListResponse is the body of POST /api/v1/blocklists: the
// subscription, and why fetching the list failed if it did (the
// subscription is kept and the daemon keeps trying).
type subscribeListResponse struct {
	Blocklist *node.Blocklist `json:"blocklist"`
	Warning   string          `json:"warning,omitempty"`
}

func (s *Server) apiSubscribeBlocklist(w http.ResponseWriter, r *http.Request) {
	var req node.BlocklistRequest
	if err := decodeJSON(w, r, &req, maxJSONBody); err != nil {
		s.fail(w, r, err)
		return
	}
	bl, err := s.n.SubscribeBlocklist(r.Context(), req)
	if err != nil && bl == nil {
		s.fail(w, r, err)
		return
	}
	res := subscribeListResponse{Blocklist: bl}
	if err != nil {
		res.Warning = s.publicMessage(r, err, errStatus(err))
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) apiPublishBlocklist(w http.ResponseWriter, r *http.Request) {
	bl, err := s.n.PublishBlocklist(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, bl)
}

func (s *Server) apiUnsubscribeBlocklist(w http.ResponseWriter, r *http.Request) {
	if err := s.n.UnsubscribeBlocklist(r.Context(), r.URL.Query().Get("list")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiRSSFetch(w http.ResponseWriter, r *http.Request) {
	var req node.RSSRequest
	if err := decodeJSON(w, r, &req, maxJSONBody); err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.n.RSSFetch(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) apiRSSFeeds(w http.ResponseWriter, r *http.Request) {
	fs, err := s.n.RSSFeeds(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if fs == nil {
		fs = []node.RSSFeed{}
	}
	writeJSON(w, http.StatusOK, fs)
}

func (s *Server) apiRSSAdd(w http.ResponseWriter, r *http.Request) {
	var req node.RSSRequest
	if err := decodeJSON(w, r, &req, maxJSONBody); err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := s.n.RSSAdd(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, f)
}

func (s *Server) apiRSSRemove(w http.ResponseWriter, r *http.Request) {
	if err := s.n.RSSRemove(r.Context(), r.URL.Query().Get("url")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiScrape(w http.ResponseWriter, r *http.Request) {
	var req node.ScrapeRequest
	if err := decodeJSON(w, r, &req, maxJSONBody); err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := s.n.Scrape(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiReindex(w http.ResponseWriter, r *http.Request) {
	if err := s.n.Reindex(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// importLine is one line of the NDJSON answer to POST /api/v1/import:
// progress lines while it runs, then one final line with Done or Error.
type importLine struct {
	Imported int    `json:"imported"`
	Done     bool   `json:"done,omitempty"`
	Error    string `json:"error,omitempty"`
	Status   int    `json:"status,omitempty"`
}

func (s *Server) apiImport(w http.ResponseWriter, r *http.Request) {
	which := r.URL.Query().Get("index")
	if _, err := s.n.ResolveIndex(which); err != nil {
		s.fail(w, r, err)
		return
	}
	// Progress lines go out while the body is still coming in; HTTP/1.1
	// servers close the body on the first write unless told otherwise.
	rc := http.NewResponseController(w)
	rc.EnableFullDuplex()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	rc.Flush()
	n, err := s.n.Import(r.Context(), r.Body, which, func(done int) {
		enc.Encode(importLine{Imported: done})
		rc.Flush()
	})
	last := importLine{Imported: n, Done: err == nil}
	if err != nil {
		last.Status = errStatus(err)
		last.Error = s.publicMessage(r, err, last.Status)
	}
	enc.Encode(last)
}

// Trailers of GET /api/v1/export.
const (
	trailerCount = "X-Indexd-Count"
	trailerError = "X-Indexd-Error"
)

func (s *Server) apiExport(w http.ResponseWriter, r *http.Request) {
	which := r.URL.Query().Get("index")
	if _, err := s.n.ResolveIndex(which); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Trailer", trailerCount+", "+trailerError)
	w.WriteHeader(http.StatusOK)
	n, err := s.n.Export(r.Context(), w, which)
	w.Header().Set(trailerCount, fmt.Sprint(n))
	if err != nil {
		status := errStatus(err)
		w.Header().Set(trailerError, fmt.Sprintf("%d %s", status, s.publicMessage(r, err, status)))
	}
}

// subscribeHeartbeat keeps idle streams alive through proxies and lets
// the server notice clients that went away.
const subscribeHeartbeat = 15 * time.Second

// apiSubscribe streams new entries: server-sent events when the client
// accepts text/event-stream, NDJSON otherwise.
func (s *Server) apiSubscribe(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req, err := parseSearch(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	watch := node.Watch{Index: q.Get("index"), Query: req}
	watch.Query.Index = nil
	ch, err := s.n.Subscribe(r.Context(), watch)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sse := strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	if sse {
		w.Header().Set("Content-Type", "text/event-stream")
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return
	}
	tick := time.NewTicker(subscribeHeartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if sse {
				_, err = io.WriteString(w, ": ping\n\n")
			} else {
				_, err = io.WriteString(w, "\n")
			}
		case v, ok := <-ch:
			if !ok {
				return
			}
			b, _ := json.Marshal(v)
			if sse {
				_, err = fmt.Fprintf(w, "event: entry\nid: %s\ndata: %s\n\n", v.ID, b)
			} else {
				_, err = w.Write(append(b, '\n'))
			}
		}
		if err != nil || rc.Flush() != nil {
			return
		}
	}
}

// absURL builds an absolute URL on this server for path, from the Host the
// client used (already checked against AllowedHosts).
func absURL(r *http.Request, path string, q url.Values) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: r.Host, Path: path}
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	return u.String()
}
