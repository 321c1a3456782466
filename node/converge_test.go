package node

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"indexd/dag"
	"indexd/feedtree"
)

// openBare opens an initialised node without networking.
func openBare(t *testing.T) *Node {
	t.Helper()
	dir := t.TempDir()
	if _, err := Init(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	n, err := Open(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// copyLog ingests blocks [start, end) of log k from src into dst, as the
// sync protocol does: one proof for the range, for a verifier at start.
func copyLog(t *testing.T, src, dst *Node, idx dag.IndexKey, k feedtree.Key, start, end uint64) {
	t.Helper()
	f, err := src.dag.Feed(k)
	if err != nil {
		t.Fatal(err)
	}
	// The proof is for a verifier at its contiguous length, or at the
	// newest head it already trusts when it holds one (as replicate does).
	have := start
	dl, _ := dst.dag.Logs(idx)
	for _, l := range dl {
		if l.Key == k && l.Head.Length > have && l.Head.Length <= f.Length() {
			have = l.Head.Length
		}
	}
	p, err := f.Proof(start, end, have)
	if err != nil {
		t.Fatal(err)
	}
	blocks := make([][]byte, 0, end-start)
	for i := start; i < end; i++ {
		b, err := f.Get(i)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b)
	}
	if _, err := dst.dag.Ingest(context.Background(), idx, k, p, blocks); err != nil {
		t.Fatalf("ingesting %v [%d,%d): %v", k, start, end, err)
	}
}

// syncAll copies every log of idx that src has and dst lacks.
func syncAll(t *testing.T, src, dst *Node, idx dag.IndexKey) {
	t.Helper()
	have := map[feedtree.Key]uint64{}
	dl, _ := dst.dag.Logs(idx)
	for _, l := range dl {
		have[l.Key] = l.Length
	}
	sl, err := src.dag.Logs(idx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range sl {
		if l.Length > have[l.Key] {
			copyLog(t, src, dst, idx, l.Key, have[l.Key], l.Length)
		}
	}
}

// TestConvergenceSearch: three authors write concurrently (puts, amends,
// retracts, merging each other's heads); two fresh nodes receive every log
// in different orders and chunkings. They must hold byte-identical state
// (equal digests) and answer every query with identical result lists.
func TestConvergenceSearch(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { convergeSearch(t, seed) })
	}
}

func convergeSearch(t *testing.T, seed uint64) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 11))
	authors := []*Node{openBare(t), openBare(t), openBare(t)}
	info, err := authors[0].CreateIndex(ctx, "shared", "open")
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := dag.ParseIndexKey(info.Key)
	m, _ := authors[0].dag.Manifest(idx)
	for _, a := range authors[1:] {
		if err := a.dag.PutManifest(m); err != nil {
			t.Fatal(err)
		}
	}
	words := []string{"matrix", "ubuntu", "debian", "night", "ocean", "album", "live", "remux", "1080p", "flac"}
	var mine [3][]string
	for round := 0; round < 6; round++ {
		for ai, a := range authors {
			for j := 0; j < 3; j++ {
				name := fmt.Sprintf("%s.%s.%s.r%d.a%d.%d", words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[rng.IntN(len(words))], round, ai, j)
				var ih [20]byte
				for k := range ih {
					ih[k] = byte(rng.UintN(256))
				}
				if j == 2 && round > 0 {
					// Same infohash as another author's entry: a repost.
					if o := mine[(ai+1)%3]; len(o) > 0 {
						e, _ := a.Entry(ctx, o[0])
						if e == nil {
							e, _ = authors[(ai+1)%3].Entry(ctx, o[0])
						}
						if e != nil && e.InfohashV1 != "" {
							fmt.Sscanf(e.InfohashV1, "%x", &ih)
						}
					}
				}
				v, err := a.Publish(ctx, PublishRequest{Index: info.Key, Magnet: fmt.Sprintf("magnet:?xt=urn:btih:%x&dn=%s", ih, name),
					Category: []string{"2000", "5000", "3000"}[rng.IntN(3)], Tags: []string{words[rng.IntN(len(words))]}})
				if err != nil {
					t.Fatal(err)
				}
				mine[ai] = append(mine[ai], v.ID)
			}
			if len(mine[ai]) > 2 && rng.IntN(2) == 0 {
				title := "amended " + words[rng.IntN(len(words))]
				id := mine[ai][rng.IntN(len(mine[ai]))]
				if e, _ := a.Entry(ctx, id); e != nil && !e.Retracted {
					if _, err := a.Amend(ctx, AmendRequest{ID: id, Title: &title}); err != nil {
						t.Fatal(err)
					}
				}
			}
			if len(mine[ai]) > 4 && rng.IntN(3) == 0 {
				id := mine[ai][rng.IntN(len(mine[ai]))]
				if e, _ := a.Entry(ctx, id); e != nil && !e.Retracted {
					if _, err := a.Retract(ctx, id); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		// Some authors see some others' writes: the next writes merge them.
		for range 2 {
			i, j := rng.IntN(3), rng.IntN(3)
			if i != j {
				syncAll(t, authors[i], authors[j], idx)
			}
		}
	}

	// Every log, from every author.
	type piece struct {
		src        *Node
		log        feedtree.Key
		start, end uint64
	}
	var logs []piece
	for _, a := range authors {
		ls, _ := a.dag.Logs(idx)
		for _, l := range ls {
			if s, _ := a.dag.Feed(l.Key); s != nil && s.Writable() {
				logs = append(logs, piece{a, l.Key, 0, l.Length})
			}
		}
	}
	// b: whole logs in order. c: random chunks, logs interleaved at random.
	b, c := openBare(t), openBare(t)
	for _, x := range []*Node{b, c} {
		if err := x.dag.PutManifest(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range logs {
		copyLog(t, p.src, b, idx, p.log, p.start, p.end)
	}
	var chunks [][]piece
	for _, p := range logs {
		var cs []piece
		for s := p.start; s < p.end; {
			e := min(p.end, s+1+uint64(rng.IntN(5)))
			cs = append(cs, piece{p.src, p.log, s, e})
			s = e
		}
		chunks = append(chunks, cs)
	}
	for len(chunks) > 0 {
		i := rng.IntN(len(chunks))
		p := chunks[i][0]
		copyLog(t, p.src, c, idx, p.log, p.start, p.end)
		if chunks[i] = chunks[i][1:]; len(chunks[i]) == 0 {
			chunks = slices.Delete(chunks, i, i+1)
		}
		if rng.IntN(4) == 0 { // materialise midway too
			if _, err := c.refresh(ctx, idx); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, x := range []*Node{b, c} {
		if _, err := x.refresh(ctx, idx); err != nil {
			t.Fatal(err)
		}
	}
	digest := func(n *Node) string {
		d, err := n.idx.Digest(idx)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%x", d)
	}
	if db, dc := digest(b), digest(c); db != dc {
		t.Fatalf("digests differ: %s vs %s", db, dc)
	}
	// The history must have exercised what the rules decide.
	st, err := b.idx.Stats(idx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Retracted == 0 || st.Authors != 3 || st.Logs != 3 {
		t.Fatalf("generated history too tame: %+v", st)
	}
	queries := []SearchRequest{{}, {Query: "matrix"}, {Query: "amended"}, {Query: "night ocean"}, {Categories: []string{"5000"}}, {Query: "1080p", Sort: "date"}, {Tags: []string{"flac"}, Sort: "size"}}
	for _, q := range queries {
		q.Index = []string{info.Key}
		q.Limit = 100
		rb, err := b.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := c.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		ids := func(r *SearchResponse) []string {
			var out []string
			for _, h := range r.Hits {
				out = append(out, fmt.Sprintf("%s/%d/%s", h.ID, h.Publishers, h.Title))
			}
			return out
		}
		if rb.Total != rc.Total || !slices.Equal(ids(rb), ids(rc)) {
			t.Errorf("query %+v: results differ:\n b %d %v\n c %d %v", q, rb.Total, ids(rb), rc.Total, ids(rc))
		}
		if q.Query == "" && len(q.Categories) == 0 && rb.Total == 0 {
			t.Errorf("no entries at all")
		}
	}
}
