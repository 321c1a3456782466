package node

import (
	"path/filepath"
	"time"
)

// trimInterval is how often the node checks its file-backed resident
// memory (see trim_linux.go). Merges and compactions touch hundreds of MiB
// within seconds, so the interval is short; a check reads one line of
// /proc/self/statm.
const trimInterval = 200 * time.Millisecond

// trimAbove is the file-backed resident memory of the process above which
// the node trims the mappings of its data files.
const trimAbove = 64 << 20

// trimMappedFiles (run when Options.TrimDuringImport is set) trims the
// mapped data files of the node while a bulk write (Import) runs and the
// process's file-backed resident memory exceeds trimAbove, until n.closed is closed; done is closed when it
// returns. It does not trim otherwise: the pages it reclaims are read back
// from disk, and a search over a reclaimed index took 140 ms instead of
// 6 ms at 1M entries.
func (n *Node) trimMappedFiles(done chan<- struct{}) {
	defer close(done)
	dir, err := filepath.Abs(n.dir)
	if err != nil {
		return
	}
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	t := time.NewTicker(trimInterval)
	defer t.Stop()
	for {
		select {
		case <-n.closed:
			return
		case <-t.C:
			if n.bulkWrites.Load() > 0 && residentShared() > trimAbove {
				trimMapped(dir)
			}
		}
	}
}
