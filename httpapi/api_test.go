package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"indexd/internal/scrape"
	"indexd/internal/scrape/scrapetest"
	"indexd/node"
)

func TestAPIPublishSearchEntry(t *testing.T) {
	e := newEnv(t, Options{})
	v := e.publishFile("multi.torrent", map[string]string{"title": "Multi Fixture", "category": "8010", "tags": "test, fixture"})
	if v.InfohashV1 != "4701f1d8319602f73c3406f2f955d4d730560e08" {
		t.Errorf("published infohash = %q; want the fixture's", v.InfohashV1)
	}
	if v.Title != "Multi Fixture" || len(v.Files) != 3 {
		t.Errorf("published entry = %+v; want title and 3 files", v)
	}

	// Search by a word from a file name.
	var res node.SearchResponse
	e.json(e.do("GET", "/api/v1/search?q=gamma&facets=1", nil, "", false), http.StatusOK, &res)
	if res.Total != 1 || len(res.Hits) != 1 || res.Hits[0].ID != v.ID {
		t.Fatalf("search gamma = %+v; want the published entry", res)
	}
	// Empty query: most recent entries.
	e.json(e.do("GET", "/api/v1/search", nil, "", false), http.StatusOK, &res)
	if len(res.Hits) != 1 {
		t.Errorf("empty search = %d hits; want 1", len(res.Hits))
	}
	// POST search with JSON, as the client sends.
	e.json(e.do("POST", "/api/v1/search", strings.NewReader(`{"q":"alpha","limit":5}`), "application/json", false), http.StatusOK, &res)
	if len(res.Hits) != 1 {
		t.Errorf("POST search alpha = %d hits; want 1", len(res.Hits))
	}

	var got node.EntryView
	e.json(e.do("GET", "/api/v1/entries/"+v.ID, nil, "", false), http.StatusOK, &got)
	if got.ID != v.ID || got.Magnet == "" {
		t.Errorf("GET entry = %+v", got)
	}

	resp := e.do("GET", "/api/v1/entries/"+v.ID+"/torrent", nil, "", false)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, fixture(t, "multi.torrent")) {
		t.Errorf("GET torrent = %d, %d bytes; want the original file", resp.StatusCode, len(body))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-bittorrent" {
		t.Errorf("torrent Content-Type = %q", ct)
	}

	// Amend and retract.
	var am node.EntryView
	e.json(e.do("PATCH", "/api/v1/entries/"+v.ID, strings.NewReader(`{"title":"Renamed Fixture"}`), "application/json", true), http.StatusOK, &am)
	if am.Title != "Renamed Fixture" {
		t.Errorf("amended title = %q", am.Title)
	}
	var rt node.EntryView
	e.json(e.do("DELETE", "/api/v1/entries/"+v.ID, nil, "", true), http.StatusOK, &rt)
	if !rt.Retracted {
		t.Errorf("retract: entry not retracted")
	}
}

func TestAPIMagnetJSON(t *testing.T) {
	e := newEnv(t, Options{})
	body := `{"magnet":"magnet:?xt=urn:btih:b243459ed7a983c716731389ad5e9f261ebd8c0f&dn=lonely-file.bin","title":"Lonely","category":"movies"}`
	var v node.EntryView
	e.json(e.do("POST", "/api/v1/entries", strings.NewReader(body), "application/json", true), http.StatusCreated, &v)
	if v.InfohashV1 != "b243459ed7a983c716731389ad5e9f261ebd8c0f" || v.Category != 2000 {
		t.Errorf("magnet publish = %+v", v)
	}
	// No .torrent for a magnet entry.
	e.json(e.do("GET", "/api/v1/entries/"+v.ID+"/torrent", nil, "", false), http.StatusNotFound, nil)
	// The same torrent again: 409, naming the entry; the client maps it back.
	resp := e.do("POST", "/api/v1/entries", strings.NewReader(body), "application/json", true)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(b), v.ID) {
		t.Errorf("publishing again: %d %s; want 409 naming %s", resp.StatusCode, b, v.ID)
	}
	c := NewClient(e.url, e.n.Token())
	if _, err := c.Publish(context.Background(), node.PublishRequest{Magnet: "magnet:?xt=urn:btih:b243459ed7a983c716731389ad5e9f261ebd8c0f&dn=lonely-file.bin"}); !errors.Is(err, node.ErrExists) {
		t.Errorf("client publishing again: %v; want node.ErrExists", err)
	}
}

