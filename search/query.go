package search

import (
	"context"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
	index "github.com/blevesearch/bleve_index_api"
)

// maxClauses bounds the terms a wildcard, regexp, fuzzy or range query may
// expand to; a larger expansion is an ErrBadQuery.
const maxClauses = 10000

// maxPublisherScan bounds the documents read to count the publishers of
// the infohashes on one page; beyond it, Hit.Publishers is a lower bound.
const maxPublisherScan = 2000

// maxLimit bounds Query.Limit.
const maxLimit = 1000

// maxOffset bounds Query.Offset: deeper pages cost a top-N heap that deep.
const maxOffset = 10000

func init() {
	searcher.DisjunctionMaxClauseCount = maxClauses
}

// Query is one search.
type Query struct {
	// Text uses bleve's query-string syntax: words (all must match, as in
	// a search box), "phrases" (within a title or a name), +must, -not,
	// field:value (tags:, category:, author:, index:, infohash_v1:,
	// infohash_v2:; title:, name:, description: and files: search the
	// shared text field), wildcards (matr*), /regexps/, fuzzy~1, and
	// size:>N, published:>"2024-01-01". A 40- or 64-hex infohash or a
	// magnet link finds that entry directly. Empty Text lists the most
	// recent entries.
	Text string
	// Index restricts the search to these index keys (any of them). Empty
	// means all.
	Index []string
	// Categories restricts to any of these Torznab categories; a parent
	// category (a multiple of 1000) matches its subcategories.
	Categories []uint32
	// Tags restricts to entries carrying all these tags (case-insensitive).
	Tags []string
	// Authors restricts to entries by any of these identities.
	Authors []string
	// ExcludeAuthors hides the entries of these identities (muted).
	ExcludeAuthors []string
	// IndexAuthors keeps, in each index it names, only the entries by the
	// identities listed for it (a follow's --author); other indexes are
	// not affected.
	IndexAuthors map[string][]string
	// ExcludeIndexes hides the entries of these indexes (being removed);
	// publisher counts leave them out too.
	ExcludeIndexes []string
	// ExcludeIDs hides these entries (64 lowercase hex) from the hits
	// and the total. Publisher counts are not reduced by it: it is meant
	// for whole infohash groups (a blocklist), which then show nowhere.
	ExcludeIDs []string
	// Sort is "relevance", "date" (newest first) or "size" (largest
	// first); a "-" prefix reverses date and size (oldest, smallest
	// first). Ties break by entry ID ascending. Default: "relevance", or
	// "date" when Text is empty.
	Sort string
	// Offset and Limit select the page. Default Limit: 20; at most 1000.
	Offset, Limit int
	// Facets asks for counts by category and tag over all matches.
	Facets bool
	// Highlight asks for fragments of title and name with the matched
	// words marked <mark>…</mark> (HTML-escaped otherwise).
	Highlight bool
	// MinSize and MaxSize bound the total size in bytes (0 = no bound).
	MinSize, MaxSize uint64
	// Since drops entries published before it (zero = no bound).
	Since time.Time
}

// Hit is one result. Entries sharing an infohash are collapsed into the
// best-ranked of them; Publishers is how many entries carry that infohash
// (among those the query's Index, ExcludeAuthors and ExcludeIndexes allow).
type Hit struct {
	ID                     string
	Score                  float64
	Fragments              map[string][]string
	InfohashV1, InfohashV2 string
	Publishers             int
}

// Result is the answer to a Query. Total counts matching entries before
// collapsing. Categories and Tags are facets, set when Query.Facets is.
type Result struct {
	Total      uint64
	Hits       []Hit
	Categories map[uint32]int
	Tags       map[string]int
	Took       time.Duration
}

