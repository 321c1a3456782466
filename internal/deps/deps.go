//go:build indexd_deps

// Package deps pins the module's third-party dependencies in go.mod before
// every package that uses them exists. It is never built.
package deps

import (
	_ "github.com/anacrolix/torrent/bencode"
	_ "github.com/anacrolix/torrent/metainfo"
	_ "github.com/blevesearch/bleve/v2"
	_ "github.com/chromedp/chromedp"
	_ "github.com/dgraph-io/badger/v4"
	_ "github.com/fxamacker/cbor/v2"
	_ "github.com/libp2p/go-libp2p"
	_ "github.com/libp2p/go-libp2p-kad-dht"
	_ "github.com/libp2p/go-libp2p-pubsub"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "golang.org/x/crypto/blake2b"
	_ "golang.org/x/sync/errgroup"
)
