package content

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"indexd/feedtree"
)

// ExtractOptions tunes Extract. The zero value means defaults.
type ExtractOptions struct {
	// Only lists the paths to extract. Default: every file.
	Only []string
	// Fetch makes missing blocks present (a sparse replica downloading
	// them). Default: nil, and a missing block fails the extraction with an
	// error wrapping feedtree.ErrNotFound.
	Fetch FetchFunc
	// Progress, if set, is called after each block written with the bytes
	// written so far and the total to write. Default: nil.
	Progress func(done, total uint64)
}

// Extract writes the files of m (read from f) under outdir, creating it if
// needed. Before it writes anything it checks every path: a path that is
// not safe (CheckPath), or an existing component under outdir that is a
// symbolic link or not a folder, refuses the whole extraction with an
// error wrapping ErrUnsafePath. Files are opened under an os.Root with
// O_NOFOLLOW, written to a temporary name in their folder and renamed into
// place once complete and checked (length of every block, and SHA-256 when
// the manifest has one), so an interrupted extraction leaves no partial
// file under a final name. The temporary file is locked (flock) while it
// is written; a later Extract into the same folder removes the temporary
// files whose writer died (no lock held), so a killed extraction leaves
// nothing behind once it is run again. A file already present with the
// manifest's size and SHA-256 is left alone; any other file under a final
// name is replaced. Blocks already held by f are not fetched again, which
// makes a second run a resume.
func Extract(ctx context.Context, f *feedtree.Feed, m *Manifest, outdir string, opts ExtractOptions) error {
	if err := m.check(); err != nil {
		return fmt.Errorf("extracting: %w", err)
	}
	files := m.Files
	if len(opts.Only) > 0 {
		files = make([]File, 0, len(opts.Only))
		for _, p := range opts.Only {
			file := m.File(p)
			if file == nil {
				return fmt.Errorf("extracting: %w: %q", ErrNoFile, p)
			}
			files = append(files, *file)
		}
	}
	if err := os.MkdirAll(outdir, 0o755); err != nil {
		return fmt.Errorf("extracting: %w", err)
	}
	root, err := os.OpenRoot(outdir)
	if err != nil {
		return fmt.Errorf("extracting: %w", err)
	}
	defer root.Close()
	var total uint64
	for i := range files {
		if err := checkTarget(root, files[i].Path); err != nil {
			return fmt.Errorf("extracting into %s: %w", outdir, err)
		}
		total += files[i].Size
	}
	x := extractor{f: f, bs: m.BlockSize, root: root, opts: opts, total: total, cleaned: map[string]bool{}}
	for i := range files {
		if err := x.file(ctx, &files[i]); err != nil {
			return fmt.Errorf("extracting %s: %w", files[i].Path, err)
		}
	}
	return nil
}

// checkTarget refuses p if writing it under root would go through or
// replace a symbolic link, or needs a folder where a non-folder is.
func checkTarget(root *os.Root, p string) error {
	if err := CheckPath(p); err != nil {
		return err
	}
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		fi, err := root.Lstat(p[:i])
		if errors.Is(err, fs.ErrNotExist) {
			return nil // nothing deeper exists either
		}
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%w: %q is a symbolic link", ErrUnsafePath, p[:i])
		case i < len(p) && !fi.IsDir():
			return fmt.Errorf("%w: %q is not a folder", ErrUnsafePath, p[:i])
		case i == len(p) && !fi.Mode().IsRegular():
			return fmt.Errorf("%w: %q exists and is not a regular file", ErrUnsafePath, p)
		}
	}
	return nil
}

type extractor struct {
	f           *feedtree.Feed
	bs          uint64
	root        *os.Root
	opts        ExtractOptions
	done, total uint64
	cleaned     map[string]bool // folders already rid of stale temporary files
}

// Temporary files are named tmpPrefix + 16 random hex digits + tmpSuffix.
const (
	tmpPrefix = ".indexd-"
	tmpSuffix = ".part"
)

// maxTmpAttempts bounds the temporary names tried for one file (another
// Extract may remove a name it takes for stale in the instant between our
// create and our lock; see createTmp).
const maxTmpAttempts = 4

