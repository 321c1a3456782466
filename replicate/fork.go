package replicate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"indexd/dag"
	"indexd/feedtree"
)

// forkCheckKey is one (peer, log) checkFork asked about.
type forkCheckKey struct {
	p   peer.ID
	log feedtree.Key
}

// due reports whether k was last marked in m (one of the Host's maps,
// guarded by its mu) every or longer ago, or never, and if so marks it
// now. Marks older than every are dropped, so m holds only recent ones.
func (x *Host) due(m map[forkCheckKey]time.Time, k forkCheckKey, every time.Duration) bool {
	now := time.Now()
	x.mu.Lock()
	defer x.mu.Unlock()
	if last, ok := m[k]; ok && now.Sub(last) < every {
		return false
	}
	for c, t := range m {
		if now.Sub(t) >= every {
			delete(m, c)
		}
	}
	m[k] = now
	return true
}

// forkCheckEvery is how often checkFork asks one peer about one log: an
// honest peer that holds the longer of two histories sends upgrades that
// never fit, once per sync.
const forkCheckEvery = time.Minute

// errGotRange stops a fetch after its first range.
var errGotRange = errors.New("replicate: got the range")

// otherHistory reports whether err, refusing range p of a log, may mean
// that p follows another history of the log than this replica's: an
// upgrade that does not fit (a mismatch under a longer head) or a first
// node that does not follow the one held (dag.ErrOtherHistory).
func otherHistory(p *feedtree.Proof, err error) bool {
	var me *feedtree.MismatchError
	return errors.Is(err, dag.ErrOtherHistory) || errors.As(err, &me) && p.Have > 0 && p.Head.Length > p.Have
}

// forkedOther reports whether err, refusing range p of log, is the other
// history of a log already known forked: nothing to fetch or retry (its
// count is settled by fork proofs), and the peer is not at fault.
func (x *Host) forkedOther(log feedtree.Key, p *feedtree.Proof, err error) bool {
	if !otherHistory(p, err) && !errors.Is(err, feedtree.ErrForked) {
		return false
	}
	f, ferr := x.d.Feed(log)
	return ferr == nil && f.Fork() != nil
}

// checkFork asks peer p, in the background, for blocks of log from this
// replica's length on with a proof that stands on its own, and hands it to
// the DAG, which records a fork if the peer's history is not this one's.
//
// Dear future reader: the holder of the shorter of two histories of an
// equivocating log receives the longer one as an upgrade that trusts its
// own roots, which just fails to verify (not the peer's fault: sessions
// and heads race); and the holder of the longer one never receives the
// shorter head, since sync pushes only to who is behind. Neither found the
// fork until a head no longer than its own came by (TestSyncDetectsFork
// with unequal lengths). The self-contained proof carries the peer's roots
// at this replica's length: the evidence feedtree.ForkProof needs.
func (x *Host) checkFork(p peer.ID, idx dag.IndexKey, log feedtree.Key) {
	if !x.due(x.forkChecks, forkCheckKey{p, log}, forkCheckEvery) {
		return
	}
	x.goRun(func() {
		ctx, cancel := context.WithTimeout(x.ctx, 30*time.Second)
		defer cancel()
		f, err := x.d.Feed(log)
		if err != nil {
			return
		}
		known := f.Fork() != nil
		var proof *feedtree.Proof
		var blocks [][]byte
		err = x.fetchFeed(ctx, p, want{Key: log.Bytes(), Start: f.Length(), Have: 0}, func(pr *feedtree.Proof, bs [][]byte) error {
			proof, blocks = pr, bs
			return errGotRange
		})
		if proof == nil {
			x.log.Debug("replicate: asking for a fork proof", "peer", p, "log", log, "err", err)
			return
		}
		switch err := x.d.CheckFork(idx, log, proof, blocks); {
		case errors.Is(err, feedtree.ErrForked):
			if !known {
				x.log.Info("replicate: author log forked (two signed histories)", "log", log, "peer", p)
			}
			x.locateFork(p, idx, log)
		case peerFault(err):
			x.penalize(p, err)
		case err != nil:
			x.log.Debug("replicate: checking for a fork", "peer", p, "log", log, "err", err)
		}
	})
}