// Search runs q. Malformed query text returns an error wrapping
// ErrBadQuery with the parser's message. Equal index contents give equal
// results: ranking ties break by ID.
func (s *Index) Search(ctx context.Context, q Query) (res *Result, err error) {
	start := time.Now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	// Dear future: bleve's query-string parser recovers its own panics,
	// but searchers built from odd queries have panicked in the past; a
	// query is user input, so no panic may escape.
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("%w: %v", ErrBadQuery, r)
		}
	}()

	tq, spec, err := buildQuery(q)
	if err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 20
	}
	limit = min(limit, maxLimit)
	offset := max(q.Offset, 0)
	if offset > maxOffset {
		return nil, fmt.Errorf("%w: offset %d beyond %d", ErrBadQuery, offset, maxOffset)
	}

	v, err := s.view()
	if err != nil {
		return nil, err
	}
	defer v.close()
	k := len(v.readers)
	m := s.shards[0].idx.Mapping()
	n := offset + limit + s.opts.collapseWindow()
	terms, onlyTerms := termsOf(tq, nil)
	cols := make([]*collection, k)
	err = eachShard(k, func(i int) error {
		ir := v.readers[i]
		if spec.field == "" { // ranked by score: score with all shards' statistics
			var err error
			if ir, err = v.scoring(i); err != nil {
				return err
			}
		}
		var err error
		switch {
		case strings.TrimSpace(q.Text) == "" && spec.field == fieldPublished && !q.Facets:
			cols[i], err = collectByDay(ctx, ir, m, tq, spec, n)
		case onlyTerms && spec.field == "" && !q.Facets && !s.opts.noFastPath:
			cols[i], err = collectTerms(ctx, ir, terms, n)
		default:
			cols[i], err = collect(ctx, ir, m, tq, spec, n, q.Facets)
		}
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %v", ErrBadQuery, err)
	}
	col := merge(cols, spec, n)
	res = &Result{Total: col.total}
	if q.Facets {
		res.Categories, res.Tags = col.cats, col.tags
	}
	page := col.hits[min(offset, len(col.hits)):]
	if len(page) == 0 {
		res.Took = time.Since(start)
		return res, nil
	}

	// Second pass over this page only, each shard for its own hits: stored
	// infohashes and fragments. Candidates are loaded in order until they
	// fill the page after collapsing (the window beyond is for reposts,
	// about 2 % of entries, and mostly stays unread).
	var mu sync.Mutex
	byID := make(map[string]*search.DocumentMatch, len(page))
	load := func(cands []*cand) error {
		ids := make([][]string, k)
		for _, c := range cands {
			i := shardOf(c.id, k)
			ids[i] = append(ids[i], c.id)
		}
		return eachShard(k, func(i int) error {
			if len(ids[i]) == 0 {
				return nil
			}
			// The IDs match already; tq is needed only for the term
			// locations that highlighting marks (and bleve's match-all
			// Advance walks every document, so it must not come along
			// otherwise).
			var pq query.Query = query.NewDocIDQuery(ids[i])
			if q.Highlight && strings.TrimSpace(q.Text) != "" {
				pq = docIDs(tq, ids[i])
			}
			req := bleve.NewSearchRequestOptions(pq, len(ids[i]), 0, false)
			req.Fields = []string{fieldV1, fieldV2}
			if q.Highlight {
				req.Highlight = bleve.NewHighlightWithStyle("html")
				req.Highlight.Fields = []string{fieldTitle, fieldName}
			} else {
				req.Score = "none"
			}
			sr, err := s.shards[i].idx.SearchInContext(ctx, req)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for _, h := range sr.Hits {
				byID[h.ID] = h
			}
			return nil
		})
	}
	var groups []group
	for loaded := 0; ; {
		upto := min(len(page), max(limit, loaded+limit-len(groups)+4))
		if err := load(page[loaded:upto]); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("search: loading page: %w", err)
		}
		loaded = upto
		ordered := make(search.DocumentMatchCollection, 0, loaded)
		for _, c := range page[:loaded] {
			h := byID[c.id]
			if h == nil {
				h = &search.DocumentMatch{ID: c.id}
			}
			h.Score = c.score
			ordered = append(ordered, h)
		}
		groups = collapse(ordered, limit)
		if len(groups) >= limit || loaded == len(page) {
			break
		}
	}
	res.Hits = make([]Hit, len(groups))
	for i, g := range groups {
		h := g.hit
		res.Hits[i] = Hit{ID: h.ID, Score: h.Score, InfohashV1: g.v1, InfohashV2: g.v2, Publishers: g.n}
		if len(h.Fragments) > 0 {
			res.Hits[i].Fragments = h.Fragments
		}
	}
	if err := s.countPublishers(ctx, v, q, res.Hits); err != nil {
		return nil, err
	}
	res.Took = time.Since(start)
	return res, nil
}

