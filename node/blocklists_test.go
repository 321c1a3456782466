package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"indexd/content"
	"indexd/feedtree"
)

func TestParseListLine(t *testing.T) {
	v1 := strings.Repeat("ab", 20)
	v2 := strings.Repeat("cd", 32)
	long := "+" + v1 + " " + strings.Repeat("x", maxListLine)
	for _, tc := range []struct {
		line   string
		ok     bool
		add    bool
		ih     string
		reason string
		bad    bool
	}{
		{line: "", ok: false},
		{line: "   \t", ok: false},
		{line: "# a comment", ok: false},
		{line: "+" + v1, ok: true, add: true, ih: v1},
		{line: "+" + strings.ToUpper(v1) + "\r", ok: true, add: true, ih: v1},
		{line: "+" + v2 + " spam,  malware ", ok: true, add: true, ih: v2, reason: "spam,  malware"},
		{line: "+" + v1 + " a\x1b[31mred\x07", ok: true, add: true, ih: v1, reason: "a [31mred"},
		{line: "+" + v1 + " \xff\xfe", ok: true, add: true, ih: v1, reason: "\uFFFD"},
		{line: "-" + v1, ok: true, ih: v1},
		{line: "-" + v1 + " reasons are dropped on lifts", ok: true, ih: v1},
		{line: "+" + v1[:39], bad: true},
		{line: "+" + v1 + "0", bad: true},
		{line: "+" + strings.Repeat("zz", 20), bad: true},
		{line: "*" + v1, bad: true},
		{line: " +" + v1, bad: true},
		{line: "+", bad: true},
		{line: long, bad: true},
		{line: "#" + strings.Repeat("x", maxListLine), bad: true}, // bounded before it is known as a comment
	} {
		op, ok, err := parseListLine([]byte(tc.line))
		if (err != nil) != tc.bad || ok != tc.ok {
			t.Errorf("parseListLine(%.60q) = ok %v, err %v; want ok %v, bad %v", tc.line, ok, err, tc.ok, tc.bad)
			continue
		}
		if !ok {
			continue
		}
		if op.add != tc.add || hex.EncodeToString(op.ih) != tc.ih || op.reason != tc.reason {
			t.Errorf("parseListLine(%.60q) = %+v; want add %v, %s, reason %q", tc.line, op, tc.add, tc.ih, tc.reason)
		}
	}
	// A reason is cut at maxReason bytes without splitting a character.
	op, ok, err := parseListLine([]byte("+" + v1 + " a" + strings.Repeat("é", 700)))
	if err != nil || !ok || len(op.reason) > maxReason || !strings.HasPrefix(op.reason, "aé") || strings.ContainsRune(op.reason, '\uFFFD') {
		t.Errorf("a long reason: %.10q (%d bytes), %v, %v", op.reason, len(op.reason), ok, err)
	}
	// What listLine writes parses back to the same op.
	ih, _ := hex.DecodeString(v2)
	for _, reason := range []string{"", "spam", "two\nlines\r+" + v1, strings.Repeat("é", 600)} {
		line := listLine(true, ih, reason)
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Errorf("listLine(%.30q) = %.80q: want one line", reason, line)
		}
		op, ok, err := parseListLine([]byte(strings.TrimSuffix(line, "\n")))
		if err != nil || !ok || !op.add || !bytes.Equal(op.ih, ih) || op.reason != cleanReason(reason) {
			t.Errorf("listLine(%.30q) parses back to %+v, %v, %v", reason, op, ok, err)
		}
	}
}

// readList feeds data to a listReader in the given pieces and returns the
// ops it applied and the lines it counted bad.
func readList(data []byte, cuts []int) ([]listOp, int, error) {
	var ops []listOp
	r := &listReader{apply: func(o []listOp) error { ops = append(ops, o...); return nil }}
	prev := 0
	for _, c := range append(cuts, len(data)) {
		if c < prev || c > len(data) {
			continue
		}
		if _, err := r.Write(data[prev:c]); err != nil {
			return ops, r.bad, err
		}
		prev = c
	}
	return ops, r.bad, nil
}

