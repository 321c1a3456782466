package index

import (
	"encoding/binary"
	"fmt"
	"golang.org/x/crypto/blake2b"

	"indexd/dag"
	"indexd/feedtree"
)

// Key tags under the index prefix; doc.go documents each record.
const (
	tagSchema    = 'V' // schema version
	tagCursor    = 'k' // idx → last applied seq consumed
	tagEntry     = 'e' // idx id → change seq, entry CBOR
	tagEntryIdx  = 'x' // reserved: schema 2 kept id → idx here (the DAG's node location says it)
	tagIHv1      = '1' // ih20 id → empty (live entries)
	tagIHv2      = '2' // ih32 id → empty (live entries)
	tagRev       = 'r' // idx target rev → revision record
	tagClock     = 'v' // idx node → clock (allowlist indexes)
	tagGrant     = 'g' // idx member log seq → grant record
	tagFork      = 'f' // idx log → fork length
	tagStats     = 's' // idx → stats record
	tagAuthor    = 'a' // idx identity → live entry count
	tagChangeCtr = 'n' // idx → last change seq
	tagChange    = 'c' // idx seq → id
	tagChangeOf  = 'C' // idx id → seq of its change record, while a Rebuild runs
	tagRebuild   = 'R' // idx → present while a rebuild is under way
	tagWas       = 'W' // idx id → seq and hash of the entry before a Rebuild, while it runs
)

// keys builds badger keys under a prefix by appending to a fresh slice
// (badger keeps the key slices it is given, so they are never reused).
type keys struct{ prefix []byte }

func (k keys) tag(t byte, extra int) []byte {
	b := make([]byte, 0, len(k.prefix)+1+extra)
	return append(append(b, k.prefix...), t)
}

func (k keys) idxTag(t byte, idx dag.IndexKey, extra int) []byte {
	b := k.tag(t, 32+extra)
	ib := idx.Bytes()
	return append(b, ib[:]...)
}

func (k keys) schema() []byte                 { return k.tag(tagSchema, 0) }
func (k keys) cursor(idx dag.IndexKey) []byte { return k.idxTag(tagCursor, idx, 0) }
func (k keys) stats(idx dag.IndexKey) []byte  { return k.idxTag(tagStats, idx, 0) }
func (k keys) changeCtr(idx dag.IndexKey) []byte {
	return k.idxTag(tagChangeCtr, idx, 0)
}
func (k keys) rebuild(idx dag.IndexKey) []byte { return k.idxTag(tagRebuild, idx, 0) }

func (k keys) entry(idx dag.IndexKey, id dag.ID) []byte {
	b := id.Bytes()
	return append(k.idxTag(tagEntry, idx, 32), b[:]...)
}

func (k keys) infohash(ih []byte, id dag.ID) []byte {
	t := byte(tagIHv1)
	if len(ih) == 32 {
		t = tagIHv2
	}
	b := id.Bytes()
	return append(append(k.tag(t, len(ih)+32), ih...), b[:]...)
}

func (k keys) revs(idx dag.IndexKey, target dag.ID) []byte {
	t := target.Bytes()
	return append(k.idxTag(tagRev, idx, 32), t[:]...)
}

func (k keys) clock(idx dag.IndexKey, node dag.ID) []byte {
	b := node.Bytes()
	return append(k.idxTag(tagClock, idx, 32), b[:]...)
}

func (k keys) grants(idx dag.IndexKey, member dag.Identity) []byte {
	m := member.Bytes()
	return append(k.idxTag(tagGrant, idx, 32), m[:]...)
}

func (k keys) fork(idx dag.IndexKey, log feedtree.Key) []byte {
	l := log.Bytes()
	return append(k.idxTag(tagFork, idx, 32), l[:]...)
}

func (k keys) author(idx dag.IndexKey, id dag.Identity) []byte {
	b := id.Bytes()
	return append(k.idxTag(tagAuthor, idx, 32), b[:]...)
}

func (k keys) change(idx dag.IndexKey, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(k.idxTag(tagChange, idx, 8), seq)
}

func (k keys) changeOf(idx dag.IndexKey, id dag.ID) []byte {
	b := id.Bytes()
	return append(k.idxTag(tagChangeOf, idx, 32), b[:]...)
}

func (k keys) was(idx dag.IndexKey, id dag.ID) []byte {
	b := id.Bytes()
	return append(k.idxTag(tagWas, idx, 32), b[:]...)
}

