package dag

import (
	"math/rand/v2"
	"slices"
	"testing"

	"indexd/feedtree"
)

// buildHistory makes a multi-author DAG: writers append in random turns and
// sync random pairs now and then, so nodes link across logs and heads fork
// and merge. It returns a replica holding everything.
func buildHistory(t *testing.T, rng *rand.Rand, m *Manifest, writers, steps int) *DAG {
	idx := m.Key()
	rs := replicas(t, writers+1, m)
	all := rs[writers]
	var puts [][]ID
	for range writers {
		puts = append(puts, nil)
	}
	for step := range steps {
		w := rng.IntN(writers)
		var ops []Op
		for range 1 + rng.IntN(3) {
			switch k := rng.IntN(10); {
			case k < 6 || len(puts[w]) == 0:
				ops = append(ops, putOp(step*10+len(ops)))
			case k < 8:
				title := "t" + string(rune('a'+rng.IntN(26)))
				ops = append(ops, Op{Kind: OpAmend, Target: puts[w][rng.IntN(len(puts[w]))], Amend: &Amend{Title: &title}})
			default:
				ops = append(ops, Op{Kind: OpRetract, Target: puts[w][rng.IntN(len(puts[w]))]})
			}
		}
		ids := mustAppend(t, rs[w], idx, testAuthor(w), ops...)
		for i, op := range ops {
			if op.Kind == OpPut {
				puts[w] = append(puts[w], ids[i])
			}
		}
		if rng.IntN(3) == 0 {
			a, b := rng.IntN(writers), rng.IntN(writers)
			if a != b {
				syncLogs(t, rs[a], rs[b], idx)
			}
		}
	}
	for _, w := range rs[:writers] {
		syncLogs(t, w, all, idx)
	}
	return all
}

// history is a reference DAG (buildHistory: 5 writers, 60 steps) with
// what every replica must end with.
type history struct {
	m     *Manifest
	idx   IndexKey
	ref   *DAG
	want  []ID   // applied node IDs, sorted
	heads []Link // in log key order
	logs  []LogState
}

func newHistory(t *testing.T, rng *rand.Rand) history {
	t.Helper()
	h := history{m: testManifest(t)}
	h.idx = h.m.Key()
	h.ref = buildHistory(t, rng, h.m, 5, 60)
	h.want = appliedIDs(t, h.ref, h.idx)
	h.heads, _ = h.ref.Heads(h.idx)
	h.logs, _ = h.ref.Logs(h.idx)
	if len(h.want) < 60 || len(h.heads) == 0 {
		t.Fatalf("history too small: %d nodes, %d heads", len(h.want), len(h.heads))
	}
	return h
}

type chunk struct {
	log feedtree.Key
	end uint64
}

// arrivalOrder cuts each log into random prefixes (chunk: up to end) and
// interleaves the logs at random, each log's chunks in order.
func arrivalOrder(rng *rand.Rand, logs []LogState) []chunk {
	var queues [][]chunk
	for _, l := range logs {
		var q []chunk
		for end := uint64(0); end < l.Length; {
			end = min(l.Length, end+1+uint64(rng.IntN(4)))
			q = append(q, chunk{l.Key, end})
		}
		queues = append(queues, q)
	}
	var out []chunk
	for {
		var live []int
		for i, q := range queues {
			if len(q) > 0 {
				live = append(live, i)
			}
		}
		if len(live) == 0 {
			return out
		}
		i := live[rng.IntN(len(live))]
		out = append(out, queues[i][0])
		queues[i] = queues[i][1:]
	}
}

// TestConvergence is the property test of causal apply: whatever order the
// ranges of the logs arrive in (each log as a prefix, cut at random points,
// logs interleaved at random, so nodes often arrive before their
// ancestors), every replica ends with the same applied set and heads, and
// every replica's apply order is topological.
func TestConvergence(t *testing.T) {
	seed := uint64(20260101)
	rng := rand.New(rand.NewPCG(seed, 1))
	h := newHistory(t, rng)
	m, idx, ref, want, wantHeads, logs := h.m, h.idx, h.ref, h.want, h.heads, h.logs
	trials := 6
	rs := replicas(t, trials, m)
	for trial, z := range rs {
		waited := 0
		for _, c := range arrivalOrder(rng, logs) {
			syncLog(t, ref, z, idx, c.log, c.end)
			// Whatever is pending waits only on what is missing or pending.
			miss, err := z.Missing(idx)
			if err != nil {
				t.Fatal(err)
			}
			zl, _ := z.Logs(idx)
			for _, s := range zl {
				if s.Length > s.Applied {
					waited++
				}
				for _, l := range miss {
					if s.Key == l.Log && s.Length > l.Seq {
						t.Fatalf("Missing lists %v, held", l)
					}
				}
			}
		}
		if waited == 0 {
			t.Errorf("trial %d: no node ever waited for an ancestor; the test proves nothing", trial)
		}
		got := appliedIDs(t, z, idx)
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d trial %d: applied %d nodes; want the reference's %d", seed, trial, len(got), len(want))
		}
		heads, _ := z.Heads(idx)
		if !slices.Equal(heads, wantHeads) {
			t.Fatalf("seed %d trial %d: heads %v; want %v", seed, trial, heads, wantHeads)
		}
		if miss, _ := z.Missing(idx); len(miss) != 0 {
			t.Fatalf("seed %d trial %d: Missing = %v after everything arrived", seed, trial, miss)
		}
	}
}
