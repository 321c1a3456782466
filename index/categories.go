package index

import (
	"fmt"
	"strconv"
	"strings"
)

// Category is a Torznab category number, as Sonarr, Radarr and Prowlarr
// know them: a parent is a multiple of 1000 (2000 Movies, 5000 TV, ...) and
// its subcategories lie in the thousand above it (2040 Movies/HD). Numbers
// from 100000 up are site-specific in Torznab and are kept as they are.
// The zero Category means "not given".
type Category uint32

// The parent categories.
const (
	CatConsole Category = 1000
	CatMovies  Category = 2000
	CatAudio   Category = 3000
	CatPC      Category = 4000
	CatTV      Category = 5000
	CatXXX     Category = 6000
	CatBooks   Category = 7000
	CatOther   Category = 8000
)

// categoryNames holds every standard Torznab category, from the newznab
// standard list that Prowlarr and Jackett ship (parent names and "Parent/Sub"
// names).
var categoryNames = map[Category]string{
	1000: "Console", 1010: "Console/NDS", 1020: "Console/PSP", 1030: "Console/Wii",
	1040: "Console/XBox", 1050: "Console/XBox 360", 1060: "Console/Wiiware",
	1070: "Console/XBox 360 DLC", 1080: "Console/PS3", 1090: "Console/Other",
	1110: "Console/3DS", 1120: "Console/PS Vita", 1130: "Console/WiiU",
	1140: "Console/XBox One", 1180: "Console/PS4",

	2000: "Movies", 2010: "Movies/Foreign", 2020: "Movies/Other", 2030: "Movies/SD",
	2040: "Movies/HD", 2045: "Movies/UHD", 2050: "Movies/BluRay", 2060: "Movies/3D",
	2070: "Movies/DVD", 2080: "Movies/WEB-DL",

	3000: "Audio", 3010: "Audio/MP3", 3020: "Audio/Video", 3030: "Audio/Audiobook",
	3040: "Audio/Lossless", 3050: "Audio/Other", 3060: "Audio/Foreign",

	4000: "PC", 4010: "PC/0day", 4020: "PC/ISO", 4030: "PC/Mac", 4040: "PC/Mobile-Other",
	4050: "PC/Games", 4060: "PC/Mobile-iOS", 4070: "PC/Mobile-Android",

	5000: "TV", 5010: "TV/WEB-DL", 5020: "TV/Foreign", 5030: "TV/SD", 5040: "TV/HD",
	5045: "TV/UHD", 5050: "TV/Other", 5060: "TV/Sport", 5070: "TV/Anime",
	5080: "TV/Documentary",

	6000: "XXX", 6010: "XXX/DVD", 6020: "XXX/WMV", 6030: "XXX/XviD", 6040: "XXX/x264",
	6045: "XXX/UHD", 6050: "XXX/Pack", 6060: "XXX/ImageSet", 6070: "XXX/Other",

	7000: "Books", 7010: "Books/Mags", 7020: "Books/EBook", 7030: "Books/Comics",
	7040: "Books/Technical", 7050: "Books/Other", 7060: "Books/Foreign",

	8000: "Other", 8010: "Other/Misc", 8020: "Other/Hashed",
}

// categoryAliases are the extra words ParseCategory accepts, lower case.
var categoryAliases = map[string]Category{
	"movie": CatMovies, "film": CatMovies, "films": CatMovies,
	"music": CatAudio, "software": CatPC, "apps": CatPC, "games": 4050,
	"television": CatTV, "shows": CatTV, "anime": 5070,
	"book": CatBooks, "ebook": 7020, "ebooks": 7020, "comics": 7030,
	"audiobook": 3030, "audiobooks": 3030, "adult": CatXXX, "misc": 8010,
	"consoles": CatConsole, "games/console": CatConsole,
}

// categoryBySlug maps slug(name) of every category to it, built once.
var categoryBySlug = func() map[string]Category {
	m := make(map[string]Category, len(categoryNames)+len(categoryAliases))
	for c, n := range categoryNames {
		m[categorySlug(n)] = c
	}
	for a, c := range categoryAliases {
		m[a] = c
	}
	return m
}()

// categorySlug lower-cases a name and turns spaces into dashes:
// "Console/XBox 360" -> "console/xbox-360".
func categorySlug(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), " ", "-")
}

// Known reports whether c is a standard Torznab category.
func (c Category) Known() bool {
	_, ok := categoryNames[c]
	return ok
}

// Name is the Torznab name of c ("Movies", "TV/HD"), or "" for an unknown
// category.
func (c Category) Name() string { return categoryNames[c] }

// Slug is the lower-case form ParseCategory accepts back ("tv/hd",
// "console/xbox-360"), or the number for an unknown category.
func (c Category) Slug() string {
	if n, ok := categoryNames[c]; ok {
		return categorySlug(n)
	}
	return strconv.FormatUint(uint64(c), 10)
}

// String is the name of c, or its number when it has none.
func (c Category) String() string {
	if n, ok := categoryNames[c]; ok {
		return n
	}
	return strconv.FormatUint(uint64(c), 10)
}

// Parent is the parent category of a subcategory (TV/HD -> TV). A parent
// category, zero and site-specific numbers (100000 and up) are their own
// parent.
func (c Category) Parent() Category {
	if c == 0 || c >= 100000 {
		return c
	}
	return c / 1000 * 1000
}

// Contains reports whether sub is c or one of its subcategories, the way a
// Torznab search for c also returns entries filed under its subcategories.
func (c Category) Contains(sub Category) bool {
	if c == sub {
		return true
	}
	return c != 0 && c == c.Parent() && c < 100000 && sub.Parent() == c
}

// Categories lists every standard Torznab category in numeric order.
func Categories() []Category {
	out := make([]Category, 0, len(categoryNames))
	for c := Category(1000); c < 9000; c += 5 {
		if _, ok := categoryNames[c]; ok {
			out = append(out, c)
		}
	}
	return out
}

// ParseCategory reads a category as a user types it: a number ("5000",
// "2040"), a name or slug in any case ("movies", "TV/HD", "tv>hd", "tv.hd",
// "Console/XBox 360") or a common alias ("music", "anime", "ebooks"). A
// number must be a standard category or a site-specific one (100000 and up).
func ParseCategory(s string) (Category, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("%w: empty", ErrBadCategory)
	}
	if t[0] >= '0' && t[0] <= '9' {
		n, err := strconv.ParseUint(t, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%w: %q is not a number", ErrBadCategory, s)
		}
		c := Category(n)
		if !c.Known() && c < 100000 {
			return 0, fmt.Errorf("%w: %d is not a Torznab category", ErrBadCategory, n)
		}
		return c, nil
	}
	parts := strings.FieldsFunc(strings.ToLower(t), func(r rune) bool { return r == '/' || r == '>' || r == '.' })
	for i, p := range parts {
		parts[i] = strings.Join(strings.FieldsFunc(p, func(r rune) bool { return r == ' ' || r == '_' || r == '-' }), "-")
	}
	k := strings.Join(parts, "/")
	if c, ok := categoryBySlug[k]; ok {
		return c, nil
	}
	return 0, fmt.Errorf("%w: unknown category %q", ErrBadCategory, s)
}
