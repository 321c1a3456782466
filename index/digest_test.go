package index

import (
	"fmt"
	"reflect"
	"testing"

	"golang.org/x/crypto/blake2b"

	"github.com/dgraph-io/badger/v4"

	"indexd/dag"
	"indexd/feedtree"
)

func fullEntry() *Entry {
	key := func(b byte) feedtree.Key {
		k, err := feedtree.KeyFromBytes(append(make([]byte, 31), b))
		if err != nil {
			panic(err)
		}
		return k
	}
	return &Entry{
		ID: dag.IDFromBytes([32]byte{1}), Index: dag.IndexKeyFromBytes([32]byte{2}),
		Author: dag.IdentityFromBytes([32]byte{3}), Log: key(4),
		Published: 1700000000000, Updated: 1700000000500,
		Put: dag.Put{
			InfohashV1: make([]byte, 20), InfohashV2: make([]byte, 32),
			Name: "n", Title: "t", Description: "d", Category: 2040, Tags: []string{"a", "b"},
			Size: 10, Files: []dag.File{{Path: "n/a", Size: 4}, {Path: "n/b", Size: 6}},
			Trackers: []string{"udp://t"}, WebSeeds: []string{"http://w/"}, Private: true,
			Content: &dag.FeedRef{Key: key(5), Length: 7}, Torrent: &dag.FeedRef{Key: key(6), Length: 8},
			Meta: map[string]string{"imdb": "tt1", "year": "1999"},
		},
		History: []Revision{
			{Hash: dag.IDFromBytes([32]byte{1}), Kind: dag.OpPut, Time: 1700000000000, Author: dag.IdentityFromBytes([32]byte{3})},
			{Hash: dag.IDFromBytes([32]byte{7}), Kind: dag.OpAmend, Time: 1700000000500, Author: dag.IdentityFromBytes([32]byte{3})},
		},
	}
}

// mutations change one field each. Their names are the field names, so
// TestDigestCoversEveryField can check that no field is forgotten.
var mutations = map[string]func(e *Entry){
	"ID":           func(e *Entry) { e.ID = dag.IDFromBytes([32]byte{9}) },
	"Index":        func(e *Entry) { e.Index = dag.IndexKeyFromBytes([32]byte{9}) },
	"Author":       func(e *Entry) { e.Author = dag.IdentityFromBytes([32]byte{9}) },
	"Log":          func(e *Entry) { e.Log, _ = feedtree.KeyFromBytes(append(make([]byte, 31), 9)) },
	"Published":    func(e *Entry) { e.Published++ },
	"Updated":      func(e *Entry) { e.Updated++ },
	"InfohashV1":   func(e *Entry) { e.InfohashV1 = append(make([]byte, 19), 1) },
	"InfohashV2":   func(e *Entry) { e.InfohashV2 = nil },
	"Name":         func(e *Entry) { e.Name = "N" },
	"Title":        func(e *Entry) { e.Title = "" },
	"Description":  func(e *Entry) { e.Description = "d " },
	"Category":     func(e *Entry) { e.Category = 2045 },
	"Tags":         func(e *Entry) { e.Tags = []string{"b", "a"} },
	"Size":         func(e *Entry) { e.Size = 11 },
	"Files":        func(e *Entry) { e.Files[1].Size = 5 },
	"Files.Path":   func(e *Entry) { e.Files[0].Path = "n/A" },
	"Trackers":     func(e *Entry) { e.Trackers = append(e.Trackers, "udp://u") },
	"WebSeeds":     func(e *Entry) { e.WebSeeds = nil },
	"Private":      func(e *Entry) { e.Private = false },
	"Content":      func(e *Entry) { e.Content = &dag.FeedRef{Key: e.Content.Key, Length: 8} },
	"Torrent":      func(e *Entry) { e.Torrent = nil },
	"Meta":         func(e *Entry) { e.Meta["year"] = "2000" },
	"Meta.key":     func(e *Entry) { delete(e.Meta, "imdb") },
	"Retracted":    func(e *Entry) { e.Retracted = true },
	"History":      func(e *Entry) { e.History = append(e.History, e.History[1]) },
	"History.Time": func(e *Entry) { e.History[1].Time++ },
	"History.Kind": func(e *Entry) {
		e.History[1].Kind = dag.OpRetract
	},
	"History.Author": func(e *Entry) { e.History[1].Author = dag.IdentityFromBytes([32]byte{8}) },
	"History.Hash":   func(e *Entry) { e.History[1].Hash = dag.IDFromBytes([32]byte{8}) },
	"History.len":    func(e *Entry) { e.History = e.History[:1] },
}