func TestAPIIndexesFollowsStatus(t *testing.T) {
	e := newEnv(t, Options{})
	var info node.IndexInfo
	e.json(e.do("POST", "/api/v1/indexes", strings.NewReader(`{"name":"films"}`), "application/json", true), http.StatusCreated, &info)
	if info.Name != "films" || info.Key == "" {
		t.Fatalf("create index = %+v", info)
	}
	var list []node.IndexInfo
	e.json(e.do("GET", "/api/v1/indexes", nil, "", false), http.StatusOK, &list)
	if len(list) != 2 {
		t.Errorf("indexes = %d; want default + films", len(list))
	}
	var link linkResponse
	e.json(e.do("GET", "/api/v1/indexes/films/link", nil, "", false), http.StatusOK, &link)
	if link.Link == "" {
		t.Errorf("empty link")
	}
	var f node.Follow
	e.json(e.do("POST", "/api/v1/follows", strings.NewReader(`{"index":"`+info.Key+`"}`), "application/json", true), http.StatusCreated, &f)
	var fl []node.Follow
	e.json(e.do("GET", "/api/v1/follows", nil, "", false), http.StatusOK, &fl)
	if len(fl) != 1 || fl[0].Index != info.Key {
		t.Errorf("follows = %+v", fl)
	}
	e.json(e.do("DELETE", "/api/v1/follows/"+url.PathEscape(info.Key), nil, "", true), http.StatusNoContent, nil)
	e.json(e.do("DELETE", "/api/v1/follows/"+url.PathEscape(info.Key), nil, "", true), http.StatusNotFound, nil)
	// Removing: the token is needed; an index this node created is refused;
	// an unknown one is not found; a followed one is removed.
	e.json(e.do("DELETE", "/api/v1/indexes/films", nil, "", false), http.StatusUnauthorized, nil)
	e.json(e.do("DELETE", "/api/v1/indexes/films", nil, "", true), http.StatusBadRequest, nil)
	other := "index:" + strings.Repeat("ab", 32)
	e.json(e.do("DELETE", "/api/v1/indexes/"+url.PathEscape(other), nil, "", true), http.StatusNotFound, nil)
	e.json(e.do("POST", "/api/v1/follows", strings.NewReader(`{"index":"`+other+`"}`), "application/json", true), http.StatusCreated, nil)
	var rm node.RemoveResult
	e.json(e.do("DELETE", "/api/v1/indexes/"+url.PathEscape(other), nil, "", true), http.StatusOK, &rm)
	if rm.Index != other || !rm.Pending {
		t.Errorf("remove = %+v; want %s, pending", rm, other)
	}

	var st node.Status
	e.json(e.do("GET", "/api/v1/status", nil, "", false), http.StatusOK, &st)
	if st.Identity == "" || len(st.Indexes) != 2 {
		t.Errorf("status = %+v", st)
	}
	var peers []node.PeerView
	e.json(e.do("GET", "/api/v1/peers", nil, "", false), http.StatusOK, &peers)
	e.json(e.do("POST", "/api/v1/peers", strings.NewReader(`{"addr":""}`), "application/json", true), http.StatusBadRequest, nil)
	var muted mutedResponse
	e.json(e.do("GET", "/api/v1/mutes", nil, "", false), http.StatusOK, &muted)
	e.json(e.do("POST", "/api/v1/mutes", strings.NewReader(`{"identity":"nonsense"}`), "application/json", true), http.StatusBadRequest, nil)
	e.json(e.do("POST", "/api/v1/reindex", nil, "", true), http.StatusNoContent, nil)

	resp := e.do("GET", "/healthz", nil, "", false)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz = %d", resp.StatusCode)
	}
	resp = e.do("GET", "/metrics", nil, "", false)
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{"indexd_entries{", "indexd_authors{", "indexd_peers ", `indexd_disk_bytes{part="total"}`, "indexd_http_requests_total{", "indexd_search_duration_seconds"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestAPIBadInput checks status codes and that error bodies are JSON with
// a message and never a stack trace.
func TestAPIBadInput(t *testing.T) {
	e := newEnv(t, Options{MaxUpload: 64 << 10})
	big := bytes.Repeat([]byte("x"), 100<<10)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("torrent", "big.torrent")
	fw.Write(big)
	mw.Close()

	tests := []struct {
		name, method, path, ct string
		body                   io.Reader
		auth                   bool
		want                   int
	}{
		{"write without token", "POST", "/api/v1/indexes", "application/json", strings.NewReader(`{"name":"x"}`), false, 401},
		{"bad offset", "GET", "/api/v1/search?offset=abc", "", nil, false, 400},
		{"negative limit", "GET", "/api/v1/search?limit=-1", "", nil, false, 400},
		{"bad sort", "GET", "/api/v1/search?sort=seeders", "", nil, false, 400},
		{"bad category", "GET", "/api/v1/search?cat=nonsense", "", nil, false, 400},
		{"long query", "GET", "/api/v1/search?q=" + strings.Repeat("a", 2000), "", nil, false, 400},
		{"bad author", "GET", "/api/v1/search?author=zzz", "", nil, false, 400},
		{"bad id", "GET", "/api/v1/entries/not-an-id", "", nil, false, 400},
		{"unknown id", "GET", "/api/v1/entries/" + strings.Repeat("0", 64), "", nil, false, 0},
		{"oversize upload", "POST", "/api/v1/entries", mw.FormDataContentType(), &buf, true, 413},
		{"bad torrent", "POST", "/api/v1/entries", "application/json", strings.NewReader(`{"torrent":"AAAA"}`), true, 400},
		{"malformed json", "POST", "/api/v1/entries", "application/json", strings.NewReader(`{"magnet":`), true, 400},
		{"unknown field", "POST", "/api/v1/indexes", "application/json", strings.NewReader(`{"nom":"x"}`), true, 400},
		{"nothing to publish", "POST", "/api/v1/entries", "application/json", strings.NewReader(`{}`), true, 400},
		{"wrong content type", "POST", "/api/v1/entries", "text/plain", strings.NewReader(`x`), true, 400},
		{"unknown endpoint", "GET", "/api/v1/nope", "", nil, false, 404},
	}
	for _, tt := range tests {
		resp := e.do(tt.method, tt.path, tt.body, tt.ct, tt.auth)
		b, _ := io.ReadAll(resp.Body)
		if tt.want != 0 && resp.StatusCode != tt.want {
			t.Errorf("%s: %s %s = %d %s; want %d", tt.name, tt.method, truncate(tt.path, 60), resp.StatusCode, b, tt.want)
			continue
		}
		if tt.want == 0 && resp.StatusCode != 400 && resp.StatusCode != 404 {
			t.Errorf("%s: status %d; want 400 or 404", tt.name, resp.StatusCode)
		}
		var ae apiError
		if err := json.Unmarshal(b, &ae); err != nil || ae.Error == "" || ae.Status != resp.StatusCode {
			t.Errorf("%s: error body %q is not {error, status}", tt.name, b)
		}
		if strings.Contains(string(b), "goroutine") || strings.Contains(string(b), ".go:") {
			t.Errorf("%s: error body leaks a stack trace: %s", tt.name, b)
		}
	}
}

func TestHostCheck(t *testing.T) {
	e := newEnv(t, Options{})
	for _, tt := range []struct {
		host string
		want int
	}{
		{"evil.example:80", http.StatusMisdirectedRequest},
		{"127.0.0.1.nip.io", http.StatusMisdirectedRequest},
		{"localhost:1234", http.StatusOK},
		{"127.0.0.1", http.StatusOK},
		{"[::1]:7870", http.StatusOK},
	} {
		req, _ := http.NewRequest("GET", e.url+"/healthz", nil)
		req.Host = tt.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("Host %q: status %d; want %d", tt.host, resp.StatusCode, tt.want)
		}
	}
}

