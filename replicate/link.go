package replicate

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"indexd/dag"
)

// linkScheme starts a shareable index link.
const linkScheme = "indexd:"

// maxLinkPeers bounds the peer addresses a parsed link may carry.
const maxLinkPeers = 32

// IndexLink returns a shareable link to idx with the addresses to reach it:
//
//	indexd:index:<64 hex>?peer=<multiaddr>&peer=<multiaddr>...
//
// Each multiaddr is query-escaped and ends in /p2p/<peer id>. A link without
// peers is valid (peers are then found by mDNS or the DHT).
func IndexLink(idx dag.IndexKey, addrs []string) string {
	var b strings.Builder
	b.WriteString(linkScheme)
	b.WriteString(idx.String())
	for i, a := range addrs {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString("peer=")
		b.WriteString(url.QueryEscape(a))
	}
	return b.String()
}

// ParseIndexLink parses what IndexLink returns. It also accepts a bare index
// key ("index:<hex>" or 64 hex digits), with no peers.
func ParseIndexLink(s string) (dag.IndexKey, []string, error) {
	s = strings.TrimSpace(s)
	rest, query, _ := strings.Cut(strings.TrimPrefix(s, linkScheme), "?")
	idx, err := dag.ParseIndexKey(rest)
	if err != nil {
		return dag.IndexKey{}, nil, fmt.Errorf("replicate: parsing index link: %w", err)
	}
	if query == "" {
		return idx, nil, nil
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return dag.IndexKey{}, nil, fmt.Errorf("replicate: parsing index link: %w", err)
	}
	peers := q["peer"]
	if len(peers) > maxLinkPeers {
		return dag.IndexKey{}, nil, fmt.Errorf("replicate: parsing index link: %d peers, limit %d", len(peers), maxLinkPeers)
	}
	for _, a := range peers {
		if err := CheckPeerAddr(a); err != nil {
			return dag.IndexKey{}, nil, fmt.Errorf("replicate: parsing index link: peer %q: %w", a, err)
		}
	}
	return idx, peers, nil
}

// CheckPeerAddr checks that a is a multiaddr this host can dial: one that
// ends in /p2p/<peer id>.
func CheckPeerAddr(a string) error {
	_, err := peer.AddrInfoFromString(a)
	return err
}
