package node

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestTrimMappedKeepsData writes through a shared and a private file
// mapping and through anonymous memory, trims, and checks that nothing
// written is lost, through the mappings and through the file.
func TestTrimMappedKeepsData(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const size = 1 << 20
	open := func(name string) *os.File {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	shared, err := syscall.Mmap(int(open("shared").Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(shared)
	private, err := syscall.Mmap(int(open("private").Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(private)
	anon, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(anon)
	want := bytes.Repeat([]byte("indexd"), size/6)
	copy(shared, want)
	copy(private, want)
	copy(anon, want)

	if got := trimMapped(dir); got < size {
		t.Errorf("trimMapped(%q) covered %d bytes; want at least %d", dir, got, size)
	}
	if !bytes.Equal(shared[:len(want)], want) {
		t.Error("shared mapping lost data after trimMapped")
	}
	if !bytes.Equal(private[:len(want)], want) {
		t.Error("private mapping lost data after trimMapped")
	}
	if !bytes.Equal(anon[:len(want)], want) {
		t.Error("anonymous memory lost data after trimMapped")
	}
	onDisk, err := os.ReadFile(filepath.Join(dir, "shared"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk[:len(want)], want) {
		t.Error("file behind the shared mapping lost data after trimMapped")
	}
	if got := trimMapped(filepath.Join(dir, "elsewhere")); got != 0 {
		t.Errorf("trimMapped of another directory covered %d bytes; want 0", got)
	}
}
