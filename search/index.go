package search

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
)

// Errors returned by this package.
var (
	// ErrBadQuery wraps the parser's message for malformed query text.
	ErrBadQuery = errors.New("search: bad query")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("search: index closed")
)

// Doc is one current torrent entry as the search index sees it. The node
// layer converts index entries into Docs; nothing here refers to package
// index.
type Doc struct {
	ID                     string // entry id, 64 lowercase hex (ties in ranking break by ID ascending)
	Index                  string // index key text
	Title, Description     string
	Name                   string
	Files                  []string // file paths
	Category               uint32   // Torznab number
	Tags                   []string
	Author                 string // identity text
	InfohashV1, InfohashV2 string // lowercase hex, "" if absent
	Size                   uint64
	Published              time.Time
}

// Options tunes an Index. The zero value is the default.
type Options struct {
	// BatchSize is the most documents Apply puts in one bleve batch of one
	// shard; a larger Apply is split, the cursor going with the last batch.
	// Default: 10000.
	BatchSize int
	// CollapseWindow is how many hits beyond Offset+Limit a search fetches
	// so that entries sharing an infohash can be collapsed into one.
	// Default: 20.
	CollapseWindow int
	// Durable makes every Apply wait until its batch is on disk. Without
	// it a crash can lose the last batches, and with them the cursor,
	// which then reads lower and makes the caller apply them again.
	// Default: false.
	Durable bool
	// Shards is how many bleve indexes the documents are spread over (by
	// entry ID); Apply feeds them and Search asks them all at once, each
	// on its own core. Scores use the statistics of all shards together,
	// so results do not depend on it. An index opened with another
	// number of shards than it was built with is discarded and rebuilt.
	// Default: 2 (see shards.go).
	Shards int

	noFastPath     bool // tests: always use bleve's searchers
	noPostingCount bool // tests: always count publishers by searching
}

func (o Options) batchSize() int {
	if o.BatchSize <= 0 {
		return 10000
	}
	return o.BatchSize
}

func (o Options) collapseWindow() int {
	if o.CollapseWindow <= 0 {
		return 20
	}
	return o.CollapseWindow
}

func (o Options) shards() int {
	if o.Shards <= 0 {
		return defaultShards
	}
	return min(o.Shards, maxShards)
}

// Internal keys stored in each shard.
var (
	keyCursor  = []byte("indexd/cursor")
	keyVersion = []byte("indexd/mapping")
)

// Index is a bleve index of the current entries, spread over shards. It
// is safe for concurrent use.
type Index struct {
	opts Options

	mu     sync.RWMutex // guards shards against Close
	shards []*shard
	closed bool
}

// shard is one bleve index holding the documents whose IDs shardOf maps
// to it.
type shard struct {
	idx    bleve.Index
	onDisk bool
	// unpersisted holds a token per batch not yet on disk (Durable off).
	// Apply waits when maxUnpersisted are in flight, which bounds the
	// memory of segments waiting for the persister; Close waits for all,
	// as scorch's Close does not.
	unpersisted chan struct{}
}

// maxUnpersisted is how many batches of one shard may wait in memory for
// the persister.
const maxUnpersisted = 2

// Open opens the index in dir, creating it if needed; dir "" keeps the
// index in memory. An index written with another mapping version or
// number of shards is removed and created empty, so its cursor reads 0
// and the caller rebuilds it from the state.
func Open(dir string, opts Options) (*Index, error) {
	k := opts.shards()
	s := &Index{opts: opts}
	if dir != "" {
		shards, err := openShards(dir, k, opts)
		if err != nil {
			return nil, err
		}
		s.shards = shards
	}
	if s.shards == nil {
		if dir != "" {
			if err := os.RemoveAll(dir); err != nil {
				return nil, fmt.Errorf("search: removing outdated index: %w", err)
			}
		}
		for i := range k {
			sh, err := createShard(shardDir(dir, i), shardVersion(i, k), opts)
			if err != nil {
				s.closeShards()
				return nil, err
			}
			s.shards = append(s.shards, sh)
		}
	}
	return s, nil
}

