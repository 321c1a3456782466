// Package feedtree keeps feeds: append-only logs of blocks, each owned by one
// ed25519 key pair, hashed as a flat-tree merkle tree and signed per head,
// byte-compatible with Hypercore 10/11 in compat mode.
package feedtree
