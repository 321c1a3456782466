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
	"strconv"
	"strings"

	"indexd/node"
)

// maxResponse bounds a JSON response the client reads (streams excepted).
const maxResponse = 64 << 20

// Client talks to a running daemon's JSON API. Its methods have the
// signatures of *node.Node's, and errors map back to node.ErrNotFound,
// node.ErrBadRequest, node.ErrForbidden and node.ErrExists by status code.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// NewClient returns a client for the daemon at baseURL (e.g.
// "http://127.0.0.1:7870") that writes with token.
func NewClient(baseURL, token string) *Client {
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, hc: &http.Client{}}
}

// Error is an error answer from the daemon. It matches the node sentinel
// for its status with errors.Is.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

// Unwrap maps the status to a node sentinel.
func (e *Error) Unwrap() error {
	switch e.Status {
	case http.StatusNotFound:
		return node.ErrNotFound
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return node.ErrBadRequest
	case http.StatusUnauthorized, http.StatusForbidden:
		return node.ErrForbidden
	case http.StatusConflict:
		return node.ErrExists
	}
	return nil
}

func (c *Client) newRequest(ctx context.Context, method, path string, q url.Values, body io.Reader) (*http.Request, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// do sends a request with an optional JSON body and decodes a JSON answer
// into out (unless out is nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := c.newRequest(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return responseError(resp)
	}
	if out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(out); err != nil {
		return fmt.Errorf("decoding %s %s answer: %w", method, path, err)
	}
	return nil
}

// responseError reads an error answer.
func responseError(resp *http.Response) error {
	var ae apiError
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &ae) != nil || ae.Error == "" {
		ae.Error = strings.TrimSpace(string(b))
		if ae.Error == "" {
			ae.Error = resp.Status
		}
	}
	return &Error{Status: resp.StatusCode, Message: ae.Error}
}

// CreateIndex creates an index signed by the daemon's identity.
func (c *Client) CreateIndex(ctx context.Context, name, policy string) (node.IndexInfo, error) {
	var out node.IndexInfo
	err := c.do(ctx, http.MethodPost, "/api/v1/indexes", nil, createIndexRequest{Name: name, Policy: policy}, &out)
	return out, err
}

// Indexes lists the indexes the daemon knows.
func (c *Client) Indexes(ctx context.Context) ([]node.IndexInfo, error) {
	var out []node.IndexInfo
	err := c.do(ctx, http.MethodGet, "/api/v1/indexes", nil, nil, &out)
	return out, err
}

// IndexLink returns a shareable link for an index ("" = default).
func (c *Client) IndexLink(ctx context.Context, which string) (string, error) {
	var out linkResponse
	err := c.do(ctx, http.MethodGet, "/api/v1/indexes/"+url.PathEscape(indexPath(which))+"/link", nil, nil, &out)
	return out.Link, err
}

// Members lists who may publish in an index ("" for the default one).
func (c *Client) Members(ctx context.Context, which string) (*node.MemberList, error) {
	var out node.MemberList
	err := c.do(ctx, http.MethodGet, "/api/v1/indexes/"+url.PathEscape(indexPath(which))+"/members", nil, nil, &out)
	return &out, err
}

// SetMember grants author in an allowlist index, or revokes (grant false).
func (c *Client) SetMember(ctx context.Context, which, author string, grant bool) error {
	return c.do(ctx, http.MethodPost, "/api/v1/indexes/"+url.PathEscape(indexPath(which))+"/members", nil, memberRequest{Author: author, Grant: &grant}, nil)
}

// indexPath is which as an index path names it: "default" for "".
func indexPath(which string) string {
	if which == "" {
		return "default"
	}
	return which
}

