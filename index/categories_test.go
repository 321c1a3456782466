package index

import (
	"errors"
	"testing"
)

func TestParseCategory(t *testing.T) {
	tests := []struct {
		in   string
		want Category
	}{
		{"movies", 2000}, {"Movies", 2000}, {"MOVIES", 2000}, {"2000", 2000},
		{"5000", 5000}, {"tv", 5000}, {"TV", 5000}, {"tv/hd", 5040}, {"TV/HD", 5040},
		{"tv>hd", 5040}, {"tv.hd", 5040}, {"TV / HD", 5040}, {"5040", 5040},
		{"movies/web-dl", 2080}, {"Movies/WEB-DL", 2080}, {"movies/uhd", 2045},
		{"audio", 3000}, {"music", 3000}, {"audio/lossless", 3040},
		{"pc", 4000}, {"pc/games", 4050}, {"pc/mobile-ios", 4060},
		{"books", 7000}, {"ebooks", 7020}, {"books/ebook", 7020},
		{"other", 8000}, {"xxx", 6000}, {"console/xbox 360", 1050}, {"console/xbox-360", 1050},
		{"anime", 5070}, {" 7000 ", 7000}, {"100001", 100001},
	}
	for _, tt := range tests {
		got, err := ParseCategory(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseCategory(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", " ", "9999", "2001", "0", "movies/nope", "-5", "99999999999", "//", "tv/nothing"} {
		if got, err := ParseCategory(bad); !errors.Is(err, ErrBadCategory) {
			t.Errorf("ParseCategory(%q) = %v, %v; want ErrBadCategory", bad, got, err)
		}
	}
}

func TestCategoryNames(t *testing.T) {
	all := Categories()
	if len(all) < 60 {
		t.Fatalf("Categories() has %d; want the whole Torznab list", len(all))
	}
	for i, c := range all {
		if i > 0 && all[i-1] >= c {
			t.Errorf("Categories() not sorted at %d", i)
		}
		// Every name and slug parses back to its category.
		for _, s := range []string{c.Name(), c.Slug(), c.String()} {
			if got, err := ParseCategory(s); err != nil || got != c {
				t.Errorf("ParseCategory(%q) = %v, %v; want %v", s, got, err, c)
			}
		}
		if p := c.Parent(); !p.Known() || p%1000 != 0 || !p.Contains(c) {
			t.Errorf("%v.Parent() = %v", c, p)
		}
	}
	if got := Category(5040).Parent(); got != CatTV {
		t.Errorf("5040.Parent() = %v; want TV", got)
	}
	if got := Category(5040).String(); got != "TV/HD" {
		t.Errorf("5040.String() = %q", got)
	}
	if CatTV.Contains(2040) || Category(5040).Contains(5000) || !CatMovies.Contains(2045) {
		t.Error("Contains is wrong")
	}
	if got := Category(123456).String(); got != "123456" {
		t.Errorf("String of a site category = %q", got)
	}
}