// FuzzBlocklistLines: a blocklist read from a hostile peer, in whatever
// pieces it arrives, never panics, yields only 20- or 32-byte infohashes,
// and yields the same ops and bad-line count as when read whole.
func FuzzBlocklistLines(f *testing.F) {
	v1 := strings.Repeat("ab", 20)
	f.Add([]byte(listHeader+"+"+v1+" spam\n-"+v1+"\n"), uint64(7))
	f.Add([]byte("+"+v1+"\r\n#\n\n+"+strings.Repeat("cd", 32)+" x\n"), uint64(1))
	f.Add([]byte("+"+strings.Repeat("a", 3*maxListLine)+"\n-"+v1+"\n"), uint64(2))
	f.Add([]byte("garbage\x00\xff\n+zz\n"), uint64(3))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		whole, wholeBad, err := readList(data, nil)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(seed, seed>>7))
		var cuts []int
		for i := 0; i < len(data); i += 1 + rng.IntN(maxListLine+64) {
			cuts = append(cuts, i)
		}
		pieces, piecesBad, err := readList(data, cuts)
		if err != nil {
			t.Fatal(err)
		}
		if wholeBad != piecesBad || len(whole) != len(pieces) {
			t.Fatalf("whole: %d ops, %d bad; in pieces: %d ops, %d bad", len(whole), wholeBad, len(pieces), piecesBad)
		}
		for i, op := range whole {
			if len(op.ih) != 20 && len(op.ih) != 32 {
				t.Fatalf("an infohash of %d bytes", len(op.ih))
			}
			p := pieces[i]
			if op.add != p.add || !bytes.Equal(op.ih, p.ih) || op.reason != p.reason {
				t.Fatalf("op %d: whole %+v, in pieces %+v", i, op, p)
			}
			if strings.ContainsFunc(op.reason, func(r rune) bool { return r < 0x20 || r == 0x7f }) || len(op.reason) > maxReason {
				t.Fatalf("op %d: reason %q", i, op.reason)
			}
		}
	})
}

