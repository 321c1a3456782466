// Package content turns files into content feeds and back: a content feed
// is a feedtree feed whose blocks are file bytes in fixed-size blocks plus
// manifest blocks describing the files. The wire format is specified in
// docs/content-feed.md.
//
// Invariant: block Length−1 of a content feed, at every signed length, is
// the last block of a manifest (the writer ends every append with the
// current manifest), so a reader holding only a signed head finds the
// files. Manifests are canonical CBOR (decoded strictly and re-encoded to
// check), bounded (MaxManifestSize, MaxFiles, MaxPathLen), and every path
// in them passes CheckPath, so it cannot leave the folder it is extracted
// into.
//
//	block:  0    1    2    3    4    5    6    7    8
//	        a.0  a.1  b.0  M₁   a.1' a.2  c.0  M₂₀  M₂₁
//	                       ▲                        ▲
//	         signed length 4                        signed length 9
//
// Above, the first share wrote file a (2 blocks, the last partial) and b,
// then manifest M₁; a later share grew a (re-appending its partial block
// a.1 with the new bytes as a.1', then a.2), added c, and wrote a manifest
// M₂ of two blocks. File a is now blocks [0,1) + [4,6); b kept block 2.
//
// Updating costs what changed: Share hashes every file (SHA-256) to find
// unchanged and grown files, then appends new files, the tail of grown
// files and changed files whole, plus one manifest per batch of
// BatchBlocks data blocks. Readers fetch only the manifest and the blocks
// of the files they want (Manifest.BlocksFor).
//
// The package keeps no state of its own: feeds live in whatever
// feedtree.Store the caller opened them in, so it owns no badger key
// prefix. It does no networking either: a FetchFunc, given by the caller
// (replicate), makes missing blocks of a sparse replica present.
package content
