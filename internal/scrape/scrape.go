// Package scrape asks BitTorrent trackers how healthy a swarm is: seeders,
// leechers and completed downloads per infohash, over HTTP(S) (the scrape
// convention, BEP 48) or UDP (BEP 15). Responses are bounded and checked;
// a tracker that answers nonsense gets an error, never a panic.
package scrape

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/anacrolix/torrent/bencode"

	"indexd/internal/netguard"
)

// Stats is a swarm's health as one tracker reports it.
type Stats struct {
	Seeders, Leechers, Completed int
}

// MaxHashes is the most infohashes one Scrape asks for (UDP trackers take
// about 74 per packet).
const MaxHashes = 64

// maxHTTPBody bounds an HTTP scrape response.
const maxHTTPBody = 1 << 20

// ErrUnsupported is returned for a tracker URL that is neither http(s)
// with an "announce" path nor udp.
var ErrUnsupported = errors.New("scrape: tracker does not support scrape")

// Scrape asks tracker about the swarms of ihs (v1 infohashes). Infohashes
// the tracker does not know are absent from the result. Tracker URLs come
// from torrents anyone publishes, so unless allowPrivate is set only public
// addresses are contacted (netguard): a torrent cannot aim this node at
// its own machine or LAN.
func Scrape(ctx context.Context, tracker string, ihs [][20]byte, allowPrivate bool) (map[[20]byte]Stats, error) {
	if len(ihs) == 0 {
		return map[[20]byte]Stats{}, nil
	}
	if len(ihs) > MaxHashes {
		return nil, fmt.Errorf("scrape: %d infohashes, at most %d", len(ihs), MaxHashes)
	}
	u, err := url.Parse(tracker)
	if err != nil {
		return nil, fmt.Errorf("scrape: tracker URL: %w", err)
	}
	switch u.Scheme {
	case "http", "https":
		return scrapeHTTP(ctx, netguard.Client(allowPrivate), u, ihs)
	case "udp":
		return scrapeUDP(ctx, netguard.Dialer(allowPrivate), u.Host, ihs)
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupported, u.Scheme)
}

// ScrapeURL turns an announce URL into its scrape URL: the last path
// segment's "announce" becomes "scrape" (BEP 48).
func ScrapeURL(u *url.URL) (*url.URL, error) {
	i := strings.LastIndexByte(u.Path, '/')
	last := u.Path[i+1:]
	if !strings.HasPrefix(last, "announce") {
		return nil, fmt.Errorf("%w: %s", ErrUnsupported, u.Redacted())
	}
	s := *u
	s.Path = u.Path[:i+1] + "scrape" + strings.TrimPrefix(last, "announce")
	s.RawPath = ""
	return &s, nil
}

func scrapeHTTP(ctx context.Context, c *http.Client, u *url.URL, ihs [][20]byte) (map[[20]byte]Stats, error) {
	su, err := ScrapeURL(u)
	if err != nil {
		return nil, err
	}
	q := su.RawQuery
	for _, ih := range ihs {
		if q != "" {
			q += "&"
		}
		q += "info_hash=" + url.QueryEscape(string(ih[:]))
	}
	su.RawQuery = q
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, su.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape: %s: HTTP %s", u.Redacted(), resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPBody+1))
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	if len(b) > maxHTTPBody {
		return nil, fmt.Errorf("scrape: response over %d bytes", maxHTTPBody)
	}
	return DecodeHTTP(b)
}

// httpResponse is a bencoded scrape response.
type httpResponse struct {
	Files map[string]struct {
		Complete   int `bencode:"complete"`
		Incomplete int `bencode:"incomplete"`
		Downloaded int `bencode:"downloaded"`
	} `bencode:"files"`
	Failure string `bencode:"failure reason"`
}

// DecodeHTTP decodes a bencoded HTTP scrape response.
func DecodeHTTP(b []byte) (out map[[20]byte]Stats, err error) {
	defer func() {
		if r := recover(); r != nil { // the decoder's panics are its bugs, not ours to pass on
			out, err = nil, fmt.Errorf("scrape: malformed response: %v", r)
		}
	}()
	var r httpResponse
	if err := bencode.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("scrape: malformed response: %w", err)
	}
	if r.Failure != "" {
		return nil, fmt.Errorf("scrape: tracker says: %.200q", r.Failure)
	}
	out = map[[20]byte]Stats{}
	for k, f := range r.Files {
		if len(k) != 20 || f.Complete < 0 || f.Incomplete < 0 || f.Downloaded < 0 {
			continue
		}
		out[[20]byte([]byte(k))] = Stats{Seeders: f.Complete, Leechers: f.Incomplete, Completed: f.Downloaded}
	}
	return out, nil
}

