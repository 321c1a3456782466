package index

import "errors"

// Sentinel errors. Callers branch on them with errors.Is; the wrapped message
// says, on one line, what exactly was wrong.
var (
	// ErrNotFound: no entry has that id.
	ErrNotFound = errors.New("index: not found")
	// ErrBadTorrent: the bytes are not a usable .torrent file.
	ErrBadTorrent = errors.New("index: bad torrent")
	// ErrBadMagnet: the string is not a usable magnet link.
	ErrBadMagnet = errors.New("index: bad magnet link")
	// ErrBadCategory: the text names no Torznab category.
	ErrBadCategory = errors.New("index: bad category")
	// ErrBadPut: a put op fails validation (see ValidatePut).
	ErrBadPut = errors.New("index: invalid put")
)
