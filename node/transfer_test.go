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
