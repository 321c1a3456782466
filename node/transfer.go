package node

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	sjson "github.com/segmentio/encoding/json"

	"indexd/dag"
	"indexd/feedtree"
	"indexd/index"
)

// importBatch is how many entries go into one author-log append (one
// signature, one badger commit) during a bulk import.
const importBatch = 2000

// maxImportLine bounds one JSON line of an import file.
const maxImportLine = 4 << 20

// Import reads JSON Lines of entries (the format Export writes) and
// publishes them into idx in large batches. progress, if non-nil, is called
// after each batch with the number imported so far. A malformed line stops
// the import with its line number; batches before it stay published.
func (n *Node) Import(ctx context.Context, r io.Reader, which string, progress func(done int)) (int, error) {
	return n.importAs(ctx, r, which, nil, 0, progress)
}

// ImportAs is Import with the entries signed by authors in turn, run
// entries at a time each, instead of by this node: benchmarks and tests use
// it to build an index written by many authors, as a busy index is (the
// issue's catch-up figure is for 1,000). In an allowlist index the
// authors' identities need a grant.
func (n *Node) ImportAs(ctx context.Context, r io.Reader, which string, authors []dag.Author, run int, progress func(done int)) (int, error) {
	if len(authors) == 0 || run <= 0 {
		return 0, fmt.Errorf("%w: ImportAs needs authors and a run length", ErrBadRequest)
	}
	return n.importAs(ctx, r, which, authors, run, progress)
}

