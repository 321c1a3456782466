package replicate

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"indexd/dag"
	"indexd/feedtree"
)

// A hostile peer is a bare libp2p host that speaks the sync protocol by
// hand: it writes whatever frames it likes.
func hostileHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func dialHostile(t *testing.T, hh host.Host, target *testNode) {
	t.Helper()
	ai, err := peer.AddrInfoFromString(target.h.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := hh.Connect(context.Background(), *ai); err != nil {
		t.Fatal(err)
	}
}

// rawSync opens a sync stream to target for idx and sends a Hello.
func rawSync(t *testing.T, hh host.Host, target *testNode, idx dag.IndexKey) network.Stream {
	t.Helper()
	dialHostile(t, hh, target)
	st, err := hh.NewStream(context.Background(), target.h.h.ID(), SyncProtocol)
	if err != nil {
		t.Fatal(err)
	}
	var hl hello
	hl.Index = idx.Bytes()
	rand.Read(hl.FP[:])
	writeRaw(st, frameHello, hl.appendBody(nil))
	return st
}

func writeRaw(st network.Stream, typ byte, body []byte) {
	b := appendFrameHeader(nil, typ, len(body))
	st.Write(append(b, body...))
}

// authorFeed builds author log kp of idx in memory: the certificate, then
// nodes made by mk(seq, previous node hash).
func authorFeed(t *testing.T, idx dag.IndexKey, kp feedtree.KeyPair, n int, mk func(seq uint64, prev dag.ID) *dag.Node) *feedtree.Feed {
	t.Helper()
	id, _ := dag.GenerateIdentity(rand.Reader)
	return authorFeedAs(t, id, idx, kp, n, mk)
}

func authorFeedAs(t *testing.T, id dag.IdentityKey, idx dag.IndexKey, kp feedtree.KeyPair, n int, mk func(seq uint64, prev dag.ID) *dag.Node) *feedtree.Feed {
	t.Helper()
	f, err := feedtree.OpenFeed(feedtree.NewMemStore(), kp.Public(), &kp)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dag.NewCert(id, idx, kp.Public(), 1)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Append(cb); err != nil {
		t.Fatal(err)
	}
	var prev dag.ID
	for seq := uint64(1); seq <= uint64(n); seq++ {
		b, err := mk(seq, prev).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Append(b); err != nil {
			t.Fatal(err)
		}
		prev = dag.HashNode(b)
	}
	return f
}

func plainNode(idx dag.IndexKey, log feedtree.Key, name string) func(uint64, dag.ID) *dag.Node {
	return func(seq uint64, prev dag.ID) *dag.Node {
		n := &dag.Node{Index: idx, Log: log, Seq: seq, Time: int64(seq), Op: putOp(name)}
		if seq > 1 {
			n.Links = []dag.Link{{Log: log, Seq: seq - 1, Hash: prev}}
		}
		return n
	}
}

func dataBody(t *testing.T, f *feedtree.Feed, start, end, have uint64, mutate func(*feedtree.Proof)) []byte {
	t.Helper()
	p, err := f.Proof(start, end, have)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(p)
	}
	pb, err := p.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	m := data{Key: f.Key(), Proof: pb}
	for i := start; i < end; i++ {
		b, _ := f.Get(i)
		m.Blocks = append(m.Blocks, b)
	}
	return m.appendBody(nil)
}

func disconnected(a *testNode, hh host.Host) func() bool {
	return func() bool { return a.h.h.Network().Connectedness(hh.ID()) != network.Connected }
}

