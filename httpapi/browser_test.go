package httpapi

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// findChromium returns the browser binary, or "" when none is installed.
func findChromium() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// newBrowser starts headless chromium with a fresh profile. Without a
// browser the test fails in CI (CI set) and is skipped elsewhere.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	bin := findChromium()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; .ci/run installs it (apt-get install chromium)")
		}
		t.Skip("chromium is not installed; install it (apt-get install chromium) to run the browser tests")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelC := chromedp.NewContext(actx)
	// The first run starts the browser; it must not carry a timeout (the
	// timeout would stop the browser). Later actions use a derived one.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		cancelC()
		cancelA()
		t.Fatalf("starting chromium: %v", err)
	}
	ctx, cancelT := context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	return ctx
}

// screenshot saves a full-page PNG when INDEXD_SCREENSHOTS names a
// directory (for looking at the UI by hand; tests never write otherwise).
func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("INDEXD_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
}

// browse wraps a chromedp context with fatal-on-error helpers.
type browse struct {
	t   *testing.T
	ctx context.Context
}

func (b browse) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b browse) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func evalInt(b browse, expr string) int {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

func evalString(b browse, expr string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// checkNoHorizontalScroll asserts the page fits a 375-px viewport.
func checkNoHorizontalScroll(b browse, page string) {
	b.t.Helper()
	if sw := evalInt(b, `document.documentElement.scrollWidth`); sw > 375 {
		b.t.Errorf("%s: scrollWidth %d > 375: the page scrolls sideways on a phone", page, sw)
	}
}

// TestBrowser drives the web UI in headless chromium at a 375-px-wide
// viewport: sign in through the one-time link, search, open an entry,
// publish a fixture through the form and find it by a word from its file
// names.
func TestBrowser(t *testing.T) {
	if _, err := os.Stat(fixturesDir); err != nil {
		t.Skipf("fixtures folder %s absent: %v", fixturesDir, err)
	}
	e := newEnv(t, Options{})
	multi := e.publishFile("multi.torrent", map[string]string{"title": "Multi Fixture Pack", "category": "8010", "tags": "fixture"})
	b := browse{t: t, ctx: newBrowser(t)}
	b.do("viewport", chromedp.EmulateViewport(375, 800))

	// Sign in through the link `indexd serve` prints.
	b.do("login link", chromedp.Navigate(e.s.LoginURL(e.url)), chromedp.WaitVisible(chromedp.CSS(`#q`)))
	if loc := evalString(b, `location.pathname`); loc != "/" {
		t.Errorf("after login at %s; want the search page", loc)
	}
	checkNoHorizontalScroll(b, "search page (empty query)")
	screenshot(t, b.ctx, "search-recent")

	// Search by a word from a file name, then open the entry.
	b.do("search",
		chromedp.SetValue(chromedp.CSS(`#q`), "beta"),
		chromedp.Submit(chromedp.CSS(`#q`)),
		chromedp.WaitVisible(chromedp.CSS(`.hit .title`)),
	)
	if hits := b.text(`.hits`); !strings.Contains(hits, "Multi Fixture Pack") {
		t.Errorf("search results %q lack the published entry", hits)
	}
	// The hit shows which file matched, the word marked.
	if frag, marked := b.text(`.hit .frag`), evalString(b, `(document.querySelector('.hit .frag mark')||{}).textContent||""`); !strings.Contains(frag, "multi/beta.bin") || marked != "beta" {
		t.Errorf("search fragment %q, marked %q; want the file multi/beta.bin with beta marked", frag, marked)
	}
	checkNoHorizontalScroll(b, "search results")
	screenshot(t, b.ctx, "search-results")

	b.do("opening the entry", chromedp.Click(chromedp.CSS(`.hit .title`)), chromedp.WaitVisible(chromedp.CSS(`article.entry h1`)))
	title := b.text(`article.entry h1`)
	magnet := evalString(b, `document.getElementById("magnet").getAttribute("href")`)
	if title != "Multi Fixture Pack" || !strings.HasPrefix(magnet, "magnet:?xt=urn:btih:"+multi.InfohashV1) {
		t.Errorf("entry page: title %q, magnet %q", title, magnet)
	}
	tree := b.text(`.tree`)
	for _, f := range []string{"multi/", "alpha.txt", "beta.bin", "gamma.dat"} {
		if !strings.Contains(tree, f) {
			t.Errorf("file tree %q lacks %s", tree, f)
		}
	}
	checkNoHorizontalScroll(b, "entry page")
	screenshot(t, b.ctx, "entry")

	// Publish a fixture through the form.
	abs, err := filepath.Abs(filepath.Join(fixturesDir, "nested-unicode.torrent"))
	if err != nil {
		t.Fatal(err)
	}
	b.do("publish page", chromedp.Navigate(e.url+"/publish"), chromedp.WaitVisible(chromedp.CSS(`#publish-form`)))
	checkNoHorizontalScroll(b, "publish page")
	screenshot(t, b.ctx, "publish")
	b.do("publishing through the form",
		chromedp.SetUploadFiles(chromedp.CSS(`#torrent`), []string{abs}),
		chromedp.SetValue(chromedp.CSS(`#description`), "Published from the browser test."),
		chromedp.SetValue(chromedp.CSS(`#tags`), "unicode, test"),
		chromedp.Click(chromedp.CSS(`#publish-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`article.entry h1`)),
	)
	pubTitle := b.text(`article.entry h1`)
	pubPath := evalString(b, `location.pathname`)
	if !strings.Contains(pubTitle, "nested") {
		t.Errorf("published entry title %q; want the torrent's name", pubTitle)
	}
	checkNoHorizontalScroll(b, "published entry page")
	screenshot(t, b.ctx, "published")
	// The same file again: the page of the entry published before, saying so.
	b.do("publishing it again",
		chromedp.Navigate(e.url+"/publish"), chromedp.WaitVisible(chromedp.CSS(`#publish-form`)),
		chromedp.SetUploadFiles(chromedp.CSS(`#torrent`), []string{abs}),
		chromedp.Click(chromedp.CSS(`#publish-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`article.entry h1`)),
	)
	if again := evalString(b, `location.pathname`); again != pubPath || !strings.Contains(b.text(`main`), "published this torrent in this index already") {
		t.Errorf("publishing again landed on %s (want %s), saying %q", again, pubPath, b.text(`main`))
	}

	// Find it by a word from its file names.
	b.do("searching for the published entry", chromedp.Navigate(e.url+"/?q=readme"), chromedp.WaitVisible(chromedp.CSS(`.hits`)))
	if hits := b.text(`.hits`); !strings.Contains(hits, pubTitle) {
		t.Errorf("search readme = %q; want %q", hits, pubTitle)
	}

	// Block it from its page: it says so, and the search no longer shows
	// it; unblock brings it back.
	b.do("blocking the entry", chromedp.Navigate(e.url+pubPath), chromedp.WaitVisible(chromedp.CSS(`#block`)),
		chromedp.Click(chromedp.CSS(`#block`)), chromedp.WaitVisible(chromedp.CSS(`#blocked`)))
	screenshot(t, b.ctx, "blocked")
	b.do("searching for the blocked entry", chromedp.Navigate(e.url+"/?q=readme"), chromedp.WaitVisible(chromedp.CSS(`main`)))
	if main := b.text(`main`); strings.Contains(main, pubTitle) {
		t.Errorf("search readme after blocking shows %q:\n%s", pubTitle, main)
	}
	// The Network page lists it; Unblock there brings it back.
	b.do("the blocklist on the network page", chromedp.Navigate(e.url+"/network"), chromedp.WaitVisible(chromedp.CSS(`#blk-h`)),
		chromedp.Click(chromedp.CSS(`#blk-h + details summary`)),
		chromedp.Click(chromedp.CSS(`form[action="/network/unblock"] button`)),
		chromedp.WaitNotPresent(chromedp.CSS(`form[action="/network/unblock"]`)))
	b.do("the entry after unblocking", chromedp.Navigate(e.url+pubPath), chromedp.WaitVisible(chromedp.CSS(`#block`)))
	if evalInt(b, `document.querySelectorAll('#blocked').length`) != 0 {
		t.Errorf("the entry still says it is blocked after Unblock on the network page")
	}
	// Block and unblock from the entry page itself.
	b.do("blocking again", chromedp.Click(chromedp.CSS(`#block`)), chromedp.WaitVisible(chromedp.CSS(`#blocked`)))
	b.do("unblocking from the entry page", chromedp.Click(chromedp.CSS(`#block`)), chromedp.WaitNotPresent(chromedp.CSS(`#blocked`)))
	b.do("searching after unblocking", chromedp.Navigate(e.url+"/?q=readme"), chromedp.WaitVisible(chromedp.CSS(`.hits`)))
	if hits := b.text(`.hits`); !strings.Contains(hits, pubTitle) {
		t.Errorf("search readme after unblocking = %q; want %q", hits, pubTitle)
	}

	// Keyboard: the skip link is the first tab stop, and every form
	// field is labelled.
	b.do("network page", chromedp.Navigate(e.url+"/network"), chromedp.WaitVisible(chromedp.CSS(`#findex`)), chromedp.KeyEvent("\t"))
	if active := evalString(b, `document.activeElement.className`); active != "skip" {
		t.Errorf("first tab stop has class %q; want the skip link", active)
	}
	for _, pg := range []string{"/network", "/publish", "/"} {
		b.do("page "+pg, chromedp.Navigate(e.url+pg), chromedp.WaitVisible(chromedp.CSS(`main`)))
		if n := evalInt(b, `Array.from(document.querySelectorAll('input:not([type=hidden]),select,textarea')).filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).length`); n != 0 {
			t.Errorf("%s has %d unlabelled form fields", pg, n)
		}
	}
	checkNoHorizontalScroll(b, "network page")
	b.do("network page", chromedp.Navigate(e.url+"/network"), chromedp.WaitVisible(chromedp.CSS(`#findex`)))
	screenshot(t, b.ctx, "network")

	// Subscribe to an RSS feed and unsubscribe; follow an index, then
	// remove it (the confirming tick is required).
	feed := "http://127.0.0.1:9/feed.xml"
	b.do("subscribing to a feed",
		chromedp.SetValue(chromedp.CSS(`#rurl`), feed),
		chromedp.Submit(chromedp.CSS(`#rurl`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/network/rss/remove"]`)),
	)
	if main := b.text(`main`); !strings.Contains(main, "Subscribed") || !strings.Contains(main, feed) {
		t.Errorf("after subscribing, the network page lacks the notice or the feed:\n%s", main)
	}
	checkNoHorizontalScroll(b, "network page with a feed")
	screenshot(t, b.ctx, "network-rss")
	b.do("unsubscribing", chromedp.Click(chromedp.CSS(`form[action="/network/rss/remove"] button`)), chromedp.WaitNotPresent(chromedp.CSS(`form[action="/network/rss/remove"]`)))
	if main := b.text(`main`); strings.Contains(main, feed) {
		t.Errorf("after unsubscribing, the feed is still listed")
	}
	other := "index:" + strings.Repeat("cd", 32)
	b.do("following an index",
		chromedp.SetValue(chromedp.CSS(`#findex`), other),
		chromedp.Submit(chromedp.CSS(`#findex`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/network/remove"]`)),
	)
	if main := b.text(`main`); !strings.Contains(main, "waiting for its manifest") {
		t.Errorf("a follow by key without its manifest does not say it waits for one:\n%s", main)
	}
	b.do("removing it",
		chromedp.Click(chromedp.CSS(`form[action="/network/remove"] input[name=confirm]`)),
		chromedp.Click(chromedp.CSS(`form[action="/network/remove"] button`)),
		chromedp.WaitNotPresent(chromedp.CSS(`form[action="/network/remove"]`)),
	)
	if main := b.text(`main`); !strings.Contains(main, "Removed") {
		t.Errorf("after removing, no notice:\n%s", main)
	}

	// An allowlist index made here: grant an author, then revoke them.
	b.do("creating an allowlist index",
		chromedp.Navigate(e.url+"/network"), chromedp.WaitVisible(chromedp.CSS(`#iname`)),
		chromedp.SetValue(chromedp.CSS(`#iname`), "club"),
		chromedp.SetValue(chromedp.CSS(`#ipolicy`), "allowlist"),
		chromedp.Submit(chromedp.CSS(`#iname`)),
		chromedp.WaitVisible(chromedp.CSS(`#mem-h`)),
	)
	member := "id:" + strings.Repeat("4d", 32)
	grantField := `form.row-form[action="/network/members"] input[name=author]`
	b.do("granting an author",
		chromedp.SetValue(chromedp.CSS(grantField), member),
		chromedp.Submit(chromedp.CSS(grantField)),
		chromedp.WaitVisible(chromedp.CSS(`form.inline[action="/network/members"] button`)),
	)
	if main := b.text(`main`); !strings.Contains(main, "Granted") || !strings.Contains(main, member) {
		t.Errorf("after granting, the network page lacks the notice or the member:\n%s", main)
	}
	checkNoHorizontalScroll(b, "network page with a member")
	screenshot(t, b.ctx, "network-members")
	b.do("revoking them",
		chromedp.Click(chromedp.CSS(`form.inline[action="/network/members"] button`)),
		chromedp.WaitNotPresent(chromedp.CSS(`form.inline[action="/network/members"]`)),
	)
	if main := b.text(`main`); !strings.Contains(main, "Revoked") || strings.Contains(main, member) {
		t.Errorf("after revoking, the notice is missing or the member still listed:\n%s", main)
	}
}