// TestSessionAndCSRF walks the browser path: a one-time link gives a
// session cookie; a form post needs the CSRF token of that session.
func TestSessionAndCSRF(t *testing.T) {
	e := newEnv(t, Options{})
	login := e.s.LoginURL(e.url)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(login)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login link: status %d; want 303", resp.StatusCode)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly {
		t.Fatalf("login link set no HttpOnly session cookie: %v", resp.Cookies())
	}
	// The link works once.
	resp, _ = noFollow.Get(login)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("second use of the login link: status %d; want 401", resp.StatusCode)
	}

	post := func(csrf, origin string) int {
		form := url.Values{"name": {"from-browser"}}
		if csrf != "" {
			form.Set("csrf", csrf)
		}
		req, _ := http.NewRequest("POST", e.url+"/network/index", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(cookie)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post("", ""); got != http.StatusForbidden {
		t.Errorf("form post without CSRF: %d; want 403", got)
	}
	if got := post("0123456789abcdef0123456789abcdef", ""); got != http.StatusForbidden {
		t.Errorf("form post with a wrong CSRF token: %d; want 403", got)
	}
	nonce := strings.SplitN(cookie.Value, ".", 2)[0]
	good := e.s.csrfToken(nonce)
	if got := post(good, "http://evil.example"); got != http.StatusForbidden {
		t.Errorf("cross-origin form post: %d; want 403", got)
	}
	if got := post(good, e.url); got != http.StatusSeeOther {
		t.Errorf("form post with session + CSRF: %d; want 303", got)
	}
	// A forged cookie is no session.
	bad := *cookie
	bad.Value = strings.Repeat("a", 32) + ".9999999999.00"
	req, _ := http.NewRequest("POST", e.url+"/api/v1/reindex", nil)
	req.AddCookie(&bad)
	req.Header.Set(csrfHeader, e.s.csrfToken(strings.Repeat("a", 32)))
	resp, _ = noFollow.Do(req)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged session: %d; want 401", resp.StatusCode)
	}
}

