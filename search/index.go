package search

import (
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
	// BatchSize is the most documents Apply puts in one bleve batch; a
	// larger Apply is split, the cursor going with the last batch.
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

// Internal keys stored in the bleve index.
var (
	keyCursor  = []byte("indexd/cursor")
	keyVersion = []byte("indexd/mapping")
)

// Index is a bleve index of the current entries. It is safe for
// concurrent use.
type Index struct {
	opts Options

	mu     sync.RWMutex // guards idx against Close
	idx    bleve.Index
	closed bool
	onDisk bool

	// unpersisted holds a token per batch not yet on disk (Durable off).
	// Apply waits when maxUnpersisted are in flight, which bounds the
	// memory of segments waiting for the persister; Close waits for all,
	// as scorch's Close does not.
	unpersisted chan struct{}
}

// maxUnpersisted is how many batches may wait in memory for the persister.
const maxUnpersisted = 2

// Open opens the index in dir, creating it if needed; dir "" keeps the
// index in memory. An index written with another mapping version is
// removed and created empty, so its cursor reads 0 and the caller
// rebuilds it from the state.
func Open(dir string, opts Options) (*Index, error) {
	cfg := map[string]interface{}{"unsafe_batch": !opts.Durable}
	var idx bleve.Index
	var err error
	if dir != "" {
		if _, statErr := os.Stat(filepath.Join(dir, "index_meta.json")); statErr == nil {
			idx, err = bleve.OpenUsing(dir, cfg)
			if err != nil {
				return nil, fmt.Errorf("search: opening %s: %w", dir, err)
			}
			v, err := idx.GetInternal(keyVersion)
			if err != nil || string(v) != mappingVersion {
				idx.Close()
				if err := os.RemoveAll(dir); err != nil {
					return nil, fmt.Errorf("search: removing outdated index: %w", err)
				}
				idx = nil
			}
		}
	}
	if idx == nil {
		// Create durably: bleve keeps the mapping (and we the version) in
		// scorch's internal store, and with unsafe batches neither is on
		// disk until the persister runs, which Close does not wait for; a
		// process that exits soon after creating the index left one that
		// could not be reopened ("error parsing mapping JSON").
		durable := map[string]interface{}{"unsafe_batch": false}
		idx, err = bleve.NewUsing(dir, newMapping(), scorch.Name, scorch.Name, durable)
		if err != nil {
			return nil, fmt.Errorf("search: creating index: %w", err)
		}
		if err := idx.SetInternal(keyVersion, []byte(mappingVersion)); err != nil {
			idx.Close()
			return nil, fmt.Errorf("search: writing mapping version: %w", err)
		}
		if dir != "" && !opts.Durable {
			if err := idx.Close(); err != nil {
				return nil, fmt.Errorf("search: closing new index: %w", err)
			}
			if idx, err = bleve.OpenUsing(dir, cfg); err != nil {
				return nil, fmt.Errorf("search: reopening %s: %w", dir, err)
			}
		}
	}
	return &Index{opts: opts, idx: idx, onDisk: dir != "", unpersisted: make(chan struct{}, maxUnpersisted)}, nil
}

// Close flushes and closes the index. Later calls return ErrClosed.
func (s *Index) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	for range maxUnpersisted {
		s.unpersisted <- struct{}{}
	}
	return s.idx.Close()
}

// Apply indexes docs (replacing any document with the same ID), then
// deletes the IDs in deletes, and records cursor, in one bleve batch (or
// several of Options.BatchSize documents, the cursor going with the
// last). An ID both in docs and deletes ends up deleted. Applying the same
// call twice gives the same index.
func (s *Index) Apply(docs []Doc, deletes []string, cursor uint64) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	n := s.opts.batchSize()
	for start := 0; ; start += n {
		end := min(start+n, len(docs))
		last := end == len(docs)
		b := s.idx.NewBatch()
		for i := start; i < end; i++ {
			if err := b.IndexAdvanced(newDocument(&docs[i])); err != nil {
				return fmt.Errorf("search: indexing %q: %w", docs[i].ID, err)
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
		if s.onDisk && !s.opts.Durable {
			s.unpersisted <- struct{}{}
			b.SetPersistedCallback(func(error) { <-s.unpersisted })
		}
		if err := s.idx.Batch(b); err != nil {
			// Dear future: scorch drops the callback of a failed batch.
			if s.onDisk && !s.opts.Durable {
				<-s.unpersisted
			}
			return fmt.Errorf("search: applying batch: %w", err)
		}
		if last {
			return nil
		}
	}
}

// Cursor returns the cursor stored by the last Apply, 0 if none.
func (s *Index) Cursor() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	v, err := s.idx.GetInternal(keyCursor)
	if err != nil {
		return 0, fmt.Errorf("search: reading cursor: %w", err)
	}
	if len(v) != 8 {
		return 0, nil
	}
	return binary.BigEndian.Uint64(v), nil
}

// Count returns the number of documents in the index.
func (s *Index) Count() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	n, err := s.idx.DocCount()
	if err != nil {
		return 0, fmt.Errorf("search: counting: %w", err)
	}
	return n, nil
}
