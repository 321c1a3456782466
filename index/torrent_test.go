package index

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"indexd/dag"
)

// fixture is one torrent of a fixtures.json: what the tools that made it
// report.
type fixture struct {
	File       string  `json:"file"`
	MadeBy     string  `json:"made_by"`
	Name       string  `json:"name"`
	InfohashV1 *string `json:"infohash_v1"`
	InfohashV2 *string `json:"infohash_v2"`
	TotalSize  uint64  `json:"total_size"`
	Private    bool    `json:"private"`
	Files      []struct {
		Path   string `json:"path"`
		Length uint64 `json:"length"`
	} `json:"files"`
	Trackers []string `json:"trackers"`
	WebSeeds []string `json:"web_seeds"`
	Magnet   string   `json:"magnet"`

	dir string
}

// fixtureDirs are the fixture sets: testdata/shared is a copy of
// ../shared/fixtures (mktorrent, transmission-create, libtorrent hybrid);
// testdata/torrents are ours, made by gen.py with python3-libtorrent (v2-only,
// private, pad files).
var fixtureDirs = []string{"testdata/shared", "testdata/torrents"}

func loadFixtures(t testing.TB) []fixture {
	t.Helper()
	var all []fixture
	for _, dir := range fixtureDirs {
		b, err := os.ReadFile(filepath.Join(dir, "fixtures.json"))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct{ Torrents []fixture }
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s/fixtures.json: %v", dir, err)
		}
		for i := range doc.Torrents {
			doc.Torrents[i].dir = dir
		}
		all = append(all, doc.Torrents...)
	}
	if len(all) < 9 {
		t.Fatalf("loaded %d fixtures; want at least 9", len(all))
	}
	return all
}

func (f fixture) bytes(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, f.File))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSharedFixturesCopy checks that testdata/shared still equals the
// team's ../shared/fixtures when that directory is present.
func TestSharedFixturesCopy(t *testing.T) {
	src := "../../shared/fixtures"
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Skipf("no %s here: %v", src, err)
	}
	for _, e := range ents {
		a, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join("testdata/shared", e.Name()))
		if err != nil {
			t.Errorf("testdata/shared lacks %s: copy ../shared/fixtures again", e.Name())
			continue
		}
		if !bytes.Equal(a, b) {
			t.Errorf("testdata/shared/%s differs from %s: copy it again", e.Name(), src)
		}
	}
}

func hexOrNil(s *string) string {
	if s == nil {
		return ""
	}
	return strings.ToLower(*s)
}

func TestFromTorrentFixtures(t *testing.T) {
	for _, f := range loadFixtures(t) {
		t.Run(f.File, func(t *testing.T) {
			p, err := FromTorrent(f.bytes(t))
			if err != nil {
				t.Fatalf("FromTorrent: %v", err)
			}
			if got, want := hex.EncodeToString(p.InfohashV1), hexOrNil(f.InfohashV1); got != want {
				t.Errorf("InfohashV1 = %q; want %q", got, want)
			}
			if got, want := hex.EncodeToString(p.InfohashV2), hexOrNil(f.InfohashV2); got != want {
				t.Errorf("InfohashV2 = %q; want %q", got, want)
			}
			if p.Name != f.Name {
				t.Errorf("Name = %q; want %q", p.Name, f.Name)
			}
			if p.Size != f.TotalSize {
				t.Errorf("Size = %d; want %d", p.Size, f.TotalSize)
			}
			if p.Private != f.Private {
				t.Errorf("Private = %v; want %v", p.Private, f.Private)
			}
			if len(p.Files) != len(f.Files) {
				t.Fatalf("Files = %v; want %v", p.Files, f.Files)
			}
			for i, ff := range f.Files {
				if p.Files[i].Path != ff.Path || p.Files[i].Size != ff.Length {
					t.Errorf("Files[%d] = %+v; want %s %d", i, p.Files[i], ff.Path, ff.Length)
				}
			}
			if f.Trackers != nil && strings.Join(p.Trackers, " ") != strings.Join(f.Trackers, " ") {
				t.Errorf("Trackers = %q; want %q", p.Trackers, f.Trackers)
			}
			if f.WebSeeds != nil && strings.Join(p.WebSeeds, " ") != strings.Join(f.WebSeeds, " ") {
				t.Errorf("WebSeeds = %q; want %q", p.WebSeeds, f.WebSeeds)
			}
			if got := MagnetURI(p); !strings.EqualFold(got, f.Magnet) {
				t.Errorf("MagnetURI = %q; want %q", got, f.Magnet)
			}
			if err := ValidatePut(p); err != nil {
				t.Errorf("ValidatePut: %v", err)
			}
		})
	}
}

