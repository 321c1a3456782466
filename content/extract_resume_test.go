package content

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestExtractRemovesStaleTemporaries: what a killed extraction leaves (an
// unlocked partial temporary file, and a truncated file under a final
// name) is cleaned up and completed by the next Extract, while a temporary
// file another extraction still holds locked is left alone.
func TestExtractRemovesStaleTemporaries(t *testing.T) {
	ctx := context.Background()
	src := testTree(t)
	f := writerFeed(t, testStore(t))
	m, _, err := Share(ctx, f, src, ShareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := os.MkdirAll(filepath.Join(out, "a/b/c"), 0o755); err != nil {
		t.Fatal(err)
	}
	stale := []string{".indexd-0123456789abcdef.part", "a/b/c/.indexd-fedcba9876543210.part"}
	for _, p := range stale {
		if err := os.WriteFile(filepath.Join(out, p), []byte("half a file"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A live writer's temporary file: locked.
	live := filepath.Join(out, ".indexd-aaaaaaaaaaaaaaaa.part")
	lf, err := os.OpenFile(live, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	// Not ours: a name outside the pattern stays too.
	other := filepath.Join(out, ".indexd-notours.part")
	os.WriteFile(other, nil, 0o600)
	// A truncated file under a final name.
	whole, err := os.ReadFile(filepath.Join(src, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(out, "big.bin"), whole[:len(whole)/3], 0o644)

	if err := Extract(ctx, f, m, out, ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range stale {
		if _, err := os.Lstat(filepath.Join(out, p)); !os.IsNotExist(err) {
			t.Errorf("stale %s still there (%v)", p, err)
		}
	}
	for _, p := range []string{live, other} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(p), err)
		}
	}
	got, err := os.ReadFile(filepath.Join(out, "big.bin"))
	if err != nil || string(got) != string(whole) {
		t.Errorf("big.bin after Extract: %d bytes, %v; want the %d shared", len(got), err, len(whole))
	}
}