type group struct {
	hit    *search.DocumentMatch
	v1, v2 string
	n      int
}

// collapse keeps the first (best-ranked) hit of each infohash, up to limit
// groups. Two hits share a group when their v1 or their v2 infohashes are
// equal and not empty.
func collapse(hits search.DocumentMatchCollection, limit int) []group {
	var gs []group
	for _, h := range hits {
		v1, _ := h.Fields[fieldV1].(string)
		v2, _ := h.Fields[fieldV2].(string)
		found := false
		for i := range gs {
			if (v1 != "" && gs[i].v1 == v1) || (v2 != "" && gs[i].v2 == v2) {
				gs[i].n++
				if gs[i].v1 == "" {
					gs[i].v1 = v1
				}
				if gs[i].v2 == "" {
					gs[i].v2 = v2
				}
				found = true
				break
			}
		}
		if !found && len(gs) < limit {
			gs = append(gs, group{hit: h, v1: v1, v2: v2, n: 1})
		}
	}
	return gs
}

// countPublishers sets Publishers of each hit to the number of entries
// sharing its infohash, within q's Index, ExcludeAuthors and ExcludeIndexes.
func (s *Index) countPublishers(ctx context.Context, v *view, q Query, hits []Hit) error {
	var terms []query.Query
	for _, h := range hits {
		if h.InfohashV1 != "" {
			terms = append(terms, term(fieldV1, h.InfohashV1))
		}
		if h.InfohashV2 != "" {
			terms = append(terms, term(fieldV2, h.InfohashV2))
		}
	}
	if len(terms) == 0 {
		return nil
	}
	if len(q.Index) == 0 && len(q.ExcludeAuthors) == 0 && len(q.ExcludeIndexes) == 0 && len(q.IndexAuthors) == 0 && !s.opts.noPostingCount {
		if done, err := countPublishersByPostings(ctx, v, hits); done || err != nil {
			return err
		}
	}
	bq := query.NewBooleanQuery([]query.Query{query.NewDisjunctionQuery(terms)}, nil, nil)
	if len(q.Index) > 0 {
		bq.AddMust(anyTerm(fieldIndex, q.Index))
	}
	if len(q.ExcludeAuthors) > 0 {
		bq.AddMustNot(anyTerm(fieldAuthor, q.ExcludeAuthors))
	}
	if len(q.ExcludeIndexes) > 0 {
		bq.AddMustNot(anyTerm(fieldIndex, q.ExcludeIndexes))
	}
	bq.AddMustNot(othersIn(q.IndexAuthors)...)
	req := bleve.NewSearchRequestOptions(bq, maxPublisherScan, 0, false)
	req.Fields = []string{fieldV1, fieldV2}
	req.Score = "none"
	req.SortBy([]string{"_id"})
	sr, err := s.alias().SearchInContext(ctx, req)
	if err != nil {
		return fmt.Errorf("search: counting publishers: %w", err)
	}
	for i := range hits {
		n := 0
		for _, d := range sr.Hits {
			v1, _ := d.Fields[fieldV1].(string)
			v2, _ := d.Fields[fieldV2].(string)
			if (v1 != "" && v1 == hits[i].InfohashV1) || (v2 != "" && v2 == hits[i].InfohashV2) {
				n++
			}
		}
		hits[i].Publishers = max(n, hits[i].Publishers, 1)
	}
	return nil
}

