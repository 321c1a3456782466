package content

import (
	"fmt"
	"os"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Bounds on manifest paths.
const (
	// MaxPathLen bounds a whole path in bytes (Linux PATH_MAX).
	MaxPathLen = 4096
	// MaxSegmentLen bounds one path segment in bytes (NAME_MAX on common
	// file systems).
	MaxSegmentLen = 255
	// MaxPathDepth bounds the number of segments of a path.
	MaxPathDepth = 64
)

// CheckPath reports whether p is a safe manifest path: relative, clean,
// '/'-separated, valid UTF-8 in NFC, at most MaxPathLen bytes and
// MaxPathDepth segments of at most MaxSegmentLen bytes each. It rejects
// absolute paths, empty, "." and ".." segments, backslashes, NUL and other
// control characters, and segments starting with a Windows drive letter
// ("C:"). Such a path, joined under any folder, stays inside it. The error
// wraps ErrUnsafePath. It does not allocate on success for an ASCII path.
func CheckPath(p string) error {
	if p == "" {
		return fmt.Errorf("%w: empty path", ErrUnsafePath)
	}
	if len(p) > MaxPathLen {
		return fmt.Errorf("%w: path is %d bytes, max %d", ErrUnsafePath, len(p), MaxPathLen)
	}
	if !utf8.ValidString(p) {
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrUnsafePath, p)
	}
	if p[0] == '/' {
		return fmt.Errorf("%w: %q is absolute", ErrUnsafePath, p)
	}
	ascii := true
	for _, r := range p {
		ascii = ascii && r < utf8.RuneSelf
		switch {
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("%w: %q holds control character %U", ErrUnsafePath, p, r)
		case r == '\\':
			return fmt.Errorf("%w: %q holds a backslash", ErrUnsafePath, p)
		}
	}
	depth := 0
	for rest := p; ; {
		seg, next, more := strings.Cut(rest, "/")
		depth++
		switch {
		case seg == "":
			return fmt.Errorf("%w: %q has an empty segment", ErrUnsafePath, p)
		case seg == "." || seg == "..":
			return fmt.Errorf("%w: %q has a %q segment", ErrUnsafePath, p, seg)
		case len(seg) > MaxSegmentLen:
			return fmt.Errorf("%w: %q has a segment of %d bytes, max %d", ErrUnsafePath, p, len(seg), MaxSegmentLen)
		case len(seg) >= 2 && seg[1] == ':' && isASCIILetter(seg[0]):
			return fmt.Errorf("%w: %q has a drive letter", ErrUnsafePath, p)
		}
		if !more {
			break
		}
		rest = next
	}
	if depth > MaxPathDepth {
		return fmt.Errorf("%w: %q has %d segments, max %d", ErrUnsafePath, p, depth, MaxPathDepth)
	}
	if !ascii && !norm.NFC.IsNormalString(p) {
		return fmt.Errorf("%w: %q is not in Unicode NFC", ErrUnsafePath, p)
	}
	return nil
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// CleanPath turns a local relative path as a file system reports it (OS
// separators, any Unicode normalization) into manifest form ('/'-separated,
// NFC) and checks it with CheckPath.
func CleanPath(p string) (string, error) {
	p = norm.NFC.String(strings.ReplaceAll(p, string(os.PathSeparator), "/"))
	if err := CheckPath(p); err != nil {
		return "", err
	}
	return p, nil
}
