package node

import (
	"context"
	"sync"
	"time"

	"indexd/dag"
	"indexd/index"
)

// watchBuffer is how many notifications a slow watcher may lag before it
// starts losing them (it is told through the Dropped counter).
const watchBuffer = 256

// Watch describes which new entries a watcher wants.
type Watch struct {
	Index string `json:"index,omitempty"` // "" = every index
	// Query, when set, keeps only entries that match this search.
	Query SearchRequest `json:"query"`
}

type watcher struct {
	idx   *dag.IndexKey
	ch    chan *EntryView
	match func(*index.Entry) bool
}

type watchers struct {
	mu   sync.Mutex
	next int
	m    map[int]*watcher
}

func (w *watchers) add(x *watcher) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[int]*watcher{}
	}
	w.next++
	w.m[w.next] = x
	return w.next
}

func (w *watchers) remove(id int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if x, ok := w.m[id]; ok {
		delete(w.m, id)
		close(x.ch)
	}
}

func (w *watchers) notify(idx dag.IndexKey, changed []*index.Entry) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, x := range w.m {
		if x.idx != nil && *x.idx != idx {
			continue
		}
		for _, e := range changed {
			if x.match != nil && !x.match(e) {
				continue
			}
			select {
			case x.ch <- viewOf(e):
			default: // slow watcher: drop rather than stall the pipeline
			}
		}
	}
}

// Subscribe streams entries that are new or changed from now on and match
// w, until ctx ends; the channel is then closed.
func (n *Node) Subscribe(ctx context.Context, w Watch) (<-chan *EntryView, error) {
	x := &watcher{ch: make(chan *EntryView, watchBuffer)}
	if w.Index != "" {
		k, err := n.ResolveIndex(w.Index)
		if err != nil {
			return nil, err
		}
		x.idx = &k
	}
	authors := map[string]bool{}
	for _, a := range w.Query.Authors {
		id, err := dag.ParseIdentity(a)
		if err != nil {
			return nil, err
		}
		authors[id.String()] = true
	}
	q, err := n.searchQuery(w.Query)
	if err != nil {
		return nil, err
	}
	muted := map[dag.Identity]bool{}
	for _, m := range n.muted() {
		muted[m] = true
	}
	x.match = func(e *index.Entry) bool {
		if muted[e.Author] || !w.Query.IncludeBlocked && n.isBlocked(e) || n.removing(e.Index) {
			return false
		}
		if len(authors) > 0 && !authors[e.Author.String()] {
			return false
		}
		if fa := n.followedAuthors(e.Index); len(authors) == 0 && fa != nil && !fa[e.Author.String()] {
			return false
		}
		if len(q.Categories) > 0 {
			ok := false
			for _, c := range q.Categories {
				if index.Category(c).Contains(index.Category(e.Category)) {
					ok = true
				}
			}
			if !ok {
				return false
			}
		}
		if q.Text == "" {
			return true
		}
		// Ask the search index whether this entry matches the text: among
		// the newest matches published since it, it must be there.
		q2 := q
		q2.Sort, q2.Offset, q2.Limit = "date", 0, 50
		q2.ExcludeIDs = nil // checked above, against the current blocklist
		q2.Since = time.UnixMilli(e.Published)
		q2.Index = []string{e.Index.String()}
		res, err := n.search.Search(context.Background(), q2)
		if err != nil {
			return false
		}
		id := e.ID.String()
		for _, h := range res.Hits {
			if h.ID == id {
				return true
			}
		}
		return false
	}
	id := n.watchers.add(x)
	go func() {
		select {
		case <-ctx.Done():
		case <-n.closed:
		}
		n.watchers.remove(id)
	}()
	return x.ch, nil
}
