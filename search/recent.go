package search

import (
	"context"
	"slices"

	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	index "github.com/blevesearch/bleve_index_api"
)

// collectByDay answers a query sorted by publish time without text, the
// listing of the most recent entries, without reading the publish time of
// every entry: it walks the publish days from the newest (or oldest, when
// spec.asc), collecting each day's best until it holds n, as every entry
// of a later day ranks before every entry of an earlier one. Total is
// counted separately (DocCount when there is no filter). The result is
// the one collect would give.
func collectByDay(ctx context.Context, ir index.IndexReader, m mapping.IndexMapping, filter query.Query, spec sortSpec, n int) (*collection, error) {
	dict, err := ir.FieldDict(fieldPubDay)
	if err != nil {
		return nil, err
	}
	var days []string
	for {
		e, err := dict.Next()
		if err != nil {
			dict.Close()
			return nil, err
		}
		if e == nil {
			break
		}
		days = append(days, e.Term)
	}
	dict.Close()
	slices.Sort(days) // fixed-width digits: text order is day order
	if !spec.asc {
		slices.Reverse(days)
	}

	_, matchAll := filter.(*query.MatchAllQuery)
	c := &collection{reader: ir, sortSpec: spec}
	for _, day := range days {
		if len(c.hits) >= n {
			break
		}
		var dq query.Query = term(fieldPubDay, day)
		if !matchAll {
			dq = query.NewConjunctionQuery([]query.Query{dq, filter})
		}
		sub, err := collect(ctx, ir, m, dq, spec, n-len(c.hits), false)
		if err != nil {
			return nil, err
		}
		c.hits = append(c.hits, sub.hits...)
	}
	if matchAll {
		c.total, err = ir.DocCount()
	} else {
		c.total, err = count(ctx, ir, m, filter)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// count returns the number of documents q matches, without scoring. A
// term query reads the term's document count (deleted documents excluded)
// instead of walking its postings.
func count(ctx context.Context, ir index.IndexReader, m mapping.IndexMapping, q query.Query) (uint64, error) {
	if t, ok := q.(*query.TermQuery); ok {
		r, err := ir.TermFieldReader(ctx, []byte(t.Term), t.FieldVal, false, false, false)
		if err != nil {
			return 0, err
		}
		defer r.Close()
		return r.Count(), nil
	}
	s, err := q.Searcher(ctx, ir, m, search.SearcherOptions{Score: "none"})
	if err != nil {
		return 0, err
	}
	defer s.Close()
	sctx := &search.SearchContext{DocumentMatchPool: search.NewDocumentMatchPool(s.DocumentMatchPoolSize()+1, 0), IndexReader: ir}
	var n uint64
	for {
		if n&4095 == 0 && ctx.Err() != nil {
			return 0, ctx.Err()
		}
		d, err := s.Next(sctx)
		if err != nil {
			return 0, err
		}
		if d == nil {
			return n, nil
		}
		n++
		sctx.DocumentMatchPool.Put(d)
	}
}
