package search

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"indexd/internal/synth"
)

func hexID(i int) string { return fmt.Sprintf("%064x", i) }

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func testDocs() []Doc {
	return []Doc{
		{ID: hexID(1), Index: "idx1", Title: "The Matrix", Name: "The.Matrix.1999.1080p.BluRay.x264-GRP",
			Files: []string{"The.Matrix.1999.1080p.BluRay.x264-GRP.mkv", "Subs/English.srt"}, Category: 2040,
			Tags: []string{"HD", "scifi"}, Author: "alice", InfohashV1: strings.Repeat("a", 40), Size: 8 << 30, Published: t0},
		{ID: hexID(2), Index: "idx1", Title: "Multi file test", Name: "multi", Description: "a folder of text",
			Files: []string{"multi/alpha.txt", "multi/beta.txt"}, Category: 8000, Tags: []string{"test"},
			Author: "bob", InfohashV1: strings.Repeat("b", 40), InfohashV2: strings.Repeat("c", 64), Size: 100, Published: t0.Add(time.Hour)},
		{ID: hexID(3), Index: "idx1", Title: "進撃の巨人 第1話", Name: "Shingeki.no.Kyojin.S01E01", Category: 5070,
			Files: []string{"кириллица/Фильм.mkv"}, Tags: []string{"anime"}, Author: "carol",
			InfohashV2: strings.Repeat("d", 64), Size: 1 << 30, Published: t0.Add(2 * time.Hour)},
		// Same infohash as 1, by another identity.
		{ID: hexID(4), Index: "idx1", Title: "The Matrix (repost)", Name: "The.Matrix.1999.1080p.BluRay.x264-GRP",
			Category: 2040, Author: "dave", InfohashV1: strings.Repeat("a", 40), Size: 8 << 30, Published: t0.Add(3 * time.Hour)},
		{ID: hexID(5), Index: "idx2", Title: "Matrix Reloaded", Name: "The.Matrix.Reloaded.2003.720p", Category: 2030,
			Tags: []string{"hd"}, Author: "alice", InfohashV1: strings.Repeat("e", 40), Size: 4 << 30, Published: t0.Add(4 * time.Hour)},
	}
}

