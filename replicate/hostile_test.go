package replicate

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

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
	for _, c := range []struct{ x, y, shared int }{{2, 2, 1}, {2, 4, 1}, {5, 2, 1}, {45, 40, 29}} {
		t.Run(fmt.Sprintf("%d-%d", c.x, c.y), func(t *testing.T) { syncDetectsFork(t, c.x, c.y, c.shared) })
	}
}

// syncDetectsFork: two replicas hold histories of one log, of xn and yn
// blocks, that share the certificate and nodes 1 to shared.
func syncDetectsFork(t *testing.T, xn, yn, shared int) {
	m := newIndex(t)
	idx := m.Key()
	// Each appends a fork-proof node when it finds the fork: the holder of
	// the longer history learns it from the other's.
	withForkAuthor := func() *testNode {
		a := newAuthor(t)
		return newTestNodeDAG(t, Options{}, dag.Options{ForkAuthor: func(dag.IndexKey) (dag.Author, bool) { return a, true }})
	}
	x, y := withForkAuthor(), withForkAuthor()
	kp, _ := feedtree.GenerateKeyPair(nil)
	id, _ := dag.GenerateIdentity(rand.Reader)
	sharedOps := make([]dag.Op, shared+1)
	for i := range sharedOps {
		sharedOps[i] = putOp(fmt.Sprintf("shared %d", i))
	}
	history := func(name string, n int) *feedtree.Feed {
		return authorFeedAs(t, id, idx, kp, n, func(seq uint64, prev dag.ID) *dag.Node {
			n := plainNode(idx, kp.Public(), name)(seq, prev)
			if seq <= uint64(shared) {
				n.Op = sharedOps[seq]
			}
			return n
		})
	}
	histories := map[*testNode]*feedtree.Feed{x: history("one", xn), y: history("two", yn)}
	for n, f := range histories {
		n.d.PutManifest(m)
		p, err := f.Proof(0, f.Length(), 0)
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := f.GetRange(0, f.Length(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.d.Ingest(context.Background(), idx, kp.Public(), p, blocks); err != nil {
			t.Fatal(err)
		}
		if err := n.h.Follow(context.Background(), idx); err != nil {
			t.Fatal(err)
		}
	}
	// Where the histories part: the first block that differs.
	fx, fy := histories[x], histories[y]
	var part uint64
	for ; part < min(fx.Length(), fy.Length()); part++ {
		bx, _ := fx.Get(part)
		by, _ := fy.Get(part)
		if !bytes.Equal(bx, by) {
			break
		}
	}
	connect(t, x, y)
	for _, n := range []*testNode{x, y} {
		waitFor(t, 10*time.Second, "the fork to be recorded", func() bool {
			l, ok := hasLog(t, n, idx, kp.Public())
			return ok && l.Forked
		})
		// The detector asks its peer where the histories part; the other
		// learns it from the detector's fork-proof node.
		waitFor(t, 10*time.Second, "the fork to be located", func() bool {
			l, _ := hasLog(t, n, idx, kp.Public())
			return l.Located
		})
		if l, _ := hasLog(t, n, idx, kp.Public()); l.ForkAt != part || part != uint64(shared)+1 {
			t.Errorf("the log counts up to %d; the histories part at %d", l.ForkAt, part)
		}
		if r := n.h.Stats().Rejected; r != 0 {
			t.Errorf("an honest replica holding the other branch was penalised (%d rejections)", r)
		}
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
