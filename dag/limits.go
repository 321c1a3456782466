package dag

// Limits on what a node, manifest or certificate may hold. Every decoder
// enforces them on bytes from disk or network, and Marshal refuses to produce
// anything a decoder would reject. Changing one is a format change: the
// vectors in testdata/ pin them.
const (
	// MaxNodeSize bounds the canonical CBOR of one node (one feed block).
	// A put with MaxFiles paths of typical length fits well inside it.
	MaxNodeSize = 256 << 10

	// MaxLinks bounds the links of one node: the previous node of its own log
	// plus up to MaxLinks-1 heads. Heads beyond the cap stay heads and are
	// merged by the next writes (Append takes the oldest-applied heads first,
	// so every head is merged after a bounded number of writes).
	MaxLinks = 32

	// MaxStringLen bounds short text fields: name, title, a file path, a
	// meta value, a URL.
	MaxStringLen = 2048

	// MaxDescriptionLen bounds a description.
	MaxDescriptionLen = 32 << 10

	// MaxTags bounds the tags of an entry; MaxTagLen one tag.
	MaxTags   = 32
	MaxTagLen = 64

	// MaxFiles bounds the file list of a put. Torrents with more files are
	// published with the first MaxFiles (the index package truncates; the
	// total Size still counts all of them).
	MaxFiles = 4096

	// MaxURLs bounds trackers and web seeds (each list).
	MaxURLs = 64

	// MaxMeta bounds the extra "meta" fields; MaxMetaKeyLen a key.
	MaxMeta       = 32
	MaxMetaKeyLen = 64

	// MaxNameLen bounds an index name in a manifest.
	MaxNameLen = 256

	// MaxManifestSize and MaxCertSize bound those encodings.
	MaxManifestSize = 1024
	MaxCertSize     = 512

	// MaxForkProofSize bounds the feedtree.ForkProof bytes a fork-proof node
	// carries (two heads and O(log n) tree nodes).
	MaxForkProofSize = 16 << 10

	// maxCBORItems bounds arrays and maps in the CBOR decoder; it must be at
	// least the largest list limit above.
	maxCBORItems = MaxFiles
	// maxCBORDepth bounds nesting (node > op > put > files > file).
	maxCBORDepth = 8
)
