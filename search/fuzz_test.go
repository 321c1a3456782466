package search

import (
	"context"
	"errors"
	"testing"
)

// FuzzSearch runs arbitrary query text and sort keys against a small
// index: the answer is results or ErrBadQuery, never a panic or another
// error.
func FuzzSearch(f *testing.F) {
	for _, s := range []string{
		"matrix", `"matrix reloaded"`, "+the -matrix", "tags:hd", "size:>100", `published:>"2024-01-01T00:00:00Z"`,
		"relo*", "/ma.*x/", "matrx~1", "title:", `"`, "+", "-", "size:>abc", "magnet:?xt=urn:btih:" + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"magnet:?xt=urn:btmh:1220zz", "category:5000 the", "a^2 b", "\\", "日本語 -кириллица", "*", "?", "size:<-1e400",
	} {
		f.Add(s, "relevance")
	}
	f.Add("", "-date")
	f.Add("x", "size")
	s, err := Open("", Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	if err := s.Apply(testDocs(), nil, 1); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text, sort string) {
		_, err := s.Search(context.Background(), Query{Text: text, Sort: sort, Limit: 3, Facets: true, Highlight: true})
		if err != nil && !errors.Is(err, ErrBadQuery) {
			t.Fatalf("Search(%q, %q) = %v; want results or ErrBadQuery", text, sort, err)
		}
	})
}