func hasLog(t *testing.T, n *testNode, idx dag.IndexKey, k feedtree.Key) (dag.LogState, bool) {
	logs, err := n.d.Logs(idx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range logs {
		if l.Key == k {
			return l, true
		}
	}
	return dag.LogState{}, false
}

func TestHostilePeer(t *testing.T) {
	m := newIndex(t)
	idx := m.Key()
	a, b := newTestNode(t), newTestNode(t)
	for _, n := range []*testNode{a, b} {
		n.d.PutManifest(m)
		if err := n.h.Follow(context.Background(), idx); err != nil {
			t.Fatal(err)
		}
	}
	connect(t, b, a)
	honest := newAuthor(t)
	publish(t, a, idx, honest, 5)
	waitFor(t, 10*time.Second, "honest peers to converge", converged(t, idx, 6, a, b))

	t.Run("bad signature", func(t *testing.T) {
		hh := hostileHost(t)
		kp, _ := feedtree.GenerateKeyPair(nil)
		f := authorFeed(t, idx, kp, 3, plainNode(idx, kp.Public(), "evil"))
		st := rawSync(t, hh, a, idx)
		writeRaw(st, frameData, dataBody(t, f, 0, 4, 0, func(p *feedtree.Proof) { p.Head.Signature[5] ^= 1 }))
		waitFor(t, 10*time.Second, "the peer to be disconnected", disconnected(a, hh))
		if _, ok := hasLog(t, a, idx, kp.Public()); ok {
			t.Error("a log with a bad signature was stored")
		}
		if err := hh.Connect(context.Background(), peer.AddrInfo{ID: a.h.h.ID(), Addrs: a.h.h.Addrs()}); err == nil {
			// The gater refuses it once secured; the connection must not stay.
			waitFor(t, 5*time.Second, "the banned peer to stay out", disconnected(a, hh))
		}
		if a.h.score(hh.ID()) >= 0 {
			t.Errorf("score of the hostile peer = %v; want < 0", a.h.score(hh.ID()))
		}
	})

	t.Run("bad proof", func(t *testing.T) {
		hh := hostileHost(t)
		kp, _ := feedtree.GenerateKeyPair(nil)
		f := authorFeed(t, idx, kp, 3, plainNode(idx, kp.Public(), "evil"))
		body := dataBody(t, f, 0, 4, 0, nil)
		body[len(body)-1] ^= 1 // flip a byte of the last block: its leaf hash no longer fits the signed tree
		st := rawSync(t, hh, a, idx)
		writeRaw(st, frameData, body)
		waitFor(t, 10*time.Second, "the peer to be disconnected", disconnected(a, hh))
		if _, ok := hasLog(t, a, idx, kp.Public()); ok {
			t.Error("a log with a bad proof was stored")
		}
	})

	t.Run("garbage", func(t *testing.T) {
		hh := hostileHost(t)
		st := rawSync(t, hh, a, idx)
		junk := make([]byte, 300)
		rand.Read(junk)
		writeRaw(st, frameData, junk)
		waitFor(t, 10*time.Second, "the peer to be disconnected", disconnected(a, hh))
	})

	t.Run("garbage hello", func(t *testing.T) {
		hh := hostileHost(t)
		dialHostile(t, hh, a)
		st, err := hh.NewStream(context.Background(), a.h.h.ID(), SyncProtocol)
		if err != nil {
			t.Fatal(err)
		}
		writeRaw(st, frameHello, []byte("not a hello"))
		waitFor(t, 10*time.Second, "the peer to be disconnected", disconnected(a, hh))
	})

	t.Run("oversized frame", func(t *testing.T) {
		hh := hostileHost(t)
		st := rawSync(t, hh, a, idx)
		hdr := binary.AppendUvarint(nil, MaxFrame+100)
		st.Write(append(hdr, make([]byte, 1024)...))
		waitFor(t, 10*time.Second, "the peer to be disconnected", disconnected(a, hh))
	})

	t.Run("links to missing nodes", func(t *testing.T) {
		hh := hostileHost(t)
		kp, _ := feedtree.GenerateKeyPair(nil)
		other, _ := feedtree.GenerateKeyPair(nil)
		var bogus [32]byte
		rand.Read(bogus[:])
		f := authorFeed(t, idx, kp, 2, func(seq uint64, prev dag.ID) *dag.Node {
			n := plainNode(idx, kp.Public(), "dangling")(seq, prev)
			n.Links = append(n.Links, dag.Link{Log: other.Public(), Seq: 7, Hash: dag.IDFromBytes(bogus)})
			return n
		})
		st := rawSync(t, hh, a, idx)
		writeRaw(st, frameData, dataBody(t, f, 0, 3, 0, nil))
		writeRaw(st, frameDone, nil)
		waitFor(t, 10*time.Second, "the dangling log to be held and taken by the applier", func() bool {
			l, ok := hasLog(t, a, idx, kp.Public())
			q, _, err := a.d.Queued(idx)
			return ok && l.Length == 3 && err == nil && q == 0
		})
		l, _ := hasLog(t, a, idx, kp.Public())
		if l.Applied > 1 {
			t.Errorf("nodes linking missing nodes were applied: %d of %d", l.Applied, l.Length)
		}
		missing, err := a.d.Missing(idx)
		if err != nil || len(missing) == 0 {
			t.Errorf("Missing = %v, %v; want the dangling link", missing, err)
		}
		st.Close()
	})

	t.Run("forked heads", func(t *testing.T) {
		hh := hostileHost(t)
		kp, _ := feedtree.GenerateKeyPair(nil)
		// Two histories that share node 1 and differ at node 2.
		shared := putOp("shared")
		fork := func(name string) func(uint64, dag.ID) *dag.Node {
			return func(seq uint64, prev dag.ID) *dag.Node {
				n := plainNode(idx, kp.Public(), name)(seq, prev)
				if seq == 1 {
					n.Op = shared
				}
				return n
			}
		}
		id, _ := dag.GenerateIdentity(rand.Reader)
		f1 := authorFeedAs(t, id, idx, kp, 2, fork("one history"))
		f2 := authorFeedAs(t, id, idx, kp, 2, fork("another history"))
		st := rawSync(t, hh, a, idx)
		writeRaw(st, frameData, dataBody(t, f1, 0, 3, 0, nil))
		// The second history, proved for a verifier that holds length 3, as
		// sync does for logs whose heads differ at one length.
		writeRaw(st, frameData, dataBody(t, f2, 2, 3, 3, nil))
		writeRaw(st, frameDone, nil)
		waitFor(t, 10*time.Second, "the fork to be recorded", func() bool {
			l, ok := hasLog(t, a, idx, kp.Public())
			return ok && l.Forked
		})
		st.Close()
	})

	t.Run("gossip with a bad signature", func(t *testing.T) {
		hh := hostileHost(t)
		ps, err := pubsub.NewGossipSub(context.Background(), hh, pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
			pubsub.WithNoAuthor(), pubsub.WithMessageIdFn(messageID))
		if err != nil {
			t.Fatal(err)
		}
		topic, err := ps.Join(topicName(idx))
		if err != nil {
			t.Fatal(err)
		}
		sub, _ := topic.Subscribe()
		defer sub.Cancel()
		dialHostile(t, hh, a)
		kp, _ := feedtree.GenerateKeyPair(nil)
		f := authorFeed(t, idx, kp, 1, plainNode(idx, kp.Public(), "evil"))
		before := a.h.Stats().Rejected
		deadline := time.Now().Add(10 * time.Second)
		for a.h.Stats().Rejected == before {
			if time.Now().After(deadline) {
				t.Fatal("the bad gossip message was never rejected")
			}
			body := dataBody(t, f, 0, 2, 0, func(p *feedtree.Proof) { p.Head.Signature[0] ^= 1; p.Head.Signature[1] = byte(time.Now().UnixNano()) })
			topic.Publish(context.Background(), body)
			time.Sleep(50 * time.Millisecond) // pacing of the attacker's retries, not synchronisation
		}
		waitFor(t, 10*time.Second, "the peer to be disconnected", disconnected(a, hh))
		if _, ok := hasLog(t, a, idx, kp.Public()); ok {
			t.Error("a log from bad gossip was stored")
		}
	})

	// Honest replication goes on.
	publish(t, a, idx, honest, 5)
	waitFor(t, 10*time.Second, "honest sync to continue", func() bool {
		l, ok := hasLog(t, b, idx, honest.Log.Public())
		return ok && l.Length == 11 && l.Applied == 11
	})
	if st := b.h.Stats(); st.Rejected != 0 {
		t.Errorf("the honest peer rejected %d messages from an honest peer", st.Rejected)
	}
}

// TestSyncDetectsFork: two honest replicas hold conflicting histories of one
// log (the author equivocated); one sync session shows each the other's
// signed head and both record the fork, without penalising each other —
// also when one history is longer (its head then comes as an upgrade that
// does not fit the other replica's history).
func TestSyncDetectsFork(t *testing.T) {
	type h = struct{ n, shared int }
	for _, c := range []struct {
		name string
		hs   []h
	}{
		{"2-2", []h{{2, 1}, {2, 1}}},
		{"2-4", []h{{2, 1}, {4, 1}}},
		{"5-2", []h{{5, 1}, {2, 1}}},
		{"45-40", []h{{45, 29}, {40, 29}}},
		// A third history, shorter than the point where the first two
		// part, parts from them earlier.
		{"8-9-3", []h{{8, 4}, {9, 4}, {3, 1}}},
	} {
		t.Run(c.name, func(t *testing.T) { syncDetectsFork(t, c.hs) })
	}
}

// syncDetectsFork: replicas hold histories of one log, each of hs[i].n
// blocks sharing the certificate and nodes 1 to hs[i].shared with the
// others; each is connected to every other. All end with the log counted
// up to where the histories that part first part.
func syncDetectsFork(t *testing.T, hs []struct{ n, shared int }) {
	m := newIndex(t)
	idx := m.Key()
	// Each appends a fork-proof node when it finds the fork, once located
	// (as a node does): the holder of the longer history learns it from
	// the other's.
	withForkAuthor := func() *testNode {
		a := newAuthor(t)
		return newTestNodeDAG(t, Options{}, dag.Options{DeferUnlocated: true, ForkAuthor: func(dag.IndexKey) (dag.Author, bool) { return a, true }})
	}
	log, history := forkHistories(t, idx)
	var nodes []*testNode
	var feeds []*feedtree.Feed
	for i, hh := range hs {
		n, f := withForkAuthor(), history(fmt.Sprintf("history %d", i), hh.n, hh.shared)
		nodes, feeds = append(nodes, n), append(feeds, f)
		n.d.PutManifest(m)
		ingestAll(t, n.d, idx, f)
		if err := n.h.Follow(context.Background(), idx); err != nil {
			t.Fatal(err)
		}
	}
	// Where the histories part first: the first block where two differ.
	part := uint64(1 << 60)
	for i := range feeds {
		for j := range i {
			var k uint64
			for ; k < min(feeds[i].Length(), feeds[j].Length()); k++ {
				bi, _ := feeds[i].Get(k)
				bj, _ := feeds[j].Get(k)
				if !bytes.Equal(bi, bj) {
					break
				}
			}
			part = min(part, k)
		}
	}
	for i := range nodes {
		for j := range i {
			connect(t, nodes[i], nodes[j])
		}
	}
	defer func() {
		if t.Failed() {
			for i, n := range nodes {
				l, _ := hasLog(t, n, idx, log)
				f, _ := n.d.Feed(log)
				fp := f.Fork()
				var div *feedtree.Divergence
				if fp != nil {
					div = fp.Div
				}
				t.Logf("replica %d: len %d applied %d forked %v located %v at %d; feed fork %v div %+v", i, l.Length, l.Applied, l.Forked, l.Located, l.ForkAt, fp != nil, div)
			}
		}
	}()
	for i, n := range nodes {
		waitFor(t, 10*time.Second, "the fork to be recorded", func() bool {
			l, ok := hasLog(t, n, idx, log)
			return ok && l.Forked
		})
		// The detectors ask their peers where the histories part; the
		// others learn it from the detectors' fork-proof nodes.
		waitFor(t, 20*time.Second, fmt.Sprintf("replica %d to count the log up to %d", i, part), func() bool {
			l, _ := hasLog(t, n, idx, log)
			return l.Located && l.ForkAt == part
		})
		if r := n.h.Stats().Rejected; r != 0 {
			t.Errorf("an honest replica holding another branch was penalised (%d rejections)", r)
		}
	}
	// Located in time, no replica published a proof that does not locate.
	for i, n := range nodes {
		as, err := n.d.Applied(idx, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			if a.Node.Op.Kind != dag.OpForkProof {
				continue
			}
			if fp, err := feedtree.DecodeForkProof(a.Node.Op.ForkProof.Proof); err != nil || fp.Div == nil {
				t.Errorf("replica %d applied a fork-proof node that does not locate the fork (%v)", i, err)
			}
		}
	}
	if want := uint64(min(hs[0].shared, hs[len(hs)-1].shared)) + 1; part != want {
		t.Errorf("the histories part at %d; the test meant %d", part, want)
	}
}

// TestFaultyOtherHistory: a gossiped or synced range that follows another
// history of a log than the receiver's is not the sender's fault (an
// honest peer relays what the author signed), and asks for a fork check;
// a node that does not fit its log is the sender's fault.
func TestFaultyOtherHistory(t *testing.T) {
	kp, _ := feedtree.GenerateKeyPair(nil)
	upgrade := &feedtree.Proof{Head: feedtree.Head{Length: 9}, Start: 5, End: 6, Have: 5}
	for _, c := range []struct {
		name         string
		err          error
		fault, check bool
	}{
		{"other history", fmt.Errorf("ingesting node 5: %w", dag.ErrOtherHistory), false, true},
		{"upgrade mismatch", &feedtree.MismatchError{}, false, true},
		{"bad node", fmt.Errorf("ingesting node 5: %w", dag.ErrBadNode), true, false},
	} {
		if got := (&Host{}).faulty(kp.Public(), upgrade, nil, c.err); got != c.fault {
			t.Errorf("%s: faulty = %v; want %v", c.name, got, c.fault)
		}
		if got := otherHistory(upgrade, c.err); got != c.check {
			t.Errorf("%s: otherHistory = %v; want %v", c.name, got, c.check)
		}
	}
}

// TestCoarsePointCounted: a replica of a third history, shown where two
// others part (below the point where its own parts from them, inside a
// subtree it cannot look into), asks its peers to pin the point down; when
// none can (its only peer holds the same history), it counts the coarse
// point it has after refineWait and publishes it.
func TestCoarsePointCounted(t *testing.T) {
	m := newIndex(t)
	idx := m.Key()
	log, history := forkHistories(t, idx)
	// H1 and H2 part at 5; H3 parts from both at 2, within their first
	// shared root (blocks 0-3).
	h1, h2, h3 := history("one", 8, 4), history("two", 9, 4), history("three", 3, 1)

	// A detector holding H1 locates the fork against H2 and publishes it.
	detector := newAuthor(t)
	x := newTestNodeDAG(t, Options{}, dag.Options{ForkAuthor: func(dag.IndexKey) (dag.Author, bool) { return detector, true }})
	x.d.PutManifest(m)
	ingestAll(t, x.d, idx, h1)
	xf, _ := x.d.Feed(log)
	var fp *feedtree.ForkProof
	for probe := min(h1.Length(), h2.Length()) - 1; ; {
		p, _ := h2.Proof(probe, probe+1, 0)
		blk, _ := h2.Get(probe)
		got, err := xf.Locate(p, [][]byte{blk})
		if err != nil || got == nil {
			t.Fatalf("Locate: %v, %v", got, err)
		}
		fp = got
		next, ok := got.Div.Probe()
		if !ok {
			break
		}
		probe = next
	}
	if ok, err := x.d.AddForkProof(idx, log, fp); err != nil || !ok {
		t.Fatalf("AddForkProof = %v, %v", ok, err)
	}
	xlog, _ := x.d.Feed(detector.Log.Public())

	// p and z hold H3 and the detector's log; they meet only each other.
	var nodes []*testNode
	for range 2 {
		a := newAuthor(t)
		n := newTestNodeDAG(t, Options{}, dag.Options{ForkAuthor: func(dag.IndexKey) (dag.Author, bool) { return a, true }})
		n.h.refineWait = 0
		n.d.PutManifest(m)
		ingestAll(t, n.d, idx, h3)
		ingestAll(t, n.d, idx, xlog)
		if err := n.h.Follow(context.Background(), idx); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
		if l, _ := hasLog(t, n, idx, log); !l.Located || l.ForkAt != fp.Div.At {
			t.Fatalf("before any peer: the log counts %+v; want up to %d, the detector's point", l, fp.Div.At)
		}
	}
	connect(t, nodes[0], nodes[1])
	for i, n := range nodes {
		waitFor(t, 20*time.Second, "the coarse point to count", func() bool {
			n.h.SyncNow(context.Background(), idx)
			l, _ := hasLog(t, n, idx, log)
			return l.ForkAt == 0
		})
		f, _ := n.d.Feed(log)
		if got := f.Fork(); got == nil || got.Div == nil || got.Div.Exact() || got.Div.At != 0 {
			t.Errorf("replica %d keeps %+v; want the coarse point at 0", i, got)
		}
	}
}

// TestForkedOther: a range of a log known forked that does not fit this
// replica's history (the other history) is settled, neither retried nor
// re-synced; the same error on a log not known forked is not.
func TestForkedOther(t *testing.T) {
	m := newIndex(t)
	idx := m.Key()
	log, history := forkHistories(t, idx)
	h1, h2 := history("one", 4, 0), history("two", 4, 0)
	x := newTestNode(t)
	x.d.PutManifest(m)
	ingestAll(t, x.d, idx, h1)
	upgrade := &feedtree.Proof{Head: feedtree.Head{Length: 9}, Start: 5, End: 6, Have: 5}
	mismatch := &feedtree.MismatchError{}
	if x.h.forkedOther(log, upgrade, mismatch) {
		t.Error("forkedOther before the fork is known = true")
	}
	// The other history's head, as long as this one: a fork.
	f, _ := x.d.Feed(log)
	if err := f.PutHead(h2.Head(), nil); !errors.Is(err, feedtree.ErrForked) {
		t.Fatalf("PutHead of the other history = %v; want a fork", err)
	}
	if !x.h.forkedOther(log, upgrade, mismatch) {
		t.Error("forkedOther of the other history of a forked log = false")
	}
	if x.h.forkedOther(log, upgrade, errors.New("not contiguous")) {
		t.Error("forkedOther of an unrelated error = true")
	}
}

// forkHistories returns the key of a new author log of idx and a maker of
// its histories: n blocks each, whose nodes 1 to shared (under 64) are the
// same in every history made.
func forkHistories(t *testing.T, idx dag.IndexKey) (feedtree.Key, func(name string, n, shared int) *feedtree.Feed) {
	kp, _ := feedtree.GenerateKeyPair(nil)
	id, _ := dag.GenerateIdentity(rand.Reader)
	var sharedOps []dag.Op
	for i := range 64 {
		sharedOps = append(sharedOps, putOp(fmt.Sprintf("shared %d", i)))
	}
	return kp.Public(), func(name string, n, shared int) *feedtree.Feed {
		return authorFeedAs(t, id, idx, kp, n, func(seq uint64, prev dag.ID) *dag.Node {
			n := plainNode(idx, kp.Public(), name)(seq, prev)
			if seq <= uint64(shared) {
				n.Op = sharedOps[seq]
			}
			return n
		})
	}
}

// ingestAll ingests every block of f into d.
func ingestAll(t *testing.T, d *dag.DAG, idx dag.IndexKey, f *feedtree.Feed) {
	t.Helper()
	p, err := f.Proof(0, f.Length(), 0)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := f.GetRange(0, f.Length(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Ingest(context.Background(), idx, f.Key(), p, blocks); err != nil {
		t.Fatal(err)
	}
}

// TestHostileRequests: the manifest and feed protocols answer one Want,
// the content protocol serves after one Open. A peer that opens with
// another frame type, or with a request that does not decode, is scored
// down and disconnected; one that opens a stream and closes it without a
// word is neither, and an honest request still gets its answer.
func TestHostileRequests(t *testing.T) {
	m := newIndex(t)
	a := newTestNode(t)
	a.d.PutManifest(m)
	for _, r := range []struct {
		proto protocol.ID
		open  byte // the frame type that opens a request
	}{{ManifestProtocol, frameWant}, {FeedProtocol, frameWant}, {ContentProtocol, cOpen}} {
		proto := r.proto
		for _, c := range []struct {
			name string
			typ  byte
			body []byte
		}{
			{"another frame type", frameData, []byte("junk")},
			{"a request that does not decode", r.open, []byte{1, 2, 3}},
		} {
			t.Run(fmt.Sprintf("%s/%s", proto, c.name), func(t *testing.T) {
				hh := hostileHost(t)
				dialHostile(t, hh, a)
				st, err := hh.NewStream(context.Background(), a.h.h.ID(), proto)
				if err != nil {
					t.Fatal(err)
				}
				writeRaw(st, c.typ, c.body)
				waitFor(t, 10*time.Second, "the peer to be disconnected", disconnected(a, hh))
				if s := a.h.score(hh.ID()); s >= 0 {
					t.Errorf("score of the peer = %v; want < 0", s)
				}
			})
		}
		t.Run(fmt.Sprintf("%s/closed without a frame", proto), func(t *testing.T) {
			hh := hostileHost(t)
			dialHostile(t, hh, a)
			st, err := hh.NewStream(context.Background(), a.h.h.ID(), proto)
			if err != nil {
				t.Fatal(err)
			}
			st.CloseWrite()
			// The handler resets the stream once it has judged it.
			st.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := st.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read %d bytes, %v; want the stream reset", n, err)
			}
			if s := a.h.score(hh.ID()); s != 0 {
				t.Errorf("score of the peer = %v; want 0", s)
			}
			if disconnected(a, hh)() {
				t.Error("the peer was disconnected")
			}
		})
	}
	// An honest request after all that.
	b := newTestNode(t)
	connect(t, b, a)
	got, err := b.h.askManifest(context.Background(), a.h.h.ID(), m.Key())
	if err != nil || got.Key() != m.Key() {
		t.Fatalf("honest manifest request: %v, %v", got, err)
	}
}
