package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"indexd/node"
)

// Content feed endpoints (share, get, stream, append). Paths in requests
// are the daemon's file system: the CLI sends absolute paths.
//
//	POST /api/v1/content/share          JSON ShareRequest -> ShareResult
//	POST /api/v1/content/get            JSON GetRequest -> NDJSON progress lines, then the result
//	GET  /api/v1/content/{feed}/stream  ?file=&once=1&peer=... -> the file's bytes, live
//	POST /api/v1/content                -> {"feed": key} (a new, empty writable feed)
//	POST /api/v1/content/{feed}/append  ?name= body: bytes, appended as they arrive -> {"length": n}
func (s *Server) contentRoutes() {
	s.route("POST /api/v1/content/share", s.write(s.apiShare))
	s.stream("POST /api/v1/content/get", s.write(s.apiGet))
	s.stream("GET /api/v1/content/{feed}/stream", s.apiStreamFeed)
	s.route("POST /api/v1/content", s.write(s.apiCreateFeed))
	s.stream("POST /api/v1/content/{feed}/append", s.write(s.apiAppendFeed))
}

// maxContentRequest bounds the JSON body of share and get.
const maxContentRequest = 1 << 20

func (s *Server) apiShare(w http.ResponseWriter, r *http.Request) {
	var req node.ShareRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxContentRequest)).Decode(&req); err != nil {
		s.fail(w, r, fmt.Errorf("%w: %v", node.ErrBadRequest, err))
		return
	}
	// Sharing a big folder outlives the request timeout; the client waits.
	res, err := s.n.Share(context.WithoutCancel(r.Context()), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// getLine is one NDJSON line of POST /api/v1/content/get.
type getLine struct {
	Done   uint64          `json:"done"`
	Total  uint64          `json:"total"`
	Result *node.GetResult `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
	Status int             `json:"status,omitempty"`
}

func (s *Server) apiGet(w http.ResponseWriter, r *http.Request) {
	var req node.GetRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxContentRequest)).Decode(&req); err != nil {
		s.fail(w, r, fmt.Errorf("%w: %v", node.ErrBadRequest, err))
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	rc.Flush()
	res, err := s.n.Get(r.Context(), req, func(done, total uint64) {
		enc.Encode(getLine{Done: done, Total: total})
		rc.Flush()
	})
	last := getLine{Result: res}
	if err != nil {
		last.Status = errStatus(err)
		last.Error = s.publicMessage(r, err, last.Status)
	}
	enc.Encode(last)
}

// flushWriter flushes after every write, so stream output leaves at once.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f flushWriter) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

func (s *Server) apiStreamFeed(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := node.StreamRequest{Feed: r.PathValue("feed"), File: q.Get("file"), Once: q.Get("once") == "1",
		FetchOptions: node.FetchOptions{Peers: q["peer"], DHT: q.Get("dht") == "1", MDNS: q.Get("mdns") == "1"}}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Trailer", trailerError)
	fw := &lazyHeader{w: w}
	err := s.n.StreamFeed(r.Context(), req, flushWriter{w: fw, rc: http.NewResponseController(w)})
	if err != nil && r.Context().Err() == nil {
		status := errStatus(err)
		if !fw.wrote {
			s.fail(w, r, err)
			return
		}
		w.Header().Set(trailerError, fmt.Sprintf("%d %s", status, s.publicMessage(r, err, status)))
	}
}

// lazyHeader sends 200 on the first write, so an error before any byte can
// still be answered with its status.
type lazyHeader struct {
	w     http.ResponseWriter
	wrote bool
}

func (l *lazyHeader) Write(b []byte) (int, error) {
	if !l.wrote {
		l.wrote = true
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(b)
}

func (s *Server) apiCreateFeed(w http.ResponseWriter, r *http.Request) {
	k, err := s.n.CreateFeed(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"feed": k})
}

func (s *Server) apiAppendFeed(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	rc.EnableFullDuplex()
	n, err := s.n.AppendFeed(r.Context(), r.PathValue("feed"), r.URL.Query().Get("name"), r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]uint64{"length": n})
}

// Share asks the daemon to share a path (made absolute by the caller).
func (c *Client) Share(ctx context.Context, req node.ShareRequest) (*node.ShareResult, error) {
	var out node.ShareResult
	if err := c.do(ctx, http.MethodPost, "/api/v1/content/share", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Get asks the daemon to download a content feed; progress, if set, sees
// the daemon's progress lines.
func (c *Client) Get(ctx context.Context, req node.GetRequest, progress node.GetProgress) (*node.GetResult, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	hr, err := c.newRequest(ctx, http.MethodPost, "/api/v1/content/get", nil, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return nil, responseError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var l getLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("decoding get progress: %w", err)
		}
		switch {
		case l.Error != "":
			return nil, &Error{Status: l.Status, Message: l.Error}
		case l.Result != nil:
			return l.Result, nil
		case progress != nil:
			progress(l.Done, l.Total)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, errors.New("get: the daemon closed the stream before it finished")
}

// StreamFeed copies the daemon's stream of one file of a content feed to w
// until ctx ends (or the stream does, with Once).
func (c *Client) StreamFeed(ctx context.Context, req node.StreamRequest, w io.Writer) error {
	q := url.Values{}
	if req.File != "" {
		q.Set("file", req.File)
	}
	if req.Once {
		q.Set("once", "1")
	}
	if req.DHT {
		q.Set("dht", "1")
	}
	if req.MDNS {
		q.Set("mdns", "1")
	}
	q["peer"] = req.Peers
	hr, err := c.newRequest(ctx, http.MethodGet, "/api/v1/content/"+url.PathEscape(req.Feed)+"/stream", q, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return responseError(resp)
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			if t := resp.Trailer.Get(trailerError); t != "" {
				return &Error{Status: http.StatusInternalServerError, Message: strings.TrimSpace(t)}
			}
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
	}
}

// CreateFeed asks the daemon for a new writable content feed.
func (c *Client) CreateFeed(ctx context.Context) (string, error) {
	var out map[string]string
	err := c.do(ctx, http.MethodPost, "/api/v1/content", nil, nil, &out)
	return out["feed"], err
}

// AppendFeed streams r to the daemon, which appends it to a feed as it
// arrives.
func (c *Client) AppendFeed(ctx context.Context, key, name string, r io.Reader) (uint64, error) {
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	hr, err := c.newRequest(ctx, http.MethodPost, "/api/v1/content/"+url.PathEscape(key)+"/append", q, r)
	if err != nil {
		return 0, err
	}
	hr.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.hc.Do(hr)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return 0, responseError(resp)
	}
	var out map[string]uint64
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(&out); err != nil {
		return 0, err
	}
	return out["length"], nil
}
