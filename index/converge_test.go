package index

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"indexd/dag"
	"indexd/feedtree"
)

// writer is one device of one identity, writing into its own replica.
type writer struct {
	who    int // identity number
	author dag.Author
	r      *replica
}

// history is a generated multi-author DAG of an allowlist index.
type history struct {
	m   *dag.Manifest
	all *replica // holds every node
}

// identities: 0 is the creator (two devices); 1 and 2 get granted (2 has two
// devices and is revoked and granted again now and then); 3 is never
// granted.
var historyDevices = []struct{ who, device int }{{0, 0}, {0, 1}, {1, 0}, {2, 0}, {2, 1}, {3, 0}}

func buildAllowlistHistory(t *testing.T, rng *rand.Rand, steps int) *history {
	t.Helper()
	db := openDB(t)
	creator := testAuthor(100, 0)
	m := testManifest(t, dag.PolicyAllowlist, creator)
	idx := m.Key()
	member := func(who int) dag.Identity { return testAuthor(100+who, 0).Identity.Public() }
	var ws []*writer
	for i, d := range historyDevices {
		// Clocks overlap so times tie across writers (the hash breaks them)
		// and run at different speeds.
		start := int64(rng.IntN(60))
		ws = append(ws, &writer{who: d.who, author: testAuthor(100+d.who, d.device),
			r: newReplica(t, db, fmt.Sprintf("w%d", i), m, clockFrom(start))})
	}
	type put struct {
		id  dag.ID
		who int
	}
	var puts []put
	words := []string{"alpha", "beta", "gamma", "delta", "matrix", "x264", "1080p", "flac"}
	for step := range steps {
		w := ws[rng.IntN(len(ws))]
		var ops []dag.Op
		for range 1 + rng.IntN(3) {
			k := rng.IntN(20)
			switch {
			case w.who == 0 && k < 5:
				target := 1 + rng.IntN(3)
				kind := dag.OpGrant
				if target == 3 || (target == 2 && rng.IntN(2) == 0) {
					kind = dag.OpRevoke
				}
				if target == 3 && rng.IntN(4) == 0 {
					kind = dag.OpGrant // 3 is granted only by the creator's rare mistake, then revoked
				}
				ops = append(ops, dag.Op{Kind: kind, Member: member(target)})
			case k < 11 || len(puts) == 0:
				p := testPut(step*10 + len(ops))
				p.Title = words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))]
				if rng.IntN(3) == 0 {
					p.Tags = []string{words[rng.IntN(len(words))]}
				}
				if rng.IntN(4) == 0 {
					p.InfohashV2 = bytes.Repeat([]byte{byte(step)}, 32)
				}
				ops = append(ops, dag.Op{Kind: dag.OpPut, Put: p})
			case k < 17:
				// Mostly one's own entries; sometimes someone else's (ignored).
				tg := puts[rng.IntN(len(puts))]
				for range 3 {
					if tg.who == w.who {
						break
					}
					tg = puts[rng.IntN(len(puts))]
				}
				a := &dag.Amend{}
				switch rng.IntN(5) {
				case 0:
					a.Title = strp(words[rng.IntN(len(words))])
				case 1:
					a.Description = strp("desc " + words[rng.IntN(len(words))])
					a.Category = u32p([]uint32{2000, 2040, 5000, 5040}[rng.IntN(4)])
				case 2:
					tags := []string{words[rng.IntN(len(words))]}
					if rng.IntN(3) == 0 {
						tags = nil
					}
					a.Tags = &tags
				case 3:
					a.Meta = map[string]string{"year": fmt.Sprint(1990 + rng.IntN(3))}
					if rng.IntN(2) == 0 {
						a.Meta["imdb"] = ""
					}
				default:
					a.Title = strp("t" + words[rng.IntN(len(words))])
					a.Meta = map[string]string{"imdb": "tt" + fmt.Sprint(rng.IntN(9))}
				}
				ops = append(ops, dag.Op{Kind: dag.OpAmend, Target: tg.id, Amend: a})
			default:
				tg := puts[rng.IntN(len(puts))]
				for range 3 {
					if tg.who == w.who {
						break
					}
					tg = puts[rng.IntN(len(puts))]
				}
				ops = append(ops, dag.Op{Kind: dag.OpRetract, Target: tg.id})
			}
		}
		ids := mustAppend(t, w.r.d, idx, w.author, ops...)
		for i, op := range ops {
			if op.Kind == dag.OpPut {
				puts = append(puts, put{ids[i], w.who})
			}
		}
		if rng.IntN(3) == 0 {
			a, b := ws[rng.IntN(len(ws))], ws[rng.IntN(len(ws))]
			if a != b {
				syncLogs(t, a.r.d, b.r.d, idx)
			}
		}
	}
	all := newReplica(t, db, "all", m, nil)
	for _, w := range ws {
		syncLogs(t, w.r.d, all.d, idx)
	}
	return &history{m: m, all: all}
}

