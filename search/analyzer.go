package search

import (
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/registry"
)

// Names under which the release-name analysis is registered with bleve.
const (
	// TokenizerName splits release names and paths, keeping compounds whole.
	TokenizerName = "indexd_release"
	// AnalyzerName is TokenizerName followed by unicode lower-casing; it
	// indexes the full-text fields.
	AnalyzerName = "indexd_release"
	// QueryAnalyzerName is the analyzer applied to the words a user types:
	// the same splitting, lower-cased, but words only: no whole chunks, so
	// that "The.Matrix.1999" matches every name that contains those three
	// words, and no parts, as every indexed word carries its parts already
	// ("1080p" need not also ask for the very common "p").
	QueryAnalyzerName = "indexd_release_query"
)

func init() {
	// registry.Register* only fail on a duplicate name, which is a
	// programmer error in this package.
	if err := registry.RegisterTokenizer(TokenizerName, func(config map[string]interface{}, cache *registry.Cache) (analysis.Tokenizer, error) {
		return &ReleaseTokenizer{Chunks: true}, nil
	}); err != nil {
		panic(err)
	}
	if err := registry.RegisterAnalyzer(AnalyzerName, func(config map[string]interface{}, cache *registry.Cache) (analysis.Analyzer, error) {
		return releaseAnalyzer, nil
	}); err != nil {
		panic(err)
	}
	if err := registry.RegisterAnalyzer(QueryAnalyzerName, func(config map[string]interface{}, cache *registry.Cache) (analysis.Analyzer, error) {
		return queryAnalyzer, nil
	}); err != nil {
		panic(err)
	}
}

var (
	releaseAnalyzer = &analysis.DefaultAnalyzer{
		Tokenizer:    &ReleaseTokenizer{Chunks: true},
		TokenFilters: []analysis.TokenFilter{lowercase.NewLowerCaseFilter()},
	}
	queryAnalyzer = &analysis.DefaultAnalyzer{
		Tokenizer:    &ReleaseTokenizer{NoParts: true},
		TokenFilters: []analysis.TokenFilter{lowercase.NewLowerCaseFilter()},
	}
)

// ReleaseTokenizer splits text the way release names and file paths are
// written. It works on three levels:
//
//   - chunks are separated by white space, '/', '\\' and any punctuation or
//     symbol other than the inner separators below;
//   - words are the parts of a chunk separated by the inner separators
//     '.', '_', '-' and '\”;
//   - parts are the parts of a word at a change between digits and letters,
//     or between scripts whose words are not space separated (Han,
//     Hiragana, Katakana, Hangul) and the rest.
//
// Every word is a token. A word of several parts also yields each part, at
// the same position as the word (and an episode number such as S01E02 its
// s01 and e02), and a chunk of several words also yields the whole chunk,
// at the position of its first word, when Chunks is set.
// So "The.Matrix.1999.1080p.BluRay.x264-GRP.mkv" gives the, matrix, 1999,
// 1080p, 1080, p, bluray, x264, x, 264, grp, mkv and the whole name, and
// "multi/alpha.txt" gives multi, alpha.txt, alpha and txt.
//
// Positions count words, so a phrase query treats a word and its parts as
// alternatives at one position. Start and End are byte offsets into the
// input. Tokenize never panics: invalid UTF-8 decodes as U+FFFD, a symbol,
// so it separates chunks. It allocates the token structs (in slabs) and
// nothing else; terms alias the input.
type ReleaseTokenizer struct {
	Chunks  bool // also emit whole chunks of several words
	NoParts bool // do not emit the parts of a word
}

// rune classes
const (
	clsHard  = iota // chunk separator
	clsInner        // word separator inside a chunk
	clsDigit
	clsLetter
	clsHan
	clsHiragana
	clsKatakana
	clsHangul
	clsMark // combining mark: continues the class before it
)

// seasonEpisode reports whether a word's parts are an episode number as
// release names write it: S or E, each followed by digits, at least twice
// (S01E02, s2024e05, S01E02E03).
func seasonEpisode(input []byte, parts [][2]int, cls []int) bool {
	if len(parts) < 4 || len(parts)%2 != 0 {
		return false
	}
	for i := 0; i < len(parts); i += 2 {
		p := parts[i]
		if p[1]-p[0] != 1 || cls[i+1] != clsDigit {
			return false
		}
		switch input[p[0]] {
		case 's', 'S', 'e', 'E':
		default:
			return false
		}
	}
	return true
}

