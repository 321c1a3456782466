package main

import (
	"encoding/json"
	"testing"
)

// TestBenchSyncTwoProcesses runs `indexd bench sync` on a few hundred
// entries: A's daemon in its own process, B following it, every figure of
// the report filled in (the bench itself fails if the digests differ or a
// live entry does not arrive).
func TestBenchSyncTwoProcesses(t *testing.T) {
	out := mustBin(t, "bench", "sync", "-n", "300", "--json", "--dir", t.TempDir())
	var rep syncReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	if rep.Entries != 300 || rep.Authors != 1000 || rep.SourceSeconds <= 0 || rep.ImportSeconds <= 0 || rep.StoredSeconds <= 0 || rep.EntriesSeconds < rep.StoredSeconds ||
		rep.SearchSeconds <= 0 || rep.RatioToImport <= 0 || rep.LivePublishes != livePublishes ||
		rep.LiveP50ms <= 0 || rep.LiveP99ms < rep.LiveP50ms || rep.PeakRSSBytes <= 0 || rep.SourcePeakRSS <= 0 {
		t.Errorf("incomplete report: %+v", rep)
	}
}