// TestClient runs every Client method against a real daemon.
func TestClient(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	c := NewClient(e.url, e.n.Token())

	sub, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := c.Subscribe(sub, node.Watch{})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}

	v, err := c.Publish(ctx, node.PublishRequest{Torrent: fixture(t, "single.torrent"), Title: "Lonely File"})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	select {
	case got := <-ch:
		if got == nil || got.ID != v.ID {
			t.Errorf("Subscribe delivered %+v; want %s", got, v.ID)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("Subscribe delivered nothing within 10 s")
	}
	if got, err := c.Entry(ctx, v.ID); err != nil || got.ID != v.ID {
		t.Errorf("Entry = %v, %v", got, err)
	}
	if _, err := c.Entry(ctx, strings.Repeat("0", 64)); !errors.Is(err, node.ErrNotFound) && !errors.Is(err, node.ErrBadRequest) {
		t.Errorf("Entry(unknown) error = %v; want ErrNotFound or ErrBadRequest", err)
	}
	res, err := c.Search(ctx, node.SearchRequest{Query: "lonely"})
	if err != nil || len(res.Hits) != 1 {
		t.Errorf("Search = %+v, %v", res, err)
	}
	if _, err := c.Search(ctx, node.SearchRequest{Sort: "bogus"}); !errors.Is(err, node.ErrBadRequest) {
		t.Errorf("Search(bad sort) error = %v; want ErrBadRequest", err)
	}
	title := "Lonely File (remastered)"
	if a, err := c.Amend(ctx, node.AmendRequest{ID: v.ID, Title: &title}); err != nil || a.Title != title {
		t.Errorf("Amend = %v, %v", a, err)
	}
	info, err := c.CreateIndex(ctx, "music", "open")
	if err != nil {
		t.Fatalf("CreateIndex: %v", err)
	}
	if l, err := c.Indexes(ctx); err != nil || len(l) != 2 {
		t.Errorf("Indexes = %v, %v", l, err)
	}
	if link, err := c.IndexLink(ctx, ""); err != nil || link == "" {
		t.Errorf("IndexLink = %q, %v", link, err)
	}
	if _, err := c.Follow(ctx, node.FollowRequest{Index: info.Key}); err != nil {
		t.Errorf("Follow: %v", err)
	}
	if f, err := c.Follows(ctx); err != nil || len(f) != 1 {
		t.Errorf("Follows = %v, %v", f, err)
	}
	if err := c.Unfollow(ctx, info.Key); err != nil {
		t.Errorf("Unfollow: %v", err)
	}
	if st, err := c.Status(ctx); err != nil || st.Identity == "" {
		t.Errorf("Status = %v, %v", st, err)
	}
	if err := c.Mute(ctx, e.n.Identity().String(), true); !errors.Is(err, node.ErrBadRequest) {
		t.Errorf("Mute(self) error = %v; want ErrBadRequest", err)
	}
	if _, err := c.Peers(ctx); err != nil {
		t.Errorf("Peers: %v", err)
	}
	if err := c.AddPeer(ctx, "/ip4/127.0.0.1/tcp/1"); err == nil {
		t.Errorf("AddPeer while not serving: no error")
	}
	if err := c.Reindex(ctx); err != nil {
		t.Errorf("Reindex: %v", err)
	}

	var exp bytes.Buffer
	n, err := c.Export(ctx, &exp, "")
	if err != nil || n != 1 {
		t.Fatalf("Export = %d, %v; want 1 entry", n, err)
	}
	var progress []int
	n, err = c.Import(ctx, bytes.NewReader(exp.Bytes()), "music", func(d int) { progress = append(progress, d) })
	if err != nil || n != 1 {
		t.Errorf("Import = %d, %v; want 1", n, err)
	}
	if _, err := c.Import(ctx, strings.NewReader("{not json\n"), "music", nil); !errors.Is(err, node.ErrBadRequest) {
		t.Errorf("Import(garbage) error = %v; want ErrBadRequest", err)
	}
	if _, err := c.Retract(ctx, v.ID); err != nil {
		t.Errorf("Retract: %v", err)
	}
	// A client without the token cannot write.
	if _, err := NewClient(e.url, "wrong").CreateIndex(ctx, "x", "open"); !errors.Is(err, node.ErrForbidden) {
		t.Errorf("CreateIndex with a wrong token: %v; want ErrForbidden", err)
	}
	cancel()
	waitFor(t, 5*time.Second, "the subscription channel to close", func() bool {
		select {
		case _, ok := <-ch:
			return !ok
		default:
			return false
		}
	})
}

