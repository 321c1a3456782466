// Package node is one indexd data directory: it opens the badger database
// and the bleve index once, keeps the key files, and runs the pipeline that
// turns DAG nodes into entries and entries into search documents:
//
//	dag (applied nodes, topological) -> index (materialised entries) -> search (bleve)
//
// Each stage keeps its own cursor, so the stages are derived views that can
// lag, crash or be rebuilt without losing anything: the author-log feeds in
// badger are the only source of truth. A crash between two stages is
// repaired on Open by replaying from the lagging cursor (applying an entry to
// bleve twice is idempotent).
//
// Files in the data directory (all key files mode 0600):
//
//	identity.key       the user's ed25519 identity seed (hex)
//	token              the local write token for the HTTP API
//	apikey             the read-only Torznab/RSS key
//	host.key           the libp2p host key
//	logs/<index>.key   the seed of this device's author log in an index (hex)
//	feeds/<feed>.key   seeds of content feeds shared from this device (hex)
//	db/                badger (prefixes: "d/" dag, "i/" index, "c/" content feeds, "n/" this package)
//	search/            bleve
//	daemon.json        written by a running `indexd serve`: its HTTP address and pid
//
// Keys under "n/" in badger:
//
//	n/follow/<index key 32>     -> JSON {"authors": [...]}   followed indexes
//	n/mute/<identity 32>        -> empty                      muted identities (query-time only)
//	n/block/<infohash 20|32>    -> JSON {"reason", "added"}   blocked infohashes (query-time only)
//	n/remove/<index key 32>     -> JSON {"requested", "purged"} an index being removed (remove.go)
//	n/rss/<sha256(url)[:16]>    -> JSON RSSFeed               RSS subscriptions (rss.go)
//	n/swarm/<infohash v1 20>    -> JSON {S, L, C, At, Trackers} last scrape of a swarm (swarm.go)
//	n/scursor/<index key 32>    -> u64be                      search cursor: last index change fed to bleve
//	n/default                   -> index key 32               the default index
package node
