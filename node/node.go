package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"indexd/dag"
	"indexd/feedtree"
	"indexd/index"
	"indexd/search"
)

// Badger key prefixes owned by the packages this node opens.
var (
	prefixDAG     = []byte("d/")
	prefixIndex   = []byte("i/")
	prefixContent = []byte("c/")
	prefixNode    = []byte("n/")
)

// searchCleanFile marks a search index closed cleanly (see Open).
const searchCleanFile = "search.clean"

// searchOptions are the options of the search index.
var searchOptions = search.Options{BatchSize: searchBatch}

// Options configures Open. The zero value opens DefaultDir().
type Options struct {
	// Dir is the data directory. Default: DefaultDir().
	Dir string
	// Logger receives structured logs. Default: discard.
	Logger *slog.Logger
	// Now is the clock used for node times. Default: time.Now.
	Now func() time.Time
	// TrimDuringImport reclaims the resident pages of the data files'
	// mappings while an import runs (see trim_linux.go), so the process's
	// resident set stays near its anonymous memory (1M entries: VmHWM
	// 461 MiB instead of 3.2 GiB) at a cost in import speed (1M: about
	// 30 % slower: merges and compactions read pages back from disk).
	// Default: false.
	TrimDuringImport bool
}

// Node is an open data directory. Its methods are safe for concurrent use.
type Node struct {
	dir    string
	log    *slog.Logger
	now    func() time.Time
	db     *badger.DB
	dag    *dag.DAG
	idx    *index.Index
	search *search.Index
	feeds  feedtree.Store

	identity dag.IdentityKey
	token    string
	apiKey   string

	writeMu  sync.Mutex // serialises local appends (one writer per author log)
	removeMu sync.Mutex // orders RemoveIndex against creating a log key (author)
	entryMu  sync.Mutex // serialises materialising entries (index.Sync)
	pipeMu   sync.Mutex // serialises feeding search (and Reindex)
	watchers watchers
	blocks   blocks // the blocklist, cached for queries (blocks.go)
	lists    lists  // published and subscribed blocklists (blocklists.go)
	content  contentFeeds
	net      netState
	backlog  *backlog // holds a bulk catch-up back to the pump (backlog.go)

	rssWake    chan struct{} // wakes pollRSS (rss.go)
	rssDone    chan struct{} // closed when pollRSS returns; nil if it never ran
	swarmQ     swarmQueue    // infohashes waiting for a background scrape (swarm.go)
	scrapeDone chan struct{} // closed when scrapeLoop returns; nil if it never ran
	closeOnce  sync.Once
	closed     chan struct{}
	trimDone   chan struct{} // closed when trimMappedFiles returns
	gcDone     chan struct{} // closed when collectValueLog returns
	// bulkWrites counts the bulk writes (imports) running; the data
	// files are trimmed only then (trim.go).
	bulkWrites atomic.Int32
}

