package search

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	index "github.com/blevesearch/bleve_index_api"
)

// Dear future: bleve walks the postings of every query word and has no
// early termination, so a common-word query at 1M entries costs 5–7 ms of
// one core however lean the index. Spreading the documents over shards and
// asking them all at once puts every core on one query; feeding them at
// once does the same for indexing. Each shard scores with the document and
// term counts of all shards together (statsReader), so a hit's score is the
// one a single index would give and results do not depend on the number of
// shards.

// defaultShards is Options.Shards' default: the cores of the machine this
// was measured on (BENCHMARKS.md, section "pipeline"). It is fixed, not
// GOMAXPROCS, so that a data directory moved to another machine stays valid.
const defaultShards = 2

// maxShards bounds Options.Shards.
const maxShards = 16

// shardOf returns the shard (of k) that holds the document with id.
func shardOf(id string, k int) int {
	if k <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % uint32(k))
}

// eachShard runs fn for 0..k-1 at once and returns their errors joined.
// A panic in fn (bleve's searchers have panicked on odd queries) becomes
// an error: it must not take the process down from another goroutine.
func eachShard(k int, fn func(i int) error) error {
	run := func(i int) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%w: %v", errPanic, r)
			}
		}()
		return fn(i)
	}
	if k == 1 {
		return run(0)
	}
	errs := make([]error, k)
	var wg sync.WaitGroup
	for i := 1; i < k; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = run(i)
		}()
	}
	errs[0] = run(0)
	wg.Wait()
	return errors.Join(errs...)
}

// errPanic marks an error that was a panic in a shard's search.
var errPanic = errors.New("search: internal error")

// alias is one bleve index over all shards, for the searches bleve merges
// itself (sorted by _id).
func (s *Index) alias() bleve.IndexAlias {
	idxs := make([]bleve.Index, len(s.shards))
	for i, sh := range s.shards {
		idxs[i] = sh.idx
	}
	return bleve.NewIndexAlias(idxs...)
}

// view is one search's readers of every shard, with the statistics of
// all of them together.
type view struct {
	readers []index.IndexReader
	snaps   []*scorch.IndexSnapshot // readers as scorch's, nil if one is not
	docs    uint64                  // documents in all shards

	mu     sync.Mutex
	counts map[string]uint64 // field, 0, term -> documents in all shards
}

// view opens a reader on every shard. The caller closes it.
func (s *Index) view() (*view, error) {
	v := &view{counts: map[string]uint64{}}
	for _, sh := range s.shards {
		adv, err := sh.idx.Advanced()
		if err != nil {
			v.close()
			return nil, fmt.Errorf("search: %w", err)
		}
		ir, err := adv.Reader()
		if err != nil {
			v.close()
			return nil, fmt.Errorf("search: opening reader: %w", err)
		}
		v.readers = append(v.readers, ir)
		n, err := ir.DocCount()
		if err != nil {
			v.close()
			return nil, fmt.Errorf("search: counting: %w", err)
		}
		v.docs += n
		if is, ok := ir.(*scorch.IndexSnapshot); ok {
			v.snaps = append(v.snaps, is)
		}
	}
	if len(v.snaps) != len(v.readers) {
		v.snaps = nil
	}
	return v, nil
}

func (v *view) close() {
	for _, r := range v.readers {
		r.Close()
	}
}

// scoring returns shard i's reader for searches whose scores matter: it
// reports the document count and term counts of all shards.
func (v *view) scoring(i int) (index.IndexReader, error) {
	if len(v.readers) == 1 {
		return v.readers[0], nil
	}
	if v.snaps == nil {
		return nil, fmt.Errorf("search: shard reader %T is not scorch's", v.readers[i])
	}
	return &statsReader{IndexSnapshot: v.snaps[i], v: v}, nil
}

// termCount returns how many documents of all shards hold term in field.
func (v *view) termCount(ctx context.Context, term []byte, field string) (uint64, error) {
	key := field + "\x00" + string(term)
	v.mu.Lock()
	n, ok := v.counts[key]
	v.mu.Unlock()
	if ok {
		return n, nil
	}
	n = 0
	for _, r := range v.readers {
		tfr, err := r.TermFieldReader(ctx, term, field, false, false, false)
		if err != nil {
			return 0, err
		}
		n += tfr.Count()
		tfr.Close()
	}
	v.mu.Lock()
	v.counts[key] = n
	v.mu.Unlock()
	return n, nil
}

// statsReader is a shard's reader whose DocCount and TermFieldReader
// counts are those of all shards, the statistics bleve's TF-IDF (and
// collectTerms) score with. Everything else is the shard's own.
type statsReader struct {
	*scorch.IndexSnapshot
	v *view
}

func (r *statsReader) DocCount() (uint64, error) { return r.v.docs, nil }

func (r *statsReader) TermFieldReader(ctx context.Context, term []byte, field string, includeFreq, includeNorm, includeTermVectors bool) (index.TermFieldReader, error) {
	tfr, err := r.IndexSnapshot.TermFieldReader(ctx, term, field, includeFreq, includeNorm, includeTermVectors)
	if err != nil {
		return nil, err
	}
	n, err := r.v.termCount(ctx, term, field)
	if err != nil {
		tfr.Close()
		return nil, err
	}
	return &countedReader{TermFieldReader: tfr, count: n}, nil
}

// countedReader is a shard's TermFieldReader reporting the count of all
// shards. It passes bleve's optimisations (conjunctions intersect their
// postings bitmaps first) through to the shard's reader.
type countedReader struct {
	index.TermFieldReader
	count uint64
}

func (r *countedReader) Count() uint64 { return r.count }

