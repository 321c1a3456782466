package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// magnetOf returns a magnet link for a v1 infohash made of one repeated
// hex digit pair, and that infohash.
func magnetOf(pair, name string) (magnet, ih string) {
	ih = strings.Repeat(pair, 20)
	return "magnet:?xt=urn:btih:" + ih + "&dn=" + name, ih
}

func publishMagnet(t *testing.T, n *Node, index, magnet string) *EntryView {
	t.Helper()
	v, err := n.Publish(context.Background(), PublishRequest{Index: index, Magnet: magnet})
	if err != nil {
		t.Fatalf("Publish(%s): %v", magnet, err)
	}
	return v
}

// hitIDs returns the sorted ids of a search's hits, and its total.
func hitIDs(t *testing.T, n *Node, req SearchRequest) ([]string, uint64) {
	t.Helper()
	res, err := n.Search(context.Background(), req)
	if err != nil {
		t.Fatalf("Search(%+v): %v", req, err)
	}
	var ids []string
	for _, h := range res.Hits {
		ids = append(ids, h.ID)
	}
	slices.Sort(ids)
	return ids, res.Total
}

func sortedIDs(vs ...*EntryView) []string {
	var ids []string
	for _, v := range vs {
		ids = append(ids, v.ID)
	}
	slices.Sort(ids)
	return ids
}

