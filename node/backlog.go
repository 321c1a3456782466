package node

import (
	"context"
	"sync"
	"time"

	"indexd/dag"
)

// backlog holds a bulk catch-up back while the pump of its index falls
// behind (replicate.Options.Backlog). Unheld, a fresh follower of a large
// index stored every node long before it materialised them — at a million
// entries the pump ran ~90 s behind the ingest — so the pump read each
// node back from badger and decoded it again (~7 s of CPU), while the
// nodes the ingest had just decoded and applied sat in the DAG's cache and
// were evicted unused. Held to a lead of maxLead nodes, the pump finds
// them there, and what is stored is searchable moments later.
type backlog struct {
	mu sync.Mutex
	// pumps counts the running pumps of each index; at is the DAG counter
	// they have materialised up to.
	pumps map[dag.IndexKey]int
	at    map[dag.IndexKey]uint64
	// moved is closed and replaced whenever a pump moves.
	moved chan struct{}
	// stall is how long a held ingest waits for a pump that does not move
	// before it goes on regardless: a pump stuck on an error must not stop
	// replication.
	stall time.Duration
}

// maxLead is how many DAG nodes a catch-up may store ahead of what the pump
// materialised: the pump's next step plus one, inside the DAG's cache of
// the nodes just applied (see dag's appliedCache) with room for a batch.
const maxLead = 2 * pumpStep

// backlogStall is backlog.stall's default.
const backlogStall = time.Second

func newBacklog() *backlog {
	return &backlog{pumps: map[dag.IndexKey]int{}, at: map[dag.IndexKey]uint64{}, moved: make(chan struct{}), stall: backlogStall}
}

// start registers a running pump of idx that has materialised up to at.
func (b *backlog) start(idx dag.IndexKey, at uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pumps[idx]++
	b.at[idx] = max(b.at[idx], at)
}

// stop unregisters a pump of idx; an index without one is not held.
func (b *backlog) stop(idx dag.IndexKey) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pumps[idx]--; b.pumps[idx] <= 0 {
		delete(b.pumps, idx)
		delete(b.at, idx)
	}
	b.wake()
}

// advance records that a pump of idx materialised up to at.
func (b *backlog) advance(idx dag.IndexKey, at uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.pumps[idx]; ok && at > b.at[idx] {
		b.at[idx] = at
		b.wake()
	}
}

func (b *backlog) wake() {
	close(b.moved)
	b.moved = make(chan struct{})
}

// wait returns once counter() — the DAG's apply counter of idx — is at
// most maxLead ahead of idx's pump, or idx has no pump, or the pump did not
// move for b.stall, or ctx or done ends.
func (b *backlog) wait(ctx context.Context, done <-chan struct{}, idx dag.IndexKey, counter func() (uint64, error)) {
	var timer *time.Timer
	for {
		b.mu.Lock()
		_, running := b.pumps[idx]
		at, moved, stall := b.at[idx], b.moved, b.stall
		b.mu.Unlock()
		if !running {
			return
		}
		c, err := counter()
		if err != nil || c <= at+maxLead {
			return
		}
		if timer == nil {
			timer = time.NewTimer(stall)
			defer timer.Stop()
		}
		select {
		case <-moved:
			timer.Reset(stall)
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		case <-done:
			return
		}
	}
}