// countPublishersByPostings is countPublishers without an index or author
// filter: it counts the documents in the postings of each hit's infohashes
// instead of searching, sorting by _id and loading the stored infohashes of
// every match (at 200k entries that search was a quarter of a query's
// time). It gives up (false) when the postings hold more than
// maxPublisherScan documents, where countPublishers' bound applies, so the
// counts are always the same as countPublishers'.
func countPublishersByPostings(ctx context.Context, v *view, hits []Hit) (bool, error) {
	k := len(v.readers)
	counts := make([][]int, k) // per shard, per hit
	var scanned atomic.Int64
	var over atomic.Bool
	err := eachShard(k, func(si int) error {
		ir := v.readers[si]
		counts[si] = make([]int, len(hits))
		var tfd index.TermFieldDoc
		for i, h := range hits {
			seen := map[string]bool{}
			for _, ft := range [2][2]string{{fieldV1, h.InfohashV1}, {fieldV2, h.InfohashV2}} {
				if ft[1] == "" {
					continue
				}
				r, err := ir.TermFieldReader(ctx, []byte(ft[1]), ft[0], false, false, false)
				if err != nil {
					return fmt.Errorf("search: counting publishers: %w", err)
				}
				if scanned.Add(int64(r.Count())) > maxPublisherScan || over.Load() {
					over.Store(true)
					r.Close()
					return nil
				}
				for {
					d, err := r.Next(&tfd)
					if err != nil {
						r.Close()
						return fmt.Errorf("search: counting publishers: %w", err)
					}
					if d == nil {
						break
					}
					seen[string(d.ID)] = true
				}
				r.Close()
			}
			counts[si][i] = len(seen)
		}
		return nil
	})
	if err != nil || over.Load() {
		return false, err
	}
	for i := range hits {
		n := 0
		for si := range k {
			n += counts[si][i]
		}
		hits[i].Publishers = max(n, hits[i].Publishers, 1)
	}
	return true, nil
}

func term(field, value string) *query.TermQuery {
	t := query.NewTermQuery(value)
	t.SetField(field)
	return t
}

func anyTerm(field string, values []string) query.Query {
	qs := make([]query.Query, len(values))
	for i, v := range values {
		qs[i] = term(field, v)
	}
	if len(qs) == 1 {
		return qs[0]
	}
	return query.NewDisjunctionQuery(qs)
}

