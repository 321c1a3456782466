package node

import (
	"runtime/debug"
	"sync"
)

// The Go collector's settings are one per process, and two kinds of bulk
// work want them changed while they run: an import holds the heap under a
// soft limit (the node is sized to import a million entries in 512 MiB),
// and a catch-up from peers trades memory for CPU. gcMode counts both and
// applies one setting: imports first, then catch-ups, else the user's own
// (GOGC, GOMEMLIMIT as the process started).
//
// Dear future: why a catch-up collects less often. A fresh follower's live
// heap is 150–300 MiB (the DAG's and index's caches of what was just
// applied, 1,000 logs' state, bleve's batches); at GOGC=100 the collector
// (marking, assists, sweeping) took ~11 % of its CPU samples. At GOGC=400
// under a 1 GiB soft limit the heap peaks near that limit and the catch-up
// to searchable takes ~13 % less CPU (BENCHMARKS.md, "Catch-up and live
// through whole nodes"). It is memory bought for CPU, not less work: an
// import given the same setting gains as much, but an import is held to
// the 512 MiB the node is sized for, and a catch-up is a one-off.
type gcMode struct {
	mu        sync.Mutex
	imports   int
	catchUps  int
	entered   int // times a catch-up mode began (for tests)
	read      bool
	userPct   int
	userLimit int64
	cuLimit   int64 // the catch-up's soft limit on this machine
}

var gcm gcMode

const (
	// importMemoryLimit is the Go soft memory limit during a bulk import.
	// At 320 MiB the collector ran so often that marking was 6 % of a 1M
	// import's CPU; at 448 MiB it is 4.4 % and the import 6 % faster, its
	// anonymous RSS peaking at 404 MiB, inside the 512 MiB the node is
	// sized for.
	importMemoryLimit = 448 << 20
	// catchUpGCPercent and catchUpMemoryLimit are the collector's settings
	// while a catch-up from peers runs (see gcMode); on a machine with
	// less than 4 GiB of RAM the limit is a quarter of it.
	catchUpGCPercent   = 400
	catchUpMemoryLimit = 1 << 30
)

// catchUpLimit is catchUpMemoryLimit, or a quarter of ram if that is
// less (ram 0: unknown).
func catchUpLimit(ram uint64) int64 {
	if ram > 0 && ram/4 < catchUpMemoryLimit {
		return int64(ram / 4)
	}
	return catchUpMemoryLimit
}

// state reports the bulk work counted and how many catch-up modes began.
func (m *gcMode) state() (imports, catchUps, entered int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.imports, m.catchUps, m.entered
}

// gcSettings is what the collector should run with, given the bulk work
// running and the user's settings (pct < 0: GOGC=off).
func gcSettings(imports, catchUps, userPct int, userLimit, catchUpLimit int64) (pct int, limit int64) {
	pct, limit = userPct, userLimit
	switch {
	case imports > 0:
		limit = min(limit, importMemoryLimit)
	case catchUps > 0:
		if pct >= 0 {
			pct = max(pct, catchUpGCPercent)
		}
		limit = min(limit, catchUpLimit)
	}
	return pct, limit
}

// change adds di imports and dc catch-ups (±1) and applies the result.
func (m *gcMode) change(di, dc int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.read {
		// Reading the percentage means setting it; the limit reads with a
		// negative argument.
		m.userPct = debug.SetGCPercent(100)
		debug.SetGCPercent(m.userPct)
		m.userLimit = debug.SetMemoryLimit(-1)
		m.cuLimit = catchUpLimit(physicalMemory())
		m.read = true
	}
	m.imports += di
	if m.catchUps == 0 && dc > 0 {
		m.entered++
	}
	m.catchUps += dc
	pct, limit := gcSettings(m.imports, m.catchUps, m.userPct, m.userLimit, m.cuLimit)
	debug.SetGCPercent(pct)
	debug.SetMemoryLimit(limit)
}
