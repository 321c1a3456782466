package content

import "errors"

// Sentinel errors callers branch on (with errors.Is).
var (
	// ErrBadManifest: manifest bytes or manifest blocks are malformed,
	// non-canonical, out of bounds or inconsistent with the feed.
	ErrBadManifest = errors.New("content: bad manifest")
	// ErrNoManifest: the feed is empty, so it holds no manifest yet.
	ErrNoManifest = errors.New("content: feed has no manifest")
	// ErrUnsafePath: a path could escape the output folder or is not a
	// clean, relative, '/'-separated NFC path (see CheckPath).
	ErrUnsafePath = errors.New("content: unsafe path")
	// ErrNoFile: the manifest holds no file of that path.
	ErrNoFile = errors.New("content: no such file in manifest")
	// ErrRewritten: a followed file was changed rather than appended to, so
	// the bytes already streamed are no longer a prefix of it.
	ErrRewritten = errors.New("content: file rewritten, not appended")
	// ErrCorrupt: a verified block does not have the length or hash the
	// manifest promises (the writer signed inconsistent content).
	ErrCorrupt = errors.New("content: block does not match manifest")
)
