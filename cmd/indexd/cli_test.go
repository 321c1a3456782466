package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"indexd/node"
)

// fixturesDir is ../shared/fixtures beside the repository.
func fixturesDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join("..", "..", "..", "shared", "fixtures")
	if _, err := os.Stat(filepath.Join(d, "fixtures.json")); err != nil {
		t.Fatalf("fixtures not found at %s (CI lays ../shared beside the clone): %v", d, err)
	}
	return d
}

// indexd runs the CLI in-process and returns stdout, stderr and the status.
func indexd(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{}, args...)
	if dir != "" && len(args) > 0 {
		full = append([]string{args[0], "--data", dir}, args[1:]...)
	}
	code := run(context.Background(), full, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func mustRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, errs, code := indexd(t, dir, args...)
	if code != 0 {
		t.Fatalf("indexd %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

type fixture struct {
	File       string  `json:"file"`
	Name       string  `json:"name"`
	InfohashV1 *string `json:"infohash_v1"`
	InfohashV2 *string `json:"infohash_v2"`
	TotalSize  uint64  `json:"total_size"`
	Files      []struct {
		Path   string `json:"path"`
		Length uint64 `json:"length"`
	} `json:"files"`
}

func loadFixtures(t *testing.T) []fixture {
	b, err := os.ReadFile(filepath.Join(fixturesDir(t), "fixtures.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Torrents []fixture }
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Torrents
}

type hit struct {
	ID         string   `json:"id"`
	InfohashV1 string   `json:"infohash_v1"`
	InfohashV2 string   `json:"infohash_v2"`
	Name       string   `json:"name"`
	Title      string   `json:"title"`
	Size       uint64   `json:"size"`
	Category   uint32   `json:"category"`
	Tags       []string `json:"tags"`
	Retracted  bool     `json:"retracted"`
	Magnet     string   `json:"magnet"`
	Files      []struct {
		Path string `json:"path"`
		Size uint64 `json:"size"`
	} `json:"files"`
	Author    string `json:"author"`
	Published string `json:"published"`
}

func searchJSON(t *testing.T, dir string, args ...string) []hit {
	t.Helper()
	out := mustRun(t, dir, append([]string{"search", "--json"}, args...)...)
	var hits []hit
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var h hit
		if err := json.Unmarshal([]byte(line), &h); err != nil {
			t.Fatalf("search --json line %q: %v", line, err)
		}
		if h.ID == "" {
			if !strings.Contains(line, `"facets"`) {
				t.Fatalf("search --json: line without id or facets: %q", line)
			}
			continue
		}
		hits = append(hits, h)
	}
	return hits
}

// TestNewUser walks the README's path: init, publish every fixture, search
// by a word from a file name, amend, retract.
func TestNewUser(t *testing.T) {
	dir := t.TempDir()
	out := mustRun(t, dir, "init")
	if !strings.Contains(out, "created identity") {
		t.Fatalf("init output %q", out)
	}
	st, err := os.Stat(filepath.Join(dir, "identity.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("identity.key: %v, mode %v; want 0600", err, st.Mode())
	}
	key1, _ := os.ReadFile(filepath.Join(dir, "identity.key"))
	if out := mustRun(t, dir, "init"); !strings.Contains(out, "already exists") {
		t.Fatalf("second init output %q", out)
	}
	if key2, _ := os.ReadFile(filepath.Join(dir, "identity.key")); !bytes.Equal(key1, key2) {
		t.Fatal("second init changed the identity key")
	}

	fx := loadFixtures(t)
	ids := map[string]string{}
	for _, f := range fx {
		out := mustRun(t, dir, "publish", "--json", "--tag", "fixture", filepath.Join(fixturesDir(t), f.File))
		var h hit
		if err := json.Unmarshal([]byte(out), &h); err != nil {
			t.Fatalf("publish --json: %v in %q", err, out)
		}
		if f.InfohashV1 != nil && !strings.EqualFold(h.InfohashV1, *f.InfohashV1) {
			t.Errorf("%s: infohash_v1 = %s; want %s", f.File, h.InfohashV1, *f.InfohashV1)
		}
		if f.InfohashV2 != nil && !strings.EqualFold(h.InfohashV2, *f.InfohashV2) {
			t.Errorf("%s: infohash_v2 = %s; want %s", f.File, h.InfohashV2, *f.InfohashV2)
		}
		if h.Size != f.TotalSize {
			t.Errorf("%s: size = %d; want %d", f.File, h.Size, f.TotalSize)
		}
		if !strings.HasPrefix(h.Magnet, "magnet:?xt=urn:bt") {
			t.Errorf("%s: magnet = %q", f.File, h.Magnet)
		}
		ids[f.File] = h.ID
	}

	// --json ends with facets: every fixture was tagged "fixture".
	out = mustRun(t, dir, "search", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var summary struct {
		Total  int
		Facets struct{ Tags map[string]int }
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &summary); err != nil || summary.Facets.Tags["fixture"] != len(fx) || summary.Total != len(fx) {
		t.Fatalf("search --json summary line %q: %+v %v", lines[len(lines)-1], summary, err)
	}

	// A word from a file name inside multi.torrent ("alpha.txt").
	hits := searchJSON(t, dir, "alpha")
	if len(hits) != 1 || hits[0].ID != ids["multi.torrent"] {
		t.Fatalf("search alpha = %+v; want the multi.torrent entry %s", hits, ids["multi.torrent"])
	}
	// A unicode word from a nested path.
	if hits := searchJSON(t, dir, "ディレクトリ"); len(hits) != 1 || hits[0].ID != ids["nested-unicode.torrent"] {
		t.Fatalf("search ディレクトリ = %+v; want the nested-unicode entry", hits)
	}
	// By infohash.
	if h := searchJSON(t, dir, "b243459ed7a983c716731389ad5e9f261ebd8c0f"); len(h) != 1 || h[0].ID != ids["single.torrent"] {
		t.Fatalf("search by infohash = %+v", h)
	}
	// Text view: one line per hit with size and short infohash.
	text := mustRun(t, dir, "search", "alpha")
	if !strings.Contains(text, "52.1 KiB") || !strings.Contains(text, "4701f1d83196") {
		t.Errorf("text view %q lacks size or short infohash", text)
	}
	// Titles of any length leave the columns lined up: each hit line has
	// its short infohash at the same offset.
	all := mustRun(t, dir, "search", "--sort", "date", "")
	col := -1
	for _, l := range strings.Split(strings.TrimRight(all, "\n"), "\n") {
		if strings.HasPrefix(l, "    ") {
			continue // a matched fragment under its hit
		}
		f := strings.Fields(l)
		if len(f) < 6 {
			t.Fatalf("hit line %q: want size, unit, category, date, hash, title", l)
		}
		at := strings.Index(l, f[4])
		if col == -1 {
			col = at
		} else if at != col {
			t.Errorf("hit line %q has its infohash at %d, another at %d:\n%s", l, at, col, all)
		}
	}
	// ... and shows the file that matched, the word marked.
	if !strings.Contains(text, "files: multi/\x1b[1malpha\x1b[0m.txt") {
		t.Errorf("text view %q does not show the matching file", text)
	}

	// Amend the title and category; the new title is searchable.
	mustRun(t, dir, "amend", ids["multi.torrent"], "--title", "Greek Letters Collection", "--category", "books")
	hits = searchJSON(t, dir, "greek letters")
	if len(hits) != 1 || hits[0].Title != "Greek Letters Collection" || hits[0].Category != 7000 {
		t.Fatalf("after amend, search = %+v", hits)
	}
	if h := searchJSON(t, dir, "--category", "books", "alpha"); len(h) != 1 {
		t.Fatalf("category filter after amend: %+v", h)
	}

	// Retract: it no longer shows in search, and show says so.
	mustRun(t, dir, "retract", ids["multi.torrent"])
	if h := searchJSON(t, dir, "alpha"); len(h) != 0 {
		t.Fatalf("retracted entry still found: %+v", h)
	}
	if out := mustRun(t, dir, "show", ids["multi.torrent"]); !strings.Contains(out, "RETRACTED") {
		t.Fatalf("show after retract: %q", out)
	}

	// status --json reports entries and a digest.
	var st2 struct {
		Indexes []struct {
			Entries, Retracted int
			Digest             string
		}
	}
	if err := json.Unmarshal([]byte(mustRun(t, dir, "status", "--json")), &st2); err != nil {
		t.Fatal(err)
	}
	if len(st2.Indexes) != 1 || st2.Indexes[0].Retracted != 1 || len(st2.Indexes[0].Digest) != 64 {
		t.Fatalf("status = %+v", st2)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "init")
	// The state, not what the files take on disk (badger's logs move).
	state := func() string {
		var st map[string]any
		if err := json.Unmarshal([]byte(mustRun(t, dir, "status", "--json")), &st); err != nil {
			t.Fatal(err)
		}
		delete(st, "disk")
		b, _ := json.MarshalIndent(st, "", "  ")
		return string(b)
	}
	before := state()

	good, err := os.ReadFile(filepath.Join(fixturesDir(t), "multi.torrent"))
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "truncated.torrent")
	os.WriteFile(bad, good[:len(good)/2], 0o644)
	garbage := filepath.Join(t.TempDir(), "garbage.torrent")
	os.WriteFile(garbage, []byte("this is not bencode"), 0o644)

	for _, args := range [][]string{
		{"publish", bad},
		{"publish", garbage},
		{"publish", "magnet:?xt=urn:btih:nothex"},
		{"publish", "magnet:?dn=no-infohash"},
		{"publish", "magnet:?xt=urn:btih:" + strings.Repeat("5a", 20)}, // names nothing
		{"publish", filepath.Join(t.TempDir(), "missing.torrent")},
		{"amend", "0000000000000000000000000000000000000000000000000000000000000000", "--title", "x"},
		{"retract", "not-an-id"},
	} {
		out, errs, code := indexd(t, dir, args...)
		if code == 0 {
			t.Errorf("%v succeeded: %s", args, out)
		}
		if lines := strings.Count(strings.TrimSpace(errs), "\n"); lines != 0 || errs == "" {
			t.Errorf("%v: stderr %q; want one line", args, errs)
		}
	}
	if after := state(); after != before {
		t.Fatalf("bad input changed the state:\nbefore %s\nafter %s", before, after)
	}
}

// TestPublishSeveral: publish takes several .torrent files and magnet
// links; a bad one is named on stderr and does not stop the rest, and the
// exit status says something failed. --json prints one object per line.
// --title and --description, which name one entry, refuse several.
func TestPublishSeveral(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "init")
	fx := fixturesDir(t)
	bad := filepath.Join(t.TempDir(), "bad.torrent")
	os.WriteFile(bad, []byte("not bencode"), 0o644)
	out, errs, code := indexd(t, dir, "publish", "--tag", "batch", filepath.Join(fx, "single.torrent"), bad,
		filepath.Join(fx, "multi.torrent"), "magnet:?xt=urn:btih:"+strings.Repeat("6b", 20)+"&dn=Third.One")
	if code != 1 {
		t.Fatalf("exit %d; want 1 (one of four failed)\nstdout: %s\nstderr: %s", code, out, errs)
	}
	if got := strings.Count(out, "published "); got != 3 {
		t.Errorf("%d published; want 3:\n%s", got, out)
	}
	if !strings.Contains(errs, bad+": ") || !strings.Contains(errs, "1 of 4 not published") {
		t.Errorf("stderr %q; want the bad file named and the count", errs)
	}
	res := mustRun(t, dir, "search", "--json", "tags:batch")
	if n := strings.Count(res, `"id"`); n != 3 {
		t.Errorf("search tags:batch: %d hits; want 3\n%s", n, res)
	}

	out = mustRun(t, dir, "publish", "--json", "magnet:?xt=urn:btih:"+strings.Repeat("7c", 20)+"&dn=Fourth",
		"magnet:?xt=urn:btih:"+strings.Repeat("8d", 20)+"&dn=Fifth")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("--json with two: %d lines; want one object per line:\n%s", len(lines), out)
	}
	for i, l := range lines {
		var v struct{ ID, Title string }
		if err := json.Unmarshal([]byte(l), &v); err != nil || v.ID == "" {
			t.Errorf("line %d %q: %v", i+1, l, err)
		}
	}

	// Again over the same files: nothing new, each named as skipped.
	out, errs, code = indexd(t, dir, "publish", filepath.Join(fx, "single.torrent"), filepath.Join(fx, "multi.torrent"))
	if code != 0 || out != "" || strings.Count(errs, "skipped: you published this torrent") != 2 {
		t.Errorf("publishing again: exit %d, stdout %q, stderr %q; want both skipped", code, out, errs)
	}
	if _, errs, code := indexd(t, dir, "publish", "--title", "One name", filepath.Join(fx, "single.torrent"), filepath.Join(fx, "multi.torrent")); code != 2 || !strings.Contains(errs, "--title") {
		t.Errorf("--title with two: exit %d, %q; want a usage error", code, errs)
	}
}

func TestImportExportRoundTrip(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	mustRun(t, a, "init")
	mustRun(t, b, "init")
	for _, f := range loadFixtures(t) {
		mustRun(t, a, "publish", "--tag", "x", filepath.Join(fixturesDir(t), f.File))
	}
	mustRun(t, a, "publish", "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=Some.Show.S01E02.720p.mkv", "--category", "5000")
	export := filepath.Join(t.TempDir(), "out.jsonl")
	mustRun(t, a, "export", "-o", export)
	mustRun(t, b, "import", "--quiet", export)
	ha := searchJSON(t, a, "--sort", "size", "--limit", "100")
	hb := searchJSON(t, b, "--sort", "size", "--limit", "100")
	if len(ha) != len(loadFixtures(t))+1 || len(hb) != len(ha) {
		t.Fatalf("export/import: %d hits on a, %d on b", len(ha), len(hb))
	}
	for i := range ha {
		if ha[i].InfohashV1 != hb[i].InfohashV1 || ha[i].Title != hb[i].Title || ha[i].Size != hb[i].Size || len(ha[i].Files) != len(hb[i].Files) {
			t.Errorf("hit %d differs: %+v vs %+v", i, ha[i], hb[i])
		}
	}
}

func TestHelp(t *testing.T) {
	for name := range commands {
		out, _, code := indexd(t, "", name, "--help")
		if code != 0 || !strings.Contains(out, "Usage: indexd "+name) {
			t.Errorf("%s --help: exit %d, %q", name, code, out)
		}
	}
	if _, errs, code := indexd(t, "", "frobnicate"); code == 0 || !strings.Contains(errs, "unknown command") {
		t.Errorf("unknown command: exit %d, %q", code, errs)
	}
	// A command that takes no arguments refuses one rather than ignoring
	// it (serve left out: were it to ignore it, it would serve).
	dir := t.TempDir()
	for name, c := range commands {
		if c.args != "" || name == "serve" {
			continue
		}
		if _, errs, code := indexd(t, dir, name, "stray"); code != 2 || !strings.Contains(errs, "takes no arguments") {
			t.Errorf("%s stray: exit %d, %q; want a usage error", name, code, errs)
		}
	}
}

func TestPrintable(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"The.Matrix.1999 — ディレクトリ", "The.Matrix.1999 — ディレクトリ"},
		{"evil\x1b[2J\x1b[Htitle", "evil\uFFFD[2J\uFFFD[Htitle"},
		{"a\rb\nc\td\x7f\u009b", "a\uFFFDb c d\uFFFD\uFFFD"},
		{"exe.\u202egpj", "exe.\uFFFDgpj"},
	} {
		if got := printable(tc.in); got != tc.want {
			t.Errorf("printable(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Fragments: only our own marks become escape sequences.
	frag := "x &lt;mark&gt; <mark>alpha</mark>\x1b]0;pwned\x07 &amp;"
	if got, want := terminalHighlight(frag), "x <mark> \x1b[1malpha\x1b[0m\uFFFD]0;pwned\uFFFD &"; got != want {
		t.Errorf("terminalHighlight = %q, want %q", got, want)
	}
}

// TestHostileTextShown: a title and description with terminal escapes,
// carriage returns and newlines show neutralised in every text view.
func TestHostileTextShown(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "init")
	out := mustRun(t, dir, "publish", "--json", "--title", "Evil\x1b[2J\rFAKE alpha", "--description", "line one\n\x1b[31mline two",
		"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=evil")
	var h hit
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatalf("publish --json: %v in %q", err, out)
	}
	for _, args := range [][]string{{"search", "alpha"}, {"search", "evil"}, {"show", h.ID}} {
		text := mustRun(t, dir, args...)
		if strings.Contains(text, "\x1b[2J") || strings.Contains(text, "\x1b[31m") || strings.Contains(text, "\r") {
			t.Errorf("%v prints raw control characters: %q", args, text)
		}
	}
	if text := mustRun(t, dir, "show", h.ID); !strings.Contains(text, "  description: line one\n               \uFFFD[31mline two\n") {
		t.Errorf("show: description lines not kept and indented: %q", text)
	}
}

// TestIndexMembersCLI: index grant, revoke and members, offline; each
// prints who may publish now; a grant in an open index is refused.
func TestIndexMembersCLI(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "init")
	mustRun(t, dir, "index", "create", "--policy", "allowlist", "club")
	m1, m2 := "id:"+strings.Repeat("1a", 32), "id:"+strings.Repeat("2b", 32)
	if out := mustRun(t, dir, "index", "grant", "club", m1, m2); !strings.Contains(out, m1) || !strings.Contains(out, m2) || !strings.Contains(out, "(creator)") {
		t.Errorf("grant printed %q; want the creator and both members", out)
	}
	mustRun(t, dir, "index", "revoke", "club", m1)
	var ml node.MemberList
	if err := json.Unmarshal([]byte(mustRun(t, dir, "index", "members", "--json", "club")), &ml); err != nil || len(ml.Members) != 1 || ml.Members[0] != m2 {
		t.Errorf("members after the revoke = %+v, %v; want [%s]", ml, err, m2)
	}
	if out := mustRun(t, dir, "status"); !strings.Contains(out, "index club (allowlist: the creator and 1 granted)") {
		t.Errorf("status does not count the grant:\n%s", out)
	}
	if _, errs, code := indexd(t, dir, "index", "grant", "default", m1); code != 1 || !strings.Contains(errs, "open") {
		t.Errorf("grant in the open default index: exit %d, %q", code, errs)
	}
	if out := mustRun(t, dir, "index", "members"); !strings.Contains(out, "anyone may publish") {
		t.Errorf("members of the default index: %q", out)
	}
}

// TestMuteList: 'mute' alone lists who is muted, as JSON too; 'unmute'
// alone is a usage error.
func TestMuteList(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "init")
	if out := mustRun(t, dir, "mute", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("mute --json with none: %q; want []", out)
	}
	a := "id:" + strings.Repeat("3c", 32)
	mustRun(t, dir, "mute", a)
	if out := mustRun(t, dir, "mute"); strings.TrimSpace(out) != a {
		t.Errorf("mute alone: %q; want %s", out, a)
	}
	if _, _, code := indexd(t, dir, "unmute"); code != 2 {
		t.Errorf("unmute alone: exit %d; want 2", code)
	}
	mustRun(t, dir, "unmute", a)
	if out := mustRun(t, dir, "mute"); out != "" {
		t.Errorf("after unmute: %q", out)
	}
}

// TestImportTwiceCLI: a second import of the same export adds nothing and
// says how many lines it skipped.
func TestImportTwiceCLI(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	mustRun(t, a, "init")
	mustRun(t, b, "init")
	for _, f := range []string{"single.torrent", "multi.torrent"} {
		mustRun(t, a, "publish", filepath.Join(fixturesDir(t), f))
	}
	exp := filepath.Join(t.TempDir(), "backup.jsonl")
	mustRun(t, a, "export", "-o", exp)
	if out := mustRun(t, b, "import", "--quiet", exp); out != "imported 2 entries\n" {
		t.Errorf("first import: %q", out)
	}
	out, errs, code := indexd(t, b, "import", "--quiet", exp)
	if code != 0 || out != "imported 0 entries\n" || !strings.Contains(errs, "2 lines skipped") {
		t.Errorf("second import: exit %d, %q, %q; want 0 imported and 2 lines skipped", code, out, errs)
	}
}
