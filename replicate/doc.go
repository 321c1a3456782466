// Package replicate moves indexes between indexd nodes over libp2p: a host
// (TCP and QUIC, Noise, yamux, resource and connection managers), discovery
// (mDNS service "indexd", a private Kademlia DHT under /indexd with
// rendezvous on each followed index's discovery key, bootstrap addresses),
// a sync protocol per index, GossipSub announcements of new blocks, and a
// generic feed protocol. Verified blocks are handed to dag.Ingest; nothing
// from a peer is stored before it verifies against a signed head.
//
// Invariant. What this package stores is only what dag.Ingest accepts: each
// range of an author log verified against one signed head (one signature
// check per range, not per entry). A peer that sends anything that fails
// verification or does not decode is disconnected, scored down in
// GossipSub (AppSpecificScore) and refused for banDuration.
//
// Protocols (frames: uvarint(len) || type || body, len ≤ MaxFrame):
//
//   - SyncProtocol /indexd/sync/1.0.0, one stream per (peer, index) session.
//     The initiator sends Hello{index, fingerprint of its log set, count,
//     fingerprint of its cursor}. Identical sets end after that one exchange
//     (Done). If the responder holds a cursor (its view of the initiator's
//     set at the end of the last session) that matches, it pushes what the
//     initiator lacks at once: one round trip. Otherwise the two run
//     range-based set reconciliation (recon.go) over (log key, length, head
//     hash) sorted by log key; bytes grow with the number of differing logs.
//     Whichever side is ahead on a log pushes the missing blocks as Data
//     frames (log key, proof against one signed head, blocks) unasked,
//     merging the logs by node time so nodes arrive in causal order; a fresh
//     peer receives one continuous stream with no request round trips. A
//     receiver answers a frame that does not apply (yet) with Stop{log}.
//     Each side first shows the other the forks it found in the index's
//     logs (Fork{log, fork proof}, each peer and log once per 10 minutes);
//     a proof that does not verify is the sender's fault.
//     Both sides end with Done. One session per (peer, index) runs at a
//     time; when both open one at once, the lower peer id's goes on.
//   - ManifestProtocol /indexd/manifest/1.0.0: Want{index key} → Manifest
//     bytes; the asker checks them against the key before storing.
//   - FeedProtocol /indexd/feed/1.0.0: Want{feed key, start, have} → Data
//     frames → Done, for author logs and the feeds of Options.Feeds
//     (FetchFeed is the client). Have 0 with start above 0 asks for proofs
//     that stand on their own: a sync whose upgrade of a log does not fit
//     this replica's history asks the peer so (checkFork), and the proof
//     shows whether the author signed another history (a fork). Such
//     proofs of one block at a time then locate where the two histories
//     part (locateFork), which is how far a forked log counts.
//   - GossipSub topic "/indexd/index/<hex discovery key>" per followed
//     index: a Data body (log key, proof with the signed head and uncle
//     nodes, new blocks). The validator rejects only what fails decoding,
//     the head signature or the proof; it ignores what is not applicable yet
//     (missing earlier blocks or ancestors, over a rate limit) and syncs
//     with the peer that delivered it.
//
// Index links: "indexd:index:<hex>?peer=<multiaddr>&peer=..." (IndexLink).
//
// Privacy: the DHT publishes this node's addresses and the discovery keys
// (not the index keys) of the indexes it follows; the GossipSub topic names
// are discovery keys too.
//
// Cost. The host keeps no badger state of its own (no key prefix): cursors
// (at most maxCursors item sets) and rate-limit buckets live in memory and
// are rebuilt by the first session after a restart.
package replicate
