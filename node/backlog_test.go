package node

import (
	"context"
	"testing"
	"time"

	"indexd/dag"
)

// counterProbe is a DAG counter the test answers call by call, so it sees
// every re-check a held wait makes and in what order.
type counterProbe struct {
	calls chan chan uint64
}

func (p counterProbe) counter() (uint64, error) {
	reply := make(chan uint64)
	p.calls <- reply
	return <-reply, nil
}

// startWait runs b.wait in a goroutine; the returned channel closes when
// it returns.
func startWait(ctx context.Context, b *backlog, idx dag.IndexKey, p counterProbe) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.wait(ctx, nil, idx, p.counter)
	}()
	return done
}

// nextCheck answers the wait's next counter read with c; it fails if the
// wait returned instead.
func nextCheck(t *testing.T, p counterProbe, done <-chan struct{}, c uint64) {
	t.Helper()
	select {
	case reply := <-p.calls:
		reply <- c
	case <-done:
		t.Fatalf("wait returned before reading the counter (answer %d)", c)
	case <-time.After(10 * time.Second):
		t.Fatalf("wait did not read the counter")
	}
}

func returned(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("wait did not return: %s", what)
	}
}

func TestBacklogWait(t *testing.T) {
	var idx dag.IndexKey
	ctx := context.Background()
	t.Run("no pump", func(t *testing.T) {
		b := newBacklog()
		called := false
		b.wait(ctx, nil, idx, func() (uint64, error) { called = true; return 1 << 40, nil })
		if called {
			t.Fatal("an index without a pump read the counter: it is never held")
		}
	})
	t.Run("within the lead", func(t *testing.T) {
		b := newBacklog()
		b.start(idx, 100)
		p := counterProbe{make(chan chan uint64)}
		done := startWait(ctx, b, idx, p)
		nextCheck(t, p, done, 100+maxLead)
		returned(t, done, "counter exactly maxLead ahead")
	})
	t.Run("held until the pump moves", func(t *testing.T) {
		b := newBacklog()
		b.stall = time.Hour
		b.start(idx, 0)
		p := counterProbe{make(chan chan uint64)}
		done := startWait(ctx, b, idx, p)
		nextCheck(t, p, done, 3*maxLead)
		// Not far enough: the wait reads the counter again and stays.
		b.advance(idx, maxLead-1)
		nextCheck(t, p, done, 3*maxLead)
		// A move backwards (a second pump behind the first) is no move.
		b.advance(idx, 10)
		b.advance(idx, 2*maxLead)
		nextCheck(t, p, done, 3*maxLead)
		returned(t, done, "pump within maxLead")
	})
	t.Run("pump stalled", func(t *testing.T) {
		b := newBacklog()
		b.stall = 20 * time.Millisecond
		b.start(idx, 0)
		p := counterProbe{make(chan chan uint64)}
		done := startWait(ctx, b, idx, p)
		nextCheck(t, p, done, 10*maxLead)
		returned(t, done, "pump did not move for the stall time")
	})
	t.Run("pump stopped", func(t *testing.T) {
		b := newBacklog()
		b.stall = time.Hour
		b.start(idx, 0)
		b.start(idx, 0)
		p := counterProbe{make(chan chan uint64)}
		done := startWait(ctx, b, idx, p)
		nextCheck(t, p, done, 10*maxLead)
		b.stop(idx) // one of two: still held
		nextCheck(t, p, done, 10*maxLead)
		b.stop(idx)
		returned(t, done, "last pump stopped")
	})
	t.Run("context ends", func(t *testing.T) {
		b := newBacklog()
		b.stall = time.Hour
		b.start(idx, 0)
		cctx, cancel := context.WithCancel(ctx)
		p := counterProbe{make(chan chan uint64)}
		done := startWait(cctx, b, idx, p)
		nextCheck(t, p, done, 10*maxLead)
		cancel()
		returned(t, done, "context cancelled")
	})
}
