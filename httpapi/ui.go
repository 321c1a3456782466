package httpapi

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"indexd/index"
	"indexd/node"
	"indexd/search"
)

//go:embed web/templates/*.html web/static/*
var webFS embed.FS

// uiPageSize is how many results a search page shows.
const uiPageSize = 25

type ui struct {
	s     *Server
	pages map[string]*template.Template
}

// page is what every template gets.
type page struct {
	Title    string
	Nav      string // which nav item is current
	Error    string
	Notice   string
	CSRF     string
	SignedIn bool
	Node     string // the node's title
	Data     any
}

func newUI(s *Server) *ui {
	u := &ui{s: s, pages: map[string]*template.Template{}}
	funcs := template.FuncMap{
		"size":     humanSize,
		"redact":   redactURL,
		"short":    shortHash,
		"date":     func(t time.Time) string { return t.UTC().Format("2006-01-02") },
		"datetime": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"ago":      ago,
		"catname":  func(c uint32) string { return index.Category(c).String() },
		"add":      func(a, b int) int { return a + b },
		"join":     strings.Join,
		"pathbase": path.Base,
		"magnet":   magnetURL,
		"marks":    search.SplitMarks,
	}
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(webFS, "web/templates/layout.html", "web/templates/tree.html"))
	names, err := fs.Glob(webFS, "web/templates/*.html")
	if err != nil {
		panic(err) // the pattern is a constant
	}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" || base == "tree.html" {
			continue
		}
		u.pages[base] = template.Must(template.Must(layout.Clone()).ParseFS(webFS, n))
	}
	return u
}

// static serves the embedded CSS and JS, cacheable for a day.
func (u *ui) static() http.Handler {
	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		panic(err) // embedded path is a constant
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})
}