// TestBlock: a blocked infohash hides every entry carrying it, in every
// index, from searches and watches, whatever names it (infohash, magnet,
// entry id); the blocklist is checked whole before anything is stored, and
// it survives a reindex and a restart without touching the state digest.
func TestBlock(t *testing.T) {
	ctx := context.Background()
	n := openOfflineNode(t)
	if _, err := n.CreateIndex(ctx, "music", "open"); err != nil {
		t.Fatal(err)
	}
	mA, ihA := magnetOf("aa", "alpha.one")
	mB, ihB := magnetOf("bb", "alpha.two")
	mC, ihC := magnetOf("cc", "alpha.three")
	a1 := publishMagnet(t, n, "", mA)
	a2 := publishMagnet(t, n, "music", mA) // the same infohash in another index
	b := publishMagnet(t, n, "", mB)
	alpha := SearchRequest{Query: "alpha"}
	if ids, total := hitIDs(t, n, alpha); total != 3 || len(ids) != 2 {
		t.Fatalf("before blocking: %d hits of %d total; want 2 (A collapsed) of 3", len(ids), total)
	}
	digest := func() string {
		st, err := n.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ds []string
		for _, is := range st.Indexes {
			ds = append(ds, is.Digest)
		}
		return strings.Join(ds, ",")
	}
	before := digest()

	res, err := n.Block(ctx, []string{strings.ToUpper(ihA)}, "spam", true)
	if err != nil {
		t.Fatalf("Block(A): %v", err)
	}
	if res.Changed != 1 || res.Entries != 2 || !slices.Equal(res.Infohashes, []string{ihA}) {
		t.Errorf("Block(A) = %+v; want 1 changed, 2 entries, [%s]", res, ihA)
	}
	if ids, total := hitIDs(t, n, alpha); total != 1 || !slices.Equal(ids, sortedIDs(b)) {
		t.Errorf("A blocked: hits %v of %d; want only %s", ids, total, b.ID)
	}
	if ids, _ := hitIDs(t, n, SearchRequest{Query: "alpha", IncludeBlocked: true}); len(ids) != 2 {
		t.Errorf("IncludeBlocked: %d hits, want 2", len(ids))
	}
	if ids, _ := hitIDs(t, n, SearchRequest{Query: ihA}); len(ids) != 0 {
		t.Errorf("searching the blocked infohash itself: hits %v, want none", ids)
	}
	if v, err := n.Entry(ctx, a2.ID); err != nil || !v.Blocked {
		t.Errorf("Entry(a2) = %+v, %v; want it shown, marked blocked", v, err)
	}
	if v, err := n.Entry(ctx, b.ID); err != nil || v.Blocked {
		t.Errorf("Entry(b) = %+v, %v; want it not blocked", v, err)
	}
	if res, err := n.Block(ctx, []string{mA}, "", true); err != nil || res.Changed != 0 {
		t.Errorf("blocking A again by magnet = %+v, %v; want 0 changed", res, err)
	}

	// By entry id (bare and prefixed): the entry's infohash.
	if res, err := n.Block(ctx, []string{b.ID}, "", true); err != nil || !slices.Equal(res.Infohashes, []string{ihB}) {
		t.Errorf("Block(entry id of b) = %+v, %v; want [%s]", res, err, ihB)
	}
	if ids, _ := hitIDs(t, n, alpha); len(ids) != 0 {
		t.Errorf("A and B blocked: hits %v, want none", ids)
	}
	if after := digest(); after != before {
		t.Errorf("blocking changed the state digests: %s -> %s", before, after)
	}

	// One bad item: an error naming it, and nothing stored.
	for _, bad := range [][]string{
		{ihC, "not-a-hash"},
		{ihC, "magnet:?dn=nothing"},
		{ihC, "entry:" + strings.Repeat("12", 32)},
		{ihC, ""},
	} {
		_, err := n.Block(ctx, bad, "", true)
		if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "item 2") {
			t.Errorf("Block(%q) error = %v; want ErrBadRequest naming item 2", bad, err)
		}
	}
	list, err := n.Blocked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range list {
		got = append(got, x.Infohash)
	}
	if want := []string{ihA, ihB}; !slices.Equal(got, want) {
		t.Errorf("Blocked = %v; want %v (failed calls store nothing)", got, want)
	}
	if list[0].Reason != "spam" || time.Since(list[0].Added) > time.Hour {
		t.Errorf("Blocked[0] = %+v; want reason spam, added now", list[0])
	}

	// Blocked before any entry carries it: a later entry is hidden too,
	// and a watch does not deliver it.
	if _, err := n.Block(ctx, []string{ihC}, "", true); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := n.Subscribe(wctx, Watch{})
	if err != nil {
		t.Fatal(err)
	}
	publishMagnet(t, n, "", mC)
	mD, _ := magnetOf("dd", "alpha.four")
	d := publishMagnet(t, n, "", mD)
	select {
	case v := <-ch:
		if v.ID != d.ID {
			t.Errorf("watch delivered %s (%s) first; want %s, the unblocked one", v.ID, v.Name, d.ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch delivered nothing within 10 s")
	}
	if ids, _ := hitIDs(t, n, alpha); !slices.Equal(ids, sortedIDs(d)) {
		t.Errorf("C blocked before its entry came: hits %v, want only %s", ids, d.ID)
	}
	// A v2 infohash, blocked as a bare 64-hex string, sorts among v1 ones.
	ihE := strings.Repeat("e5", 32)
	if _, err := n.Block(ctx, []string{ihE}, "", true); err != nil {
		t.Fatal(err)
	}
	publishMagnet(t, n, "", "magnet:?xt=urn:btmh:1220"+ihE+"&dn=alpha.five")
	if ids, _ := hitIDs(t, n, alpha); !slices.Equal(ids, sortedIDs(d)) {
		t.Errorf("v2 infohash blocked: hits %v, want only %s", ids, d.ID)
	}
	if st, err := n.Status(ctx); err != nil || st.Blocked != 4 {
		t.Errorf("Status.Blocked = %v, %v; want 4", st.Blocked, err)
	}

	// A reindex and a restart keep the blocklist; the digests never moved.
	if err := n.Reindex(ctx); err != nil {
		t.Fatal(err)
	}
	if ids, _ := hitIDs(t, n, alpha); !slices.Equal(ids, sortedIDs(d)) {
		t.Errorf("after reindex: hits %v, want only %s", ids, d.ID)
	}
	dir := n.dir
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n, err = Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if ids, _ := hitIDs(t, n, alpha); !slices.Equal(ids, sortedIDs(d)) {
		t.Errorf("after restart: hits %v, want only %s", ids, d.ID)
	}

	// Unblocking shows them again.
	res, err = n.Block(ctx, []string{"entry:" + a1.ID, ihB}, "", false)
	if err != nil || res.Changed != 2 {
		t.Fatalf("unblock A and B = %+v, %v; want 2 changed", res, err)
	}
	if ids, total := hitIDs(t, n, alpha); total != 4 || len(ids) != 3 {
		t.Errorf("after unblocking A and B: %d hits of %d; want 3 of 4", len(ids), total)
	}
}

// FuzzBlockItems: whatever a block list holds, Block either refuses it
// whole (ErrBadRequest, the blocklist unchanged) or blocks exactly the
// well-formed infohashes it reports, and unblocking them empties the list.
func FuzzBlockItems(f *testing.F) {
	_, ih := magnetOf("ab", "x")
	for _, s := range []string{
		ih,
		strings.Repeat("CD", 32),
		"magnet:?xt=urn:btih:" + ih + "&xt=urn:btmh:1220" + strings.Repeat("ef", 32),
		"magnet:?xt=urn:btih:MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U",
		"entry:" + strings.Repeat("01", 32),
		ih + "\nnot-a-hash",
		"magnet:?xt=%zz",
		"\x00\xff",
	} {
		f.Add(s)
	}
	n := openOfflineNode(f)
	m, _ := magnetOf("77", "fuzz.target")
	e, err := n.Publish(context.Background(), PublishRequest{Magnet: m})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("entry:" + e.ID)
	f.Add(e.ID)
	f.Fuzz(func(t *testing.T, list string) {
		ctx := context.Background()
		items := strings.Split(list, "\n")
		res, err := n.Block(ctx, items, "fuzz", true)
		blocked, lerr := n.Blocked(ctx)
		if lerr != nil {
			t.Fatal(lerr)
		}
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("Block(%q) error %v; want ErrBadRequest", items, err)
			}
			if len(blocked) != 0 {
				t.Fatalf("refused Block(%q) left %+v blocked", items, blocked)
			}
			return
		}
		var got []string
		for _, b := range blocked {
			got = append(got, b.Infohash)
		}
		if !slices.Equal(got, res.Infohashes) || res.Changed != len(got) || len(got) == 0 {
			t.Fatalf("Block(%q) = %+v; blocklist now %v", items, res, got)
		}
		for _, h := range got {
			if (len(h) != 40 && len(h) != 64) || strings.Trim(h, "0123456789abcdef") != "" {
				t.Fatalf("Block(%q) blocked %q: not an infohash in lowercase hex", items, h)
			}
		}
		if _, err := n.Block(ctx, got, "", false); err != nil {
			t.Fatalf("unblocking %v: %v", got, err)
		}
		if left, _ := n.Blocked(ctx); len(left) != 0 {
			t.Fatalf("after unblocking %v: %+v left", got, left)
		}
	})
}