func TestSubscribeSSE(t *testing.T) {
	e := newEnv(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/api/v1/subscribe?q=lonely", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	v := e.publishFile("single.torrent", nil)
	lines := make(chan string, 16)
	go func() {
		buf := make([]byte, 64<<10)
		var acc string
		for {
			n, err := resp.Body.Read(buf)
			acc += string(buf[:n])
			for {
				i := strings.Index(acc, "\n\n")
				if i < 0 {
					break
				}
				lines <- acc[:i]
				acc = acc[i+2:]
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	select {
	case ev := <-lines:
		if !strings.HasPrefix(ev, "event: entry\n") || !strings.Contains(ev, v.ID) {
			t.Errorf("SSE event = %q; want an entry event for %s", ev, v.ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no SSE event within 10 s")
	}
}

// TestAPIBlock: blocking needs the token, hides the entries from the JSON
// search, Torznab and RSS alike, and a list with one bad item stores
// nothing.
func TestAPIBlock(t *testing.T) {
	e := newEnv(t, Options{})
	ih := "b243459ed7a983c716731389ad5e9f261ebd8c0f"
	var v node.EntryView
	e.json(e.do("POST", "/api/v1/entries", strings.NewReader(`{"magnet":"magnet:?xt=urn:btih:`+ih+`&dn=lonely-file.bin"}`), "application/json", true), http.StatusCreated, &v)
	keep := e.publishFile("multi.torrent", nil)

	body := `{"items":["` + ih + `"],"reason":"fake"}`
	e.json(e.do("POST", "/api/v1/blocks", strings.NewReader(body), "application/json", false), http.StatusUnauthorized, nil)
	e.json(e.do("POST", "/api/v1/blocks", strings.NewReader(`{"items":["`+ih+`","bogus"]}`), "application/json", true), http.StatusBadRequest, nil)
	var bl blockedResponse
	e.json(e.do("GET", "/api/v1/blocks", nil, "", false), http.StatusOK, &bl)
	if len(bl.Blocked) != 0 {
		t.Fatalf("after refused calls: blocked %+v; want none", bl.Blocked)
	}
	var res node.BlockResult
	e.json(e.do("POST", "/api/v1/blocks", strings.NewReader(body), "application/json", true), http.StatusOK, &res)
	if res.Changed != 1 || res.Entries != 1 {
		t.Errorf("block = %+v; want 1 changed, 1 entry", res)
	}
	e.json(e.do("GET", "/api/v1/blocks", nil, "", false), http.StatusOK, &bl)
	if len(bl.Blocked) != 1 || bl.Blocked[0].Infohash != ih || bl.Blocked[0].Reason != "fake" {
		t.Errorf("blocks = %+v; want %s (fake)", bl.Blocked, ih)
	}

	var sr node.SearchResponse
	e.json(e.do("GET", "/api/v1/search", nil, "", false), http.StatusOK, &sr)
	if sr.Total != 1 || len(sr.Hits) != 1 || sr.Hits[0].ID != keep.ID {
		t.Errorf("search = %d hits of %d; want only %s", len(sr.Hits), sr.Total, keep.ID)
	}
	e.json(e.do("GET", "/api/v1/search?include_blocked=1", nil, "", false), http.StatusOK, &sr)
	if len(sr.Hits) != 2 {
		t.Errorf("search include_blocked = %d hits; want 2", len(sr.Hits))
	}
	var got node.EntryView
	e.json(e.do("GET", "/api/v1/entries/"+v.ID, nil, "", false), http.StatusOK, &got)
	if !got.Blocked {
		t.Errorf("GET entry of a blocked infohash: blocked = false")
	}
	f := getXML[feedDoc](e, "/torznab/api?t=search&apikey="+e.n.APIKey())
	if len(f.Channel.Items) != 1 || f.Channel.Items[0].GUID != keep.ID {
		t.Errorf("torznab: %d items; want only %s", len(f.Channel.Items), keep.ID)
	}
	f = getXML[feedDoc](e, "/rss?apikey="+e.n.APIKey())
	if len(f.Channel.Items) != 1 || f.Channel.Items[0].GUID != keep.ID {
		t.Errorf("rss: %d items; want only %s", len(f.Channel.Items), keep.ID)
	}

	c := NewClient(e.url, e.n.Token())
	if r, err := c.Block(context.Background(), []string{v.ID}, "", false); err != nil || r.Changed != 1 {
		t.Errorf("client unblock by entry id = %+v, %v; want 1 changed", r, err)
	}
	if l, err := c.Blocked(context.Background()); err != nil || len(l) != 0 {
		t.Errorf("client Blocked = %+v, %v; want none", l, err)
	}
}

// TestAPIRSS: subscribing needs the token, a bad URL is a 400, an unknown
// subscription a 404, and the list shows what was added.
func TestAPIRSS(t *testing.T) {
	e := newEnv(t, Options{})
	body := `{"url":"http://127.0.0.1:1/feed.xml","every":"1h"}`
	e.json(e.do("POST", "/api/v1/rss", strings.NewReader(body), "application/json", false), http.StatusUnauthorized, nil)
	e.json(e.do("POST", "/api/v1/rss", strings.NewReader(`{"url":"file:///etc/passwd"}`), "application/json", true), http.StatusBadRequest, nil)
	e.json(e.do("POST", "/api/v1/rss/fetch", strings.NewReader(`{"url":"gopher://x"}`), "application/json", true), http.StatusBadRequest, nil)
	var f node.RSSFeed
	e.json(e.do("POST", "/api/v1/rss", strings.NewReader(body), "application/json", true), http.StatusCreated, &f)
	if f.URL != "http://127.0.0.1:1/feed.xml" || f.Every != "1h" || f.Index == "" {
		t.Errorf("rss add = %+v", f)
	}
	var list []node.RSSFeed
	e.json(e.do("GET", "/api/v1/rss", nil, "", false), http.StatusUnauthorized, nil)
	e.json(e.do("GET", "/api/v1/rss", nil, "", true), http.StatusOK, &list)
	if len(list) != 1 || list[0].URL != f.URL {
		t.Errorf("rss list = %+v", list)
	}
	e.json(e.do("DELETE", "/api/v1/rss?url="+url.QueryEscape(f.URL), nil, "", true), http.StatusNoContent, nil)
	e.json(e.do("DELETE", "/api/v1/rss?url="+url.QueryEscape(f.URL), nil, "", true), http.StatusNotFound, nil)
}

// TestAPIScrape: scraping needs the token; the counts then show in the
// JSON search, Torznab (seeders, peers), the web UI's search and entry
// pages; before a scrape Torznab says nothing of seeders.
func TestAPIScrape(t *testing.T) {
	ih := "c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7"
	tracker := scrapetest.New(scrapetest.All(scrape.Stats{Seeders: 42, Leechers: 8, Completed: 100}))
	defer tracker.Close()
	e := newEnv(t, Options{})
	magnet := "magnet:?xt=urn:btih:" + ih + "&dn=swarm.test&tr=" + url.QueryEscape(tracker.Announce())
	var v node.EntryView
	e.json(e.do("POST", "/api/v1/entries", strings.NewReader(`{"magnet":"`+magnet+`"}`), "application/json", true), http.StatusCreated, &v)
	f := getXML[feedDoc](e, "/torznab/api?t=search&apikey="+e.n.APIKey())
	if b, _ := xml.Marshal(f); strings.Contains(string(b), "seeders") {
		t.Errorf("torznab before any scrape mentions seeders: %s", b)
	}
	body := `{"items":["` + v.ID + `"],"private":true}`
	e.json(e.do("POST", "/api/v1/scrape", strings.NewReader(body), "application/json", false), http.StatusUnauthorized, nil)
	var sw []node.Swarm
	e.json(e.do("POST", "/api/v1/scrape", strings.NewReader(body), "application/json", true), http.StatusOK, &sw)
	if len(sw) != 1 || sw[0].Seeders != 42 || sw[0].Leechers != 8 {
		t.Fatalf("scrape = %+v; want 42 seeders, 8 leechers", sw)
	}
	var sr node.SearchResponse
	e.json(e.do("GET", "/api/v1/search?q=swarm", nil, "", false), http.StatusOK, &sr)
	if len(sr.Hits) != 1 || sr.Hits[0].Seeders == nil || *sr.Hits[0].Seeders != 42 {
		t.Errorf("search after the scrape: %+v", sr.Hits)
	}
	resp := e.do("GET", "/torznab/api?t=search&q=swarm&apikey="+e.n.APIKey(), nil, "", false)
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), `name="seeders" value="42"`) || !strings.Contains(string(b), `name="peers" value="50"`) {
		t.Errorf("torznab after the scrape lacks seeders 42 / peers 50:\n%s", b)
	}
	for path, want := range map[string]string{"/?q=swarm": "42 / 8", "/entries/" + v.ID: "42 seeders, 8 leechers"} {
		resp := e.do("GET", path, nil, "", false)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d, lacks %q", path, resp.StatusCode, want)
		}
	}
}

// TestAPIBlocklists: publishing and subscribing need the token; the list
// published here shows first with a link to share; subscribing to it, or
// to something that is not a list key, is a 400; dropping an unknown
// subscription a 404; the client reads the same.
func TestAPIBlocklists(t *testing.T) {
	e := newEnv(t, Options{})
	ih := "c243459ed7a983c716731389ad5e9f261ebd8c0f"
	e.json(e.do("POST", "/api/v1/blocks", strings.NewReader(`{"items":["`+ih+`"],"reason":"spam"}`), "application/json", true), http.StatusOK, nil)

	var lists blocklistsResponse
	e.json(e.do("GET", "/api/v1/blocklists", nil, "", false), http.StatusOK, &lists)
	if lists.Blocklists == nil || len(lists.Blocklists) != 0 {
		t.Fatalf("before publishing: blocklists %+v; want an empty list", lists.Blocklists)
	}
	e.json(e.do("POST", "/api/v1/blocklists/publish", nil, "", false), http.StatusUnauthorized, nil)
	var own node.Blocklist
	e.json(e.do("POST", "/api/v1/blocklists/publish", nil, "", true), http.StatusOK, &own)
	if !own.Own || own.Infohashes != 1 || own.Length == 0 || !strings.HasPrefix(own.Link, "indexd:blocklist:") {
		t.Errorf("publish = %+v; want the own list, 1 infohash, a link", own)
	}
	e.json(e.do("GET", "/api/v1/blocklists", nil, "", false), http.StatusOK, &lists)
	if len(lists.Blocklists) != 1 || lists.Blocklists[0].Feed != own.Feed {
		t.Errorf("blocklists = %+v; want the own list", lists.Blocklists)
	}

	sub := func(list string) string { return `{"list":"` + list + `"}` }
	e.json(e.do("POST", "/api/v1/blocklists", strings.NewReader(sub(own.Link)), "application/json", false), http.StatusUnauthorized, nil)
	e.json(e.do("POST", "/api/v1/blocklists", strings.NewReader(sub(own.Link)), "application/json", true), http.StatusBadRequest, nil)
	e.json(e.do("POST", "/api/v1/blocklists", strings.NewReader(sub("not-a-key")), "application/json", true), http.StatusBadRequest, nil)
	e.json(e.do("POST", "/api/v1/blocklists", strings.NewReader(`{"list":`), "application/json", true), http.StatusBadRequest, nil)
	other := "feed:" + strings.Repeat("ab", 32)
	e.json(e.do("DELETE", "/api/v1/blocklists?list="+url.QueryEscape(other), nil, "", false), http.StatusUnauthorized, nil)
	e.json(e.do("DELETE", "/api/v1/blocklists?list="+url.QueryEscape(other), nil, "", true), http.StatusNotFound, nil)
	e.json(e.do("DELETE", "/api/v1/blocklists?list=junk", nil, "", true), http.StatusBadRequest, nil)

	c := NewClient(e.url, e.n.Token())
	ctx := context.Background()
	if l, err := c.Blocklists(ctx); err != nil || len(l) != 1 || !l[0].Own {
		t.Errorf("client Blocklists = %+v, %v; want the own list", l, err)
	}
	if bl, err := c.PublishBlocklist(ctx); err != nil || bl.Feed != own.Feed {
		t.Errorf("client PublishBlocklist again = %+v, %v; want the same feed %s", bl, err, own.Feed)
	}
	if bl, err := c.SubscribeBlocklist(ctx, node.BlocklistRequest{List: own.Feed}); err == nil || bl != nil {
		t.Errorf("client subscribe to the own list = %+v, %v; want an error and no subscription", bl, err)
	}
	var ae *Error
	if err := c.UnsubscribeBlocklist(ctx, other); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Errorf("client unsubscribe of an unknown list = %v; want a 404", err)
	}
}

// TestUIUnknownSize: a magnet entry without xl= shows "size unknown" in
// results and on its page, not "0 B"; entries without a category do not
// make a "0" category facet, while a real category still does.
func TestUIUnknownSize(t *testing.T) {
	e := newEnv(t, Options{})
	for _, body := range []string{
		`{"magnet":"magnet:?xt=urn:btih:b243459ed7a983c716731389ad5e9f261ebd8c0f&dn=sizeless.one"}`,
		`{"magnet":"magnet:?xt=urn:btih:c243459ed7a983c716731389ad5e9f261ebd8c0f&dn=sizeless.two&xl=2048","category":"movies"}`,
	} {
		e.json(e.do("POST", "/api/v1/entries", strings.NewReader(body), "application/json", true), http.StatusCreated, nil)
	}
	page := func(path string) string {
		resp := e.do("GET", path, nil, "", false)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return string(b)
	}
	res := page("/?q=sizeless")
	if !strings.Contains(res, "size unknown") || !strings.Contains(res, "2.0 KiB") || strings.Contains(res, ">0 B<") {
		t.Errorf("results: want one size unknown and one 2.0 KiB, no 0 B:\n%s", res)
	}
	facets := res[strings.Index(res, "<h2>Categories</h2>"):]
	if !strings.Contains(facets, ">Movies<") || strings.Contains(facets, ">0<") {
		t.Errorf("category facets: want Movies and no 0:\n%s", facets)
	}
	var hits struct{ Hits []node.EntryView }
	e.json(e.do("GET", "/api/v1/search?q=sizeless.one", nil, "", false), http.StatusOK, &hits)
	if len(hits.Hits) != 1 {
		t.Fatalf("search sizeless.one: %+v", hits)
	}
	if entry := page("/entries/" + hits.Hits[0].ID); !strings.Contains(entry, "unknown") || strings.Contains(entry, "0 B") {
		t.Errorf("entry page: want size unknown:\n%s", entry)
	}
}

// TestAPIMembers: the members routes grant, revoke and list, through the
// client as the CLI uses them; writing needs the token; a link names the
// index as its key does; the errors keep their statuses.
func TestAPIMembers(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	c := NewClient(e.url, e.n.Token())
	info, err := c.CreateIndex(ctx, "club", "allowlist")
	if err != nil {
		t.Fatal(err)
	}
	member := "id:" + strings.Repeat("5e", 32)
	if err := c.SetMember(ctx, "club", member, true); err != nil {
		t.Fatalf("grant: %v", err)
	}
	link, err := c.IndexLink(ctx, "club")
	if err != nil {
		t.Fatal(err)
	}
	ml, err := c.Members(ctx, link)
	if err != nil || ml.Index != info.Key || ml.Policy != "allowlist" || len(ml.Members) != 1 || ml.Members[0] != member {
		t.Fatalf("Members(link) = %+v, %v; want %s granted in %s", ml, err, member, info.Key)
	}
	body := `{"author":"` + member + `","grant":false}`
	e.json(e.do("POST", "/api/v1/indexes/club/members", strings.NewReader(body), "application/json", false), http.StatusUnauthorized, nil)
	var after node.MemberList
	e.json(e.do("POST", "/api/v1/indexes/club/members", strings.NewReader(body), "application/json", true), http.StatusOK, &after)
	if len(after.Members) != 0 {
		t.Errorf("after the revoke: %+v", after)
	}
	e.json(e.do("POST", "/api/v1/indexes/default/members", strings.NewReader(`{"author":"`+member+`"}`), "application/json", true), http.StatusBadRequest, nil)
	e.json(e.do("GET", "/api/v1/indexes/nosuch/members", nil, "", false), http.StatusNotFound, nil)
}
