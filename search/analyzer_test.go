package search

import (
	"slices"
	"strings"
	"testing"
)

func analyze(query bool, s string) []string {
	a := releaseAnalyzer
	if query {
		a = queryAnalyzer
	}
	var out []string
	for _, tok := range a.Analyze([]byte(s)) {
		out = append(out, string(tok.Term))
	}
	slices.Sort(out)
	return out
}

func TestReleaseAnalyzer(t *testing.T) {
	tests := []struct {
		in   string
		want string // space separated, any order
	}{
		{"The.Matrix.1999.1080p.BluRay.x264-GRP.mkv",
			"the matrix 1999 1080 p 1080p bluray x 264 x264 grp mkv the.matrix.1999.1080p.bluray.x264-grp.mkv"},
		{"multi/alpha.txt", "multi alpha txt alpha.txt"},
		{"日本語", "日本語"},
		{"進撃の巨人 S01E02", "進撃の巨人 進撃 の 巨人 s01e02 s 01 e 02 s01 e02"},
		{"Show.S01E02E03.720p", "show s01e02e03 s 01 e 02 e 03 s01 e02 e03 720p 720 p show.s01e02e03.720p"},
		{"s2024e105", "s2024e105 s 2024 e 105 s2024 e105"},
		{"a1b2 S01 E1 x264 S01E 1S01E02", "a1b2 a 1 b 2 s01 s 01 e1 e 1 x264 x 264 s01e s 01 e 1s01e02 1 s 01 e 02"},
		{"кириллица.Фильм 2020", "кириллица фильм 2020 кириллица.фильм"},
		{"", ""},
		{"...", ""},
		{"-GRP-", "grp"},
		{"a  b\tc", "a b c"},
		{"Ocean's.Eleven[2001]", "ocean s eleven 2001 ocean's.eleven"},
		{"Season 1/Episode_02.srt", "season 1 episode 02 srt episode_02.srt"},
		{"ÉCOLE", "école"},
		{"caf\u0065\u0301", "cafe\u0301"},
		{"\xff\xfeabc", "abc"},
	}
	for _, tt := range tests {
		got := analyze(false, tt.in)
		want := strings.Fields(tt.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("analyze(%q) = %q; want %q", tt.in, got, want)
		}
	}
}

func TestQueryAnalyzerDropsChunks(t *testing.T) {
	got := analyze(true, "The.Matrix 1080p")
	want := []string{"1080p", "matrix", "the"}
	if !slices.Equal(got, want) {
		t.Errorf("query analyze = %q; want %q", got, want)
	}
}

func TestReleaseTokenizerPositions(t *testing.T) {
	toks := (&ReleaseTokenizer{Chunks: true}).Tokenize([]byte("a.b1 c"))
	pos := map[string]int{}
	for _, tok := range toks {
		pos[string(tok.Term)] = tok.Position
		if string(tok.Term) != "a.b1 c"[tok.Start:tok.End] {
			t.Errorf("token %q has offsets %d:%d", tok.Term, tok.Start, tok.End)
		}
	}
	want := map[string]int{"a": 1, "b1": 2, "b": 2, "1": 2, "a.b1": 1, "c": 3}
	for k, v := range want {
		if pos[k] != v {
			t.Errorf("position of %q = %d; want %d", k, pos[k], v)
		}
	}
}

func FuzzReleaseTokenizer(f *testing.F) {
	for _, s := range []string{"The.Matrix.1999.1080p.BluRay.x264-GRP.mkv", "multi/alpha.txt", "日本語", "\xff", "a\u0301-ー"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		in := []byte(s)
		for _, tok := range (&ReleaseTokenizer{Chunks: true}).Tokenize(in) {
			if tok.Start < 0 || tok.End > len(in) || tok.Start >= tok.End || tok.Position < 1 {
				t.Fatalf("bad token %v", tok)
			}
		}
	})
}

func TestFileTail(t *testing.T) {
	tests := []struct{ path, name, want string }{
		{"multi/alpha.txt", "multi", "alpha.txt"},
		{"multi/sub/beta.txt", "multi", "sub/beta.txt"},
		{"Movie.mkv", "Movie.mkv", ""},                  // single file: the path is the name
		{"multiplex/a.txt", "multi", "multiplex/a.txt"}, // a longer folder, not the name
		{"other/a.txt", "multi", "other/a.txt"},
		{"a.txt", "", "a.txt"},
	}
	for _, tt := range tests {
		if got := fileTail(tt.path, tt.name); got != tt.want {
			t.Errorf("fileTail(%q, %q) = %q, want %q", tt.path, tt.name, got, tt.want)
		}
	}
}