var (
	digestDB *badger.DB
	digestN  int
)

// digestOf writes entries as the state of a fresh index and returns its
// Digest, so the real Digest is what is tested.
func digestOf(t *testing.T, es ...*Entry) [32]byte {
	t.Helper()
	if digestDB == nil {
		digestDB = openDB(t)
		t.Cleanup(func() { digestDB = nil })
	}
	db := digestDB
	digestN++
	x := &Index{db: db, k: keys{prefix: fmt.Appendf(nil, "t%d/", digestN)}}
	idx := dag.IndexKeyFromBytes([32]byte{2})
	err := db.Update(func(txn *badger.Txn) error {
		for _, e := range es {
			b, err := e.MarshalBinary()
			if err != nil {
				return err
			}
			if err := txn.Set(x.k.entry(idx, e.ID), entryValue(uint64(len(es)), b)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := x.Digest(idx)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDigest(t *testing.T) {
	if got, want := digestOf(t), blake2b.Sum256([]byte{0x80}); got != want {
		t.Errorf("digest of no entries = %x; want BLAKE2b-256 of the empty CBOR array %x", got, want)
	}
	base := digestOf(t, fullEntry())
	if again := digestOf(t, fullEntry()); again != base {
		t.Fatal("equal states hash differently")
	}
	// A round trip through the stored form changes nothing.
	b, _ := fullEntry().MarshalBinary()
	e, err := DecodeEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	if digestOf(t, e) != base {
		t.Error("decode/encode changed the digest")
	}
	for name, mut := range mutations {
		e := fullEntry()
		mut(e)
		if digestOf(t, e) == base {
			t.Errorf("changing %s does not change the digest", name)
		}
	}
	// Two entries: order in the digest is by id, whatever the write order.
	e2 := fullEntry()
	e2.ID = dag.IDFromBytes([32]byte{0})
	if digestOf(t, fullEntry(), e2) != digestOf(t, e2, fullEntry()) {
		t.Error("digest depends on write order")
	}
	if digestOf(t, fullEntry(), e2) == base {
		t.Error("adding an entry does not change the digest")
	}
}

// TestDigestCoversEveryField fails when Entry or dag.Put gains a field that
// the entry encoding (and so the digest) may not carry: add it to the wire
// form, to mutations, and bump schemaVersion.
func TestDigestCoversEveryField(t *testing.T) {
	check := func(typ reflect.Type, prefix string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if f.Anonymous {
				continue
			}
			if _, ok := mutations[prefix+f.Name]; !ok {
				t.Errorf("%s.%s has no digest mutation", typ.Name(), f.Name)
			}
		}
	}
	check(reflect.TypeFor[Entry](), "")
	check(reflect.TypeFor[dag.Put](), "")
	check(reflect.TypeFor[Revision](), "History.")
	if n := reflect.TypeFor[dag.Put]().NumField(); n != 15 {
		t.Errorf("dag.Put has %d fields; the entry wire form knows 15", n)
	}
	if n := reflect.TypeFor[dag.Amend]().NumField(); n != 6 {
		t.Errorf("dag.Amend has %d fields; the index applies 6", n)
	}
}