func openTest(t *testing.T, docs []Doc) *Index {
	t.Helper()
	s, err := Open("", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Apply(docs, nil, 7); err != nil {
		t.Fatal(err)
	}
	return s
}

func ids(r *Result) []string {
	var out []string
	for _, h := range r.Hits {
		out = append(out, strings.TrimLeft(h.ID, "0"))
	}
	return out
}

func TestSearch(t *testing.T) {
	s := openTest(t, testDocs())
	ctx := context.Background()
	tests := []struct {
		name string
		q    Query
		want []string // ids with leading zeros trimmed, in order
	}{
		{"file word", Query{Text: "alpha"}, []string{"2"}},
		{"file word with ext", Query{Text: "alpha.txt"}, []string{"2"}},
		// 1 and 4 share an infohash; 4, the shorter, ranks first.
		{"release parts", Query{Text: "matrix 1080p"}, []string{"4"}},
		{"part of compound", Query{Text: "x264 1999", ExcludeAuthors: []string{"dave"}}, []string{"1"}},
		{"all words must match", Query{Text: "matrix multi"}, nil},
		{"dotted query", Query{Text: "The.Matrix.1999"}, []string{"4"}},
		{"phrase", Query{Text: `"matrix reloaded"`}, []string{"5"}},
		{"phrase order", Query{Text: `"reloaded matrix"`}, nil},
		{"minus", Query{Text: "matrix -reloaded -repost"}, []string{"1"}},
		{"japanese", Query{Text: "巨人"}, []string{"3"}},
		{"cyrillic", Query{Text: "фильм"}, []string{"3"}},
		{"cyrillic case", Query{Text: "КИРИЛЛИЦА"}, []string{"3"}},
		{"wildcard", Query{Text: "relo*"}, []string{"5"}},
		{"field tags", Query{Text: "tags:HD", Sort: "date"}, []string{"5", "1"}},
		{"field title", Query{Text: "title:reloaded"}, []string{"5"}},
		{"v1 hash", Query{Text: strings.Repeat("E", 40)}, []string{"5"}},
		{"v2 hash", Query{Text: strings.Repeat("c", 64)}, []string{"2"}},
		{"magnet hex", Query{Text: "magnet:?xt=urn:btih:" + strings.Repeat("b", 40) + "&dn=x"}, []string{"2"}},
		{"magnet btmh", Query{Text: "magnet:?xt=urn:btmh:1220" + strings.Repeat("d", 64)}, []string{"3"}},
		{"truncated v2", Query{Text: strings.Repeat("d", 40)}, []string{"3"}},
		{"category parent", Query{Categories: []uint32{2000}, Sort: "-date"}, []string{"1", "5"}},
		{"category exact", Query{Categories: []uint32{2030}}, []string{"5"}},
		{"index filter", Query{Text: "matrix", Index: []string{"idx2"}}, []string{"5"}},
		{"tags filter", Query{Tags: []string{"hd", "SCIFI"}}, []string{"1"}},
		{"authors", Query{Authors: []string{"bob", "carol"}, Sort: "-date"}, []string{"2", "3"}},
		{"muted", Query{Text: "matrix", ExcludeAuthors: []string{"alice"}}, []string{"4"}},
		{"size sort", Query{Sort: "size"}, []string{"1", "5", "3", "2"}},
		{"size asc", Query{Sort: "-size"}, []string{"2", "3", "5", "1"}},
		{"recent", Query{}, []string{"5", "4", "3", "2"}},
		{"min size", Query{MinSize: 2 << 30, Sort: "-date"}, []string{"1", "5"}},
		{"max size", Query{MaxSize: 1 << 30, Sort: "-date"}, []string{"2", "3"}},
		{"since", Query{Since: t0.Add(150 * time.Minute), Sort: "-date"}, []string{"4", "5"}},
		{"size range text", Query{Text: "size:>5000000000", Sort: "-date"}, []string{"1"}},
		{"size range and word", Query{Text: "matrix size:<5000000000"}, []string{"5"}},
		{"not size range", Query{Text: "matrix -size:>5000000000"}, []string{"5"}},
		{"size exact", Query{Text: "size:100"}, []string{"2"}},
		{"published range", Query{Text: `published:>="2024-01-01T02:30:00Z"`, Sort: "-date"}, []string{"4", "5"}},
		{"published before", Query{Text: `published:<"2024-01-01T01:00:00Z"`}, []string{"1"}},
		{"stopwords dropped", Query{Text: "the reloaded of"}, []string{"5"}},
		{"stopword kept with plus", Query{Text: "+a reloaded"}, nil},
		{"stopword alone", Query{Text: "the", Sort: "-date"}, []string{"1", "5"}},
		{"limit", Query{Limit: 2}, []string{"5", "4"}},
		{"offset", Query{Offset: 3, Limit: 2}, []string{"2", "1"}},
	}
	for _, tt := range tests {
		r, err := s.Search(ctx, tt.q)
		if err != nil {
			t.Errorf("%s: Search(%+v): %v", tt.name, tt.q, err)
			continue
		}
		if got := ids(r); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Search(%+v) = %v; want %v", tt.name, tt.q, got, tt.want)
		}
	}
}