// render executes a page into a buffer first, so a template error becomes
// a clean 500 instead of half a page.
func (u *ui) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	nonce := u.s.session(r)
	p.SignedIn = nonce != ""
	p.CSRF = u.s.csrfToken(nonce)
	p.Node = u.s.opts.Title
	t, ok := u.pages[name]
	if !ok {
		u.s.log.Error("no template", "name", name)
		writeError(w, r, http.StatusInternalServerError, "internal error")
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		u.s.log.Error("rendering page", "name", name, "err", err)
		writeError(w, r, http.StatusInternalServerError, "internal error")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (u *ui) notFound(w http.ResponseWriter, r *http.Request) {
	u.render(w, r, http.StatusNotFound, "message.html", &page{Title: "Not found", Error: "There is no page at " + truncate(r.URL.Path, 200) + "."})
}

// fail renders a node error as a page.
func (u *ui) fail(w http.ResponseWriter, r *http.Request, name string, p *page, err error) {
	status := errStatus(err)
	p.Error = u.s.publicMessage(r, err, status)
	if name == "" {
		name = "message.html"
	}
	u.render(w, r, status, name, p)
}

// searchData is the search page's model.
type searchData struct {
	Req        node.SearchRequest
	Cat        string
	Tag        string
	Author     string
	Res        *node.SearchResponse
	Categories []catOption
	Facets     []facet
	TagFacets  []facet
	Prev, Next string
	From, To   int
	RSS        string
}

type catOption struct {
	ID       uint32
	Name     string
	Sub      bool
	Selected bool
}

type facet struct {
	Name  string
	Count int
	URL   string
	On    bool
}

func categoryOptions(selected string) []catOption {
	var out []catOption
	for _, c := range index.Categories() {
		out = append(out, catOption{ID: uint32(c), Name: c.Name(), Sub: c.Parent() != c, Selected: strconv.Itoa(int(c)) == selected})
	}
	return out
}

func (u *ui) search(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	p := &page{Title: "Search", Nav: "search"}
	d := &searchData{Cat: v.Get("cat"), Tag: v.Get("tag"), Author: v.Get("author"), Categories: categoryOptions(v.Get("cat"))}
	p.Data = d
	req, err := parseSearch(v)
	if err != nil {
		d.Req = req
		u.fail(w, r, "search.html", p, err)
		return
	}
	if req.Limit == 0 {
		req.Limit = uiPageSize
	}
	req.Facets = true
	req.Highlight = req.Query != ""
	d.Req = req
	res, err := u.s.search(r, req, "ui")
	if err != nil {
		u.fail(w, r, "search.html", p, err)
		return
	}
	d.Res = res
	if req.Query != "" {
		p.Title = req.Query + " · Search"
	}
	d.From = req.Offset + 1
	d.To = req.Offset + len(res.Hits)
	if req.Offset > 0 {
		d.Prev = withParam(v, "offset", strconv.Itoa(max(0, req.Offset-req.Limit)))
	}
	if uint64(req.Offset+len(res.Hits)) < res.Total && len(res.Hits) > 0 {
		d.Next = withParam(v, "offset", strconv.Itoa(req.Offset+req.Limit))
	}
	for c, n := range res.Categories {
		id, _ := strconv.Atoi(c)
		if id == 0 {
			continue // no category: nothing to narrow to
		}
		d.Facets = append(d.Facets, facet{Name: index.Category(id).String(), Count: n, URL: withParam(v, "cat", c), On: c == v.Get("cat")})
	}
	sort.Slice(d.Facets, func(i, j int) bool {
		if d.Facets[i].Count != d.Facets[j].Count {
			return d.Facets[i].Count > d.Facets[j].Count
		}
		return d.Facets[i].Name < d.Facets[j].Name
	})
	for t, n := range res.Tags {
		d.TagFacets = append(d.TagFacets, facet{Name: t, Count: n, URL: withParam(v, "tag", t), On: t == v.Get("tag")})
	}
	sort.Slice(d.TagFacets, func(i, j int) bool {
		if d.TagFacets[i].Count != d.TagFacets[j].Count {
			return d.TagFacets[i].Count > d.TagFacets[j].Count
		}
		return d.TagFacets[i].Name < d.TagFacets[j].Name
	})
	if len(d.TagFacets) > 20 {
		d.TagFacets = d.TagFacets[:20]
	}
	rq := url.Values{}
	for _, k := range []string{"q", "cat", "tag", "author", "index"} {
		if x := v.Get(k); x != "" {
			rq.Set(k, x)
		}
	}
	d.RSS = "/rss"
	if len(rq) > 0 {
		d.RSS += "?" + rq.Encode()
	}
	u.render(w, r, http.StatusOK, "search.html", p)
}

// withParam returns "?..." with key set to val and the offset reset unless
// it is the key being set.
func withParam(v url.Values, key, val string) string {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	if key != "offset" {
		c.Del("offset")
	}
	if val == "" || (key == "offset" && val == "0") {
		c.Del(key)
	} else {
		c.Set(key, val)
	}
	if len(c) == 0 {
		return "/"
	}
	return "/?" + c.Encode()
}

// entryData is the entry page's model.
type entryData struct {
	E     *node.EntryView
	Tree  []*treeNode
	Files int
	Mine  bool
}

func (u *ui) entry(w http.ResponseWriter, r *http.Request) {
	p := &page{Title: "Entry", Nav: "search"}
	e, err := u.s.n.Entry(r.Context(), r.PathValue("id"))
	if err != nil {
		u.fail(w, r, "", p, err)
		return
	}
	p.Title = e.Title
	p.Data = &entryData{E: e, Tree: fileTree(e.Files), Files: len(e.Files), Mine: e.Author == u.s.n.Identity().String()}
	switch r.URL.Query().Get("published") {
	case "1":
		p.Notice = "Published. Peers that follow this index will receive it."
	case "again":
		p.Notice = "You had published this torrent in this index already: here it is. Amend it to change its fields."
	}
	u.render(w, r, http.StatusOK, "entry.html", p)
}

// block blocks (or, with unblock=1, unblocks) an entry's infohashes and
// shows the entry again.
func (u *ui) block(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	unblock := r.PostFormValue("unblock") == "1"
	if _, err := u.s.n.Block(r.Context(), []string{"entry:" + id}, "", !unblock); err != nil {
		u.fail(w, r, "", &page{Title: "Entry", Nav: "search"}, err)
		return
	}
	http.Redirect(w, r, "/entries/"+url.PathEscape(id), http.StatusSeeOther)
}

// treeNode is a file or folder in an entry's file tree.
type treeNode struct {
	Name     string
	Size     uint64
	Dir      bool
	Children []*treeNode
	Count    int // files below a folder
}

// fileTree turns flat paths into a sorted tree, folders first. Folder
// sizes are the sums of their files.
func fileTree(files []node.FileView) []*treeNode {
	root := &treeNode{Dir: true}
	for _, f := range files {
		parts := strings.Split(strings.Trim(f.Path, "/"), "/")
		cur := root
		for i, part := range parts {
			last := i == len(parts)-1
			var next *treeNode
			for _, c := range cur.Children {
				if c.Name == part && c.Dir == !last {
					next = c
					break
				}
			}
			if next == nil {
				next = &treeNode{Name: part, Dir: !last}
				cur.Children = append(cur.Children, next)
			}
			next.Size += f.Size
			if !last {
				next.Count++
			}
			cur = next
		}
	}
	var sortRec func(n *treeNode)
	sortRec = func(n *treeNode) {
		sort.SliceStable(n.Children, func(i, j int) bool {
			a, b := n.Children[i], n.Children[j]
			if a.Dir != b.Dir {
				return a.Dir
			}
			return a.Name < b.Name
		})
		for _, c := range n.Children {
			sortRec(c)
		}
	}
	sortRec(root)
	return root.Children
}

// publishData is the publish form's model.
type publishData struct {
	Categories []catOption
	Indexes    []node.IndexInfo
	Form       url.Values
}

func (u *ui) publishForm(w http.ResponseWriter, r *http.Request) {
	u.renderPublish(w, r, http.StatusOK, url.Values{}, "")
}

func (u *ui) renderPublish(w http.ResponseWriter, r *http.Request, status int, form url.Values, errMsg string) {
	idx, _ := u.s.n.Indexes(r.Context())
	var mine []node.IndexInfo
	for _, i := range idx {
		if i.Mine || i.Policy == "open" {
			mine = append(mine, i)
		}
	}
	p := &page{Title: "Publish", Nav: "publish", Error: errMsg, Data: &publishData{Categories: categoryOptions(form.Get("category")), Indexes: mine, Form: form}}
	if !u.s.canWriteUI(r) {
		p.Notice = "Sign in to publish: open the link that 'indexd serve' printed, or paste the token on the sign-in page."
	}
	u.render(w, r, status, "publish.html", p)
}

// canWriteUI reports whether the browser holds a session.
func (s *Server) canWriteUI(r *http.Request) bool { return s.session(r) != "" }

func (u *ui) publish(w http.ResponseWriter, r *http.Request) {
	req, err := u.s.publishRequest(w, r)
	form := r.Form
	if form == nil {
		form = url.Values{}
	}
	if err == nil {
		var v *node.EntryView
		if v, err = u.s.n.Publish(r.Context(), req); err == nil {
			http.Redirect(w, r, "/entries/"+v.ID+"?published=1", http.StatusSeeOther)
			return
		}
		var exists *node.ExistsError
		if errors.As(err, &exists) {
			http.Redirect(w, r, "/entries/"+exists.ID+"?published=again", http.StatusSeeOther)
			return
		}
	}
	status := errStatus(err)
	u.renderPublish(w, r, status, form, u.s.publicMessage(r, err, status))
}

// networkData is the indexes/follows/peers page's model.
type networkData struct {
	Status  *node.Status
	Indexes []node.IndexInfo
	Follows []node.Follow
	Peers   []node.PeerView
	Links   map[string]string
	Feeds   []node.RSSFeed
	Blocked []node.Block
	// Members: who may publish in each allowlist index this identity
	// created (which only it can change).
	Members []*node.MemberList
}

func (u *ui) network(w http.ResponseWriter, r *http.Request) {
	u.renderNetwork(w, r, http.StatusOK, "", r.URL.Query().Get("ok"))
}

func (u *ui) renderNetwork(w http.ResponseWriter, r *http.Request, status int, errMsg, notice string) {
	ctx := r.Context()
	p := &page{Title: "Network", Nav: "network", Error: errMsg, Notice: notice}
	d := &networkData{}
	var err error
	if d.Status, err = u.s.n.Status(ctx); err == nil {
		if d.Indexes, err = u.s.n.Indexes(ctx); err == nil {
			if d.Follows, err = u.s.n.Follows(ctx); err == nil {
				if d.Peers, err = u.s.n.Peers(ctx); err == nil {
					if d.Feeds, err = u.s.n.RSSFeeds(ctx); err == nil {
						d.Blocked, err = u.s.n.Blocked(ctx)
					}
				}
			}
		}
	}
	for _, i := range d.Indexes {
		if err != nil {
			break
		}
		if i.Policy == "allowlist" && i.Creator == d.Status.Identity {
			var ml *node.MemberList
			if ml, err = u.s.n.Members(ctx, i.Key); err == nil {
				d.Members = append(d.Members, ml)
			}
		}
	}
	if err != nil {
		p.Data = d
		u.fail(w, r, "", p, err)
		return
	}
	p.Data = d
	u.render(w, r, status, "network.html", p)
}

// setMember grants or revokes an author in an allowlist index.
func (u *ui) setMember(w http.ResponseWriter, r *http.Request) {
	author := strings.TrimSpace(r.PostFormValue("author"))
	grant := r.PostFormValue("grant") != "0"
	if err := u.s.n.SetMember(r.Context(), r.PostFormValue("index"), author, grant); err != nil {
		status := errStatus(err)
		u.renderNetwork(w, r, status, u.s.publicMessage(r, err, status), "")
		return
	}
	verb := "Granted"
	if !grant {
		verb = "Revoked"
	}
	http.Redirect(w, r, "/network?ok="+url.QueryEscape(verb+" "+shortHash(author)+"."), http.StatusSeeOther)
}

func (u *ui) follow(w http.ResponseWriter, r *http.Request) {
	req := node.FollowRequest{Index: strings.TrimSpace(r.PostFormValue("index"))}
	if a := strings.TrimSpace(r.PostFormValue("authors")); a != "" {
		for _, x := range strings.FieldsFunc(a, func(c rune) bool { return c == ',' || c == ' ' || c == '\n' }) {
			req.Authors = append(req.Authors, x)
		}
	}
	if req.Index == "" {
		u.renderNetwork(w, r, http.StatusBadRequest, "Give an index key or link to follow.", "")
		return
	}
	f, err := u.s.n.Follow(r.Context(), req)
	if err != nil {
		status := errStatus(err)
		u.renderNetwork(w, r, status, u.s.publicMessage(r, err, status), "")
		return
	}
	http.Redirect(w, r, "/network?ok="+url.QueryEscape("Following "+firstNonEmpty(f.Name, shortHash(f.Index))+"."), http.StatusSeeOther)
}

// redactURL drops the query and user info of a URL (feed URLs often carry
// a passkey or API key) for pages a visitor who is not signed in sees.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(a URL)"
	}
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	u.User = nil
	return u.String()
}