// buildQuery turns q into a bleve query and sort order.
func buildQuery(q Query) (query.Query, sortSpec, error) {
	text := strings.TrimSpace(q.Text)
	sortKey := q.Sort
	if sortKey == "" {
		sortKey = "relevance"
		if text == "" {
			sortKey = "date"
		}
	}
	var spec sortSpec
	switch sortKey {
	case "relevance":
	case "date":
		spec = sortSpec{field: fieldPublished}
	case "-date":
		spec = sortSpec{field: fieldPublished, asc: true}
	case "size":
		spec = sortSpec{field: fieldSize}
	case "-size":
		spec = sortSpec{field: fieldSize, asc: true}
	default:
		return nil, spec, fmt.Errorf("%w: unknown sort %q (want relevance, date, size, -date or -size)", ErrBadQuery, q.Sort)
	}

	var must []query.Query
	var ranges []valueRange
	switch v1, v2, isHash, err := ParseInfohash(text); {
	case err != nil:
		return nil, spec, err
	case isHash:
		var alts []query.Query
		for _, h := range v1 {
			alts = append(alts, term(fieldV1, h))
			// A v2-only torrent is known to v1 clients by its truncated
			// v2 infohash.
			p := query.NewPrefixQuery(h)
			p.SetField(fieldV2)
			alts = append(alts, p)
		}
		for _, h := range v2 {
			alts = append(alts, term(fieldV2, h))
		}
		must = append(must, query.NewDisjunctionQuery(alts))
	case text != "":
		parsed, err := query.NewQueryStringQuery(text).Parse()
		if err != nil {
			return nil, spec, fmt.Errorf("%w: %v", ErrBadQuery, err)
		}
		tq, rs := rewriteTop(parsed)
		ranges = append(ranges, rs...)
		if tq != nil {
			must = append(must, tq)
		}
	}

	var mustNot []query.Query
	if len(q.Index) > 0 {
		must = append(must, anyTerm(fieldIndex, q.Index))
	}
	if len(q.Categories) > 0 {
		cs := make([]query.Query, len(q.Categories))
		for i, c := range q.Categories {
			if c%1000 == 0 {
				cs[i] = term(fieldCatGroup, strconv.FormatUint(uint64(c), 10))
			} else {
				cs[i] = term(fieldCategory, strconv.FormatUint(uint64(c), 10))
			}
		}
		if len(cs) == 1 {
			must = append(must, cs[0])
		} else {
			must = append(must, query.NewDisjunctionQuery(cs))
		}
	}
	for _, t := range q.Tags {
		must = append(must, term(fieldTags, normTag(t)))
	}
	if len(q.Authors) > 0 {
		must = append(must, anyTerm(fieldAuthor, q.Authors))
	}
	if len(q.ExcludeAuthors) > 0 {
		mustNot = append(mustNot, anyTerm(fieldAuthor, q.ExcludeAuthors))
	}
	if len(q.ExcludeIndexes) > 0 {
		mustNot = append(mustNot, anyTerm(fieldIndex, q.ExcludeIndexes))
	}
	mustNot = append(mustNot, othersIn(q.IndexAuthors)...)
	if len(q.ExcludeIDs) > 0 {
		mustNot = append(mustNot, query.NewDocIDQuery(q.ExcludeIDs))
	}
	if q.MinSize > 0 || q.MaxSize > 0 {
		r := valueRange{field: fieldSize, lo: int64(min(q.MinSize, math.MaxInt64)), hi: math.MaxInt64}
		if q.MaxSize > 0 {
			r.hi = int64(min(q.MaxSize, math.MaxInt64))
		}
		ranges = append(ranges, r)
	}
	if !q.Since.IsZero() {
		ranges = append(ranges, valueRange{field: fieldPublished, lo: q.Since.UnixNano(), hi: math.MaxInt64})
	}
	if len(must) == 0 {
		must = append(must, query.NewMatchAllQuery())
	}
	var out query.Query
	if len(must) == 1 && len(mustNot) == 0 {
		out = must[0]
	} else {
		out = query.NewBooleanQuery(must, nil, mustNot)
	}
	if len(ranges) > 0 {
		out = &rangeFilter{inner: out, ranges: ranges}
	}
	return out, spec, nil
}

// othersIn matches, for each index of ia, its entries by anyone but the
// identities listed for it: what IndexAuthors hides. Indexes come in key
// order, so equal queries build equal trees.
func othersIn(ia map[string][]string) []query.Query {
	var out []query.Query
	for _, idx := range slices.Sorted(maps.Keys(ia)) {
		if len(ia[idx]) == 0 {
			continue
		}
		out = append(out, query.NewBooleanQuery([]query.Query{term(fieldIndex, idx)}, nil, []query.Query{anyTerm(fieldAuthor, ia[idx])}))
	}
	return out
}