func TestCollapsePublishers(t *testing.T) {
	s := openTest(t, testDocs())
	r, err := s.Search(context.Background(), Query{Text: "matrix 1999"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Hits) != 1 || r.Hits[0].Publishers != 2 || r.Total != 2 {
		t.Fatalf("hits = %+v, total %d; want one hit with 2 publishers", r.Hits, r.Total)
	}
	// Muting one publisher leaves one.
	r, err = s.Search(context.Background(), Query{Text: "matrix 1999", ExcludeAuthors: []string{"dave"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Hits) != 1 || r.Hits[0].Publishers != 1 || strings.TrimLeft(r.Hits[0].ID, "0") != "1" {
		t.Fatalf("hits = %+v; want entry 1 with 1 publisher", r.Hits)
	}
	// Publishers counts even when the twin is off the page.
	r, err = s.Search(context.Background(), Query{Text: "repost"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Hits) != 1 || r.Hits[0].Publishers != 2 {
		t.Fatalf("hits = %+v; want one hit with 2 publishers", r.Hits)
	}
}

func TestFacetsAndHighlight(t *testing.T) {
	s := openTest(t, testDocs())
	r, err := s.Search(context.Background(), Query{Text: "matrix", Facets: true, Highlight: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Categories[2040] != 2 || r.Categories[2030] != 1 || r.Tags["hd"] != 2 || r.Tags["scifi"] != 1 {
		t.Errorf("facets = %v %v", r.Categories, r.Tags)
	}
	found := false
	for _, h := range r.Hits {
		for _, f := range h.Fragments[fieldTitle] {
			if strings.Contains(f, "<mark>Matrix</mark>") {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("no highlighted title fragment in %+v", r.Hits)
	}
}

func TestBadQuery(t *testing.T) {
	s := openTest(t, testDocs())
	for _, q := range []Query{{Text: `"unterminated`}, {Text: "title:"}, {Text: "/[/"}, {Sort: "best"}, {Text: "magnet:?dn=x"}, {Text: "+"}} {
		_, err := s.Search(context.Background(), q)
		if !errors.Is(err, ErrBadQuery) {
			t.Errorf("Search(%+v) = %v; want ErrBadQuery", q, err)
		}
	}
}

// Equal sets of documents give equal result lists, whatever the order
// and batching they were applied in, ties broken by ID.
func TestDeterministicTies(t *testing.T) {
	var docs []Doc
	for i := 0; i < 60; i++ {
		docs = append(docs, Doc{ID: hexID(1000 - i), Title: "same title", Name: "same.name",
			InfohashV1: fmt.Sprintf("%040x", i), Published: t0, Size: 5})
	}
	var want []string
	for seed := int64(0); seed < 4; seed++ {
		shuffled := slices.Clone(docs)
		rand.New(rand.NewSource(seed)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		s, err := Open("", Options{BatchSize: 7 + int(seed)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(shuffled, nil, 1); err != nil {
			t.Fatal(err)
		}
		for _, q := range []Query{{Text: "same", Limit: 10}, {Sort: "date", Limit: 10}, {Sort: "size", Limit: 10, Offset: 10}} {
			r, err := s.Search(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(ids(r), ",")
			if !slices.IsSortedFunc(r.Hits, func(a, b Hit) int { return strings.Compare(a.ID, b.ID) }) {
				t.Errorf("seed %d %+v: hits not in ID order: %s", seed, q, got)
			}
			if seed == 0 {
				want = append(want, got)
			} else if got != want[0] && q.Offset == 0 {
				t.Errorf("seed %d %+v: %s; want %s", seed, q, got, want[0])
			}
		}
		s.Close()
	}
}

func TestApplyDeleteCursorReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Durable: true})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := s.Cursor(); err != nil || c != 0 {
		t.Fatalf("Cursor() = %d, %v; want 0", c, err)
	}
	if err := s.Apply(testDocs(), nil, 5); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply([]Doc{{ID: hexID(6), Title: "new one"}}, []string{hexID(2), hexID(6)}, 9); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v; want ErrClosed", err)
	}
	if _, err := s.Search(context.Background(), Query{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Search after Close = %v; want ErrClosed", err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c, err := s.Cursor(); err != nil || c != 9 {
		t.Fatalf("Cursor() = %d, %v; want 9", c, err)
	}
	if n, err := s.Count(); err != nil || n != 4 {
		t.Fatalf("Count() = %d, %v; want 4", n, err)
	}
	r, err := s.Search(context.Background(), Query{Text: "alpha"})
	if err != nil || len(r.Hits) != 0 {
		t.Fatalf("deleted entry still found: %+v %v", r, err)
	}
}

// Without Durable, Close still waits until every batch is on disk.
func TestCloseFlushes(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	var docs []Doc
	for i := 0; i < 20; i++ {
		docs = append(docs, Doc{ID: hexID(i + 1), Title: "flush test"})
	}
	for i := 0; i < 20; i += 5 {
		if err := s.Apply(docs[i:i+5], nil, uint64(i+5)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n, _ := s.Count()
	c, _ := s.Cursor()
	if n != 20 || c != 20 {
		t.Fatalf("after reopen: %d docs, cursor %d; want 20, 20", n, c)
	}
}

// Batches with only a cursor are persisted too (Apply would block
// otherwise once maxUnpersisted of them wait).
func TestApplyCursorOnly(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2*maxUnpersisted + 1 {
		if err := s.Apply(nil, []string{hexID(99)}, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// The day-by-day listing of recent entries gives what the general path
// gives (Facets forces the general path).
func TestRecentByDayMatchesGeneral(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	var docs []Doc
	for i := 0; i < 300; i++ {
		docs = append(docs, Doc{ID: hexID(r.Intn(1 << 30)), Title: "x", Category: uint32(2000 + 10*r.Intn(5)),
			InfohashV1: fmt.Sprintf("%040x", i),
			Published:  t0.Add(time.Duration(r.Intn(20)) * 12 * time.Hour).Add(-time.Duration(r.Intn(3)) * time.Minute)})
	}
	docs = append(docs, Doc{ID: hexID(1 << 31), Title: "old"}) // zero time
	s := openTest(t, docs)
	var gone []string
	for _, d := range docs[:40] {
		gone = append(gone, d.ID)
	}
	if err := s.Apply(nil, gone, 8); err != nil { // counts must not see deleted entries
		t.Fatal(err)
	}
	for _, q := range []Query{{}, {Sort: "-date"}, {Categories: []uint32{2010}}, {Offset: 30, Limit: 7, Sort: "-date"}, {Since: t0.Add(48 * time.Hour)}, {Limit: 400}} {
		q.Sort = cmp.Or(q.Sort, "date")
		a, err := s.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		q.Facets = true
		b, err := s.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(a), ids(b)) || a.Total != b.Total {
			t.Errorf("%+v: by day %v (%d); general %v (%d)", q, ids(a), a.Total, ids(b), b.Total)
		}
	}
}

// The term-conjunction fast path ranks as bleve's searchers do.
func TestFastPathMatchesBleve(t *testing.T) {
	docs := genDocsForTest(3000)
	fast, err := Open("", Options{BatchSize: 400}) // several segments
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	if err := fast.Apply(docs, nil, 1); err != nil {
		t.Fatal(err)
	}
	slow, err := Open("", Options{noFastPath: true})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if err := slow.Apply(docs, nil, 1); err != nil {
		t.Fatal(err)
	}
	used := 0
	for _, q := range []Query{
		{Text: "love"}, {Text: "dark night"}, {Text: "the"}, {Text: "last man 1080p"}, {Text: "x264 bluray"},
		{Text: "love", Categories: []uint32{2000}}, {Text: "night", Categories: []uint32{5040}, Tags: []string{"hd"}},
		{Text: "world", Limit: 50, Offset: 10}, {Text: "king of the"}, {Text: "zzzz"}, {Text: "love zzzz"},
		{Text: "tags:hd"}, {Text: "love", Authors: []string{"author7"}},
	} {
		tq, _, err := buildQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := termsOf(tq, nil); ok {
			used++
		}
		a, err := fast.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		b, err := slow.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if !sameRanking(a, b) || a.Total != b.Total {
			t.Errorf("%+v: fast %v (%d); bleve %v (%d)", q, ids(a), a.Total, ids(b), b.Total)
		}
	}
	if used < 10 {
		t.Errorf("fast path taken by %d queries; want most", used)
	}
}

func genDocsForTest(n int) []Doc {
	docs := make([]Doc, n)
	synth.Entries(5, n, func(i int, e synth.Entry) { docs[i] = synthDoc(5, i, e) })
	return docs
}

// collectTerms, for any number of terms, ranks as bleve's searchers do.
func TestCollectTermsMatchesCollect(t *testing.T) {
	s, err := Open("", Options{BatchSize: 400, Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Apply(genDocsForTest(3000), nil, 1); err != nil {
		t.Fatal(err)
	}
	adv, err := s.shards[0].idx.Advanced()
	if err != nil {
		t.Fatal(err)
	}
	ir, err := adv.Reader()
	if err != nil {
		t.Fatal(err)
	}
	defer ir.Close()
	for _, q := range []Query{{Text: "dark night"}, {Text: "last man 1080p"}, {Text: "love", Categories: []uint32{2000}},
		{Text: "world", Tags: []string{"hd"}}, {Text: "love zzzz"}, {Text: "king"}} {
		tq, _, err := buildQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		terms, ok := termsOf(tq, nil)
		if !ok {
			t.Fatalf("%+v: not a conjunction of terms", q)
		}
		a, err := collectTerms(context.Background(), ir, terms, 30)
		if err != nil {
			t.Fatal(err)
		}
		b, err := collect(context.Background(), ir, s.shards[0].idx.Mapping(), tq, sortSpec{}, 30, false)
		if err != nil {
			t.Fatal(err)
		}
		// bleve's scores are rounded to float32 (rankScore), so hits that
		// tie there may be ordered by their exact scores here.
		var ra, rb Result
		for _, h := range a.hits {
			ra.Hits = append(ra.Hits, Hit{ID: h.id, Score: h.score})
		}
		for _, h := range b.hits {
			rb.Hits = append(rb.Hits, Hit{ID: h.id, Score: h.score})
		}
		if !sameRanking(&rb, &ra) || a.total != b.total {
			t.Errorf("%+v: collectTerms %d hits of %d, collect %d of %d, rankings differ: %v", q, len(ra.Hits), a.total, len(rb.Hits), b.total, !sameRanking(&rb, &ra))
		}
	}
}

// Searches run while batches are applied (run with -race).
func TestConcurrentApplySearch(t *testing.T) {
	s, err := Open(t.TempDir(), Options{BatchSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	docs := genDocsForTest(1000)
	done := make(chan error, 1)
	go func() {
		for i := 0; i < len(docs); i += 250 {
			if err := s.Apply(docs[i:i+250], nil, uint64(i+250)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for finished := false; !finished; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished = true
		default:
		}
		for _, q := range []Query{{Text: "love"}, {Text: "dark night", Facets: true, Highlight: true}, {}, {Sort: "size"}} {
			if _, err := s.Search(context.Background(), q); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n, _ := s.Count(); n != 1000 {
		t.Fatalf("Count() = %d; want 1000", n)
	}
}

// TestPublishersByPostings cross-checks the publisher counts read from the
// infohash postings against the search that counts them otherwise, on
// documents where infohashes repeat (v1 only, v2 only, both) and some
// reposts were deleted.
func TestPublishersByPostings(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	var docs []Doc
	var deletes []string
	words := []string{"alpha", "beta", "gamma", "delta"}
	for i := range 400 {
		h := rng.Intn(60)
		d := Doc{ID: hexID(i + 1), Index: "idx", Title: words[i%4] + " " + words[h%4], Author: fmt.Sprint("a", i%7), Published: t0}
		switch h % 3 {
		case 0:
			d.InfohashV1 = fmt.Sprintf("%040x", h)
		case 1:
			d.InfohashV2 = fmt.Sprintf("%064x", h)
		default:
			d.InfohashV1, d.InfohashV2 = fmt.Sprintf("%040x", h), fmt.Sprintf("%064x", h)
		}
		docs = append(docs, d)
		if rng.Intn(10) == 0 {
			deletes = append(deletes, d.ID)
		}
	}
	fast, err := Open("", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	slow, err := Open("", Options{noPostingCount: true})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	for _, s := range []*Index{fast, slow} {
		if err := s.Apply(docs, deletes, 1); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []Query{{Text: "alpha"}, {Text: "beta gamma"}, {Text: "delta", Limit: 50}, {Text: "", Limit: 100}} {
		a, err := fast.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		b, err := slow.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		multi := 0
		for i := range b.Hits {
			if b.Hits[i].Publishers > 1 {
				multi++
			}
			b.Hits[i].Fragments, a.Hits[i].Fragments = nil, nil
		}
		if fmt.Sprint(a.Hits) != fmt.Sprint(b.Hits) {
			t.Errorf("Search(%q) by postings = %+v; by search %+v", q.Text, a.Hits, b.Hits)
		}
		if multi == 0 {
			t.Errorf("Search(%q): no hit with several publishers; the test checks nothing", q.Text)
		}
	}
}

// sameRanking reports whether a and b list the same hits in the same
// order, but for hits whose scores in a are equal to float32 precision
// (bleve's searchers rank by scores rounded so, collectTerms by exact
// ones, which differ from bleve's by a constant factor): within such a run
// the order is by ID in one and may differ in the other. A run that
// reaches the end of the page may hold different hits.
func sameRanking(a, b *Result) bool {
	if len(a.Hits) != len(b.Hits) {
		return false
	}
	for i := 0; i < len(a.Hits); {
		j := i + 1
		for j < len(a.Hits) && float32(a.Hits[j].Score) == float32(a.Hits[i].Score) {
			j++
		}
		if j-i == 1 || j < len(a.Hits) {
			x, y := ids(&Result{Hits: a.Hits[i:j]}), ids(&Result{Hits: b.Hits[i:j]})
			slices.Sort(x)
			slices.Sort(y)
			if !slices.Equal(x, y) {
				return false
			}
		}
		i = j
	}
	return true
}

// TestSeasonSearch: "show s01" finds the season's pack and its episodes
// (their S01E02 yields s01), not another season's; "s01e02" finds the
// one episode; a phrase with the episode number holds its position.
func TestSeasonSearch(t *testing.T) {
	docs := []Doc{
		{ID: hexID(1), Index: "i", Title: "Some Show S01 1080p", Name: "Some.Show.S01.1080p.WEB"},
		{ID: hexID(2), Index: "i", Title: "Some Show S01E02", Name: "Some.Show.S01E02.720p.WEB.x264-GRP"},
		{ID: hexID(3), Index: "i", Title: "Some Show S01E03E04", Name: "Some.Show.S01E03E04.720p"},
		{ID: hexID(4), Index: "i", Title: "Some Show S02E01", Name: "Some.Show.S02E01.720p"},
		{ID: hexID(5), Index: "i", Title: "Other Show S01E02", Name: "Other.Show.S01E02.720p"},
	}
	s := openTest(t, docs)
	for _, tt := range []struct {
		q    string
		want []int
	}{
		{"some show s01", []int{1, 2, 3}},
		{"some show S01E02", []int{2}},
		{"some show e04", []int{3}},
		{"some show s02", []int{4}},
		{"s01e02", []int{2, 5}},
		{`"show s01"`, []int{1, 2, 3, 5}},
	} {
		res, err := s.Search(context.Background(), Query{Text: tt.q, Limit: 10})
		if err != nil {
			t.Fatalf("%q: %v", tt.q, err)
		}
		var got, want []string
		for _, h := range res.Hits {
			got = append(got, h.ID)
		}
		for _, i := range tt.want {
			want = append(want, hexID(i))
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%q found %d docs %v; want %v", tt.q, len(got), got, tt.want)
		}
	}
}

// TestIndexAuthors: IndexAuthors keeps, within the indexes it names, the
// listed authors' entries only, and publisher counts follow it; other
// indexes are not touched.
func TestIndexAuthors(t *testing.T) {
	ih := strings.Repeat("e", 40)
	docs := []Doc{
		{ID: hexID(1), Index: "idx1", Title: "narrow one", Author: "alice", InfohashV1: ih},
		{ID: hexID(2), Index: "idx1", Title: "narrow one repost", Author: "bob", InfohashV1: ih},
		{ID: hexID(3), Index: "idx1", Title: "narrow two", Author: "bob", InfohashV1: strings.Repeat("f", 40)},
		{ID: hexID(4), Index: "idx2", Title: "narrow three", Author: "bob", InfohashV1: strings.Repeat("0", 40)},
	}
	s := openTest(t, docs)
	for _, fast := range []bool{true, false} {
		s.opts.noPostingCount = !fast
		res, err := s.Search(context.Background(), Query{Text: "narrow", IndexAuthors: map[string][]string{"idx1": {"alice"}}})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range res.Hits {
			got = append(got, h.ID)
			if h.ID == hexID(1) && h.Publishers != 1 {
				t.Errorf("alice's entry counts %d publishers; bob's repost in idx1 is hidden", h.Publishers)
			}
		}
		slices.Sort(got)
		if want := []string{hexID(1), hexID(4)}; !slices.Equal(got, want) || res.Total != 2 {
			t.Errorf("hits %v (total %d); want alice's in idx1 and bob's in idx2", got, res.Total)
		}
	}
}