func TestFromMagnetFixtures(t *testing.T) {
	for _, f := range loadFixtures(t) {
		t.Run(f.File, func(t *testing.T) {
			p, err := FromMagnet(f.Magnet)
			if err != nil {
				t.Fatalf("FromMagnet(%q): %v", f.Magnet, err)
			}
			if got, want := hex.EncodeToString(p.InfohashV1), hexOrNil(f.InfohashV1); got != want {
				t.Errorf("InfohashV1 = %q; want %q", got, want)
			}
			if got, want := hex.EncodeToString(p.InfohashV2), hexOrNil(f.InfohashV2); got != want {
				t.Errorf("InfohashV2 = %q; want %q", got, want)
			}
			if p.Name != f.Name {
				t.Errorf("Name = %q; want %q", p.Name, f.Name)
			}
			if f.Trackers != nil && strings.Join(p.Trackers, " ") != strings.Join(f.Trackers, " ") {
				t.Errorf("Trackers = %q; want %q", p.Trackers, f.Trackers)
			}
			if got := MagnetURI(p); !strings.EqualFold(got, f.Magnet) {
				t.Errorf("MagnetURI(FromMagnet(m)) = %q; want %q", got, f.Magnet)
			}
		})
	}
}

func TestFromMagnet(t *testing.T) {
	const hexIH = "b243459ed7a983c716731389ad5e9f261ebd8c0f"
	ih, _ := hex.DecodeString(hexIH)
	tests := []struct {
		in   string
		want dag.Put
	}{
		{"magnet:?xt=urn:btih:" + hexIH, dag.Put{InfohashV1: ih}},
		{"magnet:?xt=urn:btih:" + strings.ToUpper(hexIH) + "&dn=a+b%20c&xl=50000", dag.Put{InfohashV1: ih, Name: "a b c", Size: 50000}},
		// base32 of the same 20 bytes, upper and lower case.
		{"magnet:?xt=urn:btih:WJBULHWXVGB4OFTTCOE22XU7EYPL3DAP", dag.Put{InfohashV1: ih}},
		{"MAGNET:?xt=URN:BTIH:wjbulhwxvgb4ofttcoe22xu7eypl3dap&ws=http://a/&ws=http://a/&tr=udp://t:1", dag.Put{InfohashV1: ih, WebSeeds: []string{"http://a/"}, Trackers: []string{"udp://t:1"}}},
		// Unknown xt kinds and parameters are skipped.
		{"magnet:?xt=urn:sha1:XYZ&xt=urn:btih:" + hexIH + "&x.pe=1.2.3.4:5&so=0", dag.Put{InfohashV1: ih}},
	}
	for _, tt := range tests {
		p, err := FromMagnet(tt.in)
		if err != nil {
			t.Errorf("FromMagnet(%q): %v", tt.in, err)
			continue
		}
		if !bytes.Equal(p.InfohashV1, tt.want.InfohashV1) || !bytes.Equal(p.InfohashV2, tt.want.InfohashV2) ||
			p.Name != tt.want.Name || p.Size != tt.want.Size ||
			strings.Join(p.Trackers, " ") != strings.Join(tt.want.Trackers, " ") ||
			strings.Join(p.WebSeeds, " ") != strings.Join(tt.want.WebSeeds, " ") {
			t.Errorf("FromMagnet(%q) = %+v; want %+v", tt.in, *p, tt.want)
		}
	}
}

func TestFromMagnetErrors(t *testing.T) {
	const hexIH = "b243459ed7a983c716731389ad5e9f261ebd8c0f"
	const v2 = "40c185dff7bc192a3d8945acc198e35997990f4f7dddf539f850eb8e3f57e202"
	for _, in := range []string{
		"",
		"http://example.org/?xt=urn:btih:" + hexIH,
		"magnet:",
		"magnet:?dn=nothing",
		"magnet:?xt=urn:btih:",
		"magnet:?xt=urn:btih:" + hexIH[:39],
		"magnet:?xt=urn:btih:" + hexIH[:39] + "g",
		"magnet:?xt=urn:btih:" + hexIH + "00",
		"magnet:?xt=urn:btih:WJBULHWXVGB4OFTTCOE22XU7EYPL3DA1",
		"magnet:?xt=urn:btih:" + hexIH + "&xt=urn:btih:" + strings.Repeat("0", 40),
		"magnet:?xt=urn:btmh:" + v2,
		"magnet:?xt=urn:btmh:1114" + v2,
		"magnet:?xt=urn:btmh:1220" + v2[:63] + "z",
		"magnet:?xt=urn:btih:" + hexIH + "&xl=-1",
		"magnet:?xt=urn:btih:" + hexIH + "&xl=12ab",
		"magnet:?xt=urn:btih:" + hexIH + "&dn=%zz",
		"magnet:?xt=urn:btih:" + hexIH + "&dn=" + strings.Repeat("a", MaxMagnetLen),
		"magnet:?xt=urn:btih:%0a" + hexIH,
	} {
		p, err := FromMagnet(in)
		if err == nil {
			t.Errorf("FromMagnet(%.80q) = %+v; want an error", in, p)
			continue
		}
		if !errors.Is(err, ErrBadMagnet) {
			t.Errorf("FromMagnet(%.80q) error %v; want ErrBadMagnet", in, err)
		}
		checkOneLine(t, err)
	}
}

