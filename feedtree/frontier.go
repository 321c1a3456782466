package feedtree

import (
	"fmt"
	"slices"
)

// The frontier. A replica that holds its feed as a prefix (PutContiguous:
// dag's author logs) proves a range it holds against its trusted head with
// nodes of two kinds: over blocks it holds (stored when they cannot be
// rehashed cheaply, see implicit) and beyond what it holds. The second
// kind is what the verification of its last range brought beyond that
// range's end: the ancestors of its last block that straddle the end, and
// their right siblings. A later range beyond it brings the frontier of its
// own end, and what the earlier frontier held below that end is then over
// held blocks — rehashed, or computed again as the later range's own
// ancestors and stored.
//
// So the last range's frontier is what is needed, and it is kept in
// memory: stored, it was most of a catch-up's writes (200k entries from
// 1,000 authors: 175k node records against 13.5k run records). A new
// frontier is merged with the nodes of the old one that still reach past
// its end (a range whose commit is then discarded cannot take away what an
// earlier one brought). Close stores it; so does the next upgrade of the
// head, whose nodes are stored as before, and so does a range proved under
// a shorter head than the trusted one (its nodes stop at that head).
// Dear future reader: after a crash a partial log has no frontier until its
// next range arrives (or it is complete), and cannot prove ranges against
// its head meanwhile: ProofWith fails with ErrNotFound, and its peers get
// them elsewhere. Verifying a range against the trusted head reads no
// stored node; a range proved under a shorter head needs the roots at that
// length (rootsAt), and one that needs a lost node is refused as stale,
// which costs the sender a retry.

// frontierNode returns node x if the frontier holds it.
func (f *Feed) frontierNode(x uint64) (Node, bool) {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	for _, n := range f.frontier {
		if n.Index == x {
			return n, true
		}
	}
	return Node{}, false
}

// frontierTo adds the frontier's records to b (an upgrade stores it),
// their keys and values appended to arena, which it returns.
func (f *Feed) frontierTo(b *Batch, arena []byte) []byte {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	for _, n := range f.frontier {
		arena = b.setNode(arena, n)
	}
	return arena
}

// frontierDone updates the frontier after a put of a range ending at end
// committed: an upgrade stored it; a contiguous put's nodes beyond its
// end, front, become it, with the old nodes that reach past end, unless an
// earlier put reached further.
func (f *Feed) frontierDone(upgrade, contiguous bool, end uint64, front []Node) {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	switch {
	case upgrade:
		f.frontier = nil
		f.frontierEnd = max(f.frontierEnd, end)
	case contiguous && end >= f.frontierEnd:
		merged := append(make([]Node, 0, len(front)+len(f.frontier)), front...)
		for _, n := range f.frontier {
			if _, hi := Spans(n.Index); hi>>1 >= end && !slices.ContainsFunc(front, func(m Node) bool { return m.Index == n.Index }) {
				merged = append(merged, n)
			}
		}
		f.frontier = merged
		f.frontierEnd = end
	}
}

// storeFrontier stores the frontier's nodes (at Close).
func (f *Feed) storeFrontier() error {
	var b Batch
	f.frontierTo(&b, nil) // b holds on to the arena's bytes
	if b.Len() == 0 {
		return nil
	}
	if err := f.store.Commit(f.key, &b); err != nil {
		return fmt.Errorf("feedtree: storing the frontier of %v: %w", f.key, err)
	}
	f.fmu.Lock()
	f.frontier = nil
	f.fmu.Unlock()
	return nil
}