// Publish publishes a torrent or magnet.
func (c *Client) Publish(ctx context.Context, req node.PublishRequest) (*node.EntryView, error) {
	var out node.EntryView
	if err := c.do(ctx, http.MethodPost, "/api/v1/entries", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Amend changes fields of one of the daemon identity's entries.
func (c *Client) Amend(ctx context.Context, req node.AmendRequest) (*node.EntryView, error) {
	var out node.EntryView
	if err := c.do(ctx, http.MethodPatch, "/api/v1/entries/"+url.PathEscape(req.ID), nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Retract withdraws an entry.
func (c *Client) Retract(ctx context.Context, id string) (*node.EntryView, error) {
	var out node.EntryView
	if err := c.do(ctx, http.MethodDelete, "/api/v1/entries/"+url.PathEscape(id), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Entry returns one entry.
func (c *Client) Entry(ctx context.Context, id string) (*node.EntryView, error) {
	var out node.EntryView
	if err := c.do(ctx, http.MethodGet, "/api/v1/entries/"+url.PathEscape(id), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Search runs a search on the daemon.
func (c *Client) Search(ctx context.Context, req node.SearchRequest) (*node.SearchResponse, error) {
	var out node.SearchResponse
	if err := c.do(ctx, http.MethodPost, "/api/v1/search", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Status reports the daemon's state.
func (c *Client) Status(ctx context.Context) (*node.Status, error) {
	var out node.Status
	if err := c.do(ctx, http.MethodGet, "/api/v1/status", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Follow subscribes the daemon to an index.
func (c *Client) Follow(ctx context.Context, req node.FollowRequest) (*node.Follow, error) {
	var out node.Follow
	if err := c.do(ctx, http.MethodPost, "/api/v1/follows", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Unfollow forgets a follow.
func (c *Client) Unfollow(ctx context.Context, which string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/follows/"+url.PathEscape(which), nil, nil, nil)
}

// RemoveIndex unfollows an index and deletes the daemon's data of it (at
// its next start); see node.Node.RemoveIndex.
func (c *Client) RemoveIndex(ctx context.Context, which string) (*node.RemoveResult, error) {
	var out node.RemoveResult
	err := c.do(ctx, http.MethodDelete, "/api/v1/indexes/"+url.PathEscape(which), nil, nil, &out)
	return &out, err
}

// Follows lists the followed indexes.
func (c *Client) Follows(ctx context.Context) ([]node.Follow, error) {
	var out []node.Follow
	err := c.do(ctx, http.MethodGet, "/api/v1/follows", nil, nil, &out)
	return out, err
}

// Mute hides (or, with mute false, shows again) an author's entries.
func (c *Client) Mute(ctx context.Context, identity string, mute bool) error {
	return c.do(ctx, http.MethodPost, "/api/v1/mutes", nil, muteRequest{Identity: identity, Mute: &mute}, nil)
}

// Muted lists muted identities.
func (c *Client) Muted(ctx context.Context) ([]string, error) {
	var out mutedResponse
	err := c.do(ctx, http.MethodGet, "/api/v1/mutes", nil, nil, &out)
	return out.Muted, err
}

// Block blocks (or, with block false, unblocks) the infohashes that items
// name; see node.Node.Block.
func (c *Client) Block(ctx context.Context, items []string, reason string, block bool) (*node.BlockResult, error) {
	var out node.BlockResult
	err := c.do(ctx, http.MethodPost, "/api/v1/blocks", nil, blockRequest{Items: items, Reason: reason, Block: &block}, &out)
	return &out, err
}

// Blocked lists the blocked infohashes.
func (c *Client) Blocked(ctx context.Context) ([]node.Block, error) {
	var out blockedResponse
	err := c.do(ctx, http.MethodGet, "/api/v1/blocks", nil, nil, &out)
	return out.Blocked, err
}

// RSSFetch publishes the new items of an RSS feed once.
func (c *Client) RSSFetch(ctx context.Context, req node.RSSRequest) (*node.RSSResult, error) {
	var out node.RSSResult
	err := c.do(ctx, http.MethodPost, "/api/v1/rss/fetch", nil, req, &out)
	return &out, err
}

// RSSAdd subscribes the daemon to an RSS feed.
func (c *Client) RSSAdd(ctx context.Context, req node.RSSRequest) (*node.RSSFeed, error) {
	var out node.RSSFeed
	err := c.do(ctx, http.MethodPost, "/api/v1/rss", nil, req, &out)
	return &out, err
}

// RSSFeeds lists the daemon's RSS subscriptions.
func (c *Client) RSSFeeds(ctx context.Context) ([]node.RSSFeed, error) {
	var out []node.RSSFeed
	err := c.do(ctx, http.MethodGet, "/api/v1/rss", nil, nil, &out)
	return out, err
}

// Blocklists lists the blocklist published here and the subscribed ones.
func (c *Client) Blocklists(ctx context.Context) ([]node.Blocklist, error) {
	var out blocklistsResponse
	err := c.do(ctx, http.MethodGet, "/api/v1/blocklists", nil, nil, &out)
	return out.Blocklists, err
}

// SubscribeBlocklist subscribes to a published blocklist. Like
// node.Node.SubscribeBlocklist it returns the subscription together with an
// error when the subscription was kept but fetching the list failed.
func (c *Client) SubscribeBlocklist(ctx context.Context, req node.BlocklistRequest) (*node.Blocklist, error) {
	var out subscribeListResponse
	if err := c.do(ctx, http.MethodPost, "/api/v1/blocklists", nil, req, &out); err != nil {
		return nil, err
	}
	if out.Blocklist == nil {
		return nil, errors.New("POST /api/v1/blocklists answered without the subscription")
	}
	if out.Warning != "" {
		return out.Blocklist, errors.New(out.Warning)
	}
	return out.Blocklist, nil
}

// PublishBlocklist publishes the daemon's local blocklist as a feed.
func (c *Client) PublishBlocklist(ctx context.Context) (*node.Blocklist, error) {
	var out node.Blocklist
	if err := c.do(ctx, http.MethodPost, "/api/v1/blocklists/publish", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UnsubscribeBlocklist drops a blocklist subscription.
func (c *Client) UnsubscribeBlocklist(ctx context.Context, list string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/blocklists", url.Values{"list": {list}}, nil, nil)
}

// RSSRemove ends an RSS subscription.
func (c *Client) RSSRemove(ctx context.Context, u string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/rss", url.Values{"url": {u}}, nil, nil)
}

// Scrape asks the trackers of the named entries for their swarms' health.
func (c *Client) Scrape(ctx context.Context, req node.ScrapeRequest) ([]node.Swarm, error) {
	var out []node.Swarm
	err := c.do(ctx, http.MethodPost, "/api/v1/scrape", nil, req, &out)
	return out, err
}

// Peers lists connected peers.
func (c *Client) Peers(ctx context.Context) ([]node.PeerView, error) {
	var out []node.PeerView
	err := c.do(ctx, http.MethodGet, "/api/v1/peers", nil, nil, &out)
	return out, err
}

// AddPeer dials a peer multiaddr.
func (c *Client) AddPeer(ctx context.Context, addr string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/peers", nil, addPeerRequest{Addr: addr}, nil)
}

// Reindex rebuilds the daemon's search index.
func (c *Client) Reindex(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/api/v1/reindex", nil, nil, nil)
}

// Import streams JSON Lines of entries to the daemon; progress, if
// non-nil, is called as batches are published.
func (c *Client) Import(ctx context.Context, r io.Reader, which string, progress func(int)) (int, error) {
	q := url.Values{}
	if which != "" {
		q.Set("index", which)
	}
	req, err := c.newRequest(ctx, http.MethodPost, "/api/v1/import", q, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return 0, responseError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	done := 0
	for sc.Scan() {
		var l importLine
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return done, fmt.Errorf("decoding import progress: %w", err)
		}
		done = l.Imported
		if l.Error != "" {
			return done, &Error{Status: l.Status, Message: l.Error}
		}
		if l.Done {
			return done, nil
		}
		if progress != nil {
			progress(done)
		}
	}
	if err := sc.Err(); err != nil {
		return done, err
	}
	return done, errors.New("import: the daemon closed the stream before it finished")
}

// Export writes the daemon's entries of an index as JSON Lines to w.
func (c *Client) Export(ctx context.Context, w io.Writer, which string) (int, error) {
	q := url.Values{}
	if which != "" {
		q.Set("index", which)
	}
	req, err := c.newRequest(ctx, http.MethodGet, "/api/v1/export", q, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return 0, responseError(resp)
	}
	lc := &lineCounter{w: w}
	if _, err := io.Copy(lc, resp.Body); err != nil {
		return lc.lines, err
	}
	if msg := resp.Trailer.Get(trailerError); msg != "" {
		status, text, _ := strings.Cut(msg, " ")
		code, _ := strconv.Atoi(status)
		return lc.lines, &Error{Status: code, Message: text}
	}
	if n, err := strconv.Atoi(resp.Trailer.Get(trailerCount)); err == nil && n != lc.lines {
		return lc.lines, fmt.Errorf("export: received %d entries, the daemon sent %d", lc.lines, n)
	}
	return lc.lines, nil
}

type lineCounter struct {
	w     io.Writer
	lines int
}

func (l *lineCounter) Write(p []byte) (int, error) {
	l.lines += bytes.Count(p, []byte{'\n'})
	return l.w.Write(p)
}

// Subscribe streams new entries matching w until ctx ends; the channel is
// then closed. It returns once the daemon has registered the watch.
func (c *Client) Subscribe(ctx context.Context, w node.Watch) (<-chan *node.EntryView, error) {
	q := searchValues(w.Query)
	q.Del("index")
	if w.Index != "" {
		q.Set("index", w.Index)
	}
	req, err := c.newRequest(ctx, http.MethodGet, "/api/v1/subscribe", q, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, responseError(resp)
	}
	ch := make(chan *node.EntryView, 64)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 8<<20)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue // heartbeat
			}
			var v node.EntryView
			if json.Unmarshal(sc.Bytes(), &v) != nil {
				continue
			}
			select {
			case ch <- &v:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

// searchValues renders a SearchRequest as the URL parameters parseSearch
// reads.
func searchValues(req node.SearchRequest) url.Values {
	q := url.Values{}
	if req.Query != "" {
		q.Set("q", req.Query)
	}
	for _, x := range req.Index {
		q.Add("index", x)
	}
	for _, x := range req.Categories {
		q.Add("cat", x)
	}
	for _, x := range req.Tags {
		q.Add("tag", x)
	}
	for _, x := range req.Authors {
		q.Add("author", x)
	}
	if req.Sort != "" {
		q.Set("sort", req.Sort)
	}
	if req.Offset != 0 {
		q.Set("offset", strconv.Itoa(req.Offset))
	}
	if req.Limit != 0 {
		q.Set("limit", strconv.Itoa(req.Limit))
	}
	if req.Facets {
		q.Set("facets", "1")
	}
	if req.Highlight {
		q.Set("highlight", "1")
	}
	if req.IncludeMuted {
		q.Set("include_muted", "1")
	}
	if req.IncludeBlocked {
		q.Set("include_blocked", "1")
	}
	return q
}