// ParseInfohash recognises a bare 40- or 64-hex infohash or a magnet link
// and returns the v1 and v2 infohashes in lowercase hex; ok is false for
// any other text. A malformed magnet link, or one without any BitTorrent
// infohash, is an ErrBadQuery.
func ParseInfohash(text string) (v1, v2 []string, ok bool, err error) {
	if isHex(text) {
		switch len(text) {
		case 40:
			return []string{strings.ToLower(text)}, nil, true, nil
		case 64:
			return nil, []string{strings.ToLower(text)}, true, nil
		}
	}
	if len(text) < 8 || !strings.EqualFold(text[:8], "magnet:?") {
		return nil, nil, false, nil
	}
	vals, perr := url.ParseQuery(text[8:])
	if perr != nil {
		return nil, nil, false, fmt.Errorf("%w: malformed magnet link: %v", ErrBadQuery, perr)
	}
	for _, xt := range vals["xt"] {
		lower := strings.ToLower(xt)
		switch {
		case strings.HasPrefix(lower, "urn:btih:"):
			h := xt[len("urn:btih:"):]
			if len(h) == 40 && isHex(h) {
				v1 = append(v1, strings.ToLower(h))
			} else if len(h) == 32 {
				if b, err := base32.StdEncoding.DecodeString(strings.ToUpper(h)); err == nil {
					v1 = append(v1, hex.EncodeToString(b))
				}
			}
		case strings.HasPrefix(lower, "urn:btmh:1220"):
			h := lower[len("urn:btmh:1220"):]
			if len(h) == 64 && isHex(h) {
				v2 = append(v2, h)
			}
		}
	}
	if len(v1) == 0 && len(v2) == 0 {
		return nil, nil, false, fmt.Errorf("%w: magnet link without a BitTorrent infohash (xt=urn:btih: or urn:btmh:1220)", ErrBadQuery)
	}
	return v1, v2, true, nil
}

