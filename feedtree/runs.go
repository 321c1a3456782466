package feedtree

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// A run record holds a contiguous run of small blocks in one record:
//
//	'r' || u64be(index of the run's last block) -> uvarint(count) ||
//	        count × uvarint(len(block)) || the blocks, concatenated
//
// Dear future reader: a replica catching up an author log is sent ranges
// of about 16 blocks of about 235 bytes (DAG nodes), and one badger key
// per block (its WAL entry, skiplist insert and SST build) cost more than
// everything else of the catch-up; a push reading a log back sought once
// per 32 blocks. One record per run cuts those keys about 16-fold. Into
// badger, on a shared 2-core VM (medians of 3, BenchmarkPutRanges,
// BenchmarkGetRange, BenchmarkCatchUp): PutContiguous of 16-block ranges
// went from 132k to 203k blocks/s, Put from 65k to 92k, one Put of 1,000
// blocks from 125k to 203k, and GetRange of 32 blocks from 2.0M to 3.6M
// blocks/s; a lone Get costs an ordered read instead of a key lookup,
// 3.1 µs against 2.3. A block over runBlockMax keeps its own
// 'b' record, splitting runs around it: a content feed's 64 KiB blocks
// cost their bytes far more than their key, and reading one block out of
// a run means reading the run. runMaxBytes bounds that read (no more than
// one content block) and the value a commit holds per run; runMaxBlocks
// bounds a run of tiny blocks, the lengths a lookup walks to find one
// block, and the window of keys the lookup of a block scans (its run ends
// at most runMaxBlocks−1 blocks after it).
const (
	runBlockMax  = 16 << 10 // largest block stored in a run
	runMaxBytes  = 64 << 10 // most block bytes in one run
	runMaxBlocks = 1024     // most blocks in one run
)

// noRun is Feed.runLo while the feed holds no run.
const noRun = ^uint64(0)

func runKey(dst []byte, last uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, recRun), last)
}

// runKeysEnd is the first key after every run key.
var runKeysEnd = []byte{recRun + 1}

// appendRun appends the run record of blocks to dst. Requires 1 <=
// len(blocks) <= runMaxBlocks, each block at most runBlockMax bytes and
// all of them at most runMaxBytes.
func appendRun(dst []byte, blocks [][]byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(blocks)))
	for _, b := range blocks {
		dst = binary.AppendUvarint(dst, uint64(len(b)))
	}
	for _, b := range blocks {
		dst = append(dst, b...)
	}
	return dst
}

// runRecord is a decoded run record. Its slices alias the record.
type runRecord struct {
	count int
	lens  []byte // count minimal uvarints
	data  []byte // the blocks, concatenated
}

// decodeRun decodes run record v strictly: a count from 1 to
// runMaxBlocks, then that many lengths of at most runBlockMax each that
// sum exactly to the bytes after them, at most runMaxBytes; every
// uvarint minimal, so that a record has one encoding. It allocates only
// to return an error.
func decodeRun(v []byte) (runRecord, error) {
	count, p := minimalUvarint(v)
	if p <= 0 || count == 0 || count > runMaxBlocks {
		return runRecord{}, fmt.Errorf("%w: run record: block count", ErrBadEncoding)
	}
	start := p
	var total uint64
	for range count {
		l, n := minimalUvarint(v[p:])
		if n <= 0 || l > runBlockMax {
			return runRecord{}, fmt.Errorf("%w: run record: block length", ErrBadEncoding)
		}
		total += l
		p += n
	}
	if total > runMaxBytes || total != uint64(len(v)-p) {
		return runRecord{}, fmt.Errorf("%w: run record: %d bytes of blocks, lengths say %d", ErrBadEncoding, len(v)-p, total)
	}
	return runRecord{count: int(count), lens: v[start:p:p], data: v[p:]}, nil
}

// minimalUvarint is binary.Uvarint refusing (n = 0) an encoding longer
// than needed: its last byte is zero and it is not the only one.
func minimalUvarint(b []byte) (uint64, int) {
	x, n := binary.Uvarint(b)
	if n > 1 && b[n-1] == 0 {
		return 0, 0
	}
	return x, n
}

