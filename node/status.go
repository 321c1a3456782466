package node

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"indexd/dag"
)

// IndexStatus is the state of one index on this node. Two peers holding
// the same DAG nodes report the same Digest.
type IndexStatus struct {
	Key       string `json:"key"`
	Name      string `json:"name"`
	Policy    string `json:"policy"`
	Granted   int    `json:"granted,omitempty"` // allowlist: authors granted besides the creator
	Default   bool   `json:"default,omitempty"`
	Followed  bool   `json:"followed,omitempty"`
	Entries   int    `json:"entries"`
	Retracted int    `json:"retracted"`
	Authors   int    `json:"authors"`
	Logs      int    `json:"logs"`
	Heads     int    `json:"heads"`
	Forked    int    `json:"forked_logs,omitempty"`
	// Forks lists the forked logs: whose, and how far each counts.
	Forks   []ForkStatus `json:"forks,omitempty"`
	Pending int          `json:"pending,omitempty"`
	// CatchUp is set while sync sessions bring this index blocks that
	// peers' signed heads say are not all here yet.
	CatchUp *CatchUp `json:"catch_up,omitempty"`
	// Unindexed counts the DAG nodes this node holds but has not yet
	// turned into entries: after a catch-up, search lags the DAG by
	// these.
	Unindexed uint64 `json:"unindexed_nodes,omitempty"`
	Digest    string `json:"digest"`
}

// ForkStatus is an author log whose author signed two histories. Its
// nodes below Counted make entries; none after. Located is false while no
// proof says where the histories part (Counted is 0 until one does).
type ForkStatus struct {
	Author  string `json:"author"`
	Log     string `json:"log"`
	Counted uint64 `json:"counted_nodes"`
	Located bool   `json:"located"`
}

// CatchUp is how far a running catch-up of an index is from done.
type CatchUp struct {
	Peers int `json:"peers"`
	// Remaining estimates the DAG nodes still to come: what the peers'
	// signed heads hold beyond what they have sent, for every log they
	// have started sending (a log two peers send counts twice).
	Remaining uint64 `json:"remaining_nodes"`
}

// Status is the node's state as `indexd status` shows it.
type Status struct {
	Identity string        `json:"identity"`
	Dir      string        `json:"data_dir"`
	APIKey   string        `json:"torznab_apikey"`
	Serving  bool          `json:"serving"`
	PeerID   string        `json:"peer_id,omitempty"`
	Addrs    []string      `json:"addrs,omitempty"`
	Peers    int           `json:"peers"`
	Indexes  []IndexStatus `json:"indexes"`
	// Awaiting are indexes followed by key whose manifest no peer has sent
	// yet: nothing of them is here until one does.
	Awaiting []string `json:"awaiting_manifest,omitempty"`
	Disk     Disk     `json:"disk"`
	Muted    []string `json:"muted,omitempty"`
	Blocked  int      `json:"blocked_infohashes,omitempty"`
	Lists    int      `json:"blocklists,omitempty"` // published and subscribed blocklists
	RSSFeeds int      `json:"rss_feeds,omitempty"`  // subscriptions the daemon polls
	Scraping bool     `json:"scraping,omitempty"`   // serve --scrape: swarm figures refreshed in the background
}

// Status reports identity, network and per-index state with digests.
func (n *Node) Status(ctx context.Context) (*Status, error) {
	st := &Status{Identity: n.Identity().String(), Dir: n.dir, APIKey: n.apiKey}
	st.Serving, st.PeerID, st.Addrs, st.Peers = n.netStatus()
	keys, err := n.dag.Indexes()
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if n.removing(k) {
			continue
		}
		info, err := n.indexInfo(k)
		if err != nil {
			continue
		}
		is := IndexStatus{Key: info.Key, Name: info.Name, Policy: info.Policy, Default: info.Default, Followed: info.Followed}
		if s, err := n.idx.Stats(k); err == nil {
			is.Entries, is.Retracted, is.Authors, is.Logs, is.Heads, is.Forked = s.Entries, s.Retracted, s.Authors, s.Logs, s.Heads, s.Forked
		}
		if info.Policy == dag.PolicyAllowlist.String() {
			if ids, err := n.idx.Members(k); err == nil {
				is.Granted = len(ids)
			}
		}
		if miss, err := n.dag.Missing(k); err == nil {
			is.Pending = len(miss)
		}
		if logs, err := n.dag.Logs(k); err == nil {
			for _, l := range logs {
				if l.Forked {
					is.Forks = append(is.Forks, ForkStatus{Author: l.Identity.String(), Log: l.Key.String(),
						Counted: l.ForkAt, Located: l.Located})
				}
			}
		}
		is.CatchUp, is.Unindexed = n.behind(k)
		d, err := n.idx.Digest(k)
		if err != nil {
			return nil, err
		}
		is.Digest = hex.EncodeToString(d[:])
		st.Indexes = append(st.Indexes, is)
	}
	if fs, err := n.Follows(ctx); err == nil {
		for _, f := range fs {
			if f.Name == "" {
				st.Awaiting = append(st.Awaiting, f.Index)
			}
		}
	}
	st.Disk = diskOf(n.dir)
	st.Muted, _ = n.Muted(ctx)
	st.Blocked = n.blockedCount()
	if ls, err := n.Blocklists(ctx); err == nil {
		st.Lists = len(ls)
	}
	if fs, err := n.RSSFeeds(ctx); err == nil {
		st.RSSFeeds = len(fs)
	}
	st.Scraping = n.swarmQ.on.Load()
	return st, nil
}