// forkResend is how long a host waits before showing a peer the same fork
// again (the first Fork frame may have been lost with its session).
const forkResend = 10 * time.Minute

// maxForksShown bounds the Fork frames of one session.
const maxForksShown = 16

// showForks sends the peer, as Fork frames, the forks this replica found in
// the index's logs that it has not shown that peer lately. The replica
// that finds a fork may not be able to publish it (it is the forked log's
// own author, a copied data directory: its log takes no more nodes), and
// a replica that never meets both histories learns it only from a
// fork-proof node: the peer that receives the proof publishes one.
func (s *session) showForks(fs []dag.Fork) {
	shown := 0
	for _, f := range fs {
		if pending(f) || f.Deferred {
			continue // not counted or not published here yet: see locateForks
		}
		if !s.x.due(s.x.forksSent, forkCheckKey{s.peer, f.Log}, forkResend) {
			continue
		}
		key := f.Log.Bytes()
		body, err := f.Proof.AppendBinary(key[:])
		if err != nil {
			continue
		}
		s.send(frameFork, body)
		if shown++; shown == maxForksShown {
			return
		}
	}
}

// fork handles a Fork frame: evidence that must verify against its log
// key (an error here is the sender's fault), recorded unless the log is
// not held here or already known forked.
func (s *session) fork(body []byte) error {
	if len(body) < 32 {
		return fmt.Errorf("fork frame of %d bytes: %w", len(body), ErrMalformed)
	}
	log, err := feedtree.KeyFromBytes(body[:32])
	if err != nil {
		return fmt.Errorf("fork frame: %v: %w", err, ErrMalformed)
	}
	fp, err := feedtree.DecodeForkProof(body[32:])
	if err != nil {
		return fmt.Errorf("fork frame: %v: %w", err, ErrMalformed)
	}
	if err := fp.Verify(log); err != nil {
		return fmt.Errorf("fork frame of %v: %w", log, err)
	}
	if added, err := s.x.d.AddForkProof(s.idx, log, fp); err != nil {
		s.x.log.Debug("replicate: recording a peer's fork proof", "log", log, "err", err)
	} else if added {
		s.x.log.Info("replicate: author log forked (proof from a peer)", "log", log, "peer", s.peer)
	}
	return nil
}

// maxProbes bounds the requests of one locateFork: each halves the span
// where two histories may part, and a log has fewer than 2^60 blocks.
const maxProbes = 64

// locateFork asks peer p, in the background, where this replica's history
// of a forked log and the peer's part, and records the exact point
// (dag.AddForkProof), from which the log counts everywhere. Each probe is
// a self-contained proof of blocks from one point on (feed protocol, Have
// 0): its nodes hold the peer's roots at that point and the path to its
// blocks, and feedtree.Feed.Locate narrows the span where the histories
// differ from them, about log2(length) probes in all. Only an exact point
// is recorded: the count is the lowest over every proof, and a span not
// narrowed to one block would hold it below the last length both
// histories share. At most once a minute per peer and log.
func (x *Host) locateFork(p peer.ID, idx dag.IndexKey, log feedtree.Key) {
	if !x.due(x.forkLocates, forkCheckKey{p, log}, forkCheckEvery) {
		return
	}
	x.goRun(func() {
		ctx, cancel := context.WithTimeout(x.ctx, time.Minute)
		defer cancel()
		fp, err := x.locate(ctx, p, log)
		if err != nil {
			if peerFault(err) {
				x.penalize(p, err)
			}
			x.log.Debug("replicate: locating a fork", "peer", p, "log", log, "err", err)
			return
		}
		if fp == nil {
			return
		}
		switch added, err := x.d.AddForkProof(idx, log, fp); {
		case err != nil:
			x.log.Debug("replicate: recording where a fork parts", "log", log, "err", err)
		case added:
			x.log.Info("replicate: located where a forked author log parts", "log", log, "at", fp.Div.At, "peer", p)
		}
	})
}