// appendBlocks appends blocks [from, to) of r to dst, aliasing r, or with
// clone slices of one fresh copy of their bytes: each capped at its own
// end, so that appending to one never writes into the next. Dear future
// reader: a copy per block was a third of a sync sender's CPU (the copies
// and the zeroing of their memory), one per run a sliver. Requires
// from <= to <= r.count.
func (r runRecord) appendBlocks(dst [][]byte, from, to int, clone bool) [][]byte {
	dst = slices.Grow(dst, to-from)
	first := len(dst)
	start, off, p := 0, 0, 0
	for j := range to {
		l, n := binary.Uvarint(r.lens[p:])
		p += n
		if j == from {
			start = off
		}
		if j >= from {
			dst = append(dst, r.data[off:off+int(l):off+int(l)])
		}
		off += int(l)
	}
	if clone && to > from {
		buf := bytes.Clone(r.data[start:off])
		at := 0
		for k := first; k < len(dst); k++ {
			l := len(dst[k])
			dst[k] = buf[at : at+l : at+l]
			at += l
		}
	}
	return dst
}

// block returns block j of r, aliasing r. Requires j < r.count.
func (r runRecord) block(j int) []byte {
	off, p := 0, 0
	for range j {
		l, n := binary.Uvarint(r.lens[p:])
		p += n
		off += int(l)
	}
	l, _ := binary.Uvarint(r.lens[p:])
	return r.data[off : off+int(l) : off+int(l)]
}

// parseRun decodes the run record k, v of a Store scan and returns it
// with the index of its first block.
func parseRun(k, v []byte) (runRecord, uint64, error) {
	if len(k) != 9 || k[0] != recRun {
		return runRecord{}, 0, fmt.Errorf("%w: run key %x", ErrBadEncoding, k)
	}
	last := binary.BigEndian.Uint64(k[1:])
	r, err := decodeRun(v)
	if err != nil {
		return runRecord{}, 0, fmt.Errorf("run ending at block %d: %w", last, err)
	}
	if last >= MaxLength || uint64(r.count) > last+1 {
		return runRecord{}, 0, fmt.Errorf("%w: run of %d blocks ends at block %d", ErrBadEncoding, r.count, last)
	}
	return r, last + 1 - uint64(r.count), nil
}

// setBlocks records in b the writes of blocks, which are blocks first,
// first+1, …: in runs of small blocks when runs is set, a block over
// runBlockMax (or every block, without runs) in its own 'b' record. Keys
// are appended to keys, which it returns (see Batch.Set on keeping them
// unchanged); run values go to one new buffer. firstRun is the index of
// the first block it put in a run, noRun if none.
func setBlocks(b *Batch, keys []byte, first uint64, blocks [][]byte, runs bool) (_ []byte, firstRun uint64) {
	firstRun = noRun
	var vals []byte
	if runs {
		n := 0
		for _, d := range blocks {
			if len(d) <= runBlockMax {
				n += len(d) + 5 // a length (at most runBlockMax) takes 3 bytes, a count 2
			}
		}
		vals = make([]byte, 0, n)
	}
	for j := 0; j < len(blocks); {
		if !runs || len(blocks[j]) > runBlockMax {
			start := len(keys)
			keys = blockKey(keys, first+uint64(j))
			b.Set(keys[start:len(keys):len(keys)], blocks[j])
			j++
			continue
		}
		k, size := j, 0
		for k < len(blocks) && k-j < runMaxBlocks && len(blocks[k]) <= runBlockMax && size+len(blocks[k]) <= runMaxBytes {
			size += len(blocks[k])
			k++
		}
		if firstRun == noRun {
			firstRun = first + uint64(j)
		}
		start := len(keys)
		keys = runKey(keys, first+uint64(k-1))
		vstart := len(vals)
		vals = appendRun(vals, blocks[j:k])
		b.Set(keys[start:len(keys):len(keys)], vals[vstart:len(vals):len(vals)])
		j = k
	}
	return keys, firstRun
}

// Where a feed's blocks are (see Feed.held): blocks [0, held) are stored,
// each in a run or a 'b' record; a run only ever starts at held, so runs
// never overlap, every run lies below held, and a run ending at block e
// says blocks [0, e] are held. Blocks beyond held are in 'b' records (a
// sparse replica's).

