// Package index turns the nodes of a dag into torrent entries: the current
// state of each entry, an infohash lookup, a change log for followers
// (search), per-index counts and the state digest peers compare. It also
// reads real inputs into puts: .torrent files (BitTorrent v1, v2 and hybrid,
// through anacrolix/torrent's metainfo and bencode only) and magnet links,
// and names Torznab categories.
//
// # Invariant
//
// The materialised state of an index is a pure function of the set of nodes
// the DAG applied, whatever order they came in: two replicas holding the
// same nodes hold byte-identical entries and the same Digest. The rules
// that make it so:
//
//   - put: a new entry whose id is the put node's hash. A put that fails
//     ValidatePut is ignored, everywhere alike.
//   - amend, retract: count only when their identity is the put's identity
//     (any of its logs). They need not have the put in their causal past:
//     they are kept until the put arrives, then applied. Per field (each
//     meta key on its own), the amend with the highest (Time, Hash) wins.
//     Retract is final: the entry becomes a tombstone (name and infohashes
//     kept, other fields dropped, history = put + retracts).
//   - grant, revoke: in allowlist indexes, nodes of the manifest creator
//     only. A put, amend or retract of another identity counts only if that
//     identity's latest grant/revoke in the node's own causal past is a
//     grant. The causal past is summarised by a vector clock over the
//     creator's logs (node k of a log links node k−1, so max seq per log is
//     enough), computed from the links in apply order and stored per node
//     of allowlist indexes. Within one creator log the higher seq is later;
//     across logs an event the other's clock includes is earlier; events
//     still concurrent are ordered by (Time, Hash).
//   - fork-proof: a log proven to have forked at length L (the shorter
//     head's length, as dag computes it) counts only its nodes with seq < L.
//     A fork-proof that changes that set makes Sync rebuild the index from
//     the DAG, fork set first, so order cannot matter.
//   - local preferences (muted authors, hidden entries) are not here: they
//     apply at query time and never change the digest.
//
// # Cost
//
// One badger transaction per Options.BatchBytes of writes; a put writes
// three or four keys (entry, infohashes, change log; the author count and
// stats once per transaction) and reads one (the amends that came before
// it). An entry's index comes from the DAG's node location, its change seq
// from its own record, so neither needs a key of its own (schema 2 had
// both: two more random keys per entry for badger to compact). Each stored
// entry holds its canonical CBOR, so Digest hashes stored bytes without
// re-encoding.
// Allowlist indexes add one clock record (40 bytes per creator log) per node.
//
// # Keys
//
// All keys start with the prefix given to Open; idx is the 32-byte index
// key, id/hash/target/rev 32-byte node hashes, integers 8-byte big-endian.
// Stored integers are 8-byte big-endian too. A list is its records one
// after the other, each preceded by its length as a uvarint; lists keep
// the hot path on point lookups.
//
//	'V'                        → schemaVersion
//	'k' idx                    → cursor: the DAG apply counter materialised
//	'e' idx id                 → seq of the entry's change record(8), then
//	                             the entry, canonical CBOR (below)
//	'1' infohash-v1(20) id     → empty, for live entries
//	'2' infohash-v2(32) id     → empty, for live entries
//	'r' idx target             → list of the amends and retracts of target:
//	                             each kind(1) time(8) identity(32) hash(32)
//	                             then, for an amend, its CBOR (keys as in dag)
//	'v' idx node               → clock of node (allowlist indexes, when not
//	                             empty): n × (creator log(32) seq(8)),
//	                             sorted by log
//	'g' idx member             → list of the creator's grants and revokes
//	                             of member: each kind(1) time(8) hash(32)
//	                             log(32) seq(8)
//	'f' idx log                → fork length of an equivocating log
//	's' idx                    → live(8) retracted(8) authors(8)
//	'a' idx identity           → live entries of that identity
//	'n' idx                    → last change seq
//	'c' idx seq                → id changed at seq (one record per id)
//	'C' idx id                 → seq of id's change record, only while a
//	                             Rebuild runs (for the entries it dropped)
//	'R' idx                    → empty; present while Rebuild runs
//	'W' idx id                 → seq(8) BLAKE2b-256(CBOR)(32) of id's entry
//	                             before a Rebuild, only while it runs: an
//	                             entry written again byte for byte keeps its
//	                             change record
//
// # Entry encoding
//
// An entry is a CBOR map in RFC 8949 core deterministic encoding (zero
// values omitted):
//
//	{0: id, 1: index key, 2: author identity, 3: log key,
//	 4: published ms, 5: updated ms,
//	 6: put {0: infohash v1, 1: infohash v2, 2: name, 3: title,
//	         4: description, 5: category, 6: [tags], 7: size,
//	         8: [[path, size]...], 9: [trackers], 10: [web seeds],
//	         11: private, 12: [content key, length],
//	         13: [torrent key, length], 14: {meta}},
//	 7: retracted, 8: [[hash, kind, time ms, author]...]}
//
// The state digest is BLAKE2b-256 of the CBOR array of all entries of an
// index in id order: the array head, then each stored entry.
package index

// schemaVersion is bumped on any change to the keys, records or entry
// encoding above. Open drops a state of another version, keeping the change
// log (with a change-of record written for each of its ids), and the next
// Sync rebuilds it from the DAG.
const schemaVersion = 3