// TestConvergence is the property test of the invariant in doc.go: random
// causally consistent subsets of a generated multi-author allowlist DAG
// (puts, amends of own and others' entries, retracts, grants and revokes
// on two creator devices), delivered in random orders with Sync at random
// moments, give byte-identical Each output and equal digests for equal node
// sets — and exactly the state the literal reference computes from the set.
func TestConvergence(t *testing.T) {
	seed := uint64(20261124)
	rng := rand.New(rand.NewPCG(seed, 7))
	h := buildAllowlistHistory(t, rng, 150)
	idx := h.m.Key()
	mustSync(t, h.all.x, idx)
	applied, err := h.all.d.Applied(idx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := referenceState(t, h.m, applied)
	got, wantDigest := state(t, h.all.x, idx)
	checkSameState(t, "full history", got, want)
	st, _ := h.all.x.Stats(idx)
	if st.Entries < 20 || st.Retracted < 3 || st.Authors < 2 {
		t.Fatalf("history too thin to prove anything: %+v", st)
	}
	// Some puts must have been refused (identity 3, or revoked 2), some
	// amends must be orphans when they arrive: check the generator did its job.
	var puts int
	for _, a := range applied {
		if a.Node.Op.Kind == dag.OpPut {
			puts++
		}
	}
	if puts <= st.Entries+st.Retracted {
		t.Errorf("no put was refused by the allowlist (%d puts, %d entries)", puts, st.Entries+st.Retracted)
	}
	logs, _ := h.all.d.Logs(idx)
	db := openDB(t)
	orphans := 0
	defer func() {
		if orphans == 0 {
			t.Errorf("no amend or retract was applied before its put; the test proves too little")
		}
	}()
	for trial := range 8 {
		// Subset: a prefix of each log (the full log in trial 0 and 1).
		ends := map[feedtree.Key]uint64{}
		for _, l := range logs {
			ends[l.Key] = l.Length
			if trial >= 2 {
				ends[l.Key] = uint64(rng.IntN(int(l.Length) + 1))
			}
		}
		var pair [2][][]byte
		var digests [2][32]byte
		var sets [2][]dag.Applied
		for k := range 2 {
			z := newReplica(t, db, fmt.Sprintf("t%d-%d", trial, k), h.m, nil)
			deliver(t, rng, h.all.d, z, idx, logs, ends)
			mustSync(t, z.x, idx)
			pair[k], digests[k] = state(t, z.x, idx)
			if sets[k], err = z.d.Applied(idx, 0, 0); err != nil {
				t.Fatal(err)
			}
			checkSameState(t, fmt.Sprintf("trial %d replica %d vs reference", trial, k), pair[k], referenceState(t, h.m, sets[k]))
		}
		if !sameSet(sets[0], sets[1]) {
			t.Fatalf("trial %d: two replicas of one subset applied different sets", trial)
		}
		orphans += amendsBeforePut(sets[0]) + amendsBeforePut(sets[1])
		checkSameState(t, fmt.Sprintf("trial %d", trial), pair[0], pair[1])
		if digests[0] != digests[1] {
			t.Errorf("trial %d: digests differ", trial)
		}
		if trial < 2 && digests[0] != wantDigest {
			t.Errorf("trial %d: digest of the full set differs from the writer's", trial)
		}
	}
}

// deliver ingests each log up to ends[log] into z in random chunks and a
// random interleaving (nodes often arrive before their ancestors), syncing
// the index at random moments.
func deliver(t *testing.T, rng *rand.Rand, src *dag.DAG, z *replica, idx dag.IndexKey, logs []dag.LogState, ends map[feedtree.Key]uint64) {
	t.Helper()
	type chunk struct {
		log feedtree.Key
		end uint64
	}
	var queues [][]chunk
	for _, l := range logs {
		var q []chunk
		for end := uint64(0); end < ends[l.Key]; {
			end = min(ends[l.Key], end+1+uint64(rng.IntN(4)))
			q = append(q, chunk{l.Key, end})
		}
		queues = append(queues, q)
	}
	for {
		var live []int
		for i, q := range queues {
			if len(q) > 0 {
				live = append(live, i)
			}
		}
		if len(live) == 0 {
			return
		}
		i := live[rng.IntN(len(live))]
		c := queues[i][0]
		queues[i] = queues[i][1:]
		if err := ingestRange(src, z.d, idx, c.log, c.end); err != nil {
			t.Fatalf("ingest: %v", err)
		}
		if rng.IntN(4) == 0 {
			if _, err := z.x.Sync(context.Background(), idx); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// amendsBeforePut counts amends and retracts applied before their put.
func amendsBeforePut(as []dag.Applied) int {
	seen := map[dag.ID]bool{}
	waiting := map[dag.ID]bool{}
	n := 0
	for _, a := range as {
		switch a.Node.Op.Kind {
		case dag.OpPut:
			seen[a.Hash] = true
			if waiting[a.Hash] {
				n++
			}
		case dag.OpAmend, dag.OpRetract:
			if !seen[a.Node.Op.Target] {
				waiting[a.Node.Op.Target] = true
			}
		}
	}
	return n
}

func sameSet(a, b []dag.Applied) bool {
	ids := func(as []dag.Applied) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.Hash.String())
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(ids(a), ids(b))
}

func checkSameState(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d entries; want %d", what, len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			g, _ := DecodeEntry(got[i])
			w, _ := DecodeEntry(want[i])
			t.Fatalf("%s: entry %d differs:\n got %+v\nwant %+v", what, i, g, w)
		}
	}
}
