package search

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestShardsGiveOneIndexResults indexes the same documents into 1, 2 and
// 3 shards (in several segments each, with deletes) and checks that every
// kind of query gives the same hits, scores, totals, facets and publisher
// counts: each shard scores with the statistics of all.
func TestShardsGiveOneIndexResults(t *testing.T) {
	docs := genDocsForTest(3000)
	// Reposts: a few documents share an earlier one's infohashes.
	for i := 100; i < 3000; i += 97 {
		docs[i].InfohashV1, docs[i].InfohashV2 = docs[i-50].InfohashV1, docs[i-50].InfohashV2
	}
	var deletes []string
	for i := 7; i < 3000; i += 131 {
		deletes = append(deletes, docs[i].ID)
	}
	open := func(shards int) *Index {
		s, err := Open("", Options{BatchSize: 300, Shards: shards})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		for i := 0; i < len(docs); i += 1000 {
			if err := s.Apply(docs[i:i+1000], nil, uint64(i+1)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Apply(nil, deletes, 9); err != nil {
			t.Fatal(err)
		}
		return s
	}
	one := open(1)
	queries := []Query{
		{Text: "love"}, {Text: "dark night"}, {Text: "the"}, {Text: "last man 1080p"},
		{Text: `"the dark"`}, {Text: "lov*"}, {Text: "love -night"}, {Text: "love night~1"},
		{Text: "title:love description:the"}, {Text: "love", Categories: []uint32{2000}},
		{Text: "night", Categories: []uint32{5040}, Tags: []string{"hd"}},
		{Text: "world", Limit: 50, Offset: 10}, {Text: "king of the", Facets: true},
		{Text: "love", Highlight: true}, {Text: "love", Sort: "size"}, {Text: "the", Sort: "-date"},
		{}, {Categories: []uint32{2000}}, {Sort: "-date", Limit: 30}, {Text: "love", Authors: []string{"author7"}},
		{Text: "love", Index: []string{"bench"}}, {Text: "size:>1000000000 love"}, {Text: "zzzz"},
	}
	for _, k := range []int{2, 3} {
		sharded := open(k)
		if n, _ := sharded.Count(); n != uint64(len(docs)-len(deletes)) {
			t.Fatalf("%d shards hold %d documents; want %d", k, n, len(docs)-len(deletes))
		}
		if c, _ := sharded.Cursor(); c != 9 {
			t.Errorf("%d shards: Cursor() = %d; want 9", k, c)
		}
		multi := 0
		for _, q := range queries {
			a, err := one.Search(context.Background(), q)
			if err != nil {
				t.Fatalf("%+v: %v", q, err)
			}
			b, err := sharded.Search(context.Background(), q)
			if err != nil {
				t.Fatalf("%+v on %d shards: %v", q, k, err)
			}
			if !slices.Equal(ids(a), ids(b)) || a.Total != b.Total {
				t.Errorf("%+v: one index %v (%d); %d shards %v (%d)", q, ids(a), a.Total, k, ids(b), b.Total)
				continue
			}
			for i := range a.Hits {
				ha, hb := a.Hits[i], b.Hits[i]
				if math.Abs(ha.Score-hb.Score) > 1e-9*math.Abs(ha.Score) || ha.Publishers != hb.Publishers ||
					ha.InfohashV1 != hb.InfohashV1 || fmt.Sprint(ha.Fragments) != fmt.Sprint(hb.Fragments) {
					t.Errorf("%+v hit %d: one index %+v; %d shards %+v", q, i, ha, k, hb)
				}
				if ha.Publishers > 1 {
					multi++
				}
			}
			if fmt.Sprint(a.Categories, a.Tags) != fmt.Sprint(b.Categories, b.Tags) {
				t.Errorf("%+v: facets differ: %v %v / %v %v", q, a.Categories, a.Tags, b.Categories, b.Tags)
			}
		}
		if multi == 0 {
			t.Error("no hit with several publishers: the publisher counts were not compared")
		}
	}
}

// An index built with another number of shards, or in the layout before
// shards, is discarded on Open: its cursor reads 0 so the caller rebuilds.
func TestReopenWithOtherShards(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(testDocs(), nil, 5); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	reopen := func(shards int, wantCursor uint64, wantDocs uint64) {
		t.Helper()
		s, err := Open(dir, Options{Shards: shards})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if c, err := s.Cursor(); err != nil || c != wantCursor {
			t.Errorf("%d shards: Cursor() = %d, %v; want %d", shards, c, err, wantCursor)
		}
		if n, _ := s.Count(); n != wantDocs {
			t.Errorf("%d shards: Count() = %d; want %d", shards, n, wantDocs)
		}
	}
	reopen(2, 5, 5)
	reopen(3, 0, 0)
	reopen(1, 0, 0)
	// The single index of earlier versions sat in dir itself.
	if err := os.WriteFile(filepath.Join(dir, "index_meta.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	reopen(1, 0, 0)
	if _, err := os.Stat(filepath.Join(dir, "index_meta.json")); err == nil {
		t.Error("the old layout's files were kept")
	}
}
