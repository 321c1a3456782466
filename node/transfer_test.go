package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

// TestImportStopsOnCancel checks that a cancelled import stops after the
// batch in flight instead of running through the whole file.
func TestImportStopsOnCancel(t *testing.T) {
	n := openBare(t)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := range 3 * importBatch {
		v := EntryView{Name: fmt.Sprint("entry ", i), Title: fmt.Sprint("Entry ", i), Size: 1,
			InfohashV1: fmt.Sprintf("%040x", i+1), Category: 8000}
		if err := enc.Encode(&v); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done, err := n.Import(ctx, &buf, "", func(int) { cancel() })
	if !errors.Is(err, context.Canceled) || done != importBatch {
		t.Errorf("Import cancelled after the first batch = %d, %v; want %d, %v", done, err, importBatch, context.Canceled)
	}
}

// TestImportTrimming imports with TrimDuringImport set and checks the
// entries are all there after a reopen.
func TestImportTrimming(t *testing.T) {
	dir := t.TempDir()
	if _, err := Init(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	n, err := Open(context.Background(), Options{Dir: dir, TrimDuringImport: true})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := range importBatch + 10 {
		v := EntryView{Name: fmt.Sprint("entry ", i), Title: fmt.Sprint("Entry ", i), Size: 1,
			InfohashV1: fmt.Sprintf("%040x", i+1), Category: 8000}
		if err := enc.Encode(&v); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := n.Import(context.Background(), &buf, "", nil); err != nil || got != importBatch+10 {
		t.Fatalf("Import = %d, %v; want %d, nil", got, err, importBatch+10)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n, err = Open(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	r, err := n.Search(context.Background(), SearchRequest{Query: "entry"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Total != importBatch+10 {
		t.Errorf("after reopening, search found %d entries; want %d", r.Total, importBatch+10)
	}
}