// locate runs locateFork's probes; nil when the peer does not hold another
// history (as far as the probes show), or the point is not exact when it
// stops answering.
func (x *Host) locate(ctx context.Context, p peer.ID, log feedtree.Key) (*feedtree.ForkProof, error) {
	f, err := x.d.Feed(log)
	if err != nil {
		return nil, nil
	}
	cur := f.Fork()
	if cur == nil || min(cur.A.Length, cur.B.Length) == 0 || f.Length() == 0 {
		return nil, nil
	}
	// The first probe: the last block both heads hold, or, when a proof
	// located the fork already, its point (the peer may hold a third
	// history that parts earlier: the probe's roots show it).
	m := min(cur.A.Length, cur.B.Length, f.Length()) - 1
	if cur.Div != nil {
		m = min(cur.Div.At, f.Length()-1)
	}
	for range maxProbes {
		var proof *feedtree.Proof
		var blocks [][]byte
		err := x.fetchFeed(ctx, p, want{Key: log.Bytes(), Start: m, Have: 0}, func(pr *feedtree.Proof, bs [][]byte) error {
			proof, blocks = pr, bs
			return errGotRange
		})
		if proof == nil {
			return nil, fmt.Errorf("probing from block %d: %w", m, err)
		}
		fp, err := f.Locate(proof, blocks)
		if err != nil || fp == nil {
			return nil, err
		}
		next, ok := fp.Div.Probe()
		if !ok {
			return fp, nil
		}
		m = next
	}
	return nil, nil
}

// pending reports whether f is a coarse point this replica found but does
// not count yet: a third history that parts from a proof's two below its
// At, within a shared subtree whose inner nodes it lacks
// (feedtree.Feed.CheckDivergence).
func pending(f dag.Fork) bool {
	return f.Proof.Div != nil && !f.Proof.Div.Exact() && dag.ForkCountOf(f.Proof).Narrows(f.Counted)
}

// refineWait is how long a coarse point waits to be pinned down by a peer
// before it is counted as it is: it lowers the count below the exact point
// for good, but until it counts, a replica of that history counts blocks
// the others do not hold.
const refineWait = 2 * time.Minute

// forks shows the peer the forks of the index found here (showForks) and
// asks it about those not located yet (locateForks), at a session's start.
func (s *session) forks() {
	fs, err := s.x.d.Forks(s.idx)
	if err != nil {
		return
	}
	s.showForks(fs)
	s.locateForks(fs)
}

// locateForks asks the peer where the forked logs of the index part that
// no proof here locates yet (a fork learnt from a peer or a node, or one
// whose detector lost its peer), or pins down a coarse point: the peer may
// hold the other history. A coarse point that no peer pinned down within
// refineWait is counted and published as it is, and so is a fork-proof
// node held back (dag.Options.DeferUnlocated).
func (s *session) locateForks(fs []dag.Fork) {
	for _, f := range fs {
		coarse := pending(f)
		if f.Proof.Div != nil && !coarse {
			continue
		}
		s.x.locateFork(s.peer, s.idx, f.Log)
		if !coarse || !s.x.waitedFor(f.Log) {
			continue
		}
		if added, err := s.x.d.AddForkProof(s.idx, f.Log, f.Proof); err == nil && added {
			s.x.log.Info("replicate: counting a forked log up to a coarse point no peer pinned down", "log", f.Log, "at", f.Proof.Div.At)
		}
	}
	// Fork-proof nodes held back while peers were asked where (dag's
	// DeferUnlocated) are published once no peer said so in time.
	if n, err := s.x.d.FlushForks(s.idx, s.x.refineWait); err == nil && n > 0 {
		s.x.log.Info("replicate: publishing forks no peer located", "forks", n)
	}
}

// waitedFor reports whether log's coarse point has waited refineWait since
// a session first saw it, and if so forgets it.
func (x *Host) waitedFor(log feedtree.Key) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	since, ok := x.coarseSince[log]
	if !ok {
		since = time.Now()
		x.coarseSince[log] = since
	}
	if time.Since(since) < x.refineWait {
		return false
	}
	delete(x.coarseSince, log)
	return true
}