func isHex(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// rewriteTop turns the parser's boolean query, whose plain clauses are
// "should" (any word), into one where plain clauses must all match, and
// takes out the size and published ranges, which are checked on doc
// values. It returns a nil query when only ranges remain.
func rewriteTop(q query.Query) (query.Query, []valueRange) {
	bq, ok := q.(*query.BooleanQuery)
	if !ok {
		if r, ok := asRange(q); ok {
			return nil, []valueRange{r}
		}
		return rewrite(q), nil
	}
	var clauses, plain, not []query.Query
	if c, ok := bq.Must.(*query.ConjunctionQuery); ok {
		clauses = append(clauses, c.Conjuncts...)
	} else if bq.Must != nil {
		clauses = append(clauses, bq.Must)
	}
	if d, ok := bq.Should.(*query.DisjunctionQuery); ok {
		plain = append(plain, d.Disjuncts...)
	} else if bq.Should != nil {
		plain = append(plain, bq.Should)
	}
	// Plain stopwords ("the", "of") go when other words remain: they
	// match most entries, cost the most and rank nothing. "+the" keeps one.
	kept := plain[:0:0]
	for _, c := range plain {
		if !isStopword(c) {
			kept = append(kept, c)
		}
	}
	if len(kept) > 0 || len(clauses) > 0 {
		plain = kept
	}
	clauses = append(clauses, plain...)
	if d, ok := bq.MustNot.(*query.DisjunctionQuery); ok {
		not = append(not, d.Disjuncts...)
	} else if bq.MustNot != nil {
		not = append(not, bq.MustNot)
	}
	var must, mustNot []query.Query
	var ranges []valueRange
	for _, c := range clauses {
		if r, ok := asRange(c); ok {
			ranges = append(ranges, r)
		} else {
			must = append(must, rewrite(c))
		}
	}
	for _, c := range not {
		if r, ok := asRange(c); ok {
			r.not = true
			ranges = append(ranges, r)
		} else {
			mustNot = append(mustNot, rewrite(c))
		}
	}
	switch {
	case len(must) == 0 && len(mustNot) == 0:
		return nil, ranges
	case len(must) == 1 && len(mustNot) == 0:
		// A conjunction of one costs a fifth more per hit.
		return must[0], ranges
	case len(must) == 0:
		must = append(must, query.NewMatchAllQuery())
	}
	return query.NewBooleanQueryForQueryString(must, nil, mustNot), ranges
}

// textField maps the field a user named to the indexed field.
func mapField(f string) (field string, isText bool) {
	switch f {
	case "", fieldText, fieldTitle, fieldName, fieldDescription, fieldFiles:
		return fieldText, true
	}
	return f, false
}

// rewrite adapts one clause of a parsed query string to this index.
func rewrite(q query.Query) query.Query {
	switch x := q.(type) {
	case *query.MatchQuery:
		f, isText := mapField(x.FieldVal)
		x.FieldVal = f
		x.Operator = query.MatchQueryOperatorAnd
		if f == fieldTags {
			x.Match = normTag(x.Match)
		}
		if x.Fuzziness != 0 || x.Prefix != 0 {
			if isText {
				x.Analyzer = QueryAnalyzerName
			}
			return x
		}
		// bleve makes a conjunction even of one term, which costs a fifth
		// more per hit: build the term queries here.
		words := []string{x.Match}
		if isText {
			words = words[:0]
			for _, t := range queryAnalyzer.Analyze([]byte(x.Match)) {
				words = append(words, string(t.Term))
			}
		}
		var terms []query.Query
		for _, w := range words {
			t := term(f, w)
			t.SetBoost(x.BoostVal.Value())
			terms = append(terms, t)
		}
		switch len(terms) {
		case 0:
			return query.NewMatchNoneQuery()
		case 1:
			return terms[0]
		}
		return query.NewConjunctionQuery(terms)
	case *query.MatchPhraseQuery:
		f, isText := mapField(x.FieldVal)
		x.FieldVal = f
		if isText && x.Analyzer == "" {
			// Words only, as for single words: with each word's parts as
			// alternatives, "show s01" matched S02E01 by its "s".
			x.Analyzer = QueryAnalyzerName
		}
		return x
	case *query.WildcardQuery:
		f, isText := mapField(x.FieldVal)
		x.FieldVal = f
		if isText {
			x.Wildcard = strings.ToLower(x.Wildcard)
		}
		return x
	case *query.RegexpQuery:
		x.FieldVal, _ = mapField(x.FieldVal)
		return x
	case *query.FuzzyQuery:
		f, isText := mapField(x.FieldVal)
		x.FieldVal = f
		if isText {
			x.Term = strings.ToLower(x.Term)
		}
		return x
	case *query.PrefixQuery:
		f, isText := mapField(x.FieldVal)
		x.FieldVal = f
		if isText {
			x.Prefix = strings.ToLower(x.Prefix)
		}
		return x
	case *query.DisjunctionQuery:
		// The parser reads a number as "the word, or the number": keep
		// the number only for the numeric field, the word elsewhere.
		if len(x.Disjuncts) == 2 {
			m, ok1 := x.Disjuncts[0].(*query.MatchQuery)
			n, ok2 := x.Disjuncts[1].(*query.NumericRangeQuery)
			if ok1 && ok2 && n.FieldVal != fieldSize && n.FieldVal != fieldPublished {
				return rewrite(m)
			}
		}
		for i, d := range x.Disjuncts {
			x.Disjuncts[i] = rewrite(d)
		}
		return x
	case *query.ConjunctionQuery:
		for i, c := range x.Conjuncts {
			x.Conjuncts[i] = rewrite(c)
		}
		return x
	}
	return q
}

// stopwords are dropped from plain query words when other words remain.
var stopwords = map[string]bool{
	"a": true, "an": true, "and": true, "at": true, "by": true, "de": true, "for": true,
	"from": true, "in": true, "is": true, "la": true, "le": true, "of": true, "on": true,
	"or": true, "the": true, "to": true, "with": true,
}

func isStopword(q query.Query) bool {
	m, ok := q.(*query.MatchQuery)
	if !ok {
		return false
	}
	if _, isText := mapField(m.FieldVal); !isText || m.FieldVal != "" {
		return false
	}
	return stopwords[strings.ToLower(m.Match)]
}
