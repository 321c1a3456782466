package dag

import (
	"fmt"
	"unicode/utf8"

	"indexd/feedtree"
)

// Link names a node: the log that holds it, its seq (block index) in that
// log, and the hash it must have. A link is satisfied only by an applied node
// with exactly that hash.
type Link struct {
	Log  feedtree.Key
	Seq  uint64
	Hash ID
}

// Node is one DAG node, block Seq (≥ 1) of author log Log of index Index.
// Block 0 of every log is its Cert. Links[0] is node Seq-1 of the same log
// when Seq ≥ 2; the other links are (at most one per log) heads of the index
// the writer had applied. Time is the writer's clock in unix milliseconds,
// informative only (it orders concurrent amends, never validity).
type Node struct {
	Index IndexKey
	Log   feedtree.Key
	Seq   uint64
	Links []Link
	Time  int64
	Op    Op
}

// OpKind says what a node does.
type OpKind uint8

// Op kinds. The numbers are wire values.
const (
	OpPut       OpKind = 1 // a new entry; its id is the node's ID
	OpAmend     OpKind = 2 // change fields of an entry the same identity put
	OpRetract   OpKind = 3 // withdraw an entry
	OpGrant     OpKind = 4 // allowlist: the creator grants Member
	OpRevoke    OpKind = 5 // allowlist: the creator revokes Member
	OpForkProof OpKind = 6 // evidence that a log equivocated
)