func (x *extractor) file(ctx context.Context, file *File) error {
	if x.present(file) {
		x.done += file.Size
		if x.opts.Progress != nil {
			x.opts.Progress(x.done, x.total)
		}
		return nil
	}
	if x.opts.Fetch != nil {
		for _, r := range file.Blocks {
			if err := fetchMissing(ctx, x.f, r.Start, r.End, x.opts.Fetch); err != nil {
				return fmt.Errorf("fetching blocks [%d, %d): %w", r.Start, r.End, err)
			}
		}
	}
	dir := path.Dir(file.Path)
	if dir != "." {
		if err := x.root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if !x.cleaned[dir] {
		x.cleaned[dir] = true
		x.removeStale(dir)
	}
	out, tmp, err := x.createTmp(dir)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			out.Close()
			x.root.Remove(tmp)
		}
	}()
	h := sha256.New()
	n := blocksFor(file.Size, x.bs)
	for k := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		i, _ := blockAt(file.Blocks, k)
		b, err := getBlock(ctx, x.f, i, i+1, x.opts.Fetch)
		if err != nil {
			return fmt.Errorf("reading block %d: %w", i, err)
		}
		if want := blockLen(file.Size, x.bs, k); uint64(len(b)) != want {
			return fmt.Errorf("%w: block %d is %d bytes, want %d", ErrCorrupt, i, len(b), want)
		}
		h.Write(b)
		if _, err := out.Write(b); err != nil {
			return err
		}
		x.done += uint64(len(b))
		if x.opts.Progress != nil {
			x.opts.Progress(x.done, x.total)
		}
	}
	if len(file.SHA256) == 32 && !bytes.Equal(h.Sum(nil), file.SHA256) {
		return fmt.Errorf("%w: SHA-256 differs", ErrCorrupt)
	}
	if err := out.Chmod(fs.FileMode(file.Mode)); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := x.root.Rename(tmp, file.Path); err != nil {
		return err
	}
	ok = true
	return nil
}

// createTmp creates a new temporary file in dir and locks it, so that
// removeStale in another Extract leaves it alone while it is written. The
// lock is released when the file is closed (or its writer dies).
func (x *extractor) createTmp(dir string) (*os.File, string, error) {
	for range maxTmpAttempts {
		var rnd [8]byte
		rand.Read(rnd[:])
		tmp := path.Join(dir, tmpPrefix+hex.EncodeToString(rnd[:])+tmpSuffix)
		out, err := x.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return nil, "", err
		}
		if err := syscall.Flock(int(out.Fd()), syscall.LOCK_EX); err != nil {
			out.Close()
			x.root.Remove(tmp)
			return nil, "", fmt.Errorf("locking %s: %w", tmp, err)
		}
		// Between our create and our lock another Extract may have found
		// the file unlocked and removed the name: then start again.
		got, err1 := out.Stat()
		named, err2 := x.root.Lstat(tmp)
		if err1 == nil && err2 == nil && os.SameFile(got, named) {
			return out, tmp, nil
		}
		out.Close()
	}
	return nil, "", fmt.Errorf("creating a temporary file in %q: removed %d times under us", dir, maxTmpAttempts)
}

// removeStale removes the temporary files in dir that an earlier,
// interrupted Extract left: those whose lock nobody holds. It only ever
// unlinks names of the temporary-file pattern; it never writes to them.
// Errors are ignored: a leftover costs space, not correctness.
func (x *extractor) removeStale(dir string) {
	d, err := x.root.Open(dir)
	if err != nil {
		return
	}
	ents, _ := d.ReadDir(-1)
	d.Close()
	for _, e := range ents {
		name := e.Name()
		if len(name) != len(tmpPrefix)+16+len(tmpSuffix) || !strings.HasPrefix(name, tmpPrefix) || !strings.HasSuffix(name, tmpSuffix) {
			continue
		}
		p := path.Join(dir, name)
		if !e.Type().IsRegular() {
			if e.Type()&fs.ModeSymlink != 0 {
				x.root.Remove(p) // not ours, but it is in our name space
			}
			continue
		}
		in, err := x.root.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			continue
		}
		if syscall.Flock(int(in.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			x.root.Remove(p) // its writer is gone
		}
		in.Close()
	}
}

// present reports whether file is already in place with the right size and
// SHA-256 (only checked when the manifest has one).
func (x *extractor) present(file *File) bool {
	if len(file.SHA256) != 32 {
		return false
	}
	in, err := x.root.OpenFile(file.Path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return false
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil || !fi.Mode().IsRegular() || uint64(fi.Size()) != file.Size || uint32(fi.Mode().Perm()) != file.Mode {
		return false
	}
	h := sha256.New()
	if _, err := io.Copy(h, in); err != nil {
		return false
	}
	return bytes.Equal(h.Sum(nil), file.SHA256)
}

// blockLen returns the length block k of a file of size bytes must have.
func blockLen(size, bs, k uint64) uint64 {
	if (k+1)*bs <= size {
		return bs
	}
	return size - k*bs
}
