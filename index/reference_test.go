package index

import (
	"bytes"
	"slices"
	"testing"

	"indexd/dag"
	"indexd/feedtree"
)

// referenceState is the slow, literal reading of the rules in doc.go: from
// the set of applied nodes alone (no apply order, no incremental state) it
// computes every entry. The fast path (Sync) is checked against it.
func referenceState(t testing.TB, m *dag.Manifest, applied []dag.Applied) [][]byte {
	t.Helper()
	type nodeInfo struct {
		a   dag.Applied
		pos dag.Link
	}
	byHash := map[dag.ID]*nodeInfo{}
	for _, a := range applied {
		byHash[a.Hash] = &nodeInfo{a: a, pos: dag.Link{Log: a.Node.Log, Seq: a.Node.Seq, Hash: a.Hash}}
	}
	// Fork set.
	forks := map[feedtree.Key]dag.ForkCount{}
	for _, a := range applied {
		if log, c, ok := forkOf(a.Node); ok {
			if cur, ok := forks[log]; !ok || c.Narrows(cur) {
				forks[log] = c
			}
		}
	}
	counted := func(n *dag.Node) bool {
		c, ok := forks[n.Log]
		return !ok || n.Seq < c.At
	}
	// Causal past (the node included), by walking links.
	pastMemo := map[dag.ID]map[dag.ID]bool{}
	var past func(id dag.ID) map[dag.ID]bool
	past = func(id dag.ID) map[dag.ID]bool {
		if p, ok := pastMemo[id]; ok {
			return p
		}
		p := map[dag.ID]bool{id: true}
		for _, l := range byHash[id].a.Node.Links {
			for q := range past(l.Hash) {
				p[q] = true
			}
		}
		pastMemo[id] = p
		return p
	}
	allow := m.Policy == dag.PolicyAllowlist
	allowed := func(a dag.Applied) bool {
		if !allow || a.Identity == m.Creator {
			return true
		}
		var events []dag.Applied
		for q := range past(a.Hash) {
			e := byHash[q].a
			if (e.Node.Op.Kind == dag.OpGrant || e.Node.Op.Kind == dag.OpRevoke) && e.Identity == m.Creator &&
				e.Node.Op.Member == a.Identity && counted(e.Node) {
				events = append(events, e)
			}
		}
		var best *dag.Applied
		for i, e := range events {
			maximal := true
			for _, f := range events {
				if f.Hash != e.Hash && past(f.Hash)[e.Hash] {
					maximal = false
				}
			}
			if maximal && (best == nil || revCmp(e.Node.Time, e.Hash, best.Node.Time, best.Hash) > 0) {
				best = &events[i]
			}
		}
		return best != nil && best.Node.Op.Kind == dag.OpGrant
	}
	var out []*Entry
	for _, a := range applied {
		n := a.Node
		if n.Op.Kind != dag.OpPut || !counted(n) || !allowed(a) || ValidatePut(n.Op.Put) != nil {
			continue
		}
		e := &Entry{ID: a.Hash, Index: m.Key(), Author: a.Identity, Log: n.Log, Published: n.Time, Updated: n.Time, Put: *n.Op.Put}
		var amends, retracts []dag.Applied
		for _, b := range applied {
			bn := b.Node
			if (bn.Op.Kind == dag.OpAmend || bn.Op.Kind == dag.OpRetract) && bn.Op.Target == a.Hash &&
				b.Identity == a.Identity && counted(bn) && allowed(b) {
				if bn.Op.Kind == dag.OpAmend {
					amends = append(amends, b)
				} else {
					retracts = append(retracts, b)
				}
			}
		}
		byTime := func(x, y dag.Applied) int { return revCmp(x.Node.Time, x.Hash, y.Node.Time, y.Hash) }
		slices.SortFunc(amends, byTime)
		slices.SortFunc(retracts, byTime)
		hist := []Revision{{Hash: a.Hash, Kind: dag.OpPut, Time: n.Time, Author: a.Identity}}
		if len(retracts) > 0 {
			e.Put = dag.Put{InfohashV1: e.InfohashV1, InfohashV2: e.InfohashV2, Name: e.Name}
			e.Retracted = true
			for _, r := range retracts {
				hist = append(hist, Revision{Hash: r.Hash, Kind: dag.OpRetract, Time: r.Node.Time, Author: r.Identity})
				e.Updated = max(e.Updated, r.Node.Time)
			}
		} else {
			// Per field, the last amend in (Time, Hash) order that sets it.
			for _, am := range amends {
				x := am.Node.Op.Amend
				if x.Title != nil {
					e.Title = *x.Title
				}
				if x.Description != nil {
					e.Description = *x.Description
				}
				if x.Category != nil {
					e.Category = *x.Category
				}
				if x.Tags != nil {
					e.Tags = slices.Clone(*x.Tags)
					if len(e.Tags) == 0 {
						e.Tags = nil
					}
				}
				if x.Content != nil {
					c := *x.Content
					e.Content = &c
				}
				for k, v := range x.Meta {
					if v == "" {
						delete(e.Meta, k)
					} else {
						if e.Meta == nil {
							e.Meta = map[string]string{}
						}
						e.Meta[k] = v
					}
				}
				if len(e.Meta) == 0 {
					e.Meta = nil
				}
				hist = append(hist, Revision{Hash: am.Hash, Kind: dag.OpAmend, Time: am.Node.Time, Author: am.Identity})
				e.Updated = max(e.Updated, am.Node.Time)
			}
		}
		slices.SortFunc(hist, func(x, y Revision) int { return revCmp(x.Time, x.Hash, y.Time, y.Hash) })
		if len(hist) > MaxHistory {
			// The put and the latest MaxHistory-1 others.
			var put Revision
			others := hist[:0:0]
			for _, r := range hist {
				if r.Kind == dag.OpPut {
					put = r
				} else {
					others = append(others, r)
				}
			}
			others = others[len(others)-(MaxHistory-1):]
			hist = append(others, put)
			slices.SortFunc(hist, func(x, y Revision) int { return revCmp(x.Time, x.Hash, y.Time, y.Hash) })
		}
		e.History = hist
		out = append(out, e)
	}
	slices.SortFunc(out, func(x, y *Entry) int {
		a, b := x.ID.Bytes(), y.ID.Bytes()
		return bytes.Compare(a[:], b[:])
	})
	var enc [][]byte
	for _, e := range out {
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		enc = append(enc, b)
	}
	return enc
}