// Open opens an initialised data directory and brings the derived views
// (index, search) up to date with the DAG.
func Open(ctx context.Context, opts Options) (*Node, error) {
	dir := opts.Dir
	if dir == "" {
		dir = DefaultDir()
	}
	seed, err := readSecret(filepath.Join(dir, identityFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNotInitialised
		}
		return nil, err
	}
	n := &Node{
		dir:      dir,
		log:      opts.Logger,
		now:      opts.Now,
		identity: dag.IdentityFromSeed(seed),
		closed:   make(chan struct{}),
		rssWake:  make(chan struct{}, 1),
		swarmQ:   swarmQueue{wake: make(chan struct{}, 1)},
		backlog:  newBacklog(),
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.now == nil {
		n.now = time.Now
	}
	if n.token, err = readOrCreateToken(filepath.Join(dir, tokenFile)); err != nil {
		return nil, err
	}
	if n.apiKey, err = readOrCreateToken(filepath.Join(dir, apiKeyFile)); err != nil {
		return nil, err
	}
	n.db, err = badger.Open(badgerOptions(filepath.Join(dir, "db")))
	if err != nil {
		return nil, fmt.Errorf("opening database (is another indexd using %s?): %w", dir, err)
	}
	if opts.TrimDuringImport {
		n.trimDone = make(chan struct{})
		go n.trimMappedFiles(n.trimDone)
	}
	n.gcDone = make(chan struct{})
	go n.collectValueLog(n.gcDone)
	ok := false
	defer func() {
		if !ok {
			close(n.closed)
			if n.trimDone != nil {
				<-n.trimDone
			}
			<-n.gcDone
			n.closeStores()
		}
	}()
	if err := n.purgeRemoved(); err != nil {
		return nil, fmt.Errorf("removing indexes: %w", err)
	}
	n.dag, err = dag.Open(n.db, prefixDAG, dag.Options{
		Now:    n.now,
		Logger: n.log,
		// The applier of what sync stored keeps a lead over the pump
		// that materialises it (backlog.go). It may run before Open
		// returns; wait reads n.dag only for an index with a pump, and
		// pumps start after.
		Hold: func(ctx context.Context, idx dag.IndexKey) {
			n.backlog.wait(ctx, n.closed, idx, func() (uint64, error) { return n.dag.Counter(idx) })
		},
		// A fresh follower stores the catch-up first and applies and
		// indexes it behind (dag.Options.Bulk).
		Bulk: func(idx dag.IndexKey) bool {
			h := n.host()
			return h != nil && h.CatchingUp(idx).Remaining >= bulkRemaining
		},
		// A fork found here is appended as a fork-proof node by this
		// device's author, so every replica counts the forked log alike;
		// once replication located where its histories part, if it can.
		ForkAuthor:     n.forkAuthor,
		DeferUnlocated: true,
	})
	if err != nil {
		return nil, fmt.Errorf("opening dag: %w", err)
	}
	n.idx, err = index.Open(n.db, prefixIndex, n.dag, index.Options{})
	if err != nil {
		return nil, fmt.Errorf("opening index: %w", err)
	}
	// Search batches are not synced one by one (that made every batch wait
	// for the disk); search.Close persists them all. After a crash the
	// last batches may be lost, so without the clean-shutdown marker the
	// search cursors start over and catchUp re-feeds every entry (applying
	// an entry twice is harmless). A fresh index (or one reset for a new
	// mapping version) holds nothing, whatever the cursors say.
	clean := filepath.Join(dir, searchCleanFile)
	_, cleanErr := os.Stat(clean)
	n.search, err = search.Open(filepath.Join(dir, "search"), searchOptions)
	if err != nil {
		return nil, fmt.Errorf("opening search index: %w", err)
	}
	if c, err := n.search.Cursor(); cleanErr != nil || (err == nil && c == 0) {
		if err := n.db.DropPrefix([]byte("n/scursor/")); err != nil {
			return nil, err
		}
	}
	if err := n.finishRemovals(ctx, cleanErr == nil); err != nil {
		return nil, fmt.Errorf("removing indexes from search: %w", err)
	}
	if err := os.Remove(clean); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	n.feeds = feedtree.NewBadgerStore(n.db, prefixContent)
	n.content.init()
	if err := n.ensureDefaultIndex(); err != nil {
		return nil, err
	}
	if err := n.catchUp(ctx); err != nil {
		return nil, err
	}
	ok = true
	return n, nil
}

// badgerOptions sizes badger for a desktop daemon: the defaults reserve
// several hundred MiB of memtables and caches, more than the whole node
// should use at a million entries.
//
// Compaction builds every output table in memory (twice its target size
// is allocated up front), with up to five sub-compactions per compactor
// and eight more tables in flight, so the table size bounds the heap: at
// badger's default growth (×2 per level, 4 to 16 MiB here) table builders
// were 248 of the 336 MiB live 100k entries into an import. Tables are
// 2 MiB at every level instead.
// Values over 64 bytes (DAG nodes, entries) go to the value log, written
// once, so the LSM tree holds keys and pointers and compaction moves a
// fraction of the bytes (200k entries, one run each on a noisy machine:
// 1.8k -> 3.0k entries/s; the LSM of 1M entries is 564 MiB).
// Memtables are 32 MiB (three of them; badger's default is 64): each flush
// becomes a level-0 table, and a node's and entry's keys are mostly
// random hashes, so fewer, larger flushes mean fewer level-0 compactions
// that rewrite most of the base level. Against 8 MiB, alternated runs
// (BENCHMARKS.md, "badger memtables"): a 1M import 160 -> 144 s, a 200k
// catch-up 46-48 -> 43-44 CPU-s, the import's peak anonymous RSS unchanged
// (its soft memory limit governs it).
// Level 0 compacts at six tables rather than three: most keys of a node
// or entry are random hashes, so each level-0 compaction rewrites most of
// the base level whatever its input, and larger inputs make fewer of them
// (1M import, four alternated pairs: +3.5 % median; ten tables gained no
// more).
func badgerOptions(dir string) badger.Options {
	o := badger.DefaultOptions(dir).
		WithLogger(nil).
		WithMemTableSize(32 << 20).
		WithNumMemtables(3).
		WithNumLevelZeroTables(6).
		WithNumLevelZeroTablesStall(14).
		WithBlockCacheSize(32 << 20).
		WithIndexCacheSize(32 << 20).
		WithValueLogFileSize(128 << 20).
		WithBaseTableSize(2 << 20).
		WithValueThreshold(64).
		WithNumCompactors(2).
		// Compaction builds each table in memory, compressed blocks and all;
		// with snappy that held hundreds of MiB during a bulk import. Values
		// (node bytes, entries) are CBOR and content blocks, which snappy
		// barely shrinks.
		WithCompression(options.None).
		WithCompactL0OnClose(false)
	o.TableSizeMultiplier = 1
	return o
}

// Close stops the node and closes its stores. It is safe to call twice.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		close(n.closed)
		if n.trimDone != nil {
			<-n.trimDone
		}
		<-n.gcDone
		if n.rssDone != nil {
			<-n.rssDone // an RSS poll in flight ends before the stores close
		}
		if n.scrapeDone != nil {
			<-n.scrapeDone
		}
		n.stopLists() // subscriptions followed live end before the stores close
		n.stopNet()
		err = n.closeStores()
	})
	return err
}

func (n *Node) closeStores() error {
	var errs []error
	n.content.closeAll()
	if n.search != nil {
		if err := n.search.Close(); err != nil {
			errs = append(errs, err)
		} else {
			// Everything fed to search is on disk: the cursors can be trusted.
			errs = append(errs, os.WriteFile(filepath.Join(n.dir, searchCleanFile), nil, 0o600))
		}
	}
	if n.dag != nil {
		errs = append(errs, n.dag.Close())
	}
	if n.db != nil {
		errs = append(errs, n.db.Close())
	}
	return errors.Join(errs...)
}

// Dir is the data directory.
func (n *Node) Dir() string { return n.dir }

// Token is the local write token for the HTTP API.
func (n *Node) Token() string { return n.token }

// APIKey is the read-only key for Torznab and RSS clients.
func (n *Node) APIKey() string { return n.apiKey }

// Identity is this user's public identity.
func (n *Node) Identity() dag.Identity { return n.identity.Public() }

// DAG exposes the DAG to the replication layer.
func (n *Node) DAG() *dag.DAG { return n.dag }