func checkOneLine(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if strings.ContainsAny(msg, "\r\n") || len(msg) > 300 {
		t.Errorf("error %q is not one short line", msg)
	}
}

func TestFromTorrentCorrupt(t *testing.T) {
	fs := loadFixtures(t)
	good := fs[0].bytes(t)
	cases := map[string][]byte{
		"empty":            nil,
		"not bencode":      []byte("hello, world"),
		"a list":           []byte("li1ei2ee"),
		"no info":          []byte("d8:announce3:abce"),
		"info not a dict":  []byte("d4:infoli1eee"),
		"trailing garbage": append(append([]byte{}, good...), "xyz"...),
		"no name":          []byte("d4:infod6:lengthi5e12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"),
		"zero piece len":   []byte("d4:infod6:lengthi5e4:name1:a12:piece lengthi0e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"),
		"bad pieces":       []byte("d4:infod6:lengthi5e4:name1:a12:piece lengthi16384e6:pieces3:abcee"),
		"negative length":  []byte("d4:infod6:lengthi-5e4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"),
		"neg file length":  []byte("d4:infod5:filesld6:lengthi-1e4:pathl1:xeee4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"),
		"empty file path":  []byte("d4:infod5:filesld6:lengthi1e4:pathleee4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"),
		"meta version 3":   []byte("d4:infod6:lengthi5e12:meta versioni3e4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"),
		"v2 short root":    []byte("d4:infod9:file treed1:ad0:d6:lengthi5e11:pieces root3:abceee12:meta versioni2e4:name1:a12:piece lengthi16384eee"),
		"v2 empty tree":    []byte("d4:infod9:file treede12:meta versioni2e4:name1:a12:piece lengthi16384eee"),
		"too big":          make([]byte, MaxTorrentSize+1),
		"deep nesting":     []byte(strings.Repeat("l", 10000) + strings.Repeat("e", 10000)),
	}
	for name, b := range cases {
		p, err := FromTorrent(b)
		if err == nil {
			t.Errorf("%s: FromTorrent = %+v; want an error", name, p)
			continue
		}
		if !errors.Is(err, ErrBadTorrent) {
			t.Errorf("%s: error %v; want ErrBadTorrent", name, err)
		}
		checkOneLine(t, err)
	}
}

// TestFromTorrentTruncated cuts every fixture at many lengths: every proper
// prefix of a bencoded dictionary is invalid.
func TestFromTorrentTruncated(t *testing.T) {
	for _, f := range loadFixtures(t) {
		b := f.bytes(t)
		step := max(1, len(b)/97)
		for n := 0; n < len(b); n += step {
			if _, err := FromTorrent(b[:n]); err == nil {
				t.Errorf("%s cut at %d of %d: no error", f.File, n, len(b))
			} else {
				checkOneLine(t, err)
			}
		}
	}
}

func TestMagnetURIRoundTrip(t *testing.T) {
	for _, f := range loadFixtures(t) {
		p, err := FromTorrent(f.bytes(t))
		if err != nil {
			t.Fatal(err)
		}
		m := MagnetURI(p)
		q, err := FromMagnet(m)
		if err != nil {
			t.Fatalf("FromMagnet(MagnetURI) of %s: %v", f.File, err)
		}
		if !bytes.Equal(q.InfohashV1, p.InfohashV1) || !bytes.Equal(q.InfohashV2, p.InfohashV2) || q.Name != p.Name ||
			strings.Join(q.Trackers, " ") != strings.Join(p.Trackers, " ") || strings.Join(q.WebSeeds, " ") != strings.Join(p.WebSeeds, " ") {
			t.Errorf("%s: FromMagnet(%q) = %+v; want the fields of %+v", f.File, m, q, p)
		}
	}
	// A title stands in for a missing name, and spaces are %20.
	p := &dag.Put{InfohashV1: make([]byte, 20), Title: "a b&c"}
	p.InfohashV1[0] = 1
	if got, want := MagnetURI(p), "magnet:?xt=urn:btih:0100000000000000000000000000000000000000&dn=a%20b%26c"; got != want {
		t.Errorf("MagnetURI = %q; want %q", got, want)
	}
}