// UDP tracker protocol (BEP 15).
const (
	udpMagic     = 0x41727101980
	actConnect   = 0
	actScrape    = 2
	actError     = 3
	udpAttempts  = 2
	udpWait      = 3 * time.Second
	maxUDPPacket = 2048
)

func scrapeUDP(ctx context.Context, d *net.Dialer, host string, ihs [][20]byte) (map[[20]byte]Stats, error) {
	c, err := d.DialContext(ctx, "udp", host)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	conn, err := udpRoundTrip(ctx, c, actConnect, func(tx uint32) []byte {
		b := binary.BigEndian.AppendUint64(nil, udpMagic)
		b = binary.BigEndian.AppendUint32(b, actConnect)
		return binary.BigEndian.AppendUint32(b, tx)
	})
	if err != nil {
		return nil, err
	}
	if len(conn) != 8 {
		return nil, errors.New("scrape: short connect response")
	}
	body, err := udpRoundTrip(ctx, c, actScrape, func(tx uint32) []byte {
		b := append([]byte(nil), conn...)
		b = binary.BigEndian.AppendUint32(b, actScrape)
		b = binary.BigEndian.AppendUint32(b, tx)
		for _, ih := range ihs {
			b = append(b, ih[:]...)
		}
		return b
	})
	if err != nil {
		return nil, err
	}
	return DecodeUDP(body, ihs)
}

// udpRoundTrip sends the packet build makes for a fresh transaction id and
// returns the body of the matching response (after action and id),
// retrying once on silence.
func udpRoundTrip(ctx context.Context, c net.Conn, action uint32, build func(tx uint32) []byte) ([]byte, error) {
	buf := make([]byte, maxUDPPacket)
	for attempt := 0; attempt < udpAttempts; attempt++ {
		var txb [4]byte
		if _, err := rand.Read(txb[:]); err != nil {
			return nil, err
		}
		tx := binary.BigEndian.Uint32(txb[:])
		if _, err := c.Write(build(tx)); err != nil {
			return nil, fmt.Errorf("scrape: %w", err)
		}
		wait := time.Now().Add(udpWait)
		if dl, ok := ctx.Deadline(); ok && dl.Before(wait) {
			wait = dl
		}
		c.SetReadDeadline(wait)
		for {
			k, err := c.Read(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
					break // silence: send again
				}
				return nil, fmt.Errorf("scrape: %w", err)
			}
			p := buf[:k]
			if len(p) < 8 || binary.BigEndian.Uint32(p[4:8]) != tx {
				continue // not ours
			}
			switch binary.BigEndian.Uint32(p[:4]) {
			case action:
				return append([]byte(nil), p[8:]...), nil
			case actError:
				return nil, fmt.Errorf("scrape: tracker says: %.200q", p[8:])
			default:
				return nil, errors.New("scrape: unexpected action in response")
			}
		}
	}
	return nil, errors.New("scrape: no answer from the tracker")
}

// DecodeUDP decodes the body of a UDP scrape response for ihs, in order:
// 12 bytes (seeders, completed, leechers) per infohash; a tracker may stop
// early.
func DecodeUDP(body []byte, ihs [][20]byte) (map[[20]byte]Stats, error) {
	if len(body)%12 != 0 || len(body)/12 > len(ihs) {
		return nil, fmt.Errorf("scrape: UDP response of %d bytes for %d infohashes", len(body), len(ihs))
	}
	out := map[[20]byte]Stats{}
	for i := 0; i*12 < len(body); i++ {
		p := body[i*12:]
		s := Stats{
			Seeders:   int(binary.BigEndian.Uint32(p[0:4])),
			Completed: int(binary.BigEndian.Uint32(p[4:8])),
			Leechers:  int(binary.BigEndian.Uint32(p[8:12])),
		}
		out[ihs[i]] = s
	}
	return out, nil
}
