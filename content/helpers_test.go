package content

import (
	"context"
	"crypto/sha256"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"indexd/feedtree"
)

// testStore opens a badger-backed feedtree store in a temp dir.
func testStore(tb testing.TB) feedtree.Store {
	tb.Helper()
	opts := badger.DefaultOptions(tb.TempDir()).WithLogger(nil).
		WithMemTableSize(16 << 20).WithValueThreshold(1 << 10).WithNumCompactors(2)
	db, err := badger.Open(opts)
	if err != nil {
		tb.Fatalf("badger.Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return feedtree.NewBadgerStore(db, []byte("f/"))
}

// writerFeed opens a new writable feed in s.
func writerFeed(tb testing.TB, s feedtree.Store) *feedtree.Feed {
	tb.Helper()
	kp, err := feedtree.GenerateKeyPair(nil)
	if err != nil {
		tb.Fatal(err)
	}
	f, err := feedtree.OpenFeed(s, kp.Public(), &kp)
	if err != nil {
		tb.Fatalf("OpenFeed: %v", err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}

// replicaFeed opens a read-only replica of key in s.
func replicaFeed(tb testing.TB, s feedtree.Store, key feedtree.Key) *feedtree.Feed {
	tb.Helper()
	f, err := feedtree.OpenFeed(s, key, nil)
	if err != nil {
		tb.Fatalf("OpenFeed replica: %v", err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}

// transfer copies blocks [start, end) of src into dst, at most batch blocks
// per proof, the way the feed protocol moves them: a proof built for what
// dst trusts, then Put. It returns the encoded proof bytes sent.
func transfer(tb testing.TB, src, dst *feedtree.Feed, start, end uint64, batch uint64) int {
	tb.Helper()
	sent := 0
	put := func(a, b uint64) {
		p, err := src.Proof(a, b, dst.Length())
		if err != nil {
			tb.Fatalf("Proof(%d, %d, %d): %v", a, b, dst.Length(), err)
		}
		enc, err := p.AppendBinary(nil)
		if err != nil {
			tb.Fatal(err)
		}
		sent += len(enc)
		blocks := make([][]byte, 0, b-a)
		for i := a; i < b; i++ {
			blk, err := src.Get(i)
			if err != nil {
				tb.Fatalf("Get(%d): %v", i, err)
			}
			blocks = append(blocks, blk)
		}
		if err := dst.Put(p, blocks); err != nil {
			tb.Fatalf("Put [%d, %d): %v", a, b, err)
		}
	}
	if start == end && dst.Length() < src.Length() {
		put(start, start) // length upgrade only
	}
	for a := start; a < end; a += batch {
		put(a, min(end, a+batch))
	}
	return sent
}

// fetcher is a FetchFunc from src into dst that records what it fetched.
type fetcher struct {
	tb       testing.TB
	src, dst *feedtree.Feed
	mu       sync.Mutex
	ranges   []Range
}

func (x *fetcher) fetch(ctx context.Context, start, end uint64) error {
	x.mu.Lock()
	x.ranges = append(x.ranges, Range{Start: start, End: end})
	x.mu.Unlock()
	transfer(x.tb, x.src, x.dst, start, end, 64)
	return nil
}

// writeFile writes n random bytes (seeded) to dir/rel with mode.
func writeFile(tb testing.TB, dir, rel string, n int, mode os.FileMode, seed uint64) []byte {
	tb.Helper()
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, b, mode); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		tb.Fatal(err)
	}
	return b
}

// treeSums maps each regular file under dir (relative, '/') to its SHA-256
// and permission bits.
func treeSums(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		sum := sha256.Sum256(b)
		out[filepath.ToSlash(rel)] = fi.Mode().Perm().String() + " " + string(sum[:])
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func sameTree(tb testing.TB, a, b string) {
	tb.Helper()
	x, y := treeSums(tb, a), treeSums(tb, b)
	if len(x) != len(y) {
		tb.Errorf("trees differ: %d files in %s, %d in %s", len(x), a, len(y), b)
	}
	for k, v := range x {
		if y[k] != v {
			tb.Errorf("file %q differs (or is missing) in %s", k, b)
		}
	}
}