// removeIndex unfollows an index and deletes its data (RemoveIndex); the
// form asks for a confirming tick.
func (u *ui) removeIndex(w http.ResponseWriter, r *http.Request) {
	if r.PostFormValue("confirm") != "1" {
		u.renderNetwork(w, r, http.StatusBadRequest, "Tick the box to confirm deleting the index's data from this node.", "")
		return
	}
	res, err := u.s.n.RemoveIndex(r.Context(), r.PostFormValue("index"))
	if err != nil {
		status := errStatus(err)
		u.renderNetwork(w, r, status, u.s.publicMessage(r, err, status), "")
		return
	}
	msg := fmt.Sprintf("Removed %s (%d entries): hidden now; its data is deleted when the daemon next starts.", firstNonEmpty(res.Name, shortHash(res.Index)), res.Entries)
	http.Redirect(w, r, "/network?ok="+url.QueryEscape(msg), http.StatusSeeOther)
}

// rssAdd subscribes to an RSS feed.
func (u *ui) rssAdd(w http.ResponseWriter, r *http.Request) {
	req := node.RSSRequest{URL: strings.TrimSpace(r.PostFormValue("url")), Index: r.PostFormValue("index"), Every: firstNonEmpty(strings.TrimSpace(r.PostFormValue("every")), "30m")}
	if _, err := u.s.n.RSSAdd(r.Context(), req); err != nil {
		status := errStatus(err)
		u.renderNetwork(w, r, status, u.s.publicMessage(r, err, status), "")
		return
	}
	http.Redirect(w, r, "/network?ok="+url.QueryEscape("Subscribed: the feed is fetched now and every "+req.Every+"."), http.StatusSeeOther)
}

