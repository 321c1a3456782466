package replicate

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"indexd/dag"
	"indexd/feedtree"
)

// handleManifest serves one manifest by index key: Want{Key: index} →
// Manifest(bytes) or Error.
func (x *Host) handleManifest(st network.Stream) {
	defer st.Close()
	c, w, ok := x.readWant(st, "manifest request")
	if !ok {
		return
	}
	m, err := x.d.Manifest(dag.IndexKeyFromBytes(w.Key))
	var b []byte
	if err == nil {
		b, err = m.Marshal()
	}
	if err != nil {
		c.write(frameError, appendError(nil, codeNotFound, "no such index"))
	} else {
		c.write(frameManifest, b)
	}
	c.flush()
}

// fetchManifest asks peers, in order, for the manifest of idx, checks it
// against the key and stores it.
func (x *Host) fetchManifest(ctx context.Context, idx dag.IndexKey, peers []peer.ID) error {
	var last error = ErrNotFound
	for _, p := range peers {
		m, err := x.askManifest(ctx, p, idx)
		if err != nil {
			last = err
			continue
		}
		if err := x.d.PutManifest(m); err != nil {
			return fmt.Errorf("replicate: storing manifest: %w", err)
		}
		return nil
	}
	return last
}

func (x *Host) askManifest(ctx context.Context, p peer.ID, idx dag.IndexKey) (*dag.Manifest, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	st, err := x.h.NewStream(ctx, p, ManifestProtocol)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	c := newWire(x, st)
	w := want{Key: idx.Bytes()}
	if err := c.write(frameWant, w.appendBody(nil)); err != nil {
		return nil, err
	}
	if err := c.flush(); err != nil {
		return nil, err
	}
	typ, body, err := c.read()
	if err != nil {
		return nil, err
	}
	switch typ {
	case frameManifest:
	case frameError:
		if re, err := decodeError(body); err == nil {
			return nil, re
		}
		return nil, ErrNotFound
	default:
		return nil, fmt.Errorf("manifest answer of type %d: %w", typ, ErrMalformed)
	}
	m, err := dag.DecodeManifest(body)
	if err == nil {
		err = m.Verify()
	}
	if err == nil && m.Key() != idx {
		err = fmt.Errorf("manifest of %v where %v was asked: %w", m.Key(), idx, ErrMalformed)
	}
	if err != nil {
		x.penalize(p, err)
		return nil, err
	}
	return m, nil
}

// openFeed finds feed k among the author logs and the extra feeds.
func (x *Host) openFeed(k feedtree.Key) (*feedtree.Feed, error) {
	if f, err := x.d.Feed(k); err == nil {
		return f, nil
	}
	if x.feeds != nil {
		return x.feeds.Feed(k)
	}
	return nil, ErrNotFound
}

// readWant reads a request stream's one Want frame (readRequest).
func (x *Host) readWant(st network.Stream, what string) (c *wire, w want, ok bool) {
	c = newWire(x, st)
	w, ok = readRequest(x, st, c, frameWant, decodeWant, what)
	return c, w, ok
}

// readRequest reads the frame that opens a request stream, which must be
// of type typ, and decodes its body. On anything else it resets the stream
// and returns ok == false, scoring the peer down for a frame of another
// type, a malformed or oversized one, or a body that does not decode (what
// names the request in the error), but not for a stream that merely
// closed.
func readRequest[T any](x *Host, st network.Stream, c *wire, typ byte, decode func([]byte) (T, error), what string) (v T, ok bool) {
	p := st.Conn().RemotePeer()
	got, body, err := c.read()
	if err == nil && got == typ {
		if v, err = decode(body); err == nil {
			return v, true
		}
		x.penalize(p, err)
	} else if err == nil || errors.Is(err, ErrMalformed) || errors.Is(err, ErrFrameTooLarge) {
		x.penalize(p, fmt.Errorf("%s: %w", what, ErrMalformed))
	}
	st.Reset()
	return v, false
}

// handleFeed serves one range of a feed: Want{Key, Start, Have} → Data
// frames for [Start, Length) (each verifiable against one signed head, the
// first for a verifier that trusts length Have) → Done. Have 0 with Start
// above 0 asks for proofs that stand on their own (checkFork).
func (x *Host) handleFeed(st network.Stream) {
	c, w, ok := x.readWant(st, "feed request")
	if !ok {
		return
	}
	k, err := feedtree.KeyFromBytes(w.Key[:])
	var f *feedtree.Feed
	if err == nil {
		f, err = x.openFeed(k)
	}
	if err != nil {
		c.write(frameError, appendError(nil, codeNotFound, "no such feed"))
		c.flush()
		st.Close()
		return
	}
	s := &session{x: x, c: c}
	ps := &pushState{key: k, feed: f, next: w.Start, end: f.Length(), selfContained: w.Have == 0 && w.Start > 0}
	for ps.next < ps.end {
		done, err := s.writeChunk(ps, math.MaxInt64)
		if err != nil {
			st.Reset()
			return
		}
		if done {
			break
		}
	}
	c.write(frameDone, nil)
	c.flush()
	st.Close()
}

// FetchFeed asks peer p for blocks [start, end of its feed k) and calls fn
// with each verifiable range (a proof against one signed head and its
// blocks), in order, until fn returns an error. Verifying and storing is
// fn's job (feedtree.Feed.Put does both); when fn returns an error that
// means invalid data, the peer is penalised. This is the building block for content feeds.
func (x *Host) FetchFeed(ctx context.Context, p string, k feedtree.Key, start uint64, fn func(*feedtree.Proof, [][]byte) error) error {
	pid, err := peer.Decode(p)
	if err != nil {
		return fmt.Errorf("replicate: peer id %q: %w", p, err)
	}
	return x.fetchFeed(ctx, pid, want{Key: k.Bytes(), Start: start, Have: start}, fn)
}

// fetchFeed is FetchFeed for the request w.
func (x *Host) fetchFeed(ctx context.Context, pid peer.ID, w want, fn func(*feedtree.Proof, [][]byte) error) error {
	k, err := feedtree.KeyFromBytes(w.Key[:])
	if err != nil {
		return err
	}
	octx, cancel := context.WithTimeout(ctx, dialTimeout)
	st, err := x.h.NewStream(octx, pid, FeedProtocol)
	cancel()
	if err != nil {
		return fmt.Errorf("replicate: opening feed stream: %w", err)
	}
	defer st.Close()
	c := newWire(x, st)
	if err := c.write(frameWant, w.appendBody(nil)); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	for {
		typ, body, err := c.read()
		if err != nil {
			return fmt.Errorf("replicate: reading feed: %w", err)
		}
		switch typ {
		case frameDone:
			return nil
		case frameError:
			re, err := decodeError(body)
			if err != nil {
				return err
			}
			return re
		case frameData:
			m, err := decodeData(body)
			if err == nil && m.Key != k {
				err = fmt.Errorf("data of feed %v: %w", m.Key, ErrMalformed)
			}
			var pr *feedtree.Proof
			if err == nil {
				pr, err = feedtree.DecodeProof(m.Proof)
			}
			if err != nil {
				x.penalize(pid, err)
				st.Reset()
				return err
			}
			if err := fn(pr, m.Blocks); err != nil {
				if peerFault(err) {
					x.penalize(pid, err)
				}
				st.Reset()
				return err
			}
		default:
			x.penalize(pid, fmt.Errorf("feed answer of type %d: %w", typ, ErrMalformed))
			st.Reset()
			return ErrMalformed
		}
	}
}
