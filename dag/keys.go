package dag

import (
	"encoding/binary"

	"indexd/feedtree"
)

// Key tags under the DAG's prefix; doc.go lists the record formats.
const (
	tagManifest = 'm'
	tagLog      = 'g'
	tagLogIndex = 'L'
	tagHead     = 'h'
	tagCounter  = 'c'
	tagApplied  = 'a'
	tagNodeLoc  = 'n'
	tagSeqHash  = 's' // reserved: older stores hold (log, seq) -> hash records here
	tagFeeds    = 'f'
)

// keyBuf builds badger keys by appending into a reused buffer.
type keyBuf struct {
	prefix []byte
}

func (k keyBuf) tag(t byte) []byte {
	b := make([]byte, 0, len(k.prefix)+1+32+32+8)
	return append(append(b, k.prefix...), t)
}

func (k keyBuf) manifest(idx IndexKey) []byte { return append(k.tag(tagManifest), idx.b[:]...) }

func (k keyBuf) log(idx IndexKey, log feedtree.Key) []byte {
	lb := log.Bytes()
	return append(append(k.tag(tagLog), idx.b[:]...), lb[:]...)
}

func (k keyBuf) logIndex(log feedtree.Key) []byte {
	lb := log.Bytes()
	return append(k.tag(tagLogIndex), lb[:]...)
}

func (k keyBuf) head(idx IndexKey, log feedtree.Key) []byte {
	lb := log.Bytes()
	return append(append(k.tag(tagHead), idx.b[:]...), lb[:]...)
}

func (k keyBuf) counter(idx IndexKey) []byte { return append(k.tag(tagCounter), idx.b[:]...) }

func (k keyBuf) applied(idx IndexKey, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(k.tag(tagApplied), idx.b[:]...), seq)
}

func (k keyBuf) nodeLoc(id ID) []byte { return append(k.tag(tagNodeLoc), id.b[:]...) }

// logRecord is the value under tagLog.
type logRecord struct {
	identity Identity
	applied  uint64
	forkAt   uint64
	forked   bool
	located  bool
}

const logRecordSize = 32 + 8 + 8 + 1

func (r logRecord) encode() []byte {
	b := make([]byte, 0, logRecordSize)
	b = append(b, r.identity.b[:]...)
	b = binary.BigEndian.AppendUint64(b, r.applied)
	b = binary.BigEndian.AppendUint64(b, r.forkAt)
	var f byte
	if r.forked {
		f = 1
		if r.located {
			f = 2
		}
	}
	return append(b, f)
}

// decodeLogRecord decodes what logRecord.encode wrote; anything else (a
// flag byte other than 0, 1 (forked) or 2 (forked, where located) included)
// is a damaged store.
func decodeLogRecord(b []byte) (logRecord, bool) {
	if len(b) != logRecordSize || b[48] > 2 {
		return logRecord{}, false
	}
	var r logRecord
	copy(r.identity.b[:], b)
	r.applied = binary.BigEndian.Uint64(b[32:])
	r.forkAt = binary.BigEndian.Uint64(b[40:])
	r.forked = b[48] >= 1
	r.located = b[48] == 2
	return r, true
}

// headRecord is the value under tagHead.
type headRecord struct {
	seq      uint64
	hash     ID
	applySeq uint64
}

func (h headRecord) encode() []byte {
	b := make([]byte, 0, 48)
	b = binary.BigEndian.AppendUint64(b, h.seq)
	b = append(b, h.hash.b[:]...)
	return binary.BigEndian.AppendUint64(b, h.applySeq)
}

func decodeHeadRecord(b []byte) (headRecord, bool) {
	if len(b) != 48 {
		return headRecord{}, false
	}
	var h headRecord
	h.seq = binary.BigEndian.Uint64(b)
	copy(h.hash.b[:], b[8:40])
	h.applySeq = binary.BigEndian.Uint64(b[40:])
	return h, true
}

// appliedValue is the value under tagApplied: log(32) seq(8) hash(32).
func appliedValue(log feedtree.Key, seq uint64, id ID) []byte {
	lb := log.Bytes()
	b := make([]byte, 0, 72)
	b = append(b, lb[:]...)
	b = binary.BigEndian.AppendUint64(b, seq)
	return append(b, id.b[:]...)
}

// nodeLocValue is the value under tagNodeLoc: index(32) log(32) seq(8).
func nodeLocValue(idx IndexKey, log feedtree.Key, seq uint64) []byte {
	lb := log.Bytes()
	b := make([]byte, 0, 72)
	b = append(b, idx.b[:]...)
	b = append(b, lb[:]...)
	return binary.BigEndian.AppendUint64(b, seq)
}
