package replicate

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"

	"golang.org/x/crypto/blake2b"
)

// Range-based set reconciliation (Meyer, arXiv 2212.13567; negentropy v1) over
// the author logs of one index. Each side holds a set of items
// (log key, length, head hash) sorted by log key. A Ranges message covers the
// whole key space with consecutive ranges [previous upper, upper); each range
// is skipped, summarised by a fingerprint, or listed item by item. A side
// answers a mismatching fingerprint by splitting its own items into
// reconBranch buckets, or by listing them when there are at most
// reconItemLimit. Bytes therefore grow with the number of differing logs
// (times log16 of the total), not with the total.
//
// What a side learns from item lists is where it is ahead; it then pushes the
// missing blocks (Data frames) unasked. A side lists back only the items where
// it is behind (or forked), so the peer that is ahead learns it must push.

const (
	// reconBranch is the number of buckets a mismatching range splits into.
	reconBranch = 16
	// reconItemLimit: ranges with at most this many items are listed instead
	// of fingerprinted.
	reconItemLimit = 16
	// maxReconRounds bounds the Ranges messages of one session; an honest
	// session needs about log16(logs)+2.
	maxReconRounds = 32
)

// Range modes on the wire.
const (
	modeSkip      byte = 0 // nothing to do in this range
	modeFP        byte = 1 // fingerprint[16] of the sender's items in the range
	modeItems     byte = 2 // the sender's complete item list; answer with modeItemsFinal
	modeItemsDiff byte = 3 // items where the sender is behind the receiver; no answer
)

// item is one author log as reconciliation sees it.
type item struct {
	Key    [32]byte
	Length uint64   // contiguous blocks held
	Head   [16]byte // headHash(Length, Fork, TreeHash) prefix; zero when Length == 0
	Trust  uint64   // length of the newest signed head verified (≥ Length); not fingerprinted
}

// fingerprint summarises a set of items: BLAKE2b-256(Σ itemHash mod 2^256 ||
// uvarint count), truncated to 16 bytes.
type fingerprint [16]byte

// headHash names a signed head for reconciliation. The signature is left out:
// two heads with one tree hash, length and fork describe the same history.
func headHash(length, fork uint64, treeHash [32]byte) [16]byte {
	var b [48]byte
	binary.LittleEndian.PutUint64(b[:], length)
	binary.LittleEndian.PutUint64(b[8:], fork)
	copy(b[16:], treeHash[:])
	s := blake2b.Sum256(b[:])
	var out [16]byte
	copy(out[:], s[:16])
	return out
}

type sum256 [4]uint64

func (s *sum256) add(h [32]byte) {
	var c uint64
	for i := range 4 {
		s[i], c = bits.Add64(s[i], binary.LittleEndian.Uint64(h[8*i:]), c)
	}
}

func (s sum256) sub(o sum256) sum256 {
	var r sum256
	var c uint64
	for i := range 4 {
		r[i], c = bits.Sub64(s[i], o[i], c)
	}
	return r
}

func itemHash(it *item) [32]byte {
	var b [32 + 8 + 16]byte
	copy(b[:], it.Key[:])
	binary.LittleEndian.PutUint64(b[32:], it.Length)
	copy(b[40:], it.Head[:])
	return blake2b.Sum256(b[:])
}

func makeFingerprint(s sum256, count int) fingerprint {
	var b [32 + binary.MaxVarintLen64]byte
	for i := range 4 {
		binary.LittleEndian.PutUint64(b[8*i:], s[i])
	}
	n := binary.PutUvarint(b[32:], uint64(count))
	h := blake2b.Sum256(b[:32+n])
	var fp fingerprint
	copy(fp[:], h[:16])
	return fp
}

// itemSet is a sorted set of items with prefix sums of their hashes, so the
// fingerprint of any index range costs O(1).
type itemSet struct {
	items []item
	pre   []sum256 // pre[i] = Σ itemHash(items[:i])
	byKey map[[32]byte]int
}

// newItemSet sorts items (in place) and indexes them. Duplicate keys keep the
// first occurrence.
func newItemSet(items []item) *itemSet {
	slices.SortFunc(items, func(a, b item) int { return bytes.Compare(a.Key[:], b.Key[:]) })
	items = slices.CompactFunc(items, func(a, b item) bool { return a.Key == b.Key })
	s := &itemSet{items: items, pre: make([]sum256, len(items)+1), byKey: make(map[[32]byte]int, len(items))}
	for i := range items {
		s.pre[i+1] = s.pre[i]
		s.pre[i+1].add(itemHash(&items[i]))
		s.byKey[items[i].Key] = i
	}
	return s
}

func (s *itemSet) fp(i, j int) fingerprint { return makeFingerprint(s.pre[j].sub(s.pre[i]), j-i) }