// wasValue is the value under tagWas: the seq of the entry's change record
// before a Rebuild, then the BLAKE2b-256 of its CBOR.
func wasValue(seq uint64, cbor []byte) []byte {
	h := blake2b.Sum256(cbor)
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 40), seq), h[:]...)
}

// Records. Each has a fixed layout, checked on decode.

// entryValue is the value under tagEntry: the seq of the entry's change
// record, then the entry's canonical CBOR. Keeping the seq here saves a
// change-of record per entry: only a change needs it, and a change reads
// the entry anyway.
func entryValue(seq uint64, cbor []byte) []byte {
	b := make([]byte, 0, 8+len(cbor))
	return append(binary.BigEndian.AppendUint64(b, seq), cbor...)
}

// splitEntryValue returns the change seq and the CBOR of an entry record;
// the CBOR aliases v.
func splitEntryValue(v []byte) (uint64, []byte, error) {
	if len(v) < 8 {
		return 0, nil, fmt.Errorf("index: corrupt entry record: %d bytes", len(v))
	}
	return binary.BigEndian.Uint64(v), v[8:], nil
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func decodeU64(what string, b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("index: corrupt %s record: %d bytes, want 8", what, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// revRecord is an amend or retract waiting for, or applied to, its target:
// kind(1) time(8) identity(32) hash(32) [amend CBOR].
type revRecord struct {
	kind     dag.OpKind
	time     int64
	identity dag.Identity
	hash     dag.ID
	amend    *dag.Amend
}

func (r *revRecord) encode() ([]byte, error) {
	b := make([]byte, 0, 73+64)
	b = append(b, byte(r.kind))
	b = binary.BigEndian.AppendUint64(b, uint64(r.time))
	ib, hb := r.identity.Bytes(), r.hash.Bytes()
	b = append(append(b, ib[:]...), hb[:]...)
	if r.kind == dag.OpAmend {
		a := r.amend
		w := wireAmend{Title: a.Title, Description: a.Description, Category: a.Category, Tags: a.Tags,
			Content: refToWire(a.Content), Meta: a.Meta}
		if a.Tags != nil && *a.Tags == nil {
			w.Tags = &[]string{}
		}
		if len(a.Meta) == 0 {
			w.Meta = nil
		}
		ab, err := encMode.Marshal(&w)
		if err != nil {
			return nil, fmt.Errorf("encoding amend: %w", err)
		}
		b = append(b, ab...)
	}
	return b, nil
}

func decodeRevRecord(b []byte) (*revRecord, error) {
	if len(b) < 73 {
		return nil, fmt.Errorf("index: corrupt revision record: %d bytes", len(b))
	}
	r := &revRecord{kind: dag.OpKind(b[0]), time: int64(binary.BigEndian.Uint64(b[1:9]))}
	r.identity = dag.IdentityFromBytes([32]byte(b[9:41]))
	r.hash = dag.IDFromBytes([32]byte(b[41:73]))
	switch r.kind {
	case dag.OpRetract:
		if len(b) != 73 {
			return nil, fmt.Errorf("index: corrupt revision record: retract with %d trailing bytes", len(b)-73)
		}
	case dag.OpAmend:
		var w wireAmend
		if err := decodeCanonical("amend", b[73:], &w, dag.MaxNodeSize); err != nil {
			return nil, err
		}
		a := &dag.Amend{Title: w.Title, Description: w.Description, Category: w.Category, Tags: w.Tags, Meta: w.Meta}
		var err error
		if a.Content, err = refFromWire(w.Content); err != nil {
			return nil, fmt.Errorf("index: corrupt revision record: %s", oneLine(err.Error()))
		}
		r.amend = a
	default:
		return nil, fmt.Errorf("index: corrupt revision record: kind %d", b[0])
	}
	return r, nil
}

// grantRecord is a grant or revoke by the creator: kind(1) time(8)
// hash(32) log(32) seq(8).
type grantRecord struct {
	kind dag.OpKind
	time int64
	hash dag.ID
	log  feedtree.Key
	seq  uint64
}

const grantRecordSize = 81

func (g *grantRecord) encode() []byte {
	b := make([]byte, 0, grantRecordSize)
	b = append(b, byte(g.kind))
	b = binary.BigEndian.AppendUint64(b, uint64(g.time))
	h, l := g.hash.Bytes(), g.log.Bytes()
	b = append(append(b, h[:]...), l[:]...)
	return binary.BigEndian.AppendUint64(b, g.seq)
}

func decodeGrantRecord(b []byte) (*grantRecord, error) {
	if len(b) != grantRecordSize {
		return nil, fmt.Errorf("index: corrupt grant record: %d bytes", len(b))
	}
	g := &grantRecord{kind: dag.OpKind(b[0]), time: int64(binary.BigEndian.Uint64(b[1:9]))}
	if g.kind != dag.OpGrant && g.kind != dag.OpRevoke {
		return nil, fmt.Errorf("index: corrupt grant record: kind %d", b[0])
	}
	g.hash = dag.IDFromBytes([32]byte(b[9:41]))
	var err error
	if g.log, err = feedtree.KeyFromBytes(b[41:73]); err != nil {
		return nil, fmt.Errorf("index: corrupt grant record: %s", oneLine(err.Error()))
	}
	g.seq = binary.BigEndian.Uint64(b[73:])
	return g, nil
}

// Record lists: several records under one key, each as uvarint length then
// the record, so that the hot path reads them with one point lookup (an
// iterator inside a badger write transaction sorts all its pending writes).

// maxListItems bounds a decoded record list.
const maxListItems = 1 << 20

func appendListItem(list, rec []byte) []byte {
	return append(binary.AppendUvarint(list, uint64(len(rec))), rec...)
}

// splitList returns the records of a list; they alias b.
func splitList(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			return nil, fmt.Errorf("index: corrupt record list")
		}
		if len(out) >= maxListItems {
			return nil, fmt.Errorf("index: record list over %d items", maxListItems)
		}
		out = append(out, b[w:w+int(n)])
		b = b[w+int(n):]
	}
	return out, nil
}

// clock is a vector clock restricted to the index creator's logs: for each
// creator log, the highest seq in a node's causal past (the node included),
// sorted by log key. Encoded as n × (log(32) seq(8)).
type clock []clockEntry

type clockEntry struct {
	log [32]byte
	seq uint64
}

// maxClockLogs bounds a decoded clock: one entry per creator device.
const maxClockLogs = 4096

func (c clock) encode() []byte {
	b := make([]byte, 0, 40*len(c))
	for _, e := range c {
		b = binary.BigEndian.AppendUint64(append(b, e.log[:]...), e.seq)
	}
	return b
}

func decodeClock(b []byte) (clock, error) {
	if len(b)%40 != 0 || len(b)/40 > maxClockLogs {
		return nil, fmt.Errorf("index: corrupt clock record: %d bytes", len(b))
	}
	c := make(clock, len(b)/40)
	for i := range c {
		copy(c[i].log[:], b[40*i:])
		c[i].seq = binary.BigEndian.Uint64(b[40*i+32:])
		if i > 0 && string(c[i-1].log[:]) >= string(c[i].log[:]) {
			return nil, fmt.Errorf("index: corrupt clock record: logs out of order")
		}
	}
	return c, nil
}

// get returns the seq of log in c, 0 when absent.
func (c clock) get(log [32]byte) uint64 {
	for _, e := range c {
		if e.log == log {
			return e.seq
		}
	}
	return 0
}

// merge sets c to the pointwise max of c and o, keeping the order.
func (c clock) merge(o clock) clock {
	for _, e := range o {
		c = c.set(e.log, e.seq)
	}
	return c
}

// set raises log's entry to at least seq.
func (c clock) set(log [32]byte, seq uint64) clock {
	for i := range c {
		if c[i].log == log {
			c[i].seq = max(c[i].seq, seq)
			return c
		}
		if string(c[i].log[:]) > string(log[:]) {
			return append(c[:i], append(clock{{log, seq}}, c[i:]...)...)
		}
	}
	return append(c, clockEntry{log, seq})
}

// statsRecord: live(8) retracted(8) authors(8).
type statsRecord struct{ live, retracted, authors uint64 }

func (s statsRecord) encode() []byte {
	b := make([]byte, 0, 24)
	b = binary.BigEndian.AppendUint64(b, s.live)
	b = binary.BigEndian.AppendUint64(b, s.retracted)
	return binary.BigEndian.AppendUint64(b, s.authors)
}

func decodeStats(b []byte) (statsRecord, error) {
	if len(b) != 24 {
		return statsRecord{}, fmt.Errorf("index: corrupt stats record: %d bytes", len(b))
	}
	return statsRecord{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:]), binary.BigEndian.Uint64(b[16:])}, nil
}