// behind reports the running catch-up of idx, if any, and how many of the
// nodes the DAG holds the index has not materialised yet (stored by sync
// but not applied included). Both cost a few point reads.
func (n *Node) behind(idx dag.IndexKey) (*CatchUp, uint64) {
	var cu *CatchUp
	if h := n.host(); h != nil {
		if c := h.CatchingUp(idx); c.Peers > 0 {
			cu = &CatchUp{Peers: c.Peers, Remaining: c.Remaining}
		}
	}
	var un uint64
	applied, err1 := n.dag.Counter(idx)
	cursor, err2 := n.idx.Cursor(idx)
	if err1 == nil && err2 == nil && applied > cursor {
		un = applied - cursor
	}
	if queued, _, err := n.dag.Queued(idx); err == nil {
		un += uint64(queued) // stored by sync, not yet applied
	}
	return cu, un
}

// Syncing is what a search of this node may still miss.
type Syncing struct {
	// Remaining is what running catch-ups still have to bring, plus the
	// nodes held but not yet searchable, over every index.
	Remaining uint64 `json:"remaining_nodes"`
	Peers     int    `json:"peers"` // the largest number of peers one index is catching up from
}

// Syncing reports whether searches may miss entries that are on their way:
// a catch-up is running or received nodes wait to be indexed. Cheap enough
// for every page view.
func (n *Node) Syncing() Syncing {
	var s Syncing
	keys, err := n.dag.Indexes()
	if err != nil {
		return s
	}
	for _, k := range keys {
		cu, un := n.behind(k)
		s.Remaining += un
		if cu != nil {
			s.Remaining += cu.Remaining
			s.Peers = max(s.Peers, cu.Peers)
		}
	}
	return s
}

// Progress is how far one index has come through the node's pipeline:
// nodes verified and stored, nodes applied in the DAG, entries materialised, documents
// searchable. Unlike Status it costs a few point reads, so it can be
// polled while a catch-up runs.
type Progress struct {
	Held       uint64 `json:"held_nodes"` // verified and stored
	Applied    uint64 `json:"applied_nodes"`
	Entries    int    `json:"entries"`
	Searchable uint64 `json:"searchable_docs"`
}

// Progress reports the pipeline progress of the index which names.
// Searchable counts the search documents of every index.
func (n *Node) Progress(ctx context.Context, which string) (*Progress, error) {
	k, err := n.ResolveIndex(which)
	if err != nil {
		return nil, err
	}
	p := &Progress{}
	if p.Held, err = n.dag.Held(k); err != nil {
		return nil, err
	}
	if p.Applied, err = n.dag.Counter(k); err != nil {
		return nil, err
	}
	s, err := n.idx.Stats(k)
	if err != nil {
		return nil, err
	}
	p.Entries = s.Entries
	if p.Searchable, err = n.search.Count(); err != nil {
		return nil, err
	}
	return p, nil
}

// Blocks returns every block of the author logs of the index which names,
// log by log: the bytes replication moves, for a benchmark's baseline.
func (n *Node) Blocks(ctx context.Context, which string) ([][]byte, error) {
	k, err := n.ResolveIndex(which)
	if err != nil {
		return nil, err
	}
	logs, err := n.dag.Logs(k)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, l := range logs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := n.dag.Feed(l.Key)
		if err != nil {
			return nil, err
		}
		if out, err = f.GetRange(0, l.Length, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RawWrite writes blocks into a fresh badger database in dir, with the
// options a node's database has, in one WriteBatch, and returns how long
// that took: storing the bytes without verifying them or keeping a DAG,
// the baseline of a catch-up's time to verified and stored.
func RawWrite(dir string, blocks [][]byte) (time.Duration, error) {
	db, err := badger.Open(badgerOptions(dir))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	t0 := time.Now()
	wb := db.NewWriteBatch()
	for i, b := range blocks {
		if err := wb.Set(fmt.Appendf(nil, "f/%08d", i), b); err != nil {
			wb.Cancel()
			return 0, err
		}
	}
	if err := wb.Flush(); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}