// all returns the fingerprint of the whole set.
func (s *itemSet) all() fingerprint { return s.fp(0, len(s.items)) }

// lookup returns the item of key, if any.
func (s *itemSet) lookup(k [32]byte) (item, bool) {
	i, ok := s.byKey[k]
	if !ok {
		return item{}, false
	}
	return s.items[i], true
}

// search returns the index of the first item with key ≥ bound.
func (s *itemSet) search(b bound) int {
	if b.inf {
		return len(s.items)
	}
	i, _ := slices.BinarySearchFunc(s.items, b.key, func(it item, k [32]byte) int { return bytes.Compare(it.Key[:], k[:]) })
	return i
}

// bound is an exclusive upper bound of a range: a key (a prefix padded with
// zeros on the wire) or +∞.
type bound struct {
	inf bool
	key [32]byte
}

type rng struct {
	upper bound
	mode  byte
	fp    fingerprint
	items []item
}

// push says: the peer holds log Key only up to From; send it the rest.
type push struct {
	Key   [32]byte
	From  uint64
	Trust uint64 // the peer's trusted head length, so proofs fit what it holds
}

// reconcile answers one incoming Ranges message. It returns the outgoing
// ranges (all-skip, coalesced to nothing, when this side has no more
// questions) and the pushes this side now knows it owes.
func (s *itemSet) reconcile(in []rng) (out []rng, pushes []push, err error) {
	lo := 0
	prev := bound{}
	first := true
	for _, r := range in {
		if !first && !boundLess(prev, r.upper) {
			return nil, nil, fmt.Errorf("reconciling: ranges out of order: %w", ErrMalformed)
		}
		first = false
		if prev.inf {
			return nil, nil, fmt.Errorf("reconciling: range after +inf: %w", ErrMalformed)
		}
		hi := s.search(r.upper)
		if hi < lo {
			hi = lo
		}
		mine := s.items[lo:hi]
		switch r.mode {
		case modeSkip:
			out = appendSkip(out, r.upper)
		case modeFP:
			if s.fp(lo, hi) == r.fp {
				out = appendSkip(out, r.upper)
			} else if len(mine) <= reconItemLimit {
				out = append(out, rng{upper: r.upper, mode: modeItems, items: slices.Clone(mine)})
			} else {
				out = s.split(out, lo, hi, r.upper)
			}
		case modeItems:
			// Their complete list for the range: push where we are ahead, list
			// back where we are behind.
			var back []item
			theirs := make(map[[32]byte]item, len(r.items))
			for _, t := range r.items {
				theirs[t.Key] = t
			}
			for _, m := range mine {
				t, ok := theirs[m.Key]
				switch {
				case !ok:
					pushes = append(pushes, push{Key: m.Key, From: 0})
				case m.Length > t.Length:
					pushes = append(pushes, push{Key: m.Key, From: t.Length, Trust: t.Trust})
				case m.Length < t.Length:
					back = append(back, m)
				case m.Head != t.Head:
					pushes = append(pushes, push{Key: m.Key, From: forkFrom(m.Length), Trust: t.Trust})
					back = append(back, m)
				}
			}
			for _, t := range r.items {
				if _, ok := s.lookup(t.Key); !ok && inRange(t.Key, prev, r.upper) {
					back = append(back, item{Key: t.Key})
				}
			}
			if len(back) == 0 {
				out = appendSkip(out, r.upper)
			} else {
				out = append(out, rng{upper: r.upper, mode: modeItemsDiff, items: back})
			}
		case modeItemsDiff:
			for _, t := range r.items {
				m, ok := s.lookup(t.Key)
				if !ok {
					continue
				}
				switch {
				case m.Length > t.Length:
					pushes = append(pushes, push{Key: m.Key, From: t.Length, Trust: t.Trust})
				case m.Length == t.Length && m.Head != t.Head:
					pushes = append(pushes, push{Key: m.Key, From: forkFrom(m.Length), Trust: t.Trust})
				}
			}
			out = appendSkip(out, r.upper)
		default:
			return nil, nil, fmt.Errorf("reconciling: mode %d: %w", r.mode, ErrMalformed)
		}
		lo = hi
		prev = r.upper
	}
	if !prev.inf {
		return nil, nil, fmt.Errorf("reconciling: ranges do not reach +inf: %w", ErrMalformed)
	}
	if len(out) == 1 && out[0].mode == modeSkip {
		out = nil
	}
	return out, pushes, nil
}

// inRange reports whether k lies in [lower, upper). Items of an honest list
// always do; a hostile list may name keys outside, which are ignored.
func inRange(k [32]byte, lower, upper bound) bool {
	if bytes.Compare(k[:], lower.key[:]) < 0 {
		return false
	}
	return upper.inf || bytes.Compare(k[:], upper.key[:]) < 0
}

