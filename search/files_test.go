package search

import (
	"reflect"
	"testing"
)

func TestFileFragments(t *testing.T) {
	files := []string{"alpha.txt", "Sub Dir/Gamma.Ray.S01E02.mkv", "beta & <gamma>.bin", "delta.dat", "Show.1080p.mkv", "p.nfo"}
	for _, tc := range []struct {
		query string
		limit int
		want  []string
	}{
		{"gamma", 5, []string{"Sub Dir/<mark>Gamma</mark>.Ray.S01E02.mkv", "beta &amp; &lt;<mark>gamma</mark>&gt;.bin"}},
		{"gamma", 1, []string{"Sub Dir/<mark>Gamma</mark>.Ray.S01E02.mkv"}},
		{"+s01e02 ray", 5, []string{"Sub Dir/Gamma.<mark>Ray</mark>.<mark>S01E02</mark>.mkv"}},
		{"02", 5, []string{"Sub Dir/Gamma.Ray.S01E<mark>02</mark>.mkv"}},
		// Query words are analysed as Search analyses them: "e02" is a term
		// of S01E02 (an episode number yields s01 and e02 beside its parts
		// s, 01, e, 02), "e0" is not, and "1080p" asks for 1080p only, not
		// for its part p.
		{"e02", 5, []string{"Sub Dir/Gamma.Ray.S01<mark>E02</mark>.mkv"}},
		{"e0", 5, nil},
		{"1080p", 5, []string{"Show.<mark>1080p</mark>.mkv"}},
		{"del*", 5, []string{"<mark>delta</mark>.dat"}},
		{`"alpha txt"`, 5, []string{"<mark>alpha</mark>.<mark>txt</mark>"}},
		{"-gamma tags:gamma", 5, nil},
		{"nothing", 5, nil},
		{"", 5, nil},
		{"gamma", 0, nil},
	} {
		if got := FileFragments(tc.query, "", files, tc.limit); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("FileFragments(%q, %d) = %q, want %q", tc.query, tc.limit, got, tc.want)
		}
	}
}

func FuzzFileFragments(f *testing.F) {
	f.Add("gamma del*", "Sub Dir/Gamma.Ray.S01E02.mkv")
	f.Add("\xff*", "\xff\xfe.bin")
	f.Fuzz(func(t *testing.T, q, p string) {
		FileFragments(q, "Sub", []string{p}, 3) // never panics
	})
}

func TestFileFragmentsBelowName(t *testing.T) {
	files := []string{"multi/alpha.txt", "multi/multi.part2.rar", "other/multi.nfo", "multi"}
	got := FileFragments("multi", "multi", files, 5)
	want := []string{"multi/<mark>multi</mark>.part2.rar", "other/<mark>multi</mark>.nfo"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FileFragments below the name = %q, want %q", got, want)
	}
}

func TestSplitMarks(t *testing.T) {
	got := SplitMarks(`a &lt;mark&gt; <mark>beta</mark>.bin <mark>x&amp;y</mark>`)
	want := []Piece{{"a <mark> ", false}, {"beta", true}, {".bin ", false}, {"x&y", true}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SplitMarks = %+v, want %+v", got, want)
	}
}

// TestFileFragmentsCaseFolding: paths are skipped only when no query term
// can occur in them, whatever their case or script.
func TestFileFragmentsCaseFolding(t *testing.T) {
	files := []string{"ΟΔΥΣΣΕΥΣ.txt", "Straße ÄRGER.flac", "ȺBC.bin"}
	for q, want := range map[string]string{
		"οδυσσευς": "<mark>ΟΔΥΣΣΕΥΣ</mark>.txt",
		"ärger":    "Straße <mark>ÄRGER</mark>.flac",
		"ⱥbc":      "<mark>ȺBC</mark>.bin",
	} {
		if got := FileFragments(q, "", files, 5); len(got) != 1 || got[0] != want {
			t.Errorf("FileFragments(%q) = %q, want [%q]", q, got, want)
		}
	}
}