// block appends block i to dst, or returns ErrNotFound (unwrapped) if this
// replica lacks it. A block in a run costs one Store.Scan (the first run
// ending at i or after holds i if any does: runs do not overlap), one in
// a 'b' record a Store.Get, and the lookup that cannot succeed is skipped
// (runLo, sparse).
func (f *Feed) block(i uint64, dst []byte) ([]byte, error) {
	held := f.held.Load()
	var kb [9]byte
	if i < held {
		if i >= f.runLo.Load() {
			found := false
			var hi [9]byte
			err := f.store.Scan(f.key, runKey(kb[:0], i), runKey(hi[:0], min(i+runMaxBlocks, held)), func(k, v []byte) error {
				r, first, err := parseRun(k, v)
				if err != nil {
					return err
				}
				if first <= i {
					dst = append(dst, r.block(int(i-first))...)
					found = true
				}
				return errStopScan
			})
			if err != nil && !errors.Is(err, errStopScan) {
				return dst, err
			}
			if found {
				return dst, nil
			}
		}
	} else if !f.sparse.Load() {
		return dst, ErrNotFound
	}
	return f.store.Get(f.key, blockKey(kb[:0], i), dst)
}

// appendRange appends blocks [start, end) to dst, fresh copies, up to end
// or the first block this replica lacks, and returns the result and the
// index after the last block appended: one ordered Store.Scan per stretch
// of blocks in runs or in 'b' records.
func (f *Feed) appendRange(start, end uint64, dst [][]byte) ([][]byte, uint64, error) {
	held, runLo, sparse := f.held.Load(), f.runLo.Load(), f.sparse.Load()
	next := start
	var lo, hi [9]byte
	for next < end {
		from := next
		if next < held && next >= runLo {
			e := min(end, held)
			// A run holding a block before e ends before e+runMaxBlocks−1.
			err := f.store.Scan(f.key, runKey(lo[:0], next), runKey(hi[:0], min(e+runMaxBlocks-1, held)), func(k, v []byte) error {
				r, first, err := parseRun(k, v)
				if err != nil {
					return err
				}
				if first > next {
					return errStopScan // next is in a 'b' record
				}
				to := min(first+uint64(r.count), e)
				dst = r.appendBlocks(dst, int(next-first), int(to-first), true)
				if next = to; next >= e {
					return errStopScan
				}
				return nil
			})
			if err != nil && !errors.Is(err, errStopScan) {
				return dst, next, err
			}
		}
		if next < end && (next < held || sparse) {
			err := f.store.Scan(f.key, blockKey(lo[:0], next), blockKey(hi[:0], end), func(k, v []byte) error {
				if len(k) != 9 || binary.BigEndian.Uint64(k[1:]) != next {
					return errStopScan // a gap: in a run, or not held
				}
				dst = append(dst, bytes.Clone(v))
				next++
				return nil
			})
			if err != nil && !errors.Is(err, errStopScan) {
				return dst, next, err
			}
		}
		if next == from {
			break
		}
	}
	return dst, next, nil
}

