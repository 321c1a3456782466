// Package synth generates realistic, deterministic torrent-like entries for
// benchmarks and tests: release-style names, titles from a word list whose
// frequencies follow a Zipf law (so common-word queries have many hits), a
// Torznab category, 3 tags, 5 file paths, a size, a publish time and
// infohashes, a few percent of them re-published by another author.
//
// Entry i of a seed depends only on (seed, i): entries can be generated in
// any order or in parallel, and a benchmark and a test see the same ones.
// It imports nothing from the module, so any package may use it.
package synth

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Entry is one synthetic torrent entry.
type Entry struct {
	Title       string
	Description string
	Name        string   // release name, as in the .torrent
	Files       []string // 5 paths, the first under Name
	Category    uint32   // Torznab number
	Tags        []string // 3 distinct tags
	Size        uint64   // total bytes
	Published   time.Time
	InfohashV1  string // 40 lowercase hex
	InfohashV2  string // 64 lowercase hex, "" for v1-only (about 80%)
	Author      int    // index into a pool of Authors identities
	RepostOf    int    // index of the entry whose infohashes this one repeats, or -1
}

// Authors is the size of the identity pool Entry.Author indexes.
const Authors = 500

// RepostRate is the share of entries that repeat an earlier entry's
// infohashes under another author.
const RepostRate = 0.02

// Base is the publish time of entry 0; entry i is published about i
// minutes later.
var Base = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// Entries calls fn for entries 0..n-1 of seed, in order. fn may keep e.
func Entries(seed int64, n int, fn func(i int, e Entry)) {
	for i := 0; i < n; i++ {
		fn(i, Make(seed, i))
	}
}

// Make returns entry i of seed.
func Make(seed int64, i int) Entry {
	r := rng(seed, i, 0)
	var e Entry
	e.RepostOf = -1
	src := i
	if i > 0 && r.Float64() < RepostRate {
		// Repost the original, never a repost.
		src = origin(seed, r.IntN(i))
		e.RepostOf = src
	}
	// The content (name, files, hashes, size, category) comes from src,
	// the publication (author, time, tags order, description) from i.
	c := rng(seed, src, 1)
	kind := kinds[c.IntN(len(kinds))]
	e.Category = kind.cats[c.IntN(len(kind.cats))]
	e.Title, e.Name = kind.gen(c, e.Category)
	e.Files = files(c, kind.ext, e.Name)
	e.Size = size(c, kind.meanMiB)
	e.InfohashV1, e.InfohashV2 = hashes(c)
	e.Tags = pickTags(c, kind.tags)
	if e.RepostOf >= 0 {
		e.Title = e.Title + " " + reposts[r.IntN(len(reposts))]
	}
	e.Description = describe(r, e.Category, e.Title)
	e.Author = r.IntN(Authors)
	e.Published = Base.Add(time.Duration(i)*time.Minute + time.Duration(r.IntN(60))*time.Second)
	return e
}

// origin is the entry whose content entry i carries.
func origin(seed int64, i int) int {
	for i > 0 {
		r := rng(seed, i, 0)
		if r.Float64() >= RepostRate {
			break
		}
		i = r.IntN(i)
	}
	return i
}

func rng(seed int64, i int, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed)^stream<<56, uint64(i)*0x9E3779B97F4A7C15+1))
}

// zipf picks an index in [0, n) with a Zipf law of exponent about 1.
func zipf(r *rand.Rand, n int) int {
	// Inverse CDF of a continuous 1/x law over [1, n+1).
	x := math.Exp(r.Float64()*math.Log(float64(n)+1)) - 1
	return min(int(x), n-1)
}

func word(r *rand.Rand) string { return words[zipf(r, len(words))] }

func titleWords(r *rand.Rand, k int) []string {
	ws := make([]string, k)
	for j := range ws {
		w := word(r)
		ws[j] = strings.ToUpper(w[:1]) + w[1:]
	}
	return ws
}

// describe writes a description the way uploaders do: the title, then
// boilerplate about the release from a technical vocabulary shared by
// most entries. (Free prose drawn from the title word list would put every
// common title word in a third of all descriptions, which real
// descriptions are not like.)
func describe(r *rand.Rand, cat uint32, title string) string {
	var b strings.Builder
	b.WriteString(title)
	b.WriteString(". ")
	switch cat / 1000 {
	case 2, 5:
		b.WriteString("Video: " + codecs[r.IntN(len(codecs))] + ", " + res(r, cat) + ". Audio: " + languages[r.IntN(len(languages))] + " " + audioFormats[r.IntN(len(audioFormats))] + ". Subtitles: " + languages[r.IntN(len(languages))] + ", " + languages[r.IntN(len(languages))] + ".")
	case 3:
		b.WriteString("Tracklist: ")
		for t := 1; t <= 3; t++ {
			b.WriteString(strconv.Itoa(t) + ". " + strings.Join(titleWords(r, 1+r.IntN(2)), " ") + " ")
		}
		b.WriteString("Ripped with EAC, log and cue included.")
	case 4:
		b.WriteString("Installer for Windows 64-bit, offline setup. Language: " + languages[r.IntN(len(languages))] + ". Read the nfo before installing.")
	case 7:
		b.WriteString("Format: EPUB, retail. Language: " + languages[r.IntN(len(languages))] + ". Pages: " + strconv.Itoa(100+r.IntN(700)) + ".")
	default:
		b.WriteString("Archive of " + strconv.Itoa(2+r.IntN(500)) + " files, unpack with 7-Zip.")
	}
	if r.IntN(4) == 0 {
		b.WriteString(" " + boilerplate[r.IntN(len(boilerplate))])
	}
	return b.String()
}

