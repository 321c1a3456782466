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
			x.log.Info("replicate: author log forked (two signed histories)", "log", log, "peer", p)
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
func (s *session) showForks() {
	fs, err := s.x.d.Forks(s.idx)
	if err != nil || len(fs) == 0 {
		return
	}
	shown := 0
	for _, f := range fs {
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