// FuzzFromTorrent calls fromTorrent (without the recover guard) so that a
// panic on any input is found. A successful parse must give a put that
// validates and whose magnet link reads back to the same infohashes.
func FuzzFromTorrent(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		f.Add(fx.bytes(f))
	}
	f.Add([]byte("d4:infod9:file treed1:ad0:d6:lengthi5e11:pieces root3:abceee12:meta versioni2e4:name1:a12:piece lengthi16384eee"))
	f.Add([]byte("d4:infod5:filesld6:lengthi1e4:pathl1:xeee4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := fromTorrent(b)
		if err != nil {
			if !errors.Is(err, ErrBadTorrent) {
				t.Fatalf("error %v does not wrap ErrBadTorrent", err)
			}
			checkOneLine(t, err)
			return
		}
		if err := ValidatePut(p); err != nil {
			t.Fatalf("FromTorrent gave a put that does not validate: %v", err)
		}
		q, err := FromMagnet(MagnetURI(p))
		if err != nil {
			t.Fatalf("FromMagnet(MagnetURI(p)): %v", err)
		}
		if !bytes.Equal(q.InfohashV1, p.InfohashV1) || !bytes.Equal(q.InfohashV2, p.InfohashV2) {
			t.Fatalf("magnet round trip changed infohashes")
		}
	})
}

// FuzzFromMagnet checks that FromMagnet never panics, errors wrap
// ErrBadMagnet on one line, and a parsed magnet survives MagnetURI.
func FuzzFromMagnet(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		f.Add(fx.Magnet)
	}
	f.Add("magnet:?xt=urn:btih:WJBULHWXVGB4OFTTCOE22XU7EYPL3DAP&dn=x&xl=5&ws=http://a/")
	f.Add("magnet:?xt=urn:btmh:1220" + strings.Repeat("ab", 32))
	f.Fuzz(func(t *testing.T, s string) {
		p, err := FromMagnet(s)
		if err != nil {
			if !errors.Is(err, ErrBadMagnet) {
				t.Fatalf("error %v does not wrap ErrBadMagnet", err)
			}
			checkOneLine(t, err)
			return
		}
		if err := ValidatePut(p); err != nil {
			t.Fatalf("FromMagnet gave a put that does not validate: %v", err)
		}
		m := MagnetURI(p)
		if len(m) > MaxMagnetLen {
			return // escaping grew it past the limit; nothing to round-trip
		}
		q, err := FromMagnet(m)
		if err != nil {
			t.Fatalf("FromMagnet(MagnetURI(p)) = %v for %q", err, m)
		}
		if !bytes.Equal(q.InfohashV1, p.InfohashV1) || !bytes.Equal(q.InfohashV2, p.InfohashV2) || q.Name != p.Name ||
			strings.Join(q.Trackers, "\x00") != strings.Join(p.Trackers, "\x00") {
			t.Fatalf("round trip of %q: %+v != %+v", m, q, p)
		}
	})
}

// TestFromTorrentManyFiles: a torrent with more files than a put may list
// keeps the first dag.MaxFiles, and its size still counts them all.
func TestFromTorrentManyFiles(t *testing.T) {
	var files strings.Builder
	n := dag.MaxFiles + 10
	for i := range n {
		fmt.Fprintf(&files, "d6:lengthi1e4:pathl%d:f%05dee", len(fmt.Sprintf("f%05d", i)), i)
	}
	pieces := strings.Repeat("a", 20)
	b := fmt.Sprintf("d4:infod5:filesl%se4:name4:many12:piece lengthi16384e6:pieces20:%see", files.String(), pieces)
	p, err := FromTorrent([]byte(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Files) != dag.MaxFiles || p.Size != uint64(n) || p.Files[0].Path != "many/f00000" {
		t.Errorf("got %d files, size %d, first %q; want %d files, size %d", len(p.Files), p.Size, p.Files[0].Path, dag.MaxFiles, n)
	}
	if err := ValidatePut(p); err != nil {
		t.Error(err)
	}
}
