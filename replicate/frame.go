package replicate

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"indexd/feedtree"
)

// Wire bounds. Everything read from a peer is bounded by one of these before
// it is allocated.
const (
	// MaxFrame bounds one frame of any indexd protocol (type byte + body).
	// A Data frame carries at most dataBudget bytes of blocks, well inside it.
	MaxFrame = 4 << 20
	// maxRanges bounds the ranges in one Ranges message (MaxFrame bounds its bytes).
	maxRanges = 1 << 16
	// maxItems bounds the items listed in one range of a Ranges message.
	maxItems = 4096
	// maxBlocks bounds the blocks in one Data frame.
	maxBlocks = 8192
	// maxErrorText bounds the text of an Error frame.
	maxErrorText = 256
)

// Frame types. A frame on the wire is uvarint(len) || type || body, with
// len = 1 + len(body) ≤ MaxFrame.
const (
	frameHello    byte = 1  // idx[32] fp[16] uvarint(count) view[16]
	frameRanges   byte = 2  // uvarint(n) n × range
	frameData     byte = 3  // key[32] uvarint(len) proof uvarint(n) n × (uvarint(len) block)
	frameDone     byte = 4  // empty
	frameError    byte = 5  // code byte, uvarint(len) text
	frameWant     byte = 6  // key[32] for manifests (index key), or key[32] start have uvarint for feeds
	frameManifest byte = 7  // manifest bytes
	frameCursor   byte = 8  // empty: "your view of me is exact; diff against it"
	frameStop     byte = 9  // key[32]: "stop pushing this log in this session" (it did not apply)
	frameFork     byte = 10 // key[32] fork proof: "this log's author signed two histories"
)

// Error codes carried by an Error frame.
const (
	codeNotFound byte = 1 // the responder does not follow the index / hold the feed
	codeBusy     byte = 2 // the responder is over a session limit
	codeBad      byte = 3 // the responder could not decode a frame
)

var (
	// ErrFrameTooLarge is returned when a peer announces a frame larger than MaxFrame.
	ErrFrameTooLarge = errors.New("replicate: frame too large")
	// ErrMalformed is returned when a frame does not decode.
	ErrMalformed = errors.New("replicate: malformed frame")
	// ErrClosed is returned by methods of a closed Host.
	ErrClosed = errors.New("replicate: closed")
	// ErrNotFound: no peer could provide what was asked.
	ErrNotFound = errors.New("replicate: not found")
	// errNotFollowed ends a sync of an index this host no longer follows.
	errNotFollowed = errors.New("index not followed")
)

// RemoteError is an Error frame received from a peer.
type RemoteError struct {
	Code byte
	Text string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("replicate: peer error %d: %s", e.Code, e.Text)
}

// readFrame reads one frame from r. It returns the type and the body, which
// is valid until the next call with the same buf. n counts the bytes read.
func readFrame(r *bufio.Reader, buf *[]byte) (typ byte, body []byte, n int, err error) {
	l, err := binary.ReadUvarint(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return 0, nil, 0, io.EOF
		}
		return 0, nil, 0, fmt.Errorf("reading frame length: %w", err)
	}
	if l == 0 {
		return 0, nil, 0, fmt.Errorf("reading frame: empty frame: %w", ErrMalformed)
	}
	if l > MaxFrame {
		return 0, nil, 0, fmt.Errorf("reading frame of %d bytes: %w", l, ErrFrameTooLarge)
	}
	if uint64(cap(*buf)) < l {
		*buf = make([]byte, l)
	}
	b := (*buf)[:l]
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, nil, 0, fmt.Errorf("reading frame body: %w", err)
	}
	return b[0], b[1:], uvarintLen(l) + int(l), nil
}

// appendFrame appends a frame header for a body of n bytes and type typ.
func appendFrameHeader(dst []byte, typ byte, n int) []byte {
	dst = binary.AppendUvarint(dst, uint64(n)+1)
	return append(dst, typ)
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// decoder reads fields from a frame body, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("decoding %s: %w", what, ErrMalformed)
	}
	d.b = nil
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte(what string) byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail(what)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) fixed(what string, dst []byte) {
	if d.err != nil || len(d.b) < len(dst) {
		d.fail(what)
		return
	}
	copy(dst, d.b)
	d.b = d.b[len(dst):]
}

