package search

import (
	"html"
	"sort"
	"strings"

	"github.com/blevesearch/bleve/v2/search/query"
)

// FileFragments returns up to limit of the file paths of an entry named
// name that contain a word of the query text after the folder named as
// the entry (as they are indexed: see fileTail; a single file named as the
// entry is not shown), each with the matched words marked as bleve's HTML
// highlighter marks them (<mark>…</mark>, the rest HTML-escaped). File
// paths are indexed without term locations (only title and name need
// them for highlighting, and locations would double the index), so this
// finds the matches again from the query's words: a hit found by a word
// from a file name can show which file it was (see queryWords for which of
// the query's words count).
func FileFragments(text, name string, files []string, limit int) []string {
	words, prefixes := queryWords(text)
	if len(words) == 0 && len(prefixes) == 0 || limit <= 0 {
		return nil
	}
	// Analysing a path costs about a microsecond, and an entry may list
	// thousands: a path is analysed only when a query term occurs in it
	// (terms are lower-cased substrings of the text they come from).
	needles := make([]string, 0, len(words)+len(prefixes))
	for w := range words {
		needles = append(needles, foldCase(w))
	}
	for _, w := range prefixes {
		needles = append(needles, foldCase(w))
	}
	mayMatch := func(tail string) bool {
		low := foldCase(tail)
		for _, n := range needles {
			if strings.Contains(low, n) {
				return true
			}
		}
		return false
	}
	var out []string
	for _, p := range files {
		tail := fileTail(p, name)
		if tail == "" || !mayMatch(tail) {
			continue
		}
		if f, ok := markFile(tail, words, prefixes); ok {
			out = append(out, html.EscapeString(p[:len(p)-len(tail)])+f)
			if len(out) == limit {
				break
			}
		}
	}
	return out
}

// foldCase lower-cases s as the analyzer's filter does, up to the one
// rule it applies by position (a word-final σ becomes ς), which it undoes.
func foldCase(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "ς", "σ")
}

// queryWords extracts the terms of the plain words of a query in bleve's
// syntax, parsed and analysed as Search does (the query analyzer: words
// only, no chunks or parts, so a file is marked only where Search matches):
// words and phrases that must or may match, in no particular field (a
// trailing * makes the last term a prefix); words after -, field:value
// terms and ranges are left out.
func queryWords(text string) (words map[string]bool, prefixes []string) {
	words = map[string]bool{}
	parsed, err := query.NewQueryStringQuery(text).Parse()
	if err != nil {
		return words, nil // Search rejects the query: nothing to mark
	}
	add := func(w string, prefix bool) {
		toks := queryAnalyzer.Analyze([]byte(w))
		for i, t := range toks {
			// With a wildcard only the last word of the chunk is a prefix.
			if prefix && i == len(toks)-1 {
				prefixes = append(prefixes, string(t.Term))
				continue
			}
			words[string(t.Term)] = true
		}
	}
	var walk func(q query.Query)
	walk = func(q query.Query) {
		switch x := q.(type) {
		case *query.BooleanQuery:
			if x.Must != nil {
				walk(x.Must)
			}
			if x.Should != nil {
				walk(x.Should)
			}
		case *query.ConjunctionQuery:
			for _, c := range x.Conjuncts {
				walk(c)
			}
		case *query.DisjunctionQuery:
			for _, c := range x.Disjuncts {
				walk(c)
			}
		case *query.MatchQuery:
			if x.FieldVal == "" {
				add(x.Match, false)
			}
		case *query.MatchPhraseQuery:
			if x.FieldVal == "" {
				add(x.MatchPhrase, false)
			}
		case *query.WildcardQuery:
			w := strings.TrimRight(x.Wildcard, "*")
			if x.FieldVal == "" && w != "" && !strings.ContainsAny(w, "*?") {
				add(w, len(w) < len(x.Wildcard))
			}
		}
	}
	walk(parsed)
	return words, prefixes
}

// markFile marks the spans of p whose terms are among words or start with
// one of prefixes; ok is false when none is.
func markFile(p string, words map[string]bool, prefixes []string) (string, bool) {
	in := []byte(p) // the analyzer lower-cases its input in place
	type span struct{ start, end int }
	var spans []span
	for _, t := range releaseAnalyzer.Analyze(in) {
		term := string(t.Term)
		match := words[term]
		for _, pre := range prefixes {
			match = match || strings.HasPrefix(term, pre)
		}
		if !match || t.Start < 0 || t.End > len(p) || t.Start >= t.End {
			continue
		}
		spans = append(spans, span{t.Start, t.End})
	}
	if len(spans) == 0 {
		return "", false
	}
	// A chunk and its words, a word and its parts, overlap: the smallest
	// matches are marked (a span that holds another is dropped), and
	// overlapping ones merge.
	var minimal []span
	for i, a := range spans {
		holds := false
		for j, b := range spans {
			if i != j && a.start <= b.start && b.end <= a.end && a != b {
				holds = true
				break
			}
		}
		if !holds {
			minimal = append(minimal, a)
		}
	}
	sort.Slice(minimal, func(i, j int) bool { return minimal[i].start < minimal[j].start })
	merged := minimal[:1]
	for _, s := range minimal[1:] {
		if last := &merged[len(merged)-1]; s.start <= last.end {
			last.end = max(last.end, s.end)
		} else {
			merged = append(merged, s)
		}
	}
	var b strings.Builder
	cur := 0
	for _, s := range merged {
		b.WriteString(html.EscapeString(p[cur:s.start]))
		b.WriteString("<mark>")
		b.WriteString(html.EscapeString(p[s.start:s.end]))
		b.WriteString("</mark>")
		cur = s.end
	}
	b.WriteString(html.EscapeString(p[cur:]))
	return b.String(), true
}

// Piece is a piece of a highlighted fragment: plain text, marked or not.
type Piece struct {
	Text   string
	Marked bool
}

// SplitMarks splits a fragment as Search and FileFragments make them
// (HTML: <mark> tags around matches, everything else escaped, so a literal
// "<mark>" in the text cannot pose as one) into plain-text pieces, for a
// view to render in its own way.
func SplitMarks(frag string) []Piece {
	var out []Piece
	add := func(t string, marked bool) {
		if t != "" {
			out = append(out, Piece{Text: html.UnescapeString(t), Marked: marked})
		}
	}
	for i, seg := range strings.Split(frag, "<mark>") {
		if i == 0 {
			add(seg, false)
			continue
		}
		marked, rest, _ := strings.Cut(seg, "</mark>")
		add(marked, true)
		add(rest, false)
	}
	return out
}