// shardDir is where shard i of an index in dir lives ("" in memory).
func shardDir(dir string, i int) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, fmt.Sprintf("shard%d", i))
}

// shardVersion is what shard i of k keeps under keyVersion.
func shardVersion(i, k int) string {
	return fmt.Sprintf("%s/shard %d of %d", mappingVersion, i, k)
}

// openShards opens the k shards of an existing index in dir. It returns
// nil, nil when dir holds no index of this version and shard count (or
// none at all), for the caller to create it anew.
func openShards(dir string, k int, opts Options) ([]*shard, error) {
	cfg := map[string]interface{}{"unsafe_batch": !opts.Durable}
	var shards []*shard
	discard := func() ([]*shard, error) {
		for _, sh := range shards {
			sh.idx.Close()
		}
		return nil, nil
	}
	// Before shards, the one bleve index sat in dir itself.
	if _, err := os.Stat(filepath.Join(dir, "index_meta.json")); err == nil {
		return discard()
	}
	for i := range k {
		d := shardDir(dir, i)
		if _, err := os.Stat(filepath.Join(d, "index_meta.json")); err != nil {
			return discard()
		}
		idx, err := bleve.OpenUsing(d, cfg)
		if err != nil {
			for _, sh := range shards {
				sh.idx.Close()
			}
			return nil, fmt.Errorf("search: opening %s: %w", d, err)
		}
		shards = append(shards, &shard{idx: idx, onDisk: true, unpersisted: make(chan struct{}, maxUnpersisted)})
		if v, err := idx.GetInternal(keyVersion); err != nil || string(v) != shardVersion(i, k) {
			return discard()
		}
	}
	// A shard beyond k means the index was built with more shards.
	if _, err := os.Stat(shardDir(dir, k)); err == nil {
		return discard()
	}
	return shards, nil
}

// createShard creates an empty shard in dir ("" in memory) that records
// version.
func createShard(dir, version string, opts Options) (*shard, error) {
	// Create durably: bleve keeps the mapping (and we the version) in
	// scorch's internal store, and with unsafe batches neither is on
	// disk until the persister runs, which Close does not wait for; a
	// process that exits soon after creating the index left one that
	// could not be reopened ("error parsing mapping JSON").
	durable := map[string]interface{}{"unsafe_batch": false}
	idx, err := bleve.NewUsing(dir, newMapping(), scorch.Name, scorch.Name, durable)
	if err != nil {
		return nil, fmt.Errorf("search: creating index: %w", err)
	}
	if err := idx.SetInternal(keyVersion, []byte(version)); err != nil {
		idx.Close()
		return nil, fmt.Errorf("search: writing mapping version: %w", err)
	}
	if dir != "" && !opts.Durable {
		if err := idx.Close(); err != nil {
			return nil, fmt.Errorf("search: closing new index: %w", err)
		}
		cfg := map[string]interface{}{"unsafe_batch": true}
		if idx, err = bleve.OpenUsing(dir, cfg); err != nil {
			return nil, fmt.Errorf("search: reopening %s: %w", dir, err)
		}
	}
	return &shard{idx: idx, onDisk: dir != "", unpersisted: make(chan struct{}, maxUnpersisted)}, nil
}

func (s *Index) closeShards() error {
	var errs []error
	for _, sh := range s.shards {
		for range maxUnpersisted {
			sh.unpersisted <- struct{}{}
		}
		errs = append(errs, sh.idx.Close())
	}
	return errors.Join(errs...)
}

// Close flushes and closes the index. Later calls return ErrClosed.
func (s *Index) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	return s.closeShards()
}

