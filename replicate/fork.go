package replicate

import (
	"context"
	"errors"
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

// forkCheckEvery is how often checkFork asks one peer about one log: an
// honest peer that holds the longer of two histories sends upgrades that
// never fit, once per sync.
const forkCheckEvery = time.Minute

// errGotRange stops a fetch after its first range.
var errGotRange = errors.New("replicate: got the range")

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
	k := forkCheckKey{p, log}
	now := time.Now()
	x.mu.Lock()
	if last, ok := x.forkChecks[k]; ok && now.Sub(last) < forkCheckEvery {
		x.mu.Unlock()
		return
	}
	for c, t := range x.forkChecks {
		if now.Sub(t) >= forkCheckEvery {
			delete(x.forkChecks, c)
		}
	}
	x.forkChecks[k] = now
	x.mu.Unlock()
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
