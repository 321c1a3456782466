package content

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/blake2b"
)

// benchTree writes files totalling total bytes (16 MiB each) under a temp dir.
func benchTree(b *testing.B, total int) string {
	dir := b.TempDir()
	const per = 16 << 20
	for i := 0; i*per < total; i++ {
		writeFile(b, dir, fmt.Sprintf("d%d/file%02d.bin", i%4, i), min(per, total-i*per), 0o644, uint64(i))
	}
	return dir
}

// BenchmarkShare measures Share of a 256 MiB folder into a new feed on
// badger, next to BLAKE2b-256 over the same bytes in 64 KiB blocks (the
// leaf hashing alone) as a baseline in the same run.
func BenchmarkShare(b *testing.B) {
	const total = 256 << 20
	dir := benchTree(b, total)
	b.Run("share", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			b.StopTimer()
			f := writerFeed(b, testStore(b))
			b.StartTimer()
			if _, _, err := Share(context.Background(), f, dir, ShareOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("blake2b", func(b *testing.B) {
		b.SetBytes(total)
		buf := make([]byte, DefaultBlockSize)
		for b.Loop() {
			filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				fh, err := os.Open(p)
				if err != nil {
					return err
				}
				defer fh.Close()
				for {
					n, err := fh.Read(buf)
					if n > 0 {
						blake2b.Sum256(buf[:n])
					}
					if err != nil {
						return nil
					}
				}
			})
		}
	})
}

// BenchmarkReplicaProofBytes transfers a shared 64 MiB folder to a replica
// in process, in batches of 64 blocks (and 1 for contrast), and reports the
// encoded proof bytes per block.
func BenchmarkReplicaProofBytes(b *testing.B) {
	dir := benchTree(b, 64<<20)
	f := writerFeed(b, testStore(b))
	if _, _, err := Share(context.Background(), f, dir, ShareOptions{}); err != nil {
		b.Fatal(err)
	}
	for _, batch := range []uint64{64, 1} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			var sent int
			for b.Loop() {
				b.StopTimer()
				r := replicaFeed(b, testStore(b), f.Key())
				b.StartTimer()
				sent = transfer(b, f, r, 0, f.Length(), batch)
			}
			b.SetBytes(int64(64 << 20))
			b.ReportMetric(float64(sent)/float64(f.Length()), "proofB/block")
		})
	}
}
