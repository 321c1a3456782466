package content

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"indexd/feedtree"
)

// safeBuffer is a bytes.Buffer safe for one writer and polling readers,
// which can wait until it holds some length.
type safeBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitLen waits until s holds at least n bytes, or fails at the deadline.
func (s *safeBuffer) waitLen(t *testing.T, n int) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		if s.b.Len() >= n {
			out := s.b.String()
			s.mu.Unlock()
			return out
		}
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("stream holds %d bytes after 10s; want %d", len(s.String()), n)
		}
	}
}

func TestStreamLive(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := writerFeed(t, testStore(t))
	r := replicaFeed(t, testStore(t), f.Key())

	// The writer appends stdin as it arrives; after each append the replica
	// receives the new blocks, as a follower would by push.
	pr, pw := io.Pipe()
	var (
		mu     sync.Mutex
		copied uint64
	)
	appendErr := make(chan error, 1)
	go func() {
		appendErr <- AppendStream(ctx, f, "live.ts", pr, AppendOptions{OnAppend: func(h feedtree.Head) {
			mu.Lock()
			defer mu.Unlock()
			transfer(t, f, r, copied, h.Length, 64)
			copied = h.Length
		}})
	}()
	var out safeBuffer
	streamErr := make(chan error, 1)
	go func() { streamErr <- Stream(ctx, r, "live.ts", &out, StreamOptions{}) }()

	var want []byte
	for i, n := range []int{10, 1000, bs - 1010, 1, 3*bs + 17, 5, bs} {
		chunk := bytes.Repeat([]byte{byte('a' + i)}, n)
		want = append(want, chunk...)
		if _, err := pw.Write(chunk); err != nil {
			t.Fatal(err)
		}
		got := out.waitLen(t, len(want))
		if got != string(want) {
			t.Fatalf("after chunk %d: stream output differs (len %d, want %d)", i, len(got), len(want))
		}
	}
	pw.Close()
	if err := <-appendErr; err != nil {
		t.Fatalf("AppendStream: %v", err)
	}
	cancel()
	if err := <-streamErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("Stream = %v; want context.Canceled", err)
	}
	m, err := ReadManifest(context.Background(), r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if file := m.File("live.ts"); file == nil || file.Size != uint64(len(want)) {
		t.Fatalf("manifest file = %+v; want size %d", file, len(want))
	}
}

func TestStreamDetectsRewrite(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := writerFeed(t, testStore(t))
	if _, _, err := ShareBytes(ctx, f, "a", []byte("first version"), ShareOptions{}); err != nil {
		t.Fatal(err)
	}
	var out safeBuffer
	done := make(chan error, 1)
	go func() { done <- Stream(ctx, f, "a", &out, StreamOptions{}) }()
	out.waitLen(t, len("first version"))
	if _, _, err := ShareBytes(ctx, f, "a", []byte("second, longer version"), ShareOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrRewritten) {
			t.Fatalf("Stream = %v; want ErrRewritten", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stream did not notice the rewrite")
	}
}