// unblock takes an infohash off the blocklist.
func (u *ui) unblock(w http.ResponseWriter, r *http.Request) {
	if _, err := u.s.n.Block(r.Context(), []string{r.PostFormValue("infohash")}, "", false); err != nil {
		status := errStatus(err)
		u.renderNetwork(w, r, status, u.s.publicMessage(r, err, status), "")
		return
	}
	http.Redirect(w, r, "/network?ok="+url.QueryEscape("Unblocked."), http.StatusSeeOther)
}

// rssRemove ends an RSS subscription.
func (u *ui) rssRemove(w http.ResponseWriter, r *http.Request) {
	if err := u.s.n.RSSRemove(r.Context(), r.PostFormValue("url")); err != nil {
		status := errStatus(err)
		u.renderNetwork(w, r, status, u.s.publicMessage(r, err, status), "")
		return
	}
	http.Redirect(w, r, "/network?ok="+url.QueryEscape("Unsubscribed."), http.StatusSeeOther)
}

func (u *ui) unfollow(w http.ResponseWriter, r *http.Request) {
	if err := u.s.n.Unfollow(r.Context(), r.PostFormValue("index")); err != nil {
		status := errStatus(err)
		u.renderNetwork(w, r, status, u.s.publicMessage(r, err, status), "")
		return
	}
	http.Redirect(w, r, "/network?ok="+url.QueryEscape("Unfollowed."), http.StatusSeeOther)
}

