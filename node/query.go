package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"indexd/dag"
	"indexd/index"
	"indexd/search"
)

// SearchRequest is a search as the CLI and the HTTP API take it.
type SearchRequest struct {
	Query      string   `json:"q"`
	Index      []string `json:"index,omitempty"`
	Categories []string `json:"cat,omitempty"`
	Tags       []string `json:"tag,omitempty"`
	Authors    []string `json:"author,omitempty"`
	Sort       string   `json:"sort,omitempty"` // relevance (default), date, size
	Offset     int      `json:"offset,omitempty"`
	Limit      int      `json:"limit,omitempty"` // Default: 20, at most MaxLimit
	Facets     bool     `json:"facets,omitempty"`
	Highlight  bool     `json:"highlight,omitempty"`
	// IncludeMuted shows entries of muted authors too.
	IncludeMuted bool `json:"include_muted,omitempty"`
	// IncludeBlocked shows entries carrying a blocked infohash too.
	IncludeBlocked bool `json:"include_blocked,omitempty"`
}

// MaxLimit bounds the hits one search returns.
const MaxLimit = 500

// SearchResponse is a page of hits.
type SearchResponse struct {
	Total      uint64         `json:"total"`
	Hits       []*EntryView   `json:"hits"`
	Categories map[string]int `json:"categories,omitempty"`
	Tags       map[string]int `json:"tags,omitempty"`
	TookMS     float64        `json:"took_ms"`
	// Syncing is set while entries are on their way that this search
	// could not see yet (a catch-up runs, or received nodes wait to be
	// indexed).
	Syncing *Syncing `json:"syncing,omitempty"`
}

// Search runs a query over the local search index. Muted authors and
// blocked infohashes are hidden unless IncludeMuted or IncludeBlocked is
// set; that never changes the stored state.
func (n *Node) Search(ctx context.Context, req SearchRequest) (*SearchResponse, error) {
	q, err := n.searchQuery(req)
	if err != nil {
		return nil, err
	}
	res, err := n.search.Search(ctx, q)
	if errors.Is(err, search.ErrBadQuery) {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	} else if err != nil {
		return nil, err
	}
	out := &SearchResponse{Total: res.Total, Hits: make([]*EntryView, 0, len(res.Hits)), TookMS: float64(res.Took.Microseconds()) / 1000}
	// The entries of a page are read from badger in lookupWorkers
	// goroutines (at 200k entries reading them one after another was a
	// third of a query's time).
	views := make([]*EntryView, len(res.Hits))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(lookupWorkers, len(res.Hits)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(res.Hits) {
					return
				}
				views[i] = n.hitView(q, res.Hits[i])
			}
		}()
	}
	wg.Wait()
	for _, v := range views {
		if v != nil { // nil: removed between search and lookup
			out.Hits = append(out.Hits, v)
		}
	}
	if req.Facets {
		out.Categories = map[string]int{}
		for c, k := range res.Categories {
			out.Categories[fmt.Sprint(c)] = k
		}
		out.Tags = res.Tags
	}
	if s := n.Syncing(); s.Remaining > 0 {
		out.Syncing = &s
	}
	return out, nil
}

// lookupWorkers is how many goroutines read the entries of a page.
const lookupWorkers = 2

// hitView reads the entry of hit h of a search for q; nil if it is gone.
func (n *Node) hitView(q search.Query, h search.Hit) *EntryView {
	id, err := dag.ParseID(h.ID)
	if err != nil {
		return nil
	}
	// The search index holds every live entry of every index, so when it
	// saw no other entry with this infohash (and no index or author filter
	// narrowed what it counted) the infohash lookup in badger would find
	// this entry alone: skip it (at 1M entries it was a fifth of a query's
	// time).
	sole := h.Publishers <= 1 && len(q.Index) == 0 && len(q.ExcludeAuthors) == 0 && len(q.ExcludeIndexes) == 0
	v, err := n.entryView(id, !sole)
	if err != nil {
		return nil
	}
	v.Score = h.Score
	v.Fragments = highlights(q, h.Fragments, v)
	if h.Publishers > v.Publishers {
		v.Publishers = h.Publishers
	}
	return v
}

// maxFileFragments is how many matching file paths a highlighted hit shows.
const maxFileFragments = 3

// highlights is what a hit shows of its matches: bleve's fragments of
// title and name that mark a match (it also returns a field's text when
// nothing in it matched), and the file paths that hold a word of the
// query in their part below the entry's name.
func highlights(q search.Query, frags map[string][]string, v *EntryView) map[string][]string {
	if !q.Highlight || q.Text == "" {
		return nil
	}
	out := map[string][]string{}
	for field, fs := range frags {
		for _, f := range fs {
			if strings.Contains(f, "<mark>") {
				out[field] = append(out[field], f)
			}
		}
	}
	paths := make([]string, len(v.Files))
	for i, f := range v.Files {
		paths[i] = f.Path
	}
	if fs := search.FileFragments(q.Text, v.Name, paths, maxFileFragments); len(fs) > 0 {
		out["files"] = fs
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (n *Node) searchQuery(req SearchRequest) (search.Query, error) {
	q := search.Query{
		Text:      strings.TrimSpace(req.Query),
		Tags:      cleanTags(req.Tags),
		Sort:      req.Sort,
		Offset:    req.Offset,
		Limit:     req.Limit,
		Facets:    req.Facets,
		Highlight: req.Highlight,
	}
	switch req.Sort {
	case "", "relevance", "date", "size", "-date", "-size":
	default:
		return q, fmt.Errorf("%w: sort must be relevance, date or size", ErrBadRequest)
	}
	if q.Limit <= 0 {
		q.Limit = 20
	}
	if q.Limit > MaxLimit {
		q.Limit = MaxLimit
	}
	if q.Offset < 0 {
		return q, fmt.Errorf("%w: negative offset", ErrBadRequest)
	}
	for _, s := range req.Index {
		if s == "" {
			continue
		}
		k, err := n.ResolveIndex(s)
		if err != nil {
			return q, err
		}
		q.Index = append(q.Index, k.String())
	}
	for _, s := range req.Categories {
		for _, part := range strings.Split(s, ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			c, err := index.ParseCategory(part)
			if err != nil {
				return q, fmt.Errorf("%w: %v", ErrBadRequest, err)
			}
			q.Categories = append(q.Categories, uint32(c))
		}
	}
	for _, a := range req.Authors {
		id, err := dag.ParseIdentity(a)
		if err != nil {
			return q, fmt.Errorf("%w: author: %v", ErrBadRequest, err)
		}
		q.Authors = append(q.Authors, id.String())
	}
	if len(req.Authors) == 0 {
		// A follow's --author list narrows what its index shows; an
		// explicit author filter asks past it.
		q.IndexAuthors = n.followAuthorLists()
	}
	if !req.IncludeMuted {
		for _, m := range n.muted() {
			q.ExcludeAuthors = append(q.ExcludeAuthors, m.String())
		}
	}
	if !req.IncludeBlocked {
		q.ExcludeIDs = n.blockedIDs()
	}
	q.ExcludeIndexes = n.removingKeys()
	return q, nil
}
