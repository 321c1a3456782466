package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"indexd/node"
)

// fixturesDir holds the shared .torrent fixtures, relative to this package.
var fixturesDir = filepath.Join("..", "..", "shared", "fixtures")

// testEnv is a real node in a temp dir behind a real HTTP server on
// 127.0.0.1.
type testEnv struct {
	t   testing.TB
	n   *node.Node
	s   *Server
	ts  *httptest.Server
	url string
}

func newEnv(t testing.TB, opts Options) *testEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := node.Init(ctx, dir); err != nil {
		t.Fatalf("node.Init: %v", err)
	}
	n, err := node.Open(ctx, node.Options{Dir: dir})
	if err != nil {
		t.Fatalf("node.Open: %v", err)
	}
	if opts.Logger == nil && os.Getenv("INDEXD_TEST_LOG") != "" {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s := New(n, opts)
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		n.Close()
	})
	return &testEnv{t: t, n: n, s: s, ts: ts, url: ts.URL}
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixturesDir, name))
	if os.IsNotExist(err) {
		t.Skipf("fixture %s absent (looked in %s)", name, fixturesDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// do sends a request; auth adds the bearer token.
func (e *testEnv) do(method, path string, body io.Reader, contentType string, auth bool) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+e.n.Token())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// json decodes a response body, failing unless the status is want.
func (e *testEnv) json(resp *http.Response, want int, out any) {
	e.t.Helper()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s = %d %s; want %d", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("decoding %s: %v", b, err)
		}
	}
}

// publishFile publishes a fixture through the multipart API.
func (e *testEnv) publishFile(name string, fields map[string]string) *node.EntryView {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("torrent", name)
	fw.Write(fixture(e.t, name))
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	mw.Close()
	var v node.EntryView
	e.json(e.do("POST", "/api/v1/entries", &buf, mw.FormDataContentType(), true), http.StatusCreated, &v)
	return &v
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