// bytes returns the next length-prefixed field, at most max bytes, aliasing d.b.
func (d *decoder) bytes(what string, max int) []byte {
	l := d.uvarint(what)
	if d.err != nil {
		return nil
	}
	if l > uint64(max) || l > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	v := d.b[:l]
	d.b = d.b[l:]
	return v
}

func (d *decoder) end(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.fail(what + ": trailing bytes")
	}
	return d.err
}

// hello opens a sync session.
type hello struct {
	Index [32]byte
	FP    fingerprint // of the sender's set
	Count uint64      // items in the sender's set
	View  fingerprint // of the sender's cursor (view of the receiver's set); zero if none
}

func (h *hello) appendBody(b []byte) []byte {
	b = append(b, h.Index[:]...)
	b = append(b, h.FP[:]...)
	b = binary.AppendUvarint(b, h.Count)
	return append(b, h.View[:]...)
}

func decodeHello(b []byte) (hello, error) {
	var h hello
	d := decoder{b: b}
	d.fixed("hello index", h.Index[:])
	d.fixed("hello fingerprint", h.FP[:])
	h.Count = d.uvarint("hello count")
	d.fixed("hello view", h.View[:])
	return h, d.end("hello")
}

// data carries blocks of one feed with the proof that verifies them against
// one signed head. Proof is kept in wire form; decoding it is feedtree's job.
type data struct {
	Key    feedtree.Key
	Proof  []byte
	Blocks [][]byte
}

func (m *data) appendBody(b []byte) []byte {
	k := m.Key.Bytes()
	b = append(b, k[:]...)
	b = binary.AppendUvarint(b, uint64(len(m.Proof)))
	b = append(b, m.Proof...)
	b = binary.AppendUvarint(b, uint64(len(m.Blocks)))
	for _, blk := range m.Blocks {
		b = binary.AppendUvarint(b, uint64(len(blk)))
		b = append(b, blk...)
	}
	return b
}

// decodeData decodes a Data body. The slices alias b.
func decodeData(b []byte) (data, error) {
	var m data
	d := decoder{b: b}
	var k [32]byte
	d.fixed("data key", k[:])
	m.Proof = d.bytes("data proof", MaxFrame)
	n := d.uvarint("data block count")
	if d.err == nil && (n > maxBlocks || n > uint64(len(d.b))) {
		d.fail("data block count")
	}
	if d.err == nil && n > 0 {
		m.Blocks = make([][]byte, 0, n)
		for i := uint64(0); i < n && d.err == nil; i++ {
			m.Blocks = append(m.Blocks, d.bytes("data block", MaxFrame))
		}
	}
	if err := d.end("data"); err != nil {
		return data{}, err
	}
	key, err := feedtree.KeyFromBytes(k[:])
	if err != nil {
		return data{}, fmt.Errorf("decoding data key: %v: %w", err, ErrMalformed)
	}
	m.Key = key
	return m, nil
}

// want asks for a manifest (frameWant on the manifest protocol: Key only) or
// for a feed range (on the feed protocol: Key, Start, Have).
type want struct {
	Key         [32]byte
	Start, Have uint64
}

func (w *want) appendBody(b []byte) []byte {
	b = append(b, w.Key[:]...)
	b = binary.AppendUvarint(b, w.Start)
	return binary.AppendUvarint(b, w.Have)
}

func decodeWant(b []byte) (want, error) {
	var w want
	d := decoder{b: b}
	d.fixed("want key", w.Key[:])
	w.Start = d.uvarint("want start")
	w.Have = d.uvarint("want have")
	return w, d.end("want")
}

func appendError(b []byte, code byte, text string) []byte {
	if len(text) > maxErrorText {
		text = text[:maxErrorText]
	}
	b = append(b, code)
	b = binary.AppendUvarint(b, uint64(len(text)))
	return append(b, text...)
}

func decodeError(b []byte) (*RemoteError, error) {
	d := decoder{b: b}
	code := d.byte("error code")
	text := d.bytes("error text", maxErrorText)
	if err := d.end("error"); err != nil {
		return nil, err
	}
	return &RemoteError{Code: code, Text: string(text)}, nil
}
