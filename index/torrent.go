package index

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"indexd/dag"
)

// Bounds on what FromTorrent and FromMagnet accept. Each is far above what
// real torrents use and keeps a crafted input from costing much.
const (
	// MaxTorrentSize bounds a .torrent file. v2 piece layers make big
	// torrents large, but tens of MiB already means millions of pieces.
	MaxTorrentSize = 32 << 20
	// MaxMagnetLen bounds a magnet link, in bytes.
	MaxMagnetLen = 64 << 10
)

// FromTorrent reads a .torrent file (BitTorrent v1, v2 or hybrid) into the
// fields of a put: the infohashes (SHA-1 of the info dictionary for v1,
// SHA-256 for v2), name, total size without BEP 47 pad files, the file list
// with full paths ("name/dir/file" for multi-file torrents, "name" for a
// single file), trackers (announce-list, or announce when the list is empty),
// url-list web seeds and the private flag. For hybrid torrents the file list
// comes from the v2 file tree, which has no pad files.
//
// Title, description, category and tags are left empty for the caller. Text
// that is not valid UTF-8 has its bad bytes replaced with U+FFFD. Errors wrap
// ErrBadTorrent and fit on one line.
func FromTorrent(b []byte) (p *dag.Put, err error) {
	// Dear future: anacrolix/metainfo panics on some malformed v2 file
	// trees (FileTree.PiecesRootAsByteArray on a short pieces root); we
	// validate before reaching those paths, and this guard makes sure
	// that a panic in a library we do not own still ends as an error.
	// The fuzz target calls fromTorrent, without the guard, so that any
	// such panic is found and fixed rather than hidden.
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("%w: %s", ErrBadTorrent, oneLine(fmt.Sprint(r)))
		}
	}()
	return fromTorrent(b)
}

func fromTorrent(b []byte) (*dag.Put, error) {
	if len(b) > MaxTorrentSize {
		return nil, fmt.Errorf("%w: %d bytes is over the %d-byte limit", ErrBadTorrent, len(b), MaxTorrentSize)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty file", ErrBadTorrent)
	}
	dec := bencode.NewDecoder(bytes.NewReader(b))
	dec.MaxStrLen = MaxTorrentSize
	var mi metainfo.MetaInfo
	if err := dec.Decode(&mi); err != nil {
		return nil, fmt.Errorf("%w: decoding bencode: %s", ErrBadTorrent, oneLine(err.Error()))
	}
	if err := dec.ReadEOF(); err != nil {
		return nil, fmt.Errorf("%w: trailing bytes after the torrent dictionary", ErrBadTorrent)
	}
	if len(mi.InfoBytes) == 0 {
		return nil, fmt.Errorf("%w: no info dictionary", ErrBadTorrent)
	}
	if mi.InfoBytes[0] != 'd' {
		return nil, fmt.Errorf("%w: info is not a dictionary", ErrBadTorrent)
	}
	var info metainfo.Info
	if err := bencode.Unmarshal(mi.InfoBytes, &info); err != nil {
		return nil, fmt.Errorf("%w: decoding info dictionary: %s", ErrBadTorrent, oneLine(err.Error()))
	}
	if info.MetaVersion != 0 && info.MetaVersion != 1 && info.MetaVersion != 2 {
		return nil, fmt.Errorf("%w: unsupported meta version %d", ErrBadTorrent, info.MetaVersion)
	}
	if info.PieceLength <= 0 {
		return nil, fmt.Errorf("%w: piece length %d is not positive", ErrBadTorrent, info.PieceLength)
	}
	name := validUTF8(info.BestName())
	if name == "" {
		return nil, fmt.Errorf("%w: info dictionary has no name", ErrBadTorrent)
	}
	p := &dag.Put{Name: clip(name, dag.MaxStringLen)}
	v2 := info.HasV2()
	v1 := len(info.Pieces) > 0 || len(info.Files) > 0 || info.Length > 0 || !v2
	if v1 {
		if len(info.Pieces)%sha1.Size != 0 {
			return nil, fmt.Errorf("%w: pieces field is %d bytes, not a multiple of 20", ErrBadTorrent, len(info.Pieces))
		}
		h := sha1.Sum(mi.InfoBytes)
		p.InfohashV1 = h[:]
	}
	if v2 {
		if err := info.FileTree.Validate(); err != nil {
			return nil, fmt.Errorf("%w: v2 file tree: %s", ErrBadTorrent, oneLine(err.Error()))
		}
		if !info.FileTree.IsDir() {
			return nil, fmt.Errorf("%w: v2 file tree is empty", ErrBadTorrent)
		}
		h := sha256.Sum256(mi.InfoBytes)
		p.InfohashV2 = h[:]
		if err := filesFromTree(p, &info.FileTree); err != nil {
			return nil, err
		}
	} else if err := filesFromV1(p, &info); err != nil {
		return nil, err
	}
	for _, tr := range mi.UpvertedAnnounceList().DistinctValues() {
		if tr = strings.TrimSpace(validUTF8(tr)); tr != "" && !slices.Contains(p.Trackers, tr) {
			p.Trackers = append(p.Trackers, tr)
		}
	}
	for _, ws := range mi.UrlList {
		if ws = strings.TrimSpace(validUTF8(ws)); ws != "" && !slices.Contains(p.WebSeeds, ws) {
			p.WebSeeds = append(p.WebSeeds, ws)
		}
	}
	p.Private = info.Private != nil && *info.Private
	clipURLs(p)
	return p, nil
}

