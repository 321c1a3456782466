package search

import (
	"container/heap"
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/numeric"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	index "github.com/blevesearch/bleve_index_api"
)

// Dear future: bleve's TopN collector, asked to break score ties by _id,
// reads the stored _id of every matching document, which more than
// doubled the latency of common-word queries. collect keeps its own top-N
// and reads an ID only when two candidates tie on their sort key, so
// equal index contents still give equal result lists.

// sortSpec is how candidates are ordered.
type sortSpec struct {
	field string // "" for score, else a numField
	asc   bool
}

// cand is one candidate in the top-N heap.
type cand struct {
	score float64
	val   int64
	iid   index.IndexInternalID
	id    string
	hasID bool
}

// collection is the outcome of collect.
type collection struct {
	total    uint64
	hits     []*cand // best first
	cats     map[uint32]int
	tags     map[string]int
	err      error
	reader   index.IndexReader
	sortSpec sortSpec
}

// collect runs q and keeps the best n candidates, counting all matches
// and, if facets, counting categories and tags.
func collect(ctx context.Context, ir index.IndexReader, m mapping.IndexMapping, q query.Query, spec sortSpec, n int, facets bool) (*collection, error) {
	opts := search.SearcherOptions{}
	if spec.field != "" {
		opts.Score = "none"
	}
	s, err := q.Searcher(ctx, ir, m, opts)
	if err != nil {
		return nil, err
	}
	defer s.Close()

	c := &collection{reader: ir, sortSpec: spec}
	var dvFields []string
	if spec.field != "" {
		dvFields = append(dvFields, spec.field)
	}
	if facets {
		c.cats, c.tags = map[uint32]int{}, map[string]int{}
		dvFields = append(dvFields, fieldCategory, fieldTags)
	}
	var dvr index.DocValueReader
	if len(dvFields) > 0 {
		if dvr, err = ir.DocValueReader(dvFields); err != nil {
			return nil, err
		}
	}

	h := &candHeap{c: c}
	pool := search.NewDocumentMatchPool(s.DocumentMatchPoolSize()+1, 0)
	sctx := &search.SearchContext{DocumentMatchPool: pool, IndexReader: ir}
	var free *cand
	for {
		if c.total&1023 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		d, err := s.Next(sctx)
		if err != nil {
			return nil, err
		}
		if d == nil {
			break
		}
		c.total++
		x := free
		if x == nil {
			x = &cand{}
		}
		free = nil
		*x = cand{score: rankScore(d.Score), iid: append(x.iid[:0], d.IndexInternalID...)}
		if dvr != nil {
			err := dvr.VisitDocValues(d.IndexInternalID, func(field string, term []byte) {
				switch field {
				case spec.field:
					if shift, err := numeric.PrefixCoded(term).Shift(); err == nil && shift == 0 {
						x.val, _ = numeric.PrefixCoded(term).Int64()
					}
				case fieldCategory:
					if v, err := strconv.ParseUint(string(term), 10, 32); err == nil {
						c.cats[uint32(v)]++
					}
				case fieldTags:
					c.tags[string(term)]++
				}
			})
			if err != nil {
				return nil, err
			}
		}
		pool.Put(d)
		if n <= 0 {
			free = x
			continue
		}
		free = h.offer(x, n)
		if c.err != nil {
			return nil, c.err
		}
	}
	return c.finish(h)
}

// offer puts x in the heap if it is among the best n, and returns the
// candidate left out (x or the one it replaced) for reuse.
func (h *candHeap) offer(x *cand, n int) *cand {
	if h.Len() < n {
		heap.Push(h, x)
		return nil
	}
	if h.c.better(x, h.cands[0]) {
		out := h.cands[0]
		h.cands[0] = x
		heap.Fix(h, 0)
		return out
	}
	return x
}

// finish sorts the heap's candidates best first into c.hits and loads
// their IDs.
func (c *collection) finish(h *candHeap) (*collection, error) {
	c.hits = h.cands
	c.sortHits()
	if c.err != nil {
		return nil, c.err
	}
	for _, x := range c.hits {
		c.loadID(x)
	}
	return c, c.err
}

// sortHits sorts c.hits best first.
func (c *collection) sortHits() {
	slices.SortFunc(c.hits, func(a, b *cand) int {
		if c.better(a, b) {
			return -1
		}
		if c.better(b, a) {
			return 1
		}
		return 0
	})
}

// better reports whether a ranks before b: by the sort key, then by ID
// ascending. It reads IDs only on ties.
func (c *collection) better(a, b *cand) bool {
	if c.sortSpec.field == "" {
		if a.score != b.score {
			return a.score > b.score
		}
	} else if a.val != b.val {
		return (a.val < b.val) == c.sortSpec.asc
	}
	c.loadID(a)
	c.loadID(b)
	return strings.Compare(a.id, b.id) < 0
}

func (c *collection) loadID(x *cand) {
	if x.hasID {
		return
	}
	id, err := c.reader.ExternalID(x.iid)
	if err != nil && c.err == nil {
		c.err = err
	}
	x.id, x.hasID = id, true
}

// candHeap keeps the worst candidate at the root.
type candHeap struct {
	c     *collection
	cands []*cand
}

func (h *candHeap) Len() int           { return len(h.cands) }
func (h *candHeap) Less(i, j int) bool { return h.c.better(h.cands[j], h.cands[i]) }
func (h *candHeap) Swap(i, j int)      { h.cands[i], h.cands[j] = h.cands[j], h.cands[i] }
func (h *candHeap) Push(x any)         { h.cands = append(h.cands, x.(*cand)) }
func (h *candHeap) Pop() any {
	x := h.cands[len(h.cands)-1]
	h.cands = h.cands[:len(h.cands)-1]
	return x
}

// docIDs restricts q to the given IDs, for the second pass that loads
// stored fields and fragments of one page.
func docIDs(q query.Query, ids []string) query.Query {
	return query.NewConjunctionQuery([]query.Query{query.NewDocIDQuery(ids), q})
}

// rankScore is a score of bleve's searchers as candidates are ranked by:
// rounded to float32. bleve sums the scores of a disjunction's clauses
// (a wildcard's terms, an OR) in the order its heap yields them, which
// depends on how the documents fell into segments (and so on batching and
// merge timing), so two documents of equal score could differ in the last
// bits and swap places between two replicas, or two runs. Rounded, they
// tie, and the tie breaks by ID. (collectTerms sums in a fixed order.)
func rankScore(s float64) float64 { return float64(float32(s)) }
