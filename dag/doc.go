// Package dag keeps indexd's merkle DAG: the signed index manifests, the
// author logs (one feedtree feed per identity, index and device; block 0 a
// Cert, every later block one Node), the links between nodes, the heads of
// each index and the causal apply order.
//
// Encoding. Nodes, manifests and certificates are RFC 8949 core
// deterministic CBOR with integer map keys (fxamacker/cbor CoreDetEncOptions),
// decoded strictly: anything but the canonical bytes of the decoded value is
// rejected. A node's ID is BLAKE2b-256 of its bytes; an index key is
// BLAKE2b-256 of its manifest's bytes. See docs/dag.md for the field numbers.
//
// Invariant. A node is applied only after every node it links is applied,
// with the hash the link names; a log is therefore applied as a prefix. The
// heads of an index are the applied nodes no applied node links (at most one
// per log). The applied set, and so the heads, depend only on which blocks
// the feeds hold, never on arrival order.
//
// Cost. Apply state is three small badger records per node (apply order, node
// location, and the log's head and state); node bytes live
// only in the feeds. Open re-reads the per-log state of every index (one
// record per log) and re-applies whatever the feeds hold beyond it (a
// large backlog in the background), so a crash between a feed commit and
// its apply loses nothing.
//
// Ingest and Store. Ingest (live gossip) verifies, decodes and applies a
// range before it returns. Store (sync sessions) verifies and stores
// ranges only; the DAG's applier decodes and applies them behind, in
// arrival order, yielding to a bulk store in progress (store.go,
// docs/dag.md). Both reach the same applied set.
//
// Badger keys, all under the prefix given to Open (P):
//
//	P 'm' index(32)                -> manifest canonical CBOR
//	P 'g' index(32) log(32)        -> log record: identity(32) applied(8) forkAt(8) flags(1)
//	P 'L' log(32)                  -> index(32): which index a log writes to
//	P 'h' index(32) log(32)        -> head: seq(8) hash(32) applySeq(8)
//	P 'c' index(32)                -> apply counter (8)
//	P 'a' index(32) applySeq(8)    -> applied node: log(32) seq(8) hash(32)
//	P 'n' id(32)                   -> node location: index(32) log(32) seq(8)
//	P 's' log(32) seq(8)           -> node hash (32): no longer written or read (older stores hold it)
//	P 'f' ...                      -> the author log feeds (feedtree.NewBadgerStore)
//
// Integers are big-endian. "applied" counts the blocks of a log taken into
// the DAG, the certificate included (so node k is applied iff applied > k).
package dag
