package node

import (
	"io/fs"
	"path/filepath"
)

// Disk is what the data directory takes on disk, in bytes.
type Disk struct {
	Store  uint64 `json:"store_bytes"`  // badger: DAG, feeds, entries, settings
	Search uint64 `json:"search_bytes"` // bleve: the search index, rebuildable
	Total  uint64 `json:"total_bytes"`  // the whole directory
}

// diskUsage adds up what the files under dir take on disk (blocks
// allocated where the system says, so a preallocated or sparse file
// counts what it holds, as du does).
func diskUsage(dir string) uint64 {
	var total uint64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil // a file gone mid-walk (a merge, a compaction) counts nothing
		}
		if info, err := d.Info(); err == nil {
			total += uint64(allocated(info))
		}
		return nil
	})
	return total
}

// diskOf measures the data directory dir.
func diskOf(dir string) Disk {
	return Disk{Store: diskUsage(filepath.Join(dir, "db")), Search: diskUsage(filepath.Join(dir, "search")), Total: diskUsage(dir)}
}
