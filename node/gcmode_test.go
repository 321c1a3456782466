package node

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestGCSettings(t *testing.T) {
	const noLimit = math.MaxInt64
	for _, c := range []struct {
		ram  uint64
		want int64
	}{
		{0, catchUpMemoryLimit},
		{24 << 30, catchUpMemoryLimit},
		{4 << 30, catchUpMemoryLimit},
		{2 << 30, 512 << 20},
	} {
		if got := catchUpLimit(c.ram); got != c.want {
			t.Errorf("catchUpLimit(%d) = %d; want %d", c.ram, got, c.want)
		}
	}
	for _, c := range []struct {
		name              string
		imports, catchUps int
		userPct           int
		userLimit         int64
		pct               int
		limit             int64
	}{
		{"idle keeps the user's", 0, 0, 100, noLimit, 100, noLimit},
		{"idle keeps GOGC=off", 0, 0, -1, 300 << 20, -1, 300 << 20},
		{"import: soft limit", 1, 0, 100, noLimit, 100, importMemoryLimit},
		{"import: a lower user limit stays", 2, 0, 100, 256 << 20, 100, 256 << 20},
		{"catch-up: collect less often, under a limit", 0, 1, 100, noLimit, catchUpGCPercent, catchUpMemoryLimit},
		{"catch-up: a higher user GOGC stays", 0, 3, 800, noLimit, 800, catchUpMemoryLimit},
		{"catch-up: GOGC=off stays", 0, 1, -1, noLimit, -1, catchUpMemoryLimit},
		{"catch-up: a lower user limit stays", 0, 1, 100, 200 << 20, catchUpGCPercent, 200 << 20},
		{"import and catch-up: the import's", 1, 1, 100, noLimit, 100, importMemoryLimit},
	} {
		pct, limit := gcSettings(c.imports, c.catchUps, c.userPct, c.userLimit, catchUpMemoryLimit)
		if pct != c.pct || limit != c.limit {
			t.Errorf("%s: gcSettings = %d, %d; want %d, %d", c.name, pct, limit, c.pct, c.limit)
		}
	}
}

// TestGCModeRestores: nested imports and catch-ups apply the right setting
// at each step and leave the process's own settings behind.
func TestGCModeRestores(t *testing.T) {
	var m gcMode
	userPct := debug.SetGCPercent(100)
	debug.SetGCPercent(userPct)
	userLimit := debug.SetMemoryLimit(-1)
	current := func() (int, int64) {
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		return p, debug.SetMemoryLimit(-1)
	}
	check := func(what string, imports, catchUps int) {
		t.Helper()
		wp, wl := gcSettings(imports, catchUps, userPct, userLimit, catchUpLimit(physicalMemory()))
		if p, l := current(); p != wp || l != wl {
			t.Errorf("%s: GOGC %d, limit %d; want %d, %d", what, p, l, wp, wl)
		}
	}
	m.change(0, 1)
	check("one catch-up", 0, 1)
	m.change(1, 0)
	check("catch-up and import", 1, 1)
	m.change(0, 1)
	check("two catch-ups and an import", 1, 2)
	m.change(-1, 0)
	check("two catch-ups", 0, 2)
	m.change(0, -1)
	m.change(0, -1)
	if p, l := current(); p != userPct || l != userLimit {
		t.Errorf("after all ended: GOGC %d, limit %d; want the process's %d, %d", p, l, userPct, userLimit)
	}
}
