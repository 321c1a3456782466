package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"indexd/dag"
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

// TestImportAsAuthors checks that ImportAs signs the entries by the
// authors in turns of run entries, carrying the turn across batches, and
// that every entry is searchable after.
func TestImportAsAuthors(t *testing.T) {
	n := openBare(t)
	authors := make([]dag.Author, 3)
	for i := range authors {
		var err error
		if authors[i], err = dag.GenerateAuthor(nil); err != nil {
			t.Fatal(err)
		}
	}
	const run, total = 3, importBatch + 7 // a batch of 2,000 ends inside a turn
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := range total {
		v := EntryView{Name: fmt.Sprint("entry ", i), Title: fmt.Sprint("Entry ", i), Size: 1,
			InfohashV1: fmt.Sprintf("%040x", i+1), Category: 8000}
		if err := enc.Encode(&v); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if _, err := n.ImportAs(ctx, &buf, "", nil, run, nil); !errors.Is(err, ErrBadRequest) {
		t.Errorf("ImportAs without authors = %v; want ErrBadRequest", err)
	}
	if got, err := n.ImportAs(ctx, &buf, "", authors, run, nil); err != nil || got != total {
		t.Fatalf("ImportAs = %d, %v; want %d, nil", got, err, total)
	}
	var out bytes.Buffer
	if _, err := n.Export(ctx, &out, ""); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&out)
	seen := 0
	for dec.More() {
		var v EntryView
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		var i int
		if _, err := fmt.Sscanf(v.Name, "entry %d", &i); err != nil {
			t.Fatalf("exported name %q: %v", v.Name, err)
		}
		if want := authors[i/run%len(authors)].Identity.Public().String(); v.Author != want {
			t.Errorf("entry %d signed by %s; want %s", i, v.Author, want)
		}
		seen++
	}
	if seen != total {
		t.Errorf("exported %d entries; want %d", seen, total)
	}
	r, err := n.Search(ctx, SearchRequest{Query: "entry"})
	if err != nil || r.Total != total {
		t.Errorf("search found %v, %v; want %d", r, err, total)
	}
}

// TestImportTwice: importing what this node published in the index
// already adds nothing, a second import of a backup included, and a
// line repeated within the file counts once; the count says what was
// added.
func TestImportTwice(t *testing.T) {
	ctx := context.Background()
	n := openOfflineNode(t)
	publishMagnet(t, n, "", "magnet:?xt=urn:btih:"+strings.Repeat("03", 20)+"&dn=already.here")
	lines := strings.Join([]string{
		`{"title":"dup one","name":"dup.one","infohash_v1":"` + strings.Repeat("01", 20) + `"}`,
		`{"title":"dup one again","name":"dup.one","infohash_v1":"` + strings.Repeat("01", 20) + `"}`,
		`{"title":"dup two","name":"dup.two","infohash_v1":"` + strings.Repeat("02", 20) + `"}`,
		`{"title":"already","name":"already.here","infohash_v1":"` + strings.Repeat("03", 20) + `"}`,
	}, "\n")
	for i, want := range []int{2, 0} {
		got, err := n.Import(ctx, strings.NewReader(lines), "", nil)
		if err != nil || got != want {
			t.Fatalf("import %d: %d, %v; want %d added", i+1, got, err, want)
		}
	}
	if st, err := n.Status(ctx); err != nil || st.Indexes[0].Entries != 3 {
		t.Errorf("status %+v, %v; want 3 entries", st, err)
	}
}