func (r *countedReader) Optimize(kind string, octx index.OptimizableContext) (index.OptimizableContext, error) {
	if o, ok := r.TermFieldReader.(index.Optimizable); ok {
		return o.Optimize(kind, octx)
	}
	return nil, nil
}

// merge combines the collections of the shards of one search: the best n
// hits of all (every hit's ID is loaded), the totals and facets summed.
func merge(cols []*collection, spec sortSpec, n int) *collection {
	if len(cols) == 1 {
		return cols[0]
	}
	out := &collection{sortSpec: spec}
	for _, c := range cols {
		out.total += c.total
		out.hits = append(out.hits, c.hits...)
		if c.cats != nil {
			if out.cats == nil {
				out.cats, out.tags = map[uint32]int{}, map[string]int{}
			}
			for k, x := range c.cats {
				out.cats[k] += x
			}
			for k, x := range c.tags {
				out.tags[k] += x
			}
		}
	}
	out.sortHits()
	if n >= 0 && len(out.hits) > n {
		out.hits = out.hits[:n]
	}
	return out
}

// Dear future: a wildcard, prefix, fuzzy or range query expands into the
// terms of the dictionary, and bleve's disjunction over them scores with
// the number of terms (coordination and query norm). Expanded in each
// shard's own dictionary, a term that one shard lacks would change that
// shard's scores; so a scoring reader's dictionaries are the union of all
// shards' (a shard's reader for a term it lacks simply finds nothing).

// union returns the merged dictionary of every shard, opened by open.
func (v *view) union(open func(r *scorch.IndexSnapshot) (index.FieldDict, error)) (index.FieldDict, error) {
	terms := map[string]*index.DictEntry{}
	for _, is := range v.snaps {
		d, err := open(is)
		if err != nil {
			return nil, err
		}
		for {
			e, err := d.Next()
			if err != nil {
				d.Close()
				return nil, err
			}
			if e == nil {
				break
			}
			if have, ok := terms[e.Term]; ok {
				have.Count += e.Count
				have.EditDistance = min(have.EditDistance, e.EditDistance)
			} else {
				terms[e.Term] = &index.DictEntry{Term: e.Term, Count: e.Count, EditDistance: e.EditDistance}
			}
		}
		if err := d.Close(); err != nil {
			return nil, err
		}
	}
	out := &sliceDict{entries: make([]*index.DictEntry, 0, len(terms))}
	for _, e := range terms {
		out.entries = append(out.entries, e)
	}
	slices.SortFunc(out.entries, func(a, b *index.DictEntry) int { return strings.Compare(a.Term, b.Term) })
	return out, nil
}

// sliceDict is a FieldDict over entries in term order.
type sliceDict struct {
	entries []*index.DictEntry
	next    int
}

func (d *sliceDict) Next() (*index.DictEntry, error) {
	if d.next >= len(d.entries) {
		return nil, nil
	}
	d.next++
	return d.entries[d.next-1], nil
}
func (d *sliceDict) Close() error      { return nil }
func (d *sliceDict) Cardinality() int  { return len(d.entries) }
func (d *sliceDict) BytesRead() uint64 { return 0 }

func (r *statsReader) FieldDict(field string) (index.FieldDict, error) {
	return r.v.union(func(is *scorch.IndexSnapshot) (index.FieldDict, error) { return is.FieldDict(field) })
}

func (r *statsReader) FieldDictRange(field string, start, end []byte) (index.FieldDict, error) {
	return r.v.union(func(is *scorch.IndexSnapshot) (index.FieldDict, error) { return is.FieldDictRange(field, start, end) })
}

func (r *statsReader) FieldDictPrefix(field string, prefix []byte) (index.FieldDict, error) {
	return r.v.union(func(is *scorch.IndexSnapshot) (index.FieldDict, error) { return is.FieldDictPrefix(field, prefix) })
}

func (r *statsReader) FieldDictRegexp(field, pattern string) (index.FieldDict, error) {
	d, _, err := r.FieldDictRegexpAutomaton(field, pattern)
	return d, err
}

func (r *statsReader) FieldDictRegexpAutomaton(field, pattern string) (index.FieldDict, index.RegexAutomaton, error) {
	var a index.RegexAutomaton
	d, err := r.v.union(func(is *scorch.IndexSnapshot) (index.FieldDict, error) {
		d, sa, err := is.FieldDictRegexpAutomaton(field, pattern)
		a = sa
		return d, err
	})
	return d, a, err
}

func (r *statsReader) FieldDictFuzzy(field, term string, fuzziness int, prefix string) (index.FieldDict, error) {
	d, _, err := r.FieldDictFuzzyAutomaton(field, term, fuzziness, prefix)
	return d, err
}

func (r *statsReader) FieldDictFuzzyAutomaton(field, term string, fuzziness int, prefix string) (index.FieldDict, index.FuzzyAutomaton, error) {
	var a index.FuzzyAutomaton
	d, err := r.v.union(func(is *scorch.IndexSnapshot) (index.FieldDict, error) {
		d, sa, err := is.FieldDictFuzzyAutomaton(field, term, fuzziness, prefix)
		a = sa
		return d, err
	})
	return d, a, err
}

func (r *statsReader) FieldDictContains(field string) (index.FieldDictContains, error) {
	var ds []index.FieldDictContains
	for _, is := range r.v.snaps {
		d, err := is.FieldDictContains(field)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return anyContains(ds), nil
}

// anyContains holds a key when any shard's dictionary does.
type anyContains []index.FieldDictContains

func (c anyContains) Contains(key []byte) (bool, error) {
	for _, d := range c {
		if ok, err := d.Contains(key); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func (c anyContains) BytesRead() uint64 { return 0 }