func classify(r rune) int {
	switch {
	case r < utf8.RuneSelf:
		switch {
		case r >= '0' && r <= '9':
			return clsDigit
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
			return clsLetter
		case r == '.' || r == '_' || r == '-' || r == '\'':
			return clsInner
		}
		return clsHard
	case unicode.IsDigit(r):
		return clsDigit
	case unicode.Is(unicode.Han, r):
		return clsHan
	case unicode.Is(unicode.Hiragana, r):
		return clsHiragana
	case unicode.Is(unicode.Katakana, r):
		if r == 'ー' { // prolonged sound mark, used by both kana
			return clsMark
		}
		return clsKatakana
	case unicode.Is(unicode.Hangul, r):
		return clsHangul
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsMark(r):
		return clsMark
	case r == '’': // typographic apostrophe
		return clsInner
	}
	return clsHard
}

// Tokenize implements analysis.Tokenizer.
func (t *ReleaseTokenizer) Tokenize(input []byte) analysis.TokenStream {
	rv := make(analysis.TokenStream, 0, 1+len(input)/4)
	pos := 0

	// Current chunk, word and part, as byte ranges; -1 when not in one.
	chunkStart, chunkEnd, chunkWords, chunkPos := -1, -1, 0, 0
	wordStart, wordEnd, wordParts := -1, -1, 0
	partStart, partCls := -1, -1
	var parts [][2]int // parts of the current word, reused
	var partCls0 []int

	// Tokens are allocated in slabs, not one by one; a full slab is left
	// to the tokens that point into it, never grown.
	var slab []analysis.Token
	emit := func(start, end, position int, typ analysis.TokenType) {
		if len(slab) == cap(slab) {
			slab = make([]analysis.Token, 0, max(16, cap(rv)-len(rv)))
		}
		slab = append(slab, analysis.Token{
			Start: start, End: end, Term: input[start:end],
			Position: position, Type: typ,
		})
		rv = append(rv, &slab[len(slab)-1])
	}
	endPart := func(end int) {
		if partStart < 0 {
			return
		}
		parts = append(parts, [2]int{partStart, end})
		partCls0 = append(partCls0, partCls)
		wordParts++
		partStart = -1
	}
	endWord := func() {
		if wordStart < 0 {
			return
		}
		endPart(wordEnd)
		pos++
		if chunkWords == 0 {
			chunkPos = pos
		}
		chunkWords++
		typ := analysis.AlphaNumeric
		if wordParts == 1 && partCls0[0] == clsDigit {
			typ = analysis.Numeric
		}
		emit(wordStart, wordEnd, pos, typ)
		if wordParts > 1 && !t.NoParts {
			for i, p := range parts {
				typ := analysis.AlphaNumeric
				if partCls0[i] == clsDigit {
					typ = analysis.Numeric
				}
				emit(p[0], p[1], pos, typ)
			}
			if seasonEpisode(input, parts, partCls0) {
				// S01E02 also yields s01 and e02, so "Show S01" finds
				// the season's episodes as well as its packs.
				for i := 0; i < len(parts); i += 2 {
					emit(parts[i][0], parts[i+1][1], pos, analysis.AlphaNumeric)
				}
			}
		}
		parts, partCls0 = parts[:0], partCls0[:0]
		wordStart, wordEnd, wordParts = -1, -1, 0
	}
	endChunk := func() {
		endWord()
		if t.Chunks && chunkWords > 1 {
			emit(chunkStart, chunkEnd, chunkPos, analysis.AlphaNumeric)
		}
		chunkStart, chunkEnd, chunkWords = -1, -1, 0
	}

	for i := 0; i < len(input); {
		r, w := rune(input[i]), 1
		if r >= utf8.RuneSelf {
			r, w = utf8.DecodeRune(input[i:])
		}
		c := classify(r)
		switch c {
		case clsHard:
			endChunk()
		case clsInner:
			endWord()
		default:
			if c == clsMark {
				if wordStart < 0 {
					// A mark with nothing to attach to separates words.
					endWord()
					i += w
					continue
				}
				c = partCls
			}
			if wordStart < 0 {
				wordStart = i
			}
			if chunkStart < 0 {
				chunkStart = i
			}
			if partStart >= 0 && c != partCls {
				endPart(i)
			}
			if partStart < 0 {
				partStart, partCls = i, c
			}
			wordEnd = i + w
			chunkEnd = i + w
		}
		i += w
	}
	endChunk()
	return rv
}