func TestParseBlocklistLink(t *testing.T) {
	kp, err := feedtree.GenerateKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	k := kp.Public()
	addr := "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp"
	link := BlocklistLink(k, []string{addr, addr})
	if !strings.HasPrefix(link, blocklistLinkScheme) {
		t.Fatalf("link %q", link)
	}
	for _, tc := range []struct {
		in    string
		peers int
		bad   bool
	}{
		{in: link, peers: 2},
		{in: " " + link + "\n", peers: 2},
		{in: BlocklistLink(k, nil)},
		{in: k.String()},
		{in: strings.TrimPrefix(k.String(), "feed:")},
		{in: blocklistLinkScheme + "00", bad: true},
		{in: "indexd:index:" + strings.TrimPrefix(k.String(), "feed:"), bad: true},
		{in: BlocklistLink(k, []string{"/ip4/127.0.0.1/tcp/4001"}), bad: true}, // no peer id
		{in: BlocklistLink(k, nil) + "?peer=%zz", bad: true},
		{in: BlocklistLink(k, slices.Repeat([]string{addr}, 33)), bad: true},
	} {
		got, peers, err := ParseBlocklistLink(tc.in)
		if tc.bad {
			if !errors.Is(err, ErrBadRequest) {
				t.Errorf("ParseBlocklistLink(%.80q) = %v, %v; want ErrBadRequest", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != k || len(peers) != tc.peers {
			t.Errorf("ParseBlocklistLink(%.80q) = %v, %d peers, %v; want %v, %d peers", tc.in, got, len(peers), err, k, tc.peers)
		}
	}
}

// blockedHashes returns the infohashes n's blocklist holds, and which of
// them come from lists only.
func blockedHashes(t *testing.T, n *Node) (all, listedOnly []string) {
	t.Helper()
	bs, err := n.Blocked(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		all = append(all, b.Infohash)
		if !b.Local {
			listedOnly = append(listedOnly, b.Infohash)
		}
	}
	return all, listedOnly
}

// TestBlocklistSubscribe: B subscribes to the blocklist A publishes, over
// loopback: what A blocks disappears from B's searches, live, as A blocks
// and unblocks; a local unblock on B is an exception to the list and a
// local block outlives it; the subscription survives B's restart (catching
// up on what A changed meanwhile), and unsubscribing shows everything again.
func TestBlocklistSubscribe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	a := openTestNode(t)
	bDir := t.TempDir()
	if _, err := Init(ctx, bDir); err != nil {
		t.Fatal(err)
	}
	openB := func() *Node {
		b, err := Open(ctx, Options{Dir: bDir})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.StartNet(ctx, NetOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}}); err != nil {
			b.Close()
			t.Fatal(err)
		}
		return b
	}
	b := openB()
	defer func() { b.Close() }()

	mA, ihA := magnetOf("a1", "alpha.one")
	mB, ihB := magnetOf("b2", "alpha.two")
	mC, ihC := magnetOf("c3", "alpha.three")
	vA, vB, vC := publishMagnet(t, b, "", mA), publishMagnet(t, b, "", mB), publishMagnet(t, b, "", mC)
	alpha := SearchRequest{Query: "alpha"}
	shows := func(n *Node, want ...*EntryView) func() bool {
		return func() bool {
			ids, _ := hitIDs(t, n, alpha)
			return slices.Equal(ids, sortedIDs(want...))
		}
	}

	if _, err := a.Block(ctx, []string{ihA}, "spam\x1b[2J", true); err != nil {
		t.Fatal(err)
	}
	pub, err := a.PublishBlocklist(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Own || pub.Infohashes != 1 || pub.Length == 0 || !strings.Contains(pub.Link, "peer=") {
		t.Fatalf("PublishBlocklist = %+v", pub)
	}
	if again, err := a.PublishBlocklist(ctx); err != nil || again.Feed != pub.Feed {
		t.Fatalf("publishing again = %+v, %v; want the same feed %s", again, err, pub.Feed)
	}
	if _, err := a.SubscribeBlocklist(ctx, BlocklistRequest{List: pub.Link}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("A subscribing to its own list: %v; want ErrBadRequest", err)
	}

	sub, err := b.SubscribeBlocklist(ctx, BlocklistRequest{List: pub.Link, Name: "a's list"})
	if err != nil {
		t.Fatalf("SubscribeBlocklist: %v", err)
	}
	if sub.Feed != pub.Feed || sub.Infohashes != 1 || sub.Name != "a's list" || sub.Error != "" {
		t.Errorf("SubscribeBlocklist = %+v", sub)
	}
	// Fetched before it returns: hidden at once.
	if !shows(b, vB, vC)() {
		ids, _ := hitIDs(t, b, alpha)
		t.Fatalf("after subscribing: hits %v; want A hidden", ids)
	}
	if all, listed := blockedHashes(t, b); !slices.Equal(all, []string{ihA}) || !slices.Equal(listed, []string{ihA}) {
		t.Errorf("B's blocklist %v (listed only %v); want [%s] from the list", all, listed, ihA)
	}
	if bs, _ := b.Blocked(ctx); len(bs) == 1 && (bs[0].Reason != "spam [2J" || !slices.Equal(bs[0].Lists, []string{pub.Feed})) {
		t.Errorf("B's block of A = %+v; want reason %q (cleaned) from %s", bs[0], "spam [2J", pub.Feed)
	}

	// Live: A blocks B's second entry, then lifts the first.
	if _, err := a.Block(ctx, []string{ihB}, "", true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "A's block of B on B", shows(b, vC))
	if _, err := a.Block(ctx, []string{ihA}, "", false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "A's lift of A on B", shows(b, vA, vC))

	// B's local unblock of what the list blocks: an exception.
	if res, err := b.Block(ctx, []string{ihB}, "", false); err != nil || res.Changed != 1 {
		t.Fatalf("B unblocking B = %+v, %v; want 1 changed", res, err)
	}
	if !shows(b, vA, vB, vC)() {
		t.Fatal("B's exception does not show B")
	}
	// A local block on B, and B blocking what the list blocks again (the
	// exception goes).
	if _, err := b.Block(ctx, []string{ihC}, "mine", true); err != nil {
		t.Fatal(err)
	}
	if res, err := b.Block(ctx, []string{ihB}, "", true); err != nil || res.Changed != 1 {
		t.Fatalf("B blocking B again = %+v, %v", res, err)
	}
	if !shows(b, vA)() {
		t.Fatal("after B blocks B and C: want only A")
	}
	if _, err := b.Block(ctx, []string{ihB}, "", false); err != nil { // the exception again
		t.Fatal(err)
	}

	// Restart B; A blocks A again meanwhile; B catches up.
	b.Close()
	if _, err := a.Block(ctx, []string{ihA}, "back", true); err != nil {
		t.Fatal(err)
	}
	b = openB()
	waitFor(t, 30*time.Second, "B catching up on A's list after its restart", shows(b, vB))
	lists, err := b.Blocklists(ctx)
	if err != nil || len(lists) != 1 || lists[0].Feed != pub.Feed || lists[0].Infohashes != 2 || lists[0].Updated.IsZero() {
		t.Errorf("B's Blocklists = %+v, %v; want the one subscription blocking 2", lists, err)
	}
	if own, err := a.Blocklists(ctx); err != nil || len(own) != 1 || !own[0].Own || own[0].Infohashes != 2 {
		t.Errorf("A's Blocklists = %+v, %v; want its own list blocking 2", own, err)
	}

	// Unsubscribing: the list's blocks go, the local ones stay.
	if err := b.UnsubscribeBlocklist(ctx, pub.Feed); err != nil {
		t.Fatal(err)
	}
	if !shows(b, vA, vB)() {
		ids, _ := hitIDs(t, b, alpha)
		t.Errorf("after unsubscribing: hits %v; want A and B (C blocked here)", ids)
	}
	if all, _ := blockedHashes(t, b); !slices.Equal(all, []string{ihC}) {
		t.Errorf("B's blocklist after unsubscribing: %v; want [%s]", all, ihC)
	}
	if err := b.UnsubscribeBlocklist(ctx, pub.Feed); !errors.Is(err, ErrNotFound) {
		t.Errorf("unsubscribing twice: %v; want ErrNotFound", err)
	}
}

// TestBlocklistHostile: a list written by hand, with malformed and
// over-long lines, blocks only what its good lines say; its bad lines are
// counted. Subscribing offline, with no peer holding the list, keeps the
// subscription and says why it is empty.
func TestBlocklistHostile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := openTestNode(t), openTestNode(t)
	f, err := a.NewFeed()
	if err != nil {
		t.Fatal(err)
	}
	v1, v2 := strings.Repeat("ab", 20), strings.Repeat("cd", 32)
	body := "# hand-made\n+" + v1 + " ok\nnonsense\n+" + strings.Repeat("9", 3*maxListLine) + "\n+" + v2 + "\n-" + strings.Repeat("ef", 20) + "\n+zz\n"
	if err := content.AppendStream(ctx, f, listFile, strings.NewReader(body), content.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	link := BlocklistLink(f.Key(), a.host().Addrs())
	sub, err := b.SubscribeBlocklist(ctx, BlocklistRequest{List: link})
	if err != nil {
		t.Fatal(err)
	}
	if sub.Infohashes != 2 || sub.Rejected != 3 {
		t.Errorf("hostile list: %+v; want 2 infohashes, 3 rejected", sub)
	}
	if all, _ := blockedHashes(t, b); !slices.Equal(all, []string{v1, v2}) {
		t.Errorf("B's blocklist %v; want [%s %s]", all, v1, v2)
	}

	c := openOfflineNode(t)
	sub, err = c.SubscribeBlocklist(ctx, BlocklistRequest{List: f.Key().String()})
	if err == nil || !errors.Is(err, ErrNotFound) {
		t.Errorf("subscribing with no peer: %v; want an error wrapping ErrNotFound", err)
	}
	if sub == nil || sub.Error == "" || sub.Infohashes != 0 {
		t.Errorf("subscribing with no peer = %+v; want the subscription, with its error", sub)
	}
	if lists, err := c.Blocklists(ctx); err != nil || len(lists) != 1 {
		t.Errorf("Blocklists after a failed fetch = %+v, %v; want the subscription kept", lists, err)
	}
}