// String returns the lower-case op name ("put", "fork-proof", ...).
func (k OpKind) String() string {
	switch k {
	case OpPut:
		return "put"
	case OpAmend:
		return "amend"
	case OpRetract:
		return "retract"
	case OpGrant:
		return "grant"
	case OpRevoke:
		return "revoke"
	case OpForkProof:
		return "fork-proof"
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// Op is a node's operation. Exactly the fields of its Kind are set:
// Put for OpPut; Amend and Target for OpAmend; Target for OpRetract; Member
// for OpGrant and OpRevoke; ForkProof for OpForkProof.
type Op struct {
	Kind      OpKind
	Put       *Put
	Amend     *Amend
	Target    ID       // amend, retract: the entry id (hash of its put node)
	Member    Identity // grant, revoke
	ForkProof *ForkProofOp
}

// File is one file of a torrent: its path ("dir/sub/name", '/'-separated)
// and size in bytes.
type File struct {
	Path string
	Size uint64
}

// FeedRef points at a feed at a given length (content, or the original
// .torrent).
type FeedRef struct {
	Key    feedtree.Key
	Length uint64
}

// Put is a new torrent entry.
type Put struct {
	InfohashV1 []byte // 20 bytes (SHA-1 of the v1 info dict) or nil
	InfohashV2 []byte // 32 bytes (SHA-256 of the v2 info dict) or nil; at least one infohash is required

	Name        string // the torrent's name
	Title       string // the publisher's title, if different
	Description string
	Category    uint32 // Torznab number, 0 = unknown
	Tags        []string
	Size        uint64 // total size, pad files excluded
	Files       []File
	Trackers    []string
	WebSeeds    []string
	Private     bool
	Content     *FeedRef          // optional content feed
	Torrent     *FeedRef          // optional feed carrying the original .torrent
	Meta        map[string]string // small extra fields: "imdb", "tvdb", "season", "episode", "year", ...
}

// Amend changes fields of an entry; nil fields are unchanged. A Meta value
// of "" deletes that key.
type Amend struct {
	Title       *string
	Description *string
	Category    *uint32
	Tags        *[]string
	Content     *FeedRef
	Meta        map[string]string
}

// ForkProofOp carries a feedtree.ForkProof (its AppendBinary bytes) against
// log Log.
type ForkProofOp struct {
	Log   feedtree.Key
	Proof []byte
}

// Wire forms. Integer map keys; omitempty makes the canonical form omit
// zero values, so an explicit zero is non-canonical and rejected.
type wireNode struct {
	Index [32]byte   `cbor:"0,keyasint"`
	Log   [32]byte   `cbor:"1,keyasint"`
	Seq   uint64     `cbor:"2,keyasint"`
	Links []wireLink `cbor:"3,keyasint,omitempty"`
	Time  int64      `cbor:"4,keyasint,omitempty"`
	Op    wireOp     `cbor:"5,keyasint"`
}

// wireLink is a 3-element array [log, seq, hash].
type wireLink struct {
	_    struct{} `cbor:",toarray"`
	Log  [32]byte
	Seq  uint64
	Hash [32]byte
}

type wireOp struct {
	Kind      uint8          `cbor:"0,keyasint"`
	Put       *wirePut       `cbor:"1,keyasint,omitempty"`
	Amend     *wireAmend     `cbor:"2,keyasint,omitempty"`
	Target    []byte         `cbor:"3,keyasint,omitempty"`
	Member    []byte         `cbor:"4,keyasint,omitempty"`
	ForkProof *wireForkProof `cbor:"5,keyasint,omitempty"`
}

// wireFile is a 2-element array [path, size].
type wireFile struct {
	_    struct{} `cbor:",toarray"`
	Path string
	Size uint64
}

// wireFeedRef is a 2-element array [key, length].
type wireFeedRef struct {
	_      struct{} `cbor:",toarray"`
	Key    [32]byte
	Length uint64
}

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

type wireAmend struct {
	Title       *string           `cbor:"0,keyasint,omitempty"`
	Description *string           `cbor:"1,keyasint,omitempty"`
	Category    *uint32           `cbor:"2,keyasint,omitempty"`
	Tags        *[]string         `cbor:"3,keyasint,omitempty"`
	Content     *wireFeedRef      `cbor:"4,keyasint,omitempty"`
	Meta        map[string]string `cbor:"5,keyasint,omitempty"`
}

type wireForkProof struct {
	_     struct{} `cbor:",toarray"`
	Log   [32]byte
	Proof []byte
}

// Marshal returns the canonical CBOR of n after checking it against the
// limits and structural rules DecodeNode enforces.
func (n *Node) Marshal() ([]byte, error) {
	if err := n.validate(); err != nil {
		return nil, err
	}
	b, err := encMode.Marshal(n.wire())
	if err != nil {
		return nil, fmt.Errorf("encoding node: %w", err)
	}
	if len(b) > MaxNodeSize {
		return nil, fmt.Errorf("encoding node: %d bytes, limit %d: %w", len(b), MaxNodeSize, ErrTooLarge)
	}
	return b, nil
}

// DecodeNode decodes one node from its canonical CBOR. Non-canonical bytes
// are rejected (ErrNonCanonical), as are nodes breaking a limit (ErrTooLarge)
// or a structural rule (ErrMalformed). It never panics.
func DecodeNode(b []byte) (*Node, error) {
	var w wireNode
	if err := decodeCanonical("node", b, &w, MaxNodeSize); err != nil {
		return nil, err
	}
	return w.checked()
}

// decodeApplied decodes the bytes of a node this DAG applied, which the
// caller has checked hash to the node's ID. DecodeNode accepted those very
// bytes before they were applied, so they are canonical: only the proof of
// it (re-encoding, ~40 % of a decode) is skipped; every other check stays.
func decodeApplied(b []byte) (*Node, error) {
	var w wireNode
	if err := decodeStrict("node", b, &w, MaxNodeSize); err != nil {
		return nil, err
	}
	return w.checked()
}

// checked converts w into a Node and validates it.
func (w *wireNode) checked() (*Node, error) {
	n, err := w.node()
	if err != nil {
		return nil, err
	}
	if err := n.validate(); err != nil {
		return nil, err
	}
	return n, nil
}

// HashNode returns the ID of a node's canonical bytes: BLAKE2b-256(b).
// It does not allocate.
func HashNode(b []byte) ID { return ID{hash256(b)} }

func (n *Node) wire() *wireNode {
	w := &wireNode{Index: n.Index.b, Log: n.Log.Bytes(), Seq: n.Seq, Time: n.Time}
	if len(n.Links) > 0 {
		w.Links = make([]wireLink, len(n.Links))
		for i, l := range n.Links {
			w.Links[i] = wireLink{Log: l.Log.Bytes(), Seq: l.Seq, Hash: l.Hash.b}
		}
	}
	w.Op.Kind = uint8(n.Op.Kind)
	if !n.Op.Target.IsZero() {
		w.Op.Target = n.Op.Target.b[:]
	}
	if !n.Op.Member.IsZero() {
		w.Op.Member = n.Op.Member.b[:]
	}
	if p := n.Op.Put; p != nil {
		wp := &wirePut{
			InfohashV1: p.InfohashV1, InfohashV2: p.InfohashV2,
			Name: p.Name, Title: p.Title, Description: p.Description,
			Category: p.Category, Tags: p.Tags, Size: p.Size,
			Trackers: p.Trackers, WebSeeds: p.WebSeeds, Private: p.Private,
			Content: wireRef(p.Content), Torrent: wireRef(p.Torrent), Meta: p.Meta,
		}
		if len(p.Files) > 0 {
			wp.Files = make([]wireFile, len(p.Files))
			for i, f := range p.Files {
				wp.Files[i] = wireFile{Path: f.Path, Size: f.Size}
			}
		}
		w.Op.Put = wp
	}
	if a := n.Op.Amend; a != nil {
		wa := &wireAmend{Title: a.Title, Description: a.Description, Category: a.Category,
			Tags: a.Tags, Content: wireRef(a.Content), Meta: a.Meta}
		if a.Tags != nil && *a.Tags == nil {
			wa.Tags = &[]string{} // a nil slice would encode as null; "no tags" is []
		}
		w.Op.Amend = wa
	}
	if f := n.Op.ForkProof; f != nil {
		w.Op.ForkProof = &wireForkProof{Log: f.Log.Bytes(), Proof: f.Proof}
	}
	return w
}

func wireRef(r *FeedRef) *wireFeedRef {
	if r == nil {
		return nil
	}
	return &wireFeedRef{Key: r.Key.Bytes(), Length: r.Length}
}

func feedKey(b [32]byte) (feedtree.Key, error) {
	k, err := feedtree.KeyFromBytes(b[:])
	if err != nil {
		return feedtree.Key{}, fmt.Errorf("%v: %w", err, ErrMalformed)
	}
	return k, nil
}

func refFromWire(r *wireFeedRef) (*FeedRef, error) {
	if r == nil {
		return nil, nil
	}
	k, err := feedKey(r.Key)
	if err != nil {
		return nil, err
	}
	return &FeedRef{Key: k, Length: r.Length}, nil
}

func id32(what string, b []byte) ([32]byte, error) {
	var out [32]byte
	if b == nil {
		return out, nil
	}
	if len(b) != 32 {
		return out, fmt.Errorf("node %s is %d bytes, want 32: %w", what, len(b), ErrMalformed)
	}
	copy(out[:], b)
	return out, nil
}

func (w *wireNode) node() (*Node, error) {
	n := &Node{Index: IndexKey{w.Index}, Seq: w.Seq, Time: w.Time, Op: Op{Kind: OpKind(w.Op.Kind)}}
	var err error
	if n.Log, err = feedKey(w.Log); err != nil {
		return nil, err
	}
	if len(w.Links) > 0 {
		n.Links = make([]Link, len(w.Links))
		for i, l := range w.Links {
			if n.Links[i].Log, err = feedKey(l.Log); err != nil {
				return nil, err
			}
			n.Links[i].Seq = l.Seq
			n.Links[i].Hash = ID{l.Hash}
		}
	}
	t, err := id32("target", w.Op.Target)
	if err != nil {
		return nil, err
	}
	n.Op.Target = ID{t}
	m, err := id32("member", w.Op.Member)
	if err != nil {
		return nil, err
	}
	n.Op.Member = Identity{m}
	if wp := w.Op.Put; wp != nil {
		p := &Put{
			InfohashV1: wp.InfohashV1, InfohashV2: wp.InfohashV2,
			Name: wp.Name, Title: wp.Title, Description: wp.Description,
			Category: wp.Category, Tags: wp.Tags, Size: wp.Size,
			Trackers: wp.Trackers, WebSeeds: wp.WebSeeds, Private: wp.Private, Meta: wp.Meta,
		}
		if len(wp.Files) > 0 {
			p.Files = make([]File, len(wp.Files))
			for i, f := range wp.Files {
				p.Files[i] = File{Path: f.Path, Size: f.Size}
			}
		}
		if p.Content, err = refFromWire(wp.Content); err != nil {
			return nil, err
		}
		if p.Torrent, err = refFromWire(wp.Torrent); err != nil {
			return nil, err
		}
		n.Op.Put = p
	}
	if wa := w.Op.Amend; wa != nil {
		a := &Amend{Title: wa.Title, Description: wa.Description, Category: wa.Category, Tags: wa.Tags, Meta: wa.Meta}
		if a.Content, err = refFromWire(wa.Content); err != nil {
			return nil, err
		}
		n.Op.Amend = a
	}
	if wf := w.Op.ForkProof; wf != nil {
		k, err := feedKey(wf.Log)
		if err != nil {
			return nil, err
		}
		n.Op.ForkProof = &ForkProofOp{Log: k, Proof: wf.Proof}
	}
	return n, nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("node: "+fmt.Sprintf(format, args...)+": %w", ErrMalformed)
}

func tooLarge(format string, args ...any) error {
	return fmt.Errorf("node: "+fmt.Sprintf(format, args...)+": %w", ErrTooLarge)
}

// validate checks the structural rules and limits that do not depend on
// other nodes. The rules of a node's place in its log (first link) are
// checked when it is ingested.
func (n *Node) validate() error {
	if n.Index.IsZero() {
		return malformed("zero index key")
	}
	if n.Log.IsZero() {
		return malformed("zero log key")
	}
	if n.Seq == 0 {
		return malformed("seq 0 is the log's certificate")
	}
	if len(n.Links) > MaxLinks {
		return tooLarge("%d links, limit %d", len(n.Links), MaxLinks)
	}
	for i, l := range n.Links {
		if l.Log.IsZero() || l.Seq == 0 || l.Hash.IsZero() {
			return malformed("link %d has a zero field", i)
		}
		own := l.Log == n.Log
		switch {
		case i == 0 && n.Seq >= 2:
			if !own || l.Seq != n.Seq-1 {
				return malformed("first link of node %d must be node %d of its own log", n.Seq, n.Seq-1)
			}
		case own:
			return malformed("link %d points into the node's own log", i)
		}
		for _, m := range n.Links[:i] {
			if m.Log == l.Log {
				return malformed("two links into one log")
			}
		}
	}
	if n.Seq >= 2 && len(n.Links) == 0 {
		return malformed("node %d has no link to node %d of its log", n.Seq, n.Seq-1)
	}
	return n.Op.validate()
}

func (o *Op) validate() error {
	has := func(put, amend, target, member, fork bool) error {
		if (o.Put != nil) != put || (o.Amend != nil) != amend || (!o.Target.IsZero()) != target ||
			(!o.Member.IsZero()) != member || (o.ForkProof != nil) != fork {
			return malformed("%v op with the wrong fields set", o.Kind)
		}
		return nil
	}
	switch o.Kind {
	case OpPut:
		if err := has(true, false, false, false, false); err != nil {
			return err
		}
		return o.Put.validate()
	case OpAmend:
		if err := has(false, true, true, false, false); err != nil {
			return err
		}
		return o.Amend.validate()
	case OpRetract:
		return has(false, false, true, false, false)
	case OpGrant, OpRevoke:
		return has(false, false, false, true, false)
	case OpForkProof:
		if err := has(false, false, false, false, true); err != nil {
			return err
		}
		if o.ForkProof.Log.IsZero() {
			return malformed("fork proof of a zero log")
		}
		if len(o.ForkProof.Proof) > MaxForkProofSize {
			return tooLarge("fork proof of %d bytes, limit %d", len(o.ForkProof.Proof), MaxForkProofSize)
		}
		fp, err := feedtree.DecodeForkProof(o.ForkProof.Proof)
		if err != nil {
			return malformed("fork proof: %v", err)
		}
		if err := fp.Verify(o.ForkProof.Log); err != nil {
			return malformed("fork proof: %v", err)
		}
		return nil
	}
	return malformed("unknown op kind %d", o.Kind)
}

func checkString(what string, s string, max int) error {
	if len(s) > max {
		return tooLarge("%s of %d bytes, limit %d", what, len(s), max)
	}
	if !utf8.ValidString(s) {
		return malformed("%s is not UTF-8", what)
	}
	return nil
}

func checkTags(tags []string) error {
	if len(tags) > MaxTags {
		return tooLarge("%d tags, limit %d", len(tags), MaxTags)
	}
	for _, t := range tags {
		if t == "" {
			return malformed("empty tag")
		}
		if err := checkString("tag", t, MaxTagLen); err != nil {
			return err
		}
	}
	return nil
}

func checkMeta(m map[string]string, allowEmpty bool) error {
	if len(m) > MaxMeta {
		return tooLarge("%d meta fields, limit %d", len(m), MaxMeta)
	}
	for k, v := range m {
		if k == "" {
			return malformed("empty meta key")
		}
		if v == "" && !allowEmpty {
			return malformed("empty meta value in a put")
		}
		if err := checkString("meta key", k, MaxMetaKeyLen); err != nil {
			return err
		}
		if err := checkString("meta value", v, MaxStringLen); err != nil {
			return err
		}
	}
	return nil
}

func checkRef(what string, r *FeedRef) error {
	if r != nil && r.Key.IsZero() {
		return malformed("%s feed with a zero key", what)
	}
	return nil
}

func (p *Put) validate() error {
	if p.InfohashV1 == nil && p.InfohashV2 == nil {
		return malformed("put without an infohash")
	}
	if p.InfohashV1 != nil && len(p.InfohashV1) != 20 {
		return malformed("v1 infohash of %d bytes, want 20", len(p.InfohashV1))
	}
	if p.InfohashV2 != nil && len(p.InfohashV2) != 32 {
		return malformed("v2 infohash of %d bytes, want 32", len(p.InfohashV2))
	}
	for _, s := range []struct {
		what string
		s    string
		max  int
	}{{"name", p.Name, MaxStringLen}, {"title", p.Title, MaxStringLen}, {"description", p.Description, MaxDescriptionLen}} {
		if err := checkString(s.what, s.s, s.max); err != nil {
			return err
		}
	}
	if err := checkTags(p.Tags); err != nil {
		return err
	}
	if len(p.Files) > MaxFiles {
		return tooLarge("%d files, limit %d", len(p.Files), MaxFiles)
	}
	for _, f := range p.Files {
		if f.Path == "" {
			return malformed("file with an empty path")
		}
		if err := checkString("file path", f.Path, MaxStringLen); err != nil {
			return err
		}
	}
	for _, l := range [][]string{p.Trackers, p.WebSeeds} {
		if len(l) > MaxURLs {
			return tooLarge("%d URLs, limit %d", len(l), MaxURLs)
		}
		for _, u := range l {
			if u == "" {
				return malformed("empty URL")
			}
			if err := checkString("URL", u, MaxStringLen); err != nil {
				return err
			}
		}
	}
	if err := checkRef("content", p.Content); err != nil {
		return err
	}
	if err := checkRef("torrent", p.Torrent); err != nil {
		return err
	}
	return checkMeta(p.Meta, false)
}

func (a *Amend) validate() error {
	if a.Title == nil && a.Description == nil && a.Category == nil && a.Tags == nil && a.Content == nil && len(a.Meta) == 0 {
		return malformed("amend that changes nothing")
	}
	if a.Title != nil {
		if err := checkString("title", *a.Title, MaxStringLen); err != nil {
			return err
		}
	}
	if a.Description != nil {
		if err := checkString("description", *a.Description, MaxDescriptionLen); err != nil {
			return err
		}
	}
	if a.Tags != nil {
		if err := checkTags(*a.Tags); err != nil {
			return err
		}
	}
	if err := checkRef("content", a.Content); err != nil {
		return err
	}
	return checkMeta(a.Meta, true)
}
