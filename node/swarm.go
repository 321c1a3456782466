package node

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"indexd/index"
	"indexd/internal/scrape"
)

// Swarm is what trackers last said of an infohash's swarm: among the
// trackers of the entries carrying it, the answer with the most seeders
// from one or two trackers, the median from three on (pickSwarm). It is
// local knowledge, never replicated: swarm health changes by the minute and
// peers would have to trust each other's numbers.
type Swarm struct {
	Infohash string    `json:"infohash"`
	Seeders  int       `json:"seeders"`
	Leechers int       `json:"leechers"`
	Complete int       `json:"completed"`
	Checked  time.Time `json:"checked"`
	Trackers int       `json:"trackers"` // how many answered
	Error    string    `json:"error,omitempty"`
}

// Scrape limits.
const (
	maxScrapeTrackers = 5 // per infohash
	scrapeTimeout     = 10 * time.Second
	scrapeParallel    = 4
)

func swarmKey(ih []byte) []byte { return append([]byte("n/swarm/"), ih...) }

type swarmRecord struct {
	S, L, C  int
	At       int64 // unix ms of the last answer; 0: none yet
	Trackers int
	FailedAt int64 `json:",omitempty"` // unix ms of the last scrape no tracker answered
}

// ScrapeRequest names what to scrape: entry ids, v1 infohashes or magnet
// links. Private lets the trackers be on loopback or private addresses
// (a LAN tracker); by default only public ones are asked, since tracker
// URLs come from whoever published the torrent.
type ScrapeRequest struct {
	Items   []string `json:"items"`
	Private bool     `json:"private,omitempty"`
}

// Scrape asks the trackers of the entries that items name (entry ids, v1
// infohashes, magnet links) for their swarms' health and records it, so
// that searches, Torznab and the web UI show seeders and leechers. Only
// v1 infohashes can be scraped (trackers key swarms by them); an infohash
// whose trackers all fail keeps its last record and reports the error.
func (n *Node) Scrape(ctx context.Context, req ScrapeRequest) ([]Swarm, error) {
	items := req.Items
	if len(items) == 0 {
		return nil, fmt.Errorf("%w: give entry ids, infohashes or magnet links", ErrBadRequest)
	}
	if len(items) > 1000 {
		return nil, fmt.Errorf("%w: %d items, at most 1000 per call", ErrBadRequest, len(items))
	}
	// Infohash -> trackers of the entries carrying it.
	trackers := map[[20]byte][]string{}
	var order [][20]byte
	for i, it := range items {
		ihs, err := n.blockItem(it) // the same forms a blocklist takes
		if err != nil {
			return nil, fmt.Errorf("%w: item %d (%q): %v", ErrBadRequest, i+1, clipItem(it), err)
		}
		for _, ih := range ihs {
			if len(ih) != 20 {
				continue
			}
			k := [20]byte(ih)
			if _, ok := trackers[k]; ok {
				continue
			}
			order = append(order, k)
			trackers[k] = n.trackersOf(ih)
		}
	}
	// One request per tracker for all its infohashes (in groups of
	// scrape.MaxHashes), a few trackers at a time.
	byTracker := map[string][][20]byte{}
	for _, ih := range order {
		for _, tr := range trackers[ih] {
			byTracker[tr] = append(byTracker[tr], ih)
		}
	}
	type answer struct {
		stats []scrape.Stats // one per tracker that answered
		n     int
		err   error
	}
	best := map[[20]byte]*answer{}
	for _, ih := range order {
		best[ih] = &answer{}
	}
	var mu sync.Mutex
	sem := make(chan struct{}, scrapeParallel)
	var wg sync.WaitGroup
	for tr, ihs := range byTracker {
		for start := 0; start < len(ihs); start += scrape.MaxHashes {
			group := ihs[start:min(start+scrape.MaxHashes, len(ihs))]
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				sctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
				got, err := scrape.Scrape(sctx, tr, group, req.Private)
				cancel()
				mu.Lock()
				defer mu.Unlock()
				for _, ih := range group {
					a := best[ih]
					if err != nil {
						if a.n == 0 && !errors.Is(err, scrape.ErrUnsupported) {
							a.err = err
						}
						continue
					}
					if s, ok := got[ih]; ok {
						a.stats = append(a.stats, s)
						a.n++
						a.err = nil
					}
				}
			}()
		}
	}
	wg.Wait()
	now := n.now()
	out := make([]Swarm, 0, len(order))
	err := n.db.Update(func(txn *badger.Txn) error {
		for _, ih := range order {
			a := best[ih]
			sw := Swarm{Infohash: hex.EncodeToString(ih[:]), Checked: now.UTC(), Trackers: a.n}
			rec := swarmRecord{S: sw.Seeders, L: sw.Leechers, C: sw.Complete, At: now.UnixMilli(), Trackers: a.n}
			if a.n == 0 {
				// Keep the last answer; remember the failure, so the
				// background scraper does not ask again at every view.
				rec = swarmRecord{}
				if it, err := txn.Get(swarmKey(ih[:])); err == nil {
					_ = it.Value(func(b []byte) error { return json.Unmarshal(b, &rec) })
				}
				rec.FailedAt = now.UnixMilli()
			} else {
				s := pickSwarm(a.stats)
				sw.Seeders, sw.Leechers, sw.Complete = s.Seeders, s.Leechers, s.Completed
				rec.S, rec.L, rec.C = sw.Seeders, sw.Leechers, sw.Complete
			}
			b, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			if err := txn.Set(swarmKey(ih[:]), b); err != nil {
				return err
			}
			switch {
			case a.n > 0:
			case len(trackers[ih]) == 0:
				sw.Error = "no tracker to ask (the entries list none)"
			case a.err != nil:
				sw.Error = a.err.Error()
			default:
				sw.Error = "no tracker knows this swarm (or none supports scrape)"
			}
			out = append(out, sw)
		}
		return nil
	})
	return out, err
}

