package index

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/fxamacker/cbor/v2"

	"indexd/dag"
	"indexd/feedtree"
)

// Entry is the current state of one torrent entry: its put with every
// effective amend applied. A retracted entry is a tombstone: it keeps its
// id, author, times, infohashes and history (put and retracts), and no other
// fields.
type Entry struct {
	ID     dag.ID // hash of the put node
	Index  dag.IndexKey
	Author dag.Identity
	Log    feedtree.Key // the author log the put is in

	// Published is the put node's time; Updated the latest time among the
	// entry's effective amends and retracts (Published when there are none).
	// Both are unix milliseconds, as the writers' clocks gave them.
	Published, Updated int64

	dag.Put // current fields, amends applied

	Retracted bool

	// History lists the put and the effective amends (retracts, for a
	// tombstone), sorted by (Time, Hash). At most MaxHistory revisions are
	// kept: the put and the latest others.
	History []Revision
}

// Revision is one node that shaped an entry.
type Revision struct {
	Hash   dag.ID
	Kind   dag.OpKind
	Time   int64
	Author dag.Identity
}

// MaxHistory bounds Entry.History; an author who amends an entry more often
// than that keeps the put and the latest MaxHistory-1 changes in the
// history (every amend still counts for the fields).
const MaxHistory = 256

// maxEntrySize bounds a stored entry encoding: a put node at its limit plus
// a full history.
const maxEntrySize = dag.MaxNodeSize + MaxHistory*128 + 1024

// cbor modes: RFC 8949 core deterministic encoding, strict decoding (as the
// dag package decodes nodes), and re-encoding on decode to reject anything
// non-canonical.
var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   16,
		MaxArrayElements:  max(dag.MaxFiles, MaxHistory),
		MaxMapPairs:       64,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Wire forms (docs in doc.go). Integer keys; omitempty so the canonical form
// omits zero values.
type wireEntry struct {
	ID        [32]byte       `cbor:"0,keyasint"`
	Index     [32]byte       `cbor:"1,keyasint"`
	Author    [32]byte       `cbor:"2,keyasint"`
	Log       [32]byte       `cbor:"3,keyasint"`
	Published int64          `cbor:"4,keyasint,omitempty"`
	Updated   int64          `cbor:"5,keyasint,omitempty"`
	Put       wirePut        `cbor:"6,keyasint"`
	Retracted bool           `cbor:"7,keyasint,omitempty"`
	History   []wireRevision `cbor:"8,keyasint,omitempty"`
}

type wireRevision struct {
	_      struct{} `cbor:",toarray"`
	Hash   [32]byte
	Kind   uint8
	Time   int64
	Author [32]byte
}

type wireFile struct {
	_    struct{} `cbor:",toarray"`
	Path string
	Size uint64
}

type wireFeedRef struct {
	_      struct{} `cbor:",toarray"`
	Key    [32]byte
	Length uint64
}

// wirePut has the keys of the dag's put encoding.
type wirePut struct {
	InfohashV1  []byte            `cbor:"0,keyasint,omitempty"`
	InfohashV2  []byte            `cbor:"1,keyasint,omitempty"`
	Name        string            `cbor:"2,keyasint,omitempty"`
	Title       string            `cbor:"3,keyasint,omitempty"`
	Description string            `cbor:"4,keyasint,omitempty"`
	Category    uint32            `cbor:"5,keyasint,omitempty"`
	Tags        []string          `cbor:"6,keyasint,omitempty"`
	Size        uint64            `cbor:"7,keyasint,omitempty"`
	Files       []wireFile        `cbor:"8,keyasint,omitempty"`
	Trackers    []string          `cbor:"9,keyasint,omitempty"`
	WebSeeds    []string          `cbor:"10,keyasint,omitempty"`
	Private     bool              `cbor:"11,keyasint,omitempty"`
	Content     *wireFeedRef      `cbor:"12,keyasint,omitempty"`
	Torrent     *wireFeedRef      `cbor:"13,keyasint,omitempty"`
	Meta        map[string]string `cbor:"14,keyasint,omitempty"`
}

// wireAmend has the keys of the dag's amend encoding.
type wireAmend struct {
	Title       *string           `cbor:"0,keyasint,omitempty"`
	Description *string           `cbor:"1,keyasint,omitempty"`
	Category    *uint32           `cbor:"2,keyasint,omitempty"`
	Tags        *[]string         `cbor:"3,keyasint,omitempty"`
	Content     *wireFeedRef      `cbor:"4,keyasint,omitempty"`
	Meta        map[string]string `cbor:"5,keyasint,omitempty"`
}

func refToWire(r *dag.FeedRef) *wireFeedRef {
	if r == nil {
		return nil
	}
	return &wireFeedRef{Key: r.Key.Bytes(), Length: r.Length}
}

func refFromWire(r *wireFeedRef) (*dag.FeedRef, error) {
	if r == nil {
		return nil, nil
	}
	k, err := feedtree.KeyFromBytes(r.Key[:])
	if err != nil {
		return nil, err
	}
	return &dag.FeedRef{Key: k, Length: r.Length}, nil
}

func putToWire(p *dag.Put) wirePut {
	w := wirePut{
		InfohashV1: nilIfEmpty(p.InfohashV1), InfohashV2: nilIfEmpty(p.InfohashV2),
		Name: p.Name, Title: p.Title, Description: p.Description, Category: p.Category,
		Tags: p.Tags, Size: p.Size, Trackers: p.Trackers, WebSeeds: p.WebSeeds, Private: p.Private,
		Content: refToWire(p.Content), Torrent: refToWire(p.Torrent), Meta: p.Meta,
	}
	if len(p.Tags) == 0 {
		w.Tags = nil
	}
	if len(p.Trackers) == 0 {
		w.Trackers = nil
	}
	if len(p.WebSeeds) == 0 {
		w.WebSeeds = nil
	}
	if len(p.Meta) == 0 {
		w.Meta = nil
	}
	if len(p.Files) > 0 {
		w.Files = make([]wireFile, len(p.Files))
		for i, f := range p.Files {
			w.Files[i] = wireFile{Path: f.Path, Size: f.Size}
		}
	}
	return w
}

