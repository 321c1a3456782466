package search

import (
	"context"
	"math"

	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/numeric"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
	index "github.com/blevesearch/bleve_index_api"
)

// valueRange is an inclusive range over the doc values of a numField;
// with not set it accepts what lies outside.
type valueRange struct {
	field  string
	lo, hi int64
	not    bool
}

func (r valueRange) accept(v int64) bool {
	return (v >= r.lo && v <= r.hi) != r.not
}

// rangeFilter is a bleve query: the documents of inner whose numFields
// satisfy every range. It reads the doc values of each candidate, so it
// costs O(candidates of inner); with no text, inner is every document.
type rangeFilter struct {
	inner  query.Query
	ranges []valueRange
}

// Searcher implements query.Query.
func (q *rangeFilter) Searcher(ctx context.Context, i index.IndexReader, m mapping.IndexMapping, options search.SearcherOptions) (search.Searcher, error) {
	s, err := q.inner.Searcher(ctx, i, m, options)
	if err != nil {
		return nil, err
	}
	var fields []string
	for _, r := range q.ranges {
		if !contains(fields, r.field) {
			fields = append(fields, r.field)
		}
	}
	dvr, err := i.DocValueReader(fields)
	if err != nil {
		s.Close()
		return nil, err
	}
	values := make(map[string]int64, len(fields))
	return searcher.NewFilteringSearcher(ctx, s, func(_ *search.SearchContext, d *search.DocumentMatch) bool {
		clear(values)
		err := dvr.VisitDocValues(d.IndexInternalID, func(field string, term []byte) {
			if shift, err := numeric.PrefixCoded(term).Shift(); err != nil || shift != 0 {
				return
			}
			if v, err := numeric.PrefixCoded(term).Int64(); err == nil {
				values[field] = v
			}
		})
		if err != nil {
			return false
		}
		for _, r := range q.ranges {
			v, ok := values[r.field]
			if !ok || !r.accept(v) {
				return false
			}
		}
		return true
	}), nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// asRange turns a parsed size or published range (or size:N) into a
// valueRange.
func asRange(q query.Query) (valueRange, bool) {
	switch x := q.(type) {
	case *query.NumericRangeQuery:
		if x.FieldVal != fieldSize && x.FieldVal != fieldPublished {
			return valueRange{}, false
		}
		r := valueRange{field: x.FieldVal, lo: math.MinInt64, hi: math.MaxInt64}
		if x.Min != nil {
			lo := math.Ceil(*x.Min)
			if x.InclusiveMin != nil && !*x.InclusiveMin && lo == *x.Min {
				lo++
			}
			r.lo = clampInt(lo)
		}
		if x.Max != nil {
			hi := math.Floor(*x.Max)
			if (x.InclusiveMax == nil || !*x.InclusiveMax) && hi == *x.Max {
				hi--
			}
			r.hi = clampInt(hi)
		}
		if x.FieldVal == fieldPublished {
			// A bare number on published is a Unix time in seconds.
			r.lo, r.hi = mulSat(r.lo, 1e9), mulSat(r.hi, 1e9)
		}
		return r, true
	case *query.DateRangeQuery:
		if x.FieldVal != fieldPublished {
			return valueRange{}, false
		}
		r := valueRange{field: fieldPublished, lo: math.MinInt64, hi: math.MaxInt64}
		if !x.Start.IsZero() {
			r.lo = x.Start.UnixNano()
			if x.InclusiveStart != nil && !*x.InclusiveStart {
				r.lo++
			}
		}
		if !x.End.IsZero() {
			r.hi = x.End.UnixNano()
			if x.InclusiveEnd == nil || !*x.InclusiveEnd {
				r.hi--
			}
		}
		return r, true
	case *query.DisjunctionQuery:
		// The parser reads size:N as "the word N or the number N".
		if len(x.Disjuncts) == 2 {
			if _, ok := x.Disjuncts[0].(*query.MatchQuery); ok {
				return asRange(x.Disjuncts[1])
			}
		}
	}
	return valueRange{}, false
}

func clampInt(f float64) int64 {
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	case f != f: // NaN
		return 0
	}
	return int64(f)
}

func mulSat(v, m int64) int64 {
	switch {
	case v > math.MaxInt64/m:
		return math.MaxInt64
	case v < math.MinInt64/m:
		return math.MinInt64
	}
	return v * m
}