// loadHeld sets held, runLo and sparse from the records of a feed whose
// trusted head has length n over size bytes of blocks. It costs a
// Store.Scan and a Store.Has for a writer and a replica holding every
// block, a binary search over the run keys for a replica holding fewer (a
// DAG opens one feed per author log at start-up), and a walk over the 'b'
// records that follow the last run: every block of a feed stored before
// runs, at every open until it grows (the next blocks go in runs).
func (f *Feed) loadHeld(n, size uint64) error {
	// The last run says that every block up to its end is held. It ends at
	// n−1 in a writer and a caught-up replica. Runs ending at n or beyond
	// are what a commit too big for one badger transaction left behind when
	// interrupted before its head (the last record): a writer then appends
	// other blocks there, and a later run overlapping them must not be
	// shadowed by them. They are deleted.
	var stale Batch
	atEnd := false // a run ends at n−1
	from := uint64(0)
	if n > 0 {
		from = n - 1
	}
	if err := f.store.Scan(f.key, runKey(nil, from), runKeysEnd, func(k, _ []byte) error {
		if len(k) == 9 && n > 0 && binary.BigEndian.Uint64(k[1:]) == n-1 {
			atEnd = true
		} else {
			stale.Delete(bytes.Clone(k))
		}
		return nil
	}); err != nil {
		return err
	}
	if stale.Len() > 0 {
		if err := f.store.Commit(f.key, &stale); err != nil {
			return fmt.Errorf("removing runs beyond the head: %w", err)
		}
	}
	h, runLo := uint64(0), noRun
	runs := atEnd || n > 1 // whether the feed may hold runs
	switch {
	case f.kp != nil || atEnd:
		h = n // a writer holds every block of its head
	case runs:
		// The first run, then a binary search for the last one.
		last, first, ok, err := f.firstRun(0, n-1, true)
		runLo = first
		// A run ends at last and none ends at top or beyond.
		for top := n - 1; ok && err == nil && last+1 < top; {
			mid := last + (top-last)/2
			l, _, found, e := f.firstRun(mid, top, false)
			if found {
				last = l
			} else {
				top = mid
			}
			err = e
		}
		if err != nil {
			return err
		}
		if runs = ok; ok {
			h = last + 1
		}
	}

	// Where runs start: at 0 if block 0 is in one (held blocks are in a
	// run or a 'b' record), else where the first run starts.
	if runs && runLo == noRun && h > 0 {
		var kb [9]byte
		b0, err := f.store.Has(f.key, blockKey(kb[:0], 0))
		if err != nil {
			return err
		}
		runLo = 0
		if b0 {
			if _, runLo, _, err = f.firstRun(0, h, true); err != nil {
				return err
			}
		}
	}

	// On over 'b' records, up to n; one beyond the prefix makes the feed
	// sparse. (Records beyond n, left by an interrupted commit, are not
	// blocks of the feed: a replica's next Put of them stores them again.)
	sparse := false
	var kb, hi [9]byte
	if h < n && size/n > runBlockMax {
		// Dear future reader: an ordered read passes each record's value,
		// and badger then reads the head of each from its value log: a
		// page per block, 64 KiB apart for a content feed, which cold (not
		// measured) faults in about the whole feed. A key lookup reads only
		// the LSM tree. Warm, the ordered read is faster (BenchmarkOpenLegacy,
		// content-replica: 0.33 µs a block against 1.2 by key), and
		// it stays the walk for small blocks, whose pages it shares.
		for h < n {
			ok, err := f.store.Has(f.key, blockKey(kb[:0], h))
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			h++
		}
	}
	if h < n {
		if err := f.store.Scan(f.key, blockKey(nil, h), blockKey(hi[:0], n), func(k, _ []byte) error {
			if len(k) == 9 && binary.BigEndian.Uint64(k[1:]) == h {
				h++
				return nil
			}
			sparse = true
			return errStopScan
		}); err != nil && !errors.Is(err, errStopScan) {
			return err
		}
	}
	f.runLo.Store(runLo)
	f.sparse.Store(sparse)
	f.held.Store(h)
	return nil
}

// firstRun returns the last block of the first run ending in [from, to)
// and, with decode, its first block (0, a lower bound, if the run is
// damaged; noRun if there is none).
func (f *Feed) firstRun(from, to uint64, decode bool) (last, first uint64, ok bool, err error) {
	var lo, hi [9]byte
	first = noRun
	err = f.store.Scan(f.key, runKey(lo[:0], from), runKey(hi[:0], to), func(k, v []byte) error {
		if len(k) == 9 {
			last, ok = binary.BigEndian.Uint64(k[1:]), true
			if decode {
				first = 0
				if _, fi, err := parseRun(k, v); err == nil {
					first = fi
				}
			}
		}
		return errStopScan
	})
	if errors.Is(err, errStopScan) {
		err = nil
	}
	return last, first, ok, err
}

// advanceHeld moves held over the 'b' records stored from it on (blocks a
// sparse replica stored before the prefix reached them), up to length.
// A read error leaves held where it is, which is safe: held only has to
// be no more than the blocks stored. Caller holds hmu.
func (f *Feed) advanceHeld(length uint64) {
	h := f.held.Load()
	if !f.sparse.Load() || h >= length {
		return
	}
	var lo, hi [9]byte
	f.store.Scan(f.key, blockKey(lo[:0], h), blockKey(hi[:0], length), func(k, _ []byte) error {
		if len(k) != 9 || binary.BigEndian.Uint64(k[1:]) != h {
			return errStopScan
		}
		h++
		return nil
	})
	f.held.Store(h)
}