type kind struct {
	cats    []uint32
	ext     string
	meanMiB float64
	tags    []string
	gen     func(r *rand.Rand, cat uint32) (title, name string)
}

var kinds = []kind{
	{[]uint32{2030, 2040, 2040, 2045}, "mkv", 4000, movieTags, movie},
	{[]uint32{2030, 2040, 2040, 2045}, "mkv", 4000, movieTags, movie},
	{[]uint32{5030, 5040, 5040, 5045, 5070}, "mkv", 1200, tvTags, tv},
	{[]uint32{5030, 5040, 5040, 5045, 5070}, "mkv", 1200, tvTags, tv},
	{[]uint32{3010, 3040}, "flac", 400, audioTags, album},
	{[]uint32{4010, 4050}, "exe", 2000, pcTags, software},
	{[]uint32{7020}, "epub", 5, bookTags, book},
	{[]uint32{8000}, "zip", 300, otherTags, other},
}

func res(r *rand.Rand, cat uint32) string {
	switch cat {
	case 2030, 5030:
		return "480p"
	case 2045, 5045:
		return "2160p"
	}
	if r.IntN(3) == 0 {
		return "720p"
	}
	return "1080p"
}

func movie(r *rand.Rand, cat uint32) (string, string) {
	ws := titleWords(r, 1+r.IntN(4))
	year := strconv.Itoa(1950 + r.IntN(76))
	title := strings.Join(ws, " ") + " (" + year + ")"
	name := strings.Join(ws, ".") + "." + year + "." + res(r, cat) + "." + sources[r.IntN(len(sources))] + "." + codecs[r.IntN(len(codecs))] + "-" + groups[r.IntN(len(groups))]
	return title, name
}

func tv(r *rand.Rand, cat uint32) (string, string) {
	ws := titleWords(r, 1+r.IntN(3))
	s, ep := 1+r.IntN(12), 1+r.IntN(24)
	se := "S" + pad2(s) + "E" + pad2(ep)
	title := strings.Join(ws, " ") + " " + se
	name := strings.Join(ws, ".") + "." + se + "." + res(r, cat) + "." + sources[r.IntN(len(sources))] + "." + codecs[r.IntN(len(codecs))] + "-" + groups[r.IntN(len(groups))]
	return title, name
}

func album(r *rand.Rand, cat uint32) (string, string) {
	artist := strings.Join(titleWords(r, 1+r.IntN(2)), " ")
	al := strings.Join(titleWords(r, 1+r.IntN(3)), " ")
	year := strconv.Itoa(1960 + r.IntN(66))
	format := "MP3 320"
	if cat == 3040 {
		format = "FLAC"
	}
	title := artist + " - " + al + " (" + year + ")"
	return title, title + " [" + format + "]"
}

func software(r *rand.Rand, cat uint32) (string, string) {
	ws := titleWords(r, 1+r.IntN(2))
	v := "v" + strconv.Itoa(1+r.IntN(20)) + "." + strconv.Itoa(r.IntN(10)) + "." + strconv.Itoa(r.IntN(100))
	title := strings.Join(ws, " ") + " " + v
	return title, strings.Join(ws, ".") + "." + v + ".x64-" + groups[r.IntN(len(groups))]
}

func book(r *rand.Rand, cat uint32) (string, string) {
	author := strings.Join(titleWords(r, 2), " ")
	t := strings.Join(titleWords(r, 2+r.IntN(4)), " ")
	title := author + " - " + t
	return title, title + " (" + strconv.Itoa(1900+r.IntN(126)) + ") EPUB"
}

func other(r *rand.Rand, cat uint32) (string, string) {
	ws := titleWords(r, 2+r.IntN(3))
	return strings.Join(ws, " "), strings.Join(ws, "_")
}

func pad2(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// files returns 5 paths: the main file and 4 companions.
func files(r *rand.Rand, ext, name string) []string {
	base := strings.ReplaceAll(name, " ", ".")
	fs := []string{name + "/" + base + "." + ext}
	for len(fs) < 5 {
		switch r.IntN(6) {
		case 0:
			fs = append(fs, name+"/Sample/"+strings.ToLower(base)+"-sample."+ext)
		case 1:
			fs = append(fs, name+"/Subs/"+languages[r.IntN(len(languages))]+".srt")
		case 2:
			fs = append(fs, name+"/"+strings.ToLower(base)+".nfo")
		case 3:
			fs = append(fs, name+"/Screens/screen"+pad2(len(fs))+".jpg")
		case 4:
			fs = append(fs, name+"/Extras/"+strings.Join(titleWords(r, 2), ".")+"."+ext)
		default:
			fs = append(fs, name+"/"+word(r)+".txt")
		}
	}
	return fs
}

func size(r *rand.Rand, meanMiB float64) uint64 {
	f := math.Exp(r.NormFloat64() * 0.8) // log-normal around the mean
	return uint64(meanMiB * f * (1 << 20))
}

func hashes(r *rand.Rand) (v1, v2 string) {
	var b [32]byte
	for j := 0; j < 32; j += 8 {
		binary.LittleEndian.PutUint64(b[j:], r.Uint64())
	}
	v1 = hex.EncodeToString(b[:20])
	if r.IntN(5) == 0 {
		for j := 0; j < 32; j += 8 {
			binary.LittleEndian.PutUint64(b[j:], r.Uint64())
		}
		v2 = hex.EncodeToString(b[:])
	}
	return v1, v2
}

func pickTags(r *rand.Rand, list []string) []string {
	var t [3]string
	n := 0
	for n < 3 {
		c := list[zipf(r, len(list))]
		if c != t[0] && c != t[1] {
			t[n] = c
			n++
		}
	}
	return t[:]
}