// Apply indexes docs (replacing any document with the same ID), then
// deletes the IDs in deletes, and records cursor: in each shard in one
// bleve batch (or several of Options.BatchSize documents, the cursor
// going with the last), the shards at once. An ID both in docs and
// deletes ends up deleted. Applying the same call twice gives the same
// index.
func (s *Index) Apply(docs []Doc, deletes []string, cursor uint64) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	k := len(s.shards)
	parts := make([][]*Doc, k)
	dels := make([][]string, k)
	for i := range docs {
		j := shardOf(docs[i].ID, k)
		parts[j] = append(parts[j], &docs[i])
	}
	for _, id := range deletes {
		j := shardOf(id, k)
		dels[j] = append(dels[j], id)
	}
	return eachShard(k, func(i int) error {
		return s.shards[i].apply(parts[i], dels[i], cursor, s.opts)
	})
}

func (sh *shard) apply(docs []*Doc, deletes []string, cursor uint64, opts Options) error {
	n := opts.batchSize()
	async := sh.onDisk && !opts.Durable
	for start := 0; ; start += n {
		end := min(start+n, len(docs))
		last := end == len(docs)
		b := sh.idx.NewBatch()
		for _, d := range docs[start:end] {
			if err := b.IndexAdvanced(newDocument(d)); err != nil {
				return fmt.Errorf("search: indexing %q: %w", d.ID, err)
			}
		}
		if last {
			for _, id := range deletes {
				b.Delete(id)
			}
			var buf [8]byte
			binary.BigEndian.PutUint64(buf[:], cursor)
			b.SetInternal(keyCursor, buf[:])
		}
		if async {
			sh.unpersisted <- struct{}{}
			b.SetPersistedCallback(func(error) { <-sh.unpersisted })
		}
		if err := sh.idx.Batch(b); err != nil {
			// Dear future: scorch drops the callback of a failed batch.
			if async {
				<-sh.unpersisted
			}
			return fmt.Errorf("search: applying batch: %w", err)
		}
		if last {
			return nil
		}
	}
}

// Cursor returns the cursor stored by the last Apply, 0 if none: the
// lowest of the shards', as a crash may have lost the last batches of
// some of them.
func (s *Index) Cursor() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	var c uint64
	for i, sh := range s.shards {
		v, err := sh.idx.GetInternal(keyCursor)
		if err != nil {
			return 0, fmt.Errorf("search: reading cursor: %w", err)
		}
		if len(v) != 8 {
			return 0, nil
		}
		if x := binary.BigEndian.Uint64(v); i == 0 || x < c {
			c = x
		}
	}
	return c, nil
}

// Count returns the number of documents in the index.
func (s *Index) Count() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	var total uint64
	for _, sh := range s.shards {
		n, err := sh.idx.DocCount()
		if err != nil {
			return 0, fmt.Errorf("search: counting: %w", err)
		}
		total += n
	}
	return total, nil
}

// DeleteIndex deletes every document of index idx (its key text), keeping
// the cursor, and returns how many it deleted.
func (s *Index) DeleteIndex(ctx context.Context, idx string) (int, error) {
	total := 0
	for {
		s.mu.RLock()
		if s.closed {
			s.mu.RUnlock()
			return total, ErrClosed
		}
		req := bleve.NewSearchRequestOptions(term(fieldIndex, idx), deletePage, 0, false)
		req.Score = "none"
		req.SortBy([]string{"_id"})
		sr, err := s.alias().SearchInContext(ctx, req)
		s.mu.RUnlock()
		if err != nil {
			return total, fmt.Errorf("search: listing the documents of %s: %w", idx, err)
		}
		if len(sr.Hits) == 0 {
			return total, nil
		}
		ids := make([]string, len(sr.Hits))
		for i, h := range sr.Hits {
			ids[i] = h.ID
		}
		c, err := s.Cursor()
		if err != nil {
			return total, err
		}
		if err := s.Apply(nil, ids, c); err != nil {
			return total, err
		}
		total += len(ids)
	}
}

// deletePage is how many documents DeleteIndex deletes per bleve batch.
const deletePage = 10000