// forkFrom is where to start pushing a log whose head conflicts with the
// peer's at the same length: the last block, so the peer sees our signed head
// with a proof and records the fork.
func forkFrom(length uint64) uint64 {
	if length == 0 {
		return 0
	}
	return length - 1
}

func appendSkip(out []rng, upper bound) []rng {
	if n := len(out); n > 0 && out[n-1].mode == modeSkip {
		out[n-1].upper = upper
		return out
	}
	return append(out, rng{upper: upper, mode: modeSkip})
}

// split fingerprints items[lo:hi] in reconBranch buckets, the last ending at upper.
func (s *itemSet) split(out []rng, lo, hi int, upper bound) []rng {
	n := hi - lo
	for b := range reconBranch {
		i := lo + n*b/reconBranch
		j := lo + n*(b+1)/reconBranch
		if i == j {
			continue
		}
		ub := upper
		if j < hi {
			ub = bound{key: minBound(s.items[j-1].Key, s.items[j].Key)}
		}
		out = append(out, rng{upper: ub, mode: modeFP, fp: s.fp(i, j)})
	}
	return out
}

// minBound returns the shortest zero-padded prefix of b that is > a
// (so a lies below it and b at or above it). Requires a < b.
func minBound(a, b [32]byte) [32]byte {
	var k [32]byte
	for i := range 32 {
		k[i] = b[i]
		if a[i] != b[i] {
			break
		}
	}
	return k
}

func boundLess(a, b bound) bool {
	switch {
	case a.inf:
		return false
	case b.inf:
		return true
	}
	return bytes.Compare(a.key[:], b.key[:]) < 0
}

// initialRanges is the responder's first message for a set it knows nothing
// about the peer's view of.
func (s *itemSet) initialRanges() []rng {
	inf := bound{inf: true}
	if len(s.items) <= reconItemLimit {
		return []rng{{upper: inf, mode: modeItems, items: slices.Clone(s.items)}}
	}
	return s.split(nil, 0, len(s.items), inf)
}

// Wire form of a range: bound, mode, payload. A bound is a byte n ≤ 32
// followed by n prefix bytes (the key is the prefix padded with zeros), or
// n = 255 for +∞. Items: uvarint count, then key[32] uvarint(length) head[16] uvarint(trust).

func appendRanges(b []byte, rs []rng) []byte {
	b = binary.AppendUvarint(b, uint64(len(rs)))
	for i := range rs {
		r := &rs[i]
		if r.upper.inf {
			b = append(b, 255)
		} else {
			n := 32
			for n > 0 && r.upper.key[n-1] == 0 {
				n--
			}
			b = append(b, byte(n))
			b = append(b, r.upper.key[:n]...)
		}
		b = append(b, r.mode)
		switch r.mode {
		case modeFP:
			b = append(b, r.fp[:]...)
		case modeItems, modeItemsDiff:
			b = binary.AppendUvarint(b, uint64(len(r.items)))
			for _, it := range r.items {
				b = append(b, it.Key[:]...)
				b = binary.AppendUvarint(b, it.Length)
				b = append(b, it.Head[:]...)
				b = binary.AppendUvarint(b, it.Trust)
			}
		}
	}
	return b
}

// decodeRanges decodes a Ranges body. It checks bounds and counts, not order
// (reconcile does).
func decodeRanges(b []byte) ([]rng, error) {
	d := decoder{b: b}
	n := d.uvarint("range count")
	if d.err == nil && (n > maxRanges || n > uint64(len(d.b))) {
		d.fail("range count")
	}
	var rs []rng
	if d.err == nil {
		rs = make([]rng, 0, n)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		var r rng
		l := d.byte("range bound")
		switch {
		case l == 255:
			r.upper.inf = true
		case l <= 32:
			d.fixed("range bound", r.upper.key[:l])
		default:
			d.fail("range bound")
		}
		r.mode = d.byte("range mode")
		switch r.mode {
		case modeSkip:
		case modeFP:
			d.fixed("range fingerprint", r.fp[:])
		case modeItems, modeItemsDiff:
			c := d.uvarint("item count")
			if d.err == nil && (c > maxItems || c*50 > uint64(len(d.b))) {
				d.fail("item count")
			}
			if d.err == nil {
				r.items = make([]item, c)
			}
			for j := uint64(0); j < c && d.err == nil; j++ {
				it := &r.items[j]
				d.fixed("item key", it.Key[:])
				it.Length = d.uvarint("item length")
				d.fixed("item head", it.Head[:])
				it.Trust = d.uvarint("item trust")
			}
		default:
			d.fail("range mode")
		}
		rs = append(rs, r)
	}
	if err := d.end("ranges"); err != nil {
		return nil, err
	}
	return rs, nil
}
