package dag

import (
	"encoding/binary"
	"errors"
	"math"
)

var errNodeTime = errors.New("dag: node time: unexpected encoding")

// NodeTime returns the Time of the node encoded in b without decoding the
// rest of it: it walks the canonical map up to field 4 (Time) and skips the
// fields before it. It does not validate the node: for bytes DecodeNode
// accepts it returns the same Time; for other bytes it may return an error
// or a value, so callers that need a valid node use DecodeNode. It never
// panics and does not allocate.
func NodeTime(b []byte) (int64, error) {
	if len(b) > MaxNodeSize {
		return 0, ErrTooLarge
	}
	r := cborReader{b: b}
	maj, pairs, err := r.head()
	if err != nil || maj != 5 {
		return 0, errNodeTime
	}
	for range pairs {
		maj, key, err := r.head()
		if err != nil || maj != 0 {
			return 0, errNodeTime
		}
		switch {
		case key < 4:
			if err := r.skip(0); err != nil {
				return 0, err
			}
		case key == 4:
			maj, v, err := r.head()
			if err != nil {
				return 0, err
			}
			switch {
			case maj == 0 && v <= math.MaxInt64:
				return int64(v), nil
			case maj == 1 && v <= math.MaxInt64:
				return -1 - int64(v), nil
			}
			return 0, errNodeTime
		default:
			return 0, nil // keys are sorted: no Time field, so Time is 0
		}
	}
	return 0, nil
}

// cborReader reads definite-length CBOR items for NodeTime.
type cborReader struct {
	b   []byte
	off int
}

// head reads an item head: the major type and its argument.
func (r *cborReader) head() (maj byte, arg uint64, err error) {
	if r.off >= len(r.b) {
		return 0, 0, errNodeTime
	}
	c := r.b[r.off]
	r.off++
	maj, ai := c>>5, c&0x1f
	var n int
	switch {
	case ai < 24:
		return maj, uint64(ai), nil
	case ai == 24:
		n = 1
	case ai == 25:
		n = 2
	case ai == 26:
		n = 4
	case ai == 27:
		n = 8
	default:
		return 0, 0, errNodeTime // indefinite lengths and reserved values
	}
	if len(r.b)-r.off < n {
		return 0, 0, errNodeTime
	}
	var buf [8]byte
	copy(buf[8-n:], r.b[r.off:r.off+n])
	r.off += n
	return maj, binary.BigEndian.Uint64(buf[:]), nil
}

// skip passes over one item.
func (r *cborReader) skip(depth int) error {
	if depth > maxCBORDepth+8 {
		return errNodeTime
	}
	maj, arg, err := r.head()
	if err != nil {
		return err
	}
	switch maj {
	case 0, 1, 7:
		return nil
	case 2, 3:
		if arg > uint64(len(r.b)-r.off) {
			return errNodeTime
		}
		r.off += int(arg)
		return nil
	case 4, 5:
		if arg > uint64(len(r.b)-r.off) {
			return errNodeTime // each item takes at least one byte
		}
		n := int(arg)
		if maj == 5 {
			n *= 2
		}
		for range n {
			if err := r.skip(depth + 1); err != nil {
				return err
			}
		}
		return nil
	}
	return errNodeTime // tags
}