func putFromWire(w *wirePut) (dag.Put, error) {
	p := dag.Put{
		InfohashV1: w.InfohashV1, InfohashV2: w.InfohashV2,
		Name: w.Name, Title: w.Title, Description: w.Description, Category: w.Category,
		Tags: w.Tags, Size: w.Size, Trackers: w.Trackers, WebSeeds: w.WebSeeds, Private: w.Private,
		Meta: w.Meta,
	}
	if len(w.Files) > 0 {
		p.Files = make([]dag.File, len(w.Files))
		for i, f := range w.Files {
			p.Files[i] = dag.File{Path: f.Path, Size: f.Size}
		}
	}
	var err error
	if p.Content, err = refFromWire(w.Content); err != nil {
		return p, err
	}
	p.Torrent, err = refFromWire(w.Torrent)
	return p, err
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// MarshalBinary returns the canonical CBOR of e: the form the state digest
// hashes and badger stores (doc.go documents it).
func (e *Entry) MarshalBinary() ([]byte, error) {
	w := wireEntry{
		ID: e.ID.Bytes(), Index: e.Index.Bytes(), Author: e.Author.Bytes(), Log: e.Log.Bytes(),
		Published: e.Published, Updated: e.Updated, Put: putToWire(&e.Put), Retracted: e.Retracted,
	}
	if len(e.History) > 0 {
		w.History = make([]wireRevision, len(e.History))
		for i, r := range e.History {
			w.History[i] = wireRevision{Hash: r.Hash.Bytes(), Kind: uint8(r.Kind), Time: r.Time, Author: r.Author.Bytes()}
		}
	}
	b, err := encMode.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("encoding entry: %w", err)
	}
	return b, nil
}

// decodeCanonical decodes b into v strictly and checks that b is the
// canonical encoding of v.
func decodeCanonical(what string, b []byte, v any, limit int) error {
	if len(b) > limit {
		return fmt.Errorf("index: decoding %s: %d bytes, limit %d", what, len(b), limit)
	}
	if err := decMode.Unmarshal(b, v); err != nil {
		return fmt.Errorf("index: decoding %s: %s", what, oneLine(err.Error()))
	}
	re, err := encMode.Marshal(v)
	if err != nil {
		return fmt.Errorf("index: decoding %s: re-encoding: %s", what, oneLine(err.Error()))
	}
	if !bytes.Equal(re, b) {
		return fmt.Errorf("index: decoding %s: not canonical CBOR", what)
	}
	return nil
}

// DecodeEntry decodes what MarshalBinary produced. It rejects non-canonical
// or oversized input and never panics.
func DecodeEntry(b []byte) (*Entry, error) {
	var w wireEntry
	if err := decodeCanonical("entry", b, &w, maxEntrySize); err != nil {
		return nil, err
	}
	return entryFromWire(&w)
}

// entryFromWire checks and converts a decoded entry.
func entryFromWire(w *wireEntry) (*Entry, error) {
	e := &Entry{
		ID: dag.IDFromBytes(w.ID), Index: dag.IndexKeyFromBytes(w.Index), Author: dag.IdentityFromBytes(w.Author),
		Published: w.Published, Updated: w.Updated, Retracted: w.Retracted,
	}
	var err error
	if e.Log, err = feedtree.KeyFromBytes(w.Log[:]); err != nil {
		return nil, fmt.Errorf("index: decoding entry: %s", oneLine(err.Error()))
	}
	if e.Put, err = putFromWire(&w.Put); err != nil {
		return nil, fmt.Errorf("index: decoding entry: %s", oneLine(err.Error()))
	}
	if len(w.History) > MaxHistory {
		return nil, fmt.Errorf("index: decoding entry: %d revisions, limit %d", len(w.History), MaxHistory)
	}
	if len(w.History) > 0 {
		e.History = make([]Revision, len(w.History))
		for i, r := range w.History {
			e.History[i] = Revision{Hash: dag.IDFromBytes(r.Hash), Kind: dag.OpKind(r.Kind), Time: r.Time, Author: dag.IdentityFromBytes(r.Author)}
		}
	}
	return e, nil
}

// revLess orders revisions and amends by (Time, Hash).
func revCmp(at int64, ah dag.ID, bt int64, bh dag.ID) int {
	if at != bt {
		if at < bt {
			return -1
		}
		return 1
	}
	a, b := ah.Bytes(), bh.Bytes()
	return bytes.Compare(a[:], b[:])
}

// addHistory inserts r into h in (Time, Hash) order, keeping the put and
// at most MaxHistory-1 other revisions (the latest). It is a no-op when r is
// already there.
func addHistory(h []Revision, r Revision) []Revision {
	i, found := slices.BinarySearchFunc(h, r, func(a, b Revision) int { return revCmp(a.Time, a.Hash, b.Time, b.Hash) })
	if found {
		return h
	}
	h = slices.Insert(h, i, r)
	if len(h) > MaxHistory {
		// Drop the oldest revision that is not the put.
		for j := range h {
			if h[j].Kind != dag.OpPut {
				h = slices.Delete(h, j, j+1)
				break
			}
		}
	}
	return h
}