func (u *ui) addPeer(w http.ResponseWriter, r *http.Request) {
	addr := strings.TrimSpace(r.PostFormValue("addr"))
	if addr == "" {
		u.renderNetwork(w, r, http.StatusBadRequest, "Give a peer multiaddr, like /ip4/192.0.2.7/tcp/4001/p2p/12D3Koo…", "")
		return
	}
	if err := u.s.n.AddPeer(r.Context(), addr); err != nil {
		status := errStatus(err)
		u.renderNetwork(w, r, status, u.s.publicMessage(r, err, status), "")
		return
	}
	http.Redirect(w, r, "/network?ok="+url.QueryEscape("Connected."), http.StatusSeeOther)
}

func (u *ui) createIndex(w http.ResponseWriter, r *http.Request) {
	info, err := u.s.n.CreateIndex(r.Context(), r.PostFormValue("name"), firstNonEmpty(r.PostFormValue("policy"), "open"))
	if err != nil {
		status := errStatus(err)
		u.renderNetwork(w, r, status, u.s.publicMessage(r, err, status), "")
		return
	}
	http.Redirect(w, r, "/network?ok="+url.QueryEscape("Created index "+info.Name+"."), http.StatusSeeOther)
}

// magnetURL marks a magnet link safe for an href (html/template would
// otherwise replace the unknown scheme with "#ZgotmplZ"); anything that
// is not a magnet link stays unsafe.
func magnetURL(s string) any {
	if strings.HasPrefix(s, "magnet:?") {
		return template.URL(s)
	}
	return s
}

// humanSize renders bytes in binary units: 1.5 GiB, 48.8 KiB, 7 B.
func humanSize(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// shortHash shows the first 8 characters after any "prefix:" of an id.
func shortHash(s string) string {
	if i := strings.LastIndexByte(s, ':'); i >= 0 && i < len(s)-1 {
		s = s[i+1:]
	}
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

// ago renders a time relative to now, for humans.
func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < 0:
		return t.UTC().Format("2006-01-02")
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	case d < 30*24*time.Hour:
		return fmt.Sprintf("%d days ago", int(d.Hours()/24))
	}
	return t.UTC().Format("2006-01-02")
}