// BenchmarkSearchBlocklist: a search's cost with a blocklist of N
// infohashes, with the blocked ids cached ("cached") and looked up again,
// as after every index write ("lookup").
func BenchmarkSearchBlocklist(b *testing.B) {
	ctx := context.Background()
	n := openOfflineNode(b)
	for i := range 200 {
		m, _ := magnetOf(fmt.Sprintf("%02x", i+1), fmt.Sprintf("bench.entry.%d", i))
		if _, err := n.Publish(ctx, PublishRequest{Magnet: m}); err != nil {
			b.Fatal(err)
		}
	}
	blocked := 0
	for _, size := range []int{0, 1000, 100_000} {
		var items []string
		for i := blocked; i < size; i++ {
			items = append(items, fmt.Sprintf("%040x", i*7919+1))
		}
		if len(items) > 0 {
			items[0] = strings.Repeat("05", 20) // one that is published
		}
		for len(items) > 0 {
			k := min(len(items), MaxBlockItems)
			if _, err := n.Block(ctx, items[:k], "", true); err != nil {
				b.Fatal(err)
			}
			items = items[k:]
		}
		blocked = size
		for _, mode := range []string{"cached", "lookup"} {
			b.Run(fmt.Sprintf("blocked=%d/%s", size, mode), func(b *testing.B) {
				for b.Loop() {
					if mode == "lookup" {
						n.blocks.mu.Lock()
						n.blocks.idsGen = 0
						n.blocks.mu.Unlock()
					}
					if _, err := n.Search(ctx, SearchRequest{Query: "bench"}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestPublishNeedsAName: a magnet link without dn= and no title would make
// an entry with nothing to find or show it by, so it is refused and
// nothing is stored; with a title it is published under that title.
func TestPublishNeedsAName(t *testing.T) {
	ctx := context.Background()
	n := openOfflineNode(t)
	bare := "magnet:?xt=urn:btih:" + strings.Repeat("ab", 20)
	for _, title := range []string{"", "   "} {
		if v, err := n.Publish(ctx, PublishRequest{Magnet: bare, Title: title}); !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "title") {
			t.Errorf("Publish(no dn, title %q) = %+v, %v; want ErrBadRequest asking for a title", title, v, err)
		}
	}
	if ids, total := hitIDs(t, n, SearchRequest{Query: strings.Repeat("ab", 20)}); total != 0 {
		t.Fatalf("after refused publishes: %v (%d) found; want nothing stored", ids, total)
	}
	v, err := n.Publish(ctx, PublishRequest{Magnet: bare, Title: "Nameless Film 1080p"})
	if err != nil {
		t.Fatalf("Publish(no dn, with title): %v", err)
	}
	if v.Title != "Nameless Film 1080p" {
		t.Errorf("title %q; want the one given", v.Title)
	}
	if ids, _ := hitIDs(t, n, SearchRequest{Query: "nameless"}); !slices.Equal(ids, []string{v.ID}) {
		t.Errorf("search nameless: %v; want [%s]", ids, v.ID)
	}
}

// TestPublishTwice: publishing a torrent this identity already published
// in the index is ErrExists naming the entry, and appends nothing; in
// another index, or after a retract, it is published.
func TestPublishTwice(t *testing.T) {
	ctx := context.Background()
	n := openOfflineNode(t)
	if _, err := n.CreateIndex(ctx, "other", "open"); err != nil {
		t.Fatal(err)
	}
	m, _ := magnetOf("d4", "twice.one")
	first := publishMagnet(t, n, "", m)
	before, _ := n.Status(ctx)
	_, err := n.Publish(ctx, PublishRequest{Magnet: m, Title: "again"})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), first.ID) {
		t.Fatalf("second publish: %v; want ErrExists naming %s", err, first.ID)
	}
	if after, _ := n.Status(ctx); after.Indexes[0].Heads != before.Indexes[0].Heads || after.Indexes[0].Entries != before.Indexes[0].Entries {
		t.Errorf("a refused publish changed the index: %+v -> %+v", before.Indexes[0], after.Indexes[0])
	}
	publishMagnet(t, n, "other", m)
	if _, err := n.Retract(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	publishMagnet(t, n, "", m)
}