// importAs is Import and ImportAs: with no authors, this node signs.
func (n *Node) importAs(ctx context.Context, r io.Reader, which string, authors []dag.Author, run int, progress func(done int)) (int, error) {
	idx, err := n.ResolveIndex(which)
	if err != nil {
		return 0, err
	}
	// Dear future: with badger's table builders and bleve's batches
	// bounded, the live heap of a bulk import stays near 150 MiB, but at
	// GOGC=100 the heap grows to twice its live size between collections
	// (500+ MiB at 200k entries). A soft limit (importMemoryLimit, see
	// gcMode) makes the collector run earlier instead; with the live heap
	// this far below it, that costs little (import rate within the noise
	// at 200k). A lower limit set by the user (GOMEMLIMIT) stays.
	n.bulkWrites.Add(1)
	defer n.bulkWrites.Add(-1)
	gcm.change(1, 0)
	defer gcm.change(-1, 0)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxImportLine)
	var ops []dag.Op
	done, line := 0, 0
	// Search indexing (bleve, the slowest stage) runs in its own goroutine,
	// one batch behind the DAG appends, so the two use both cores.
	kick := make(chan struct{}, 1)
	searched := make(chan error, 1)
	go func() {
		var err error
		for range kick {
			if err == nil {
				_, err = n.syncSearch(ctx, idx)
			}
		}
		searched <- err
	}()
	finish := func(err error) (int, error) {
		close(kick)
		if serr := <-searched; err == nil && serr != nil {
			err = serr
		}
		if err == nil {
			_, err = n.refresh(ctx, idx)
		}
		return done, err
	}
	// appendOps appends ops and sets logs to the logs it appended to, each
	// once (they are announced after the batch). With authors, a turn runs
	// across batches: next is the author whose turn it is, signed how many
	// entries it signed in it.
	next, signed := 0, 0
	var logs []feedtree.Key
	appendOps := func() error {
		logs = logs[:0]
		n.writeMu.Lock()
		defer n.writeMu.Unlock()
		if len(authors) == 0 {
			a, err := n.author(idx)
			if err != nil {
				return err
			}
			logs = append(logs, a.Log.Public())
			_, err = n.dag.Append(ctx, idx, a, ops...)
			return err
		}
		for rest := ops; len(rest) > 0; {
			k := min(run-signed, len(rest))
			if _, err := n.dag.Append(ctx, idx, authors[next], rest[:k]...); err != nil {
				return err
			}
			if l := authors[next].Log.Public(); !slices.Contains(logs, l) {
				logs = append(logs, l)
			}
			rest = rest[k:]
			if signed += k; signed == run {
				next, signed = (next+1)%len(authors), 0
			}
		}
		return nil
	}
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		if err := appendOps(); err != nil {
			return err
		}
		done += len(ops)
		ops = ops[:0]
		if err := n.syncEntries(ctx, idx); err != nil {
			return err
		}
		// Dear future: this send blocks while the search goroutine has a
		// pass queued already, so search stays within a few batches of the
		// appends. Without it bleve falls far behind, the entries it
		// reads are long gone from Index's cache of those just written
		// (at 200k entries those badger reads were 5.5 % of the import's
		// CPU) and the import ends with a long tail of search alone.
		select {
		case kick <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		for _, l := range logs {
			n.announce(ctx, idx, l)
		}
		if progress != nil {
			progress(done)
		}
		return nil
	}
	// What this node published in idx already is skipped, as a second
	// publish of it is, so importing a backup twice adds nothing. The
	// check costs two reads a line, so it runs only when this identity
	// has entries in idx before the import starts.
	dedupe := len(authors) == 0 && n.ownEntries(idx)
	batchIHs := map[string]bool{}
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var v EntryView
		if err := decodeLine(b, &v); err != nil {
			return finish(fmt.Errorf("%w: line %d: %v", ErrBadRequest, line, err))
		}
		put, err := putOf(&v)
		if err != nil {
			return finish(fmt.Errorf("line %d: %w", line, err))
		}
		if v.Retracted {
			continue
		}
		if dedupe {
			if len(ops) == 0 {
				clear(batchIHs) // flushed: the index has them now
			}
			k1, k2 := "1"+string(put.InfohashV1), "2"+string(put.InfohashV2)
			if len(put.InfohashV1) > 0 && batchIHs[k1] || len(put.InfohashV2) > 0 && batchIHs[k2] {
				continue // twice in this batch, not yet materialised
			}
			if _, ok := n.ownEntryWith(idx, put); ok {
				continue
			}
			batchIHs[k1], batchIHs[k2] = len(put.InfohashV1) > 0, len(put.InfohashV2) > 0
		}
		ops = append(ops, dag.Op{Kind: dag.OpPut, Put: put})
		if len(ops) >= importBatch {
			if err := flush(); err != nil {
				return finish(err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return finish(fmt.Errorf("reading line %d: %w", line+1, err))
	}
	return finish(flush())
}

// decodeLine decodes one JSON line of an import. segmentio/encoding's
// json is a drop-in for encoding/json, 4× faster on these lines (1.8
// against 7.7 µs for a synthetic entry, which was 4.4 % of a 1M import's
// CPU); FuzzDecodeLine checks that the two agree on every input, errors
// included (goccy/go-json, tried first, accepted an overflowing size and
// matched keys case-sensitively). A panic in the decoder is a malformed
// line, not a crash.
func decodeLine(b []byte, v *EntryView) (err error) {
	defer func() {
		if r := recover(); r != nil {
			*v = EntryView{}
			err = fmt.Errorf("malformed JSON (%v)", r)
		}
	}()
	return sjson.Unmarshal(b, v)
}

// Export writes every live entry of idx as JSON Lines, sorted by id.
func (n *Node) Export(ctx context.Context, w io.Writer, which string) (int, error) {
	idx, err := n.ResolveIndex(which)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	count := 0
	err = n.idx.Each(idx, func(e *index.Entry) error {
		if e.Retracted {
			return nil
		}
		count++
		v := viewOf(e)
		v.History = nil
		return enc.Encode(v)
	})
	if err != nil {
		return count, err
	}
	return count, bw.Flush()
}

// ownEntries reports whether this identity has any entry in idx.
func (n *Node) ownEntries(idx dag.IndexKey) bool {
	logs, err := n.dag.Logs(idx)
	if err != nil {
		return true // check, to be safe
	}
	for _, l := range logs {
		if l.Identity == n.Identity() && l.Length > 0 {
			return true
		}
	}
	return false
}