// pickSwarm chooses one answer among the trackers': the one with the most
// seeders when one or two answered (trackers see different parts of a
// swarm), the median by seeders from three on, so that one tracker named
// in a hostile torrent cannot make up a figure.
func pickSwarm(ss []scrape.Stats) scrape.Stats {
	ss = slices.Clone(ss)
	slices.SortFunc(ss, func(a, b scrape.Stats) int { return b.Seeders - a.Seeders })
	if len(ss) < 3 {
		return ss[0]
	}
	return ss[len(ss)/2]
}

// trackersOf lists the trackers of the live entries carrying ih, at most
// maxScrapeTrackers, in a stable order.
func (n *Node) trackersOf(ih []byte) []string {
	ids, _ := n.idx.ByInfohash(ih)
	muted := map[string]bool{}
	for _, m := range n.muted() {
		muted[m.String()] = true
	}
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		e, err := n.idx.Entry(id)
		if err != nil || muted[e.Author.String()] || n.removing(e.Index) {
			continue // trackers only from publishers this node shows
		}
		for _, tr := range e.Trackers {
			if !seen[tr] {
				seen[tr] = true
				out = append(out, tr)
			}
		}
	}
	slices.Sort(out)
	if len(out) > maxScrapeTrackers {
		out = out[:maxScrapeTrackers]
	}
	return out
}

// swarmOf sets v's swarm fields from the last scrape of e's v1 infohash;
// with background scraping on, a missing or stale figure queues a scrape.
func (n *Node) swarmOf(e *index.Entry, v *EntryView) {
	if len(e.InfohashV1) != 20 {
		return
	}
	var r swarmRecord
	defer func() {
		now := n.now()
		stale := r.At == 0 || now.Sub(time.UnixMilli(r.At)) > swarmFresh
		retry := r.FailedAt == 0 || now.Sub(time.UnixMilli(r.FailedAt)) > swarmRetry
		if n.swarmQ.on.Load() && len(e.Trackers) > 0 && stale && retry {
			n.swarmQ.add([20]byte(e.InfohashV1))
		}
	}()
	err := n.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(swarmKey(e.InfohashV1))
		if err != nil {
			return err
		}
		return it.Value(func(b []byte) error { return json.Unmarshal(b, &r) })
	})
	if err != nil || r.At == 0 {
		return
	}
	s, l := r.S, r.L
	at := time.UnixMilli(r.At).UTC()
	v.Seeders, v.Leechers, v.SwarmChecked = &s, &l, &at
}

// Background scraping.
const (
	swarmFresh   = 6 * time.Hour // a figure younger than this is not asked again
	swarmRetry   = time.Hour     // nor a swarm no tracker answered for this long
	swarmQueued  = 10000         // infohashes waiting at most (more are dropped)
	swarmRound   = 256           // infohashes scraped per round
	swarmBetween = 2 * time.Second
)

// swarmQueue holds the infohashes waiting for a background scrape.
type swarmQueue struct {
	on      atomic.Bool
	private bool // NetOptions.ScrapePrivate, set before on
	wake    chan struct{}

	mu      sync.Mutex
	pending map[[20]byte]bool
	order   [][20]byte
}

func (q *swarmQueue) add(ih [20]byte) {
	q.mu.Lock()
	if q.pending == nil {
		q.pending = map[[20]byte]bool{}
	}
	if !q.pending[ih] && len(q.order) < swarmQueued {
		q.pending[ih] = true
		q.order = append(q.order, ih)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take removes and returns up to k queued infohashes, oldest first.
func (q *swarmQueue) take(k int) [][20]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	k = min(k, len(q.order))
	out := slices.Clone(q.order[:k])
	q.order = q.order[k:]
	for _, ih := range out {
		delete(q.pending, ih)
	}
	return out
}

// scrapeLoop scrapes queued infohashes, a round at a time with a pause
// between rounds, until ctx ends or the node closes.
func (n *Node) scrapeLoop(ctx context.Context) {
	defer close(n.scrapeDone)
	ctx, cancel := n.untilClosed(ctx)
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.swarmQ.wake:
		}
		for {
			batch := n.swarmQ.take(swarmRound)
			if len(batch) == 0 {
				break
			}
			items := make([]string, len(batch))
			for i, ih := range batch {
				items[i] = hex.EncodeToString(ih[:])
			}
			if _, err := n.Scrape(ctx, ScrapeRequest{Items: items, Private: n.swarmQ.private}); err != nil && ctx.Err() == nil {
				n.log.Warn("scrape", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(swarmBetween):
			}
		}
	}
}