// filesFromV1 fills p.Files and p.Size from a v1 info dictionary, skipping
// BEP 47 pad files.
func filesFromV1(p *dag.Put, info *metainfo.Info) error {
	if len(info.Files) == 0 {
		if info.Length < 0 {
			return fmt.Errorf("%w: negative length %d", ErrBadTorrent, info.Length)
		}
		p.Files = []dag.File{{Path: p.Name, Size: uint64(info.Length)}}
		p.Size = uint64(info.Length)
		return nil
	}
	p.Files = make([]dag.File, 0, len(info.Files))
	for i := range info.Files {
		f := &info.Files[i]
		path := f.BestPath()
		if f.Length < 0 {
			return fmt.Errorf("%w: file %d has negative length %d", ErrBadTorrent, i, f.Length)
		}
		if len(path) == 0 {
			return fmt.Errorf("%w: file %d has an empty path", ErrBadTorrent, i)
		}
		if isPadFile(f.Attr, path) {
			continue
		}
		if err := addFile(p, append([]string{p.Name}, path...), f.Length); err != nil {
			return err
		}
	}
	return nil
}

// filesFromTree fills p.Files and p.Size from a BEP 52 file tree, in the
// tree's (byte-wise sorted) order. A tree holding one file at its top is a
// single-file torrent, whose path is just that file's name.
func filesFromTree(p *dag.Put, ft *metainfo.FileTree) error {
	single := len(ft.Dir) == 1
	if single {
		for _, sub := range ft.Dir {
			single = !sub.IsDir()
		}
	}
	var walk func(path []string, t *metainfo.FileTree) error
	walk = func(path []string, t *metainfo.FileTree) error {
		if !t.IsDir() {
			if single {
				return addFile(p, path, t.File.Length)
			}
			return addFile(p, append([]string{p.Name}, path...), t.File.Length)
		}
		keys := make([]string, 0, len(t.Dir))
		for k := range t.Dir {
			if k != metainfo.FileTreePropertiesKey {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			sub := t.Dir[k]
			if err := walk(append(path[:len(path):len(path)], k), &sub); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(nil, ft)
}

func addFile(p *dag.Put, path []string, length int64) error {
	if length < 0 {
		return fmt.Errorf("%w: file %q has negative length %d", ErrBadTorrent, strings.Join(path, "/"), length)
	}
	if p.Size+uint64(length) < p.Size {
		return fmt.Errorf("%w: total size overflows", ErrBadTorrent)
	}
	var sb strings.Builder
	for i, c := range path {
		if i > 0 {
			sb.WriteByte('/')
		}
		sb.WriteString(validUTF8(c))
	}
	// Past dag.MaxFiles the file is counted in Size but not listed.
	if len(p.Files) < dag.MaxFiles {
		p.Files = append(p.Files, dag.File{Path: clip(sb.String(), dag.MaxStringLen), Size: uint64(length)})
	}
	p.Size += uint64(length)
	return nil
}

// isPadFile recognises BEP 47 pad files ("attr" containing p) and the
// older conventions of libtorrent (".pad/N") and BitComet
// ("_____padding_file_N_...").
func isPadFile(attr string, path []string) bool {
	if strings.ContainsRune(attr, 'p') {
		return true
	}
	if len(path) == 2 && path[0] == ".pad" {
		return true
	}
	return strings.HasPrefix(path[len(path)-1], "_____padding_file_")
}

// FromMagnet reads a magnet link into the fields of a put: the v1
// infohash from xt=urn:btih: (40 hex digits or 32 base32 letters), the v2
// infohash from xt=urn:btmh: (the multihash 1220 followed by 64 hex digits,
// SHA-256), the name from dn, the size from xl, trackers from tr and web
// seeds from ws. Other parameters are ignored. At least one infohash is
// required. Errors wrap ErrBadMagnet and fit on one line.
func FromMagnet(s string) (*dag.Put, error) {
	if len(s) > MaxMagnetLen {
		return nil, fmt.Errorf("%w: %d bytes is over the %d-byte limit", ErrBadMagnet, len(s), MaxMagnetLen)
	}
	s = strings.TrimSpace(s)
	rest, ok := cutPrefixFold(s, "magnet:")
	if !ok {
		return nil, fmt.Errorf("%w: does not start with magnet:", ErrBadMagnet)
	}
	rest = strings.TrimPrefix(rest, "?")
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	q, err := url.ParseQuery(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: parsing query: %s", ErrBadMagnet, oneLine(err.Error()))
	}
	p := &dag.Put{}
	for _, xt := range q["xt"] {
		switch {
		case hasPrefixFold(xt, "urn:btih:"):
			ih, err := parseBTIH(xt[len("urn:btih:"):])
			if err != nil {
				return nil, err
			}
			if p.InfohashV1 != nil && !bytes.Equal(p.InfohashV1, ih) {
				return nil, fmt.Errorf("%w: two different btih infohashes", ErrBadMagnet)
			}
			p.InfohashV1 = ih
		case hasPrefixFold(xt, "urn:btmh:"):
			ih, err := parseBTMH(xt[len("urn:btmh:"):])
			if err != nil {
				return nil, err
			}
			if p.InfohashV2 != nil && !bytes.Equal(p.InfohashV2, ih) {
				return nil, fmt.Errorf("%w: two different btmh infohashes", ErrBadMagnet)
			}
			p.InfohashV2 = ih
		}
	}
	if p.InfohashV1 == nil && p.InfohashV2 == nil {
		return nil, fmt.Errorf("%w: no xt=urn:btih: or xt=urn:btmh: infohash", ErrBadMagnet)
	}
	if (p.InfohashV1 != nil && allZero(p.InfohashV1)) || (p.InfohashV2 != nil && allZero(p.InfohashV2)) {
		return nil, fmt.Errorf("%w: all-zero infohash", ErrBadMagnet)
	}
	if dn := q.Get("dn"); dn != "" {
		p.Name = strings.TrimSpace(clip(validUTF8(dn), dag.MaxStringLen))
	}
	if xl := q.Get("xl"); xl != "" {
		n, err := strconv.ParseUint(xl, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: xl=%q is not a byte count", ErrBadMagnet, oneLine(xl))
		}
		p.Size = n
	}
	for _, tr := range q["tr"] {
		if tr = strings.TrimSpace(validUTF8(tr)); tr != "" && !slices.Contains(p.Trackers, tr) {
			p.Trackers = append(p.Trackers, tr)
		}
	}
	for _, ws := range q["ws"] {
		if ws = strings.TrimSpace(validUTF8(ws)); ws != "" && !slices.Contains(p.WebSeeds, ws) {
			p.WebSeeds = append(p.WebSeeds, ws)
		}
	}
	clipURLs(p)
	return p, nil
}

func parseBTIH(s string) ([]byte, error) {
	switch len(s) {
	case 40:
		b, err := hex.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%w: btih %q is not hex", ErrBadMagnet, s)
		}
		return b, nil
	case 32:
		b, err := base32.StdEncoding.DecodeString(strings.ToUpper(s))
		if err != nil || len(b) != 20 {
			return nil, fmt.Errorf("%w: btih %q is not base32", ErrBadMagnet, s)
		}
		return b, nil
	}
	return nil, fmt.Errorf("%w: btih has %d characters, want 40 hex or 32 base32", ErrBadMagnet, len(s))
}

func parseBTMH(s string) ([]byte, error) {
	if len(s) != 68 || !hasPrefixFold(s, "1220") {
		return nil, fmt.Errorf("%w: btmh must be 1220 and 64 hex digits (SHA-256 multihash)", ErrBadMagnet)
	}
	b, err := hex.DecodeString(s[4:])
	if err != nil {
		return nil, fmt.Errorf("%w: btmh %q is not hex", ErrBadMagnet, oneLine(s))
	}
	return b, nil
}

// MagnetURI builds the magnet link of p: xt=urn:btih: (v1) and/or
// xt=urn:btmh:1220 (v2) in lower-case hex, then dn (the name, or the title
// when there is no name), tr for each tracker and ws for each web seed.
// Spaces are escaped as %20, which every client reads.
func MagnetURI(p *dag.Put) string {
	var sb strings.Builder
	sb.WriteString("magnet:?")
	sep := ""
	if len(p.InfohashV1) == 20 {
		sb.WriteString("xt=urn:btih:")
		sb.WriteString(hex.EncodeToString(p.InfohashV1))
		sep = "&"
	}
	if len(p.InfohashV2) == 32 {
		sb.WriteString(sep)
		sb.WriteString("xt=urn:btmh:1220")
		sb.WriteString(hex.EncodeToString(p.InfohashV2))
		sep = "&"
	}
	dn := p.Name
	if dn == "" {
		dn = p.Title
	}
	param := func(k, v string) {
		sb.WriteString(sep)
		sb.WriteString(k)
		sb.WriteByte('=')
		sb.WriteString(strings.ReplaceAll(url.QueryEscape(v), "+", "%20"))
		sep = "&"
	}
	if dn != "" {
		param("dn", dn)
	}
	for _, tr := range p.Trackers {
		param("tr", tr)
	}
	for _, ws := range p.WebSeeds {
		param("ws", ws)
	}
	return sb.String()
}

// clipURLs keeps the first dag.MaxURLs trackers and web seeds no longer
// than dag.MaxStringLen, so that the put fits a DAG node.
func clipURLs(p *dag.Put) {
	keep := func(in []string) []string {
		out := in[:0]
		for _, u := range in {
			if len(u) <= dag.MaxStringLen && len(out) < dag.MaxURLs {
				out = append(out, u)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	p.Trackers = keep(p.Trackers)
	p.WebSeeds = keep(p.WebSeeds)
}

// clip cuts s to at most n bytes at a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// oneLine keeps an error message on one line and short.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return validUTF8(s)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if hasPrefixFold(s, prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
