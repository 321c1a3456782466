// Package feedtree keeps feeds: append-only logs of blocks, each owned by one
// ed25519 key pair, hashed as a flat-tree merkle tree and signed once per
// append, byte-compatible with Hypercore 10/11 in compat mode (the feed key is
// the ed25519 public key). Every author log and every content feed of indexd
// is a feed.
//
// # Flat tree
//
// Nodes are numbered in order, in one flat array: even indexes are leaves
// (block i is node 2i), odd indexes are parents. Depth is the number of
// trailing one bits.
//
//	depth 3                      7
//	                    ┌────────┴────────┐
//	depth 2             3                 11
//	               ┌────┴────┐       ┌────┴────┐
//	depth 1        1         5       9         13
//	             ┌─┴─┐     ┌─┴─┐   ┌─┴─┐     ┌─┴─┐
//	depth 0      0   2     4   6   8   10   12   14
//	block        0   1     2   3   4   5    6    7
//
// A feed of length n has the roots FullRoots(2n): the perfect subtrees that
// cover blocks [0, n), biggest first. Length 6 has roots 3 and 9; appending
// block 6 adds root 12; appending block 7 merges 12 and 14 into 13, 9 and
// 13 into 11, 3 and 11 into 7.
//
// # Hashes and heads
//
// As Hypercore (hypercore-crypto 3.x), with BLAKE2b-256 and 8-byte
// little-endian integers:
//
//	leaf   = H(0x00 || u64le(len(block)) || block)
//	parent = H(0x01 || u64le(left.Size + right.Size) || left.Hash || right.Hash)
//	tree   = H(0x02 || for each root: root.Hash || u64le(root.Index) || u64le(root.Size))
//	signed = TREE namespace (32) || tree || u64le(length) || u64le(fork)   (80 bytes)
//
// A Head is (length, fork, tree hash, signature). ../shared/vectors holds
// the real npm packages' values; the tests check every one.
//
// # Invariants
//
//   - A replica stores only what verified: blocks, and the nodes computed or
//     received while verifying them against a signed head it trusts. A
//     replica that holds its feed as a prefix (PutContiguous) keeps the
//     nodes beyond that prefix in memory until Close or the next upgrade
//     (frontier.go): only its last range's are needed to prove what it holds.
//   - The trusted head only grows, and only to a head whose tree contains
//     the old roots (an upgrade proof grows the old roots into the new ones).
//   - Two validly signed heads of one key that cannot both be true become a
//     ForkProof, recorded in the store; the feed then refuses Put, PutHead
//     and Append with ErrForked until ResolveFork.
//   - Nothing decoded from bytes panics; decoders are bounded by MaxLength
//     and MaxProofNodes and allocate only what the input's derived shape
//     allows.
//
// # Proofs and cost
//
// A Proof carries a head and the nodes a verifier can neither compute from
// the blocks nor already trust, in an order both sides derive from (Start,
// End, Have, Head.Length), so node indexes are never sent: a node costs its
// hash and a uvarint size (about 36 bytes). One block of a 2^20-block feed
// costs at most 20 nodes; sequential batches of 64 blocks about 7 bytes of
// proof per block. Catching up [have, n) with one proof costs no nodes at
// all beyond the blocks, one signature check, and one Store.Commit.
// Append hashes each block once, about one parent per block, and signs once
// per call. See BENCHMARKS.md, section feedtree.
//
// Proofs are this package's own compact form, not Hypercore's wire
// messages; the hashes and signatures they carry are Hypercore's.
//
// # Storage
//
// A Feed keeps its records in a Store, one keyspace per feed key.
// NewBadgerStore lays them out in the shared badger database as
//
//	prefix || feed key (32 bytes) || record
//
// where record is one of
//
//	'h'                          -> Head wire form: the trusted signed head
//	'f'                          -> ForkProof wire form, when a fork is recorded
//	'b' || u64be(block index)    -> block bytes
//	'r' || u64be(last block)     -> uvarint(count) || count × uvarint(len) ||
//	                                the blocks, concatenated: a run of blocks
//	'n' || u64be(flat index)     -> u64be(size) || hash (40 bytes): a verified node
//
// A run holds consecutive blocks of at most 16 KiB each, at most 64 KiB of
// them, so that a feed of small blocks (an author log) costs a key per run
// rather than per block; a bigger block (a content feed's) keeps its own
// 'b' record. A Feed knows how many leading blocks it holds (Held), and a
// run is written only for blocks that extend that prefix: a writer's
// appended blocks, and the part of a replica's verified range from it on.
// So runs never overlap, and block i is in the first run ending at i or
// after, if that run starts at i or before, else in record 'b' || i: one
// ordered read finds it. Blocks of a range beyond the prefix (a sparse
// replica's) go in 'b' records, and blocks already held are not written
// again. Stores written before runs hold 'b' records only, and read as
// before; their feeds' new blocks go in runs.
//
// Leaf nodes of held blocks are not stored (they are rehashed from the block
// when a proof needs them); leaves of blocks a sparse replica lacks are.
// Nor are parents of depth 1 to 3 over at most 4 KiB whose blocks were
// stored with them (rehashed from up to eight blocks), which halves the
// records of a feed of small blocks; stores written before this rule hold
// them, and reads take either. The
// head record is written last in each commit, so a commit that badger had to
// split leaves only verified data behind if interrupted. The prefix is given
// by the package that opens badger (node).
package feedtree
