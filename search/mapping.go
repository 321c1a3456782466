package search

import (
	"math"
	"strconv"
	"strings"

	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/numeric"
	index "github.com/blevesearch/bleve_index_api"
)

// Field names in the bleve index. They are also the names users write in
// field:value queries.
const (
	fieldText        = "text" // every full-text word, see textField
	fieldTitle       = "title"
	fieldDescription = "description"
	fieldName        = "name"
	fieldFiles       = "files"
	fieldCategory    = "category"
	fieldCatGroup    = "catgroup" // the parent Torznab category (5030 -> 5000)
	fieldTags        = "tags"
	fieldAuthor      = "author"
	fieldIndex       = "index"
	fieldV1          = "infohash_v1"
	fieldV2          = "infohash_v2"
	fieldSize        = "size"
	fieldPublished   = "published"
	fieldPubDay      = "pubday" // publish day, for listing the most recent first (recent.go)
)

// textFields are the analysed fields, merged into fieldText. A field query
// on one of them (title:matrix) searches fieldText.
var textFields = []string{fieldTitle, fieldDescription, fieldName, fieldFiles}

// mappingVersion is stored in the index; an index built with another
// version is discarded and rebuilt (its cursor reads 0). Bump it whenever
// newDocument or newMapping change what is indexed.
const mappingVersion = "indexd-search-4"

// newMapping describes the index for bleve's query parser, sorting and
// highlighting. Documents are not built through it (see newDocument), so
// it only has to agree with newDocument on field names, types and
// analyzers.
func newMapping() *mapping.IndexMappingImpl {
	m := bleveMapping()
	m.DefaultAnalyzer = AnalyzerName
	m.DefaultField = fieldText
	m.StoreDynamic = false
	m.IndexDynamic = false
	m.DocValuesDynamic = false

	dm := mapping.NewDocumentStaticMapping()
	text := func(store bool) *mapping.FieldMapping {
		f := mapping.NewTextFieldMapping()
		f.Analyzer = AnalyzerName
		f.Store = store
		f.IncludeInAll = false
		f.IncludeTermVectors = store
		f.DocValues = false
		return f
	}
	kw := func(store, docValues bool) *mapping.FieldMapping {
		f := mapping.NewKeywordFieldMapping()
		f.Store = store
		f.IncludeInAll = false
		f.IncludeTermVectors = false
		f.DocValues = docValues
		return f
	}
	dm.AddFieldMappingsAt(fieldText, text(false))
	dm.AddFieldMappingsAt(fieldTitle, text(true))
	dm.AddFieldMappingsAt(fieldName, text(true))
	dm.AddFieldMappingsAt(fieldDescription, text(false))
	dm.AddFieldMappingsAt(fieldFiles, text(false))
	dm.AddFieldMappingsAt(fieldCategory, kw(false, true))
	dm.AddFieldMappingsAt(fieldCatGroup, kw(false, false))
	dm.AddFieldMappingsAt(fieldTags, kw(false, true))
	dm.AddFieldMappingsAt(fieldAuthor, kw(false, false))
	dm.AddFieldMappingsAt(fieldIndex, kw(false, false))
	dm.AddFieldMappingsAt(fieldPubDay, kw(false, false))
	dm.AddFieldMappingsAt(fieldV1, kw(true, false))
	dm.AddFieldMappingsAt(fieldV2, kw(true, false))
	num := mapping.NewNumericFieldMapping()
	num.Store, num.IncludeInAll, num.DocValues = false, false, true
	dm.AddFieldMappingsAt(fieldSize, num)
	dt := mapping.NewDateTimeFieldMapping()
	dt.Store, dt.IncludeInAll, dt.DocValues = false, false, true
	dm.AddFieldMappingsAt(fieldPublished, dt)
	m.DefaultMapping = dm
	return m
}

func bleveMapping() *mapping.IndexMappingImpl { return mapping.NewIndexMapping() }

// Indexing options of each kind of field. Only the infohashes (for
// collapsing) and the title and name (for highlighting) are stored; sort
// and facet fields keep doc values.
const (
	optKeyword      = index.IndexField
	optKeywordFacet = index.IndexField | index.DocValues
	optKeywordStore = index.IndexField | index.StoreField
	optStoreOnly    = index.StoreField
	optNumeric      = index.IndexField | index.DocValues
	optNumericType  = 'n' // bleve's encoded type byte for numbers
	optText         = index.IndexField | index.IncludeTermVectors
)

// newDocument turns d into a bleve document without reflection.
func newDocument(d *Doc) *document.Document {
	doc := document.NewDocument(d.ID)
	doc.Fields = make([]document.Field, 0, 12+len(d.Tags))
	doc.AddField(newTextField(d))
	if d.Title != "" {
		doc.AddField(document.NewTextFieldCustom(fieldTitle, nil, []byte(d.Title), optStoreOnly, nil))
	}
	if d.Name != "" {
		doc.AddField(document.NewTextFieldCustom(fieldName, nil, []byte(d.Name), optStoreOnly, nil))
	}
	cat := strconv.FormatUint(uint64(d.Category), 10)
	doc.AddField(document.NewTextFieldCustom(fieldCategory, nil, []byte(cat), optKeywordFacet, nil))
	doc.AddField(document.NewTextFieldCustom(fieldCatGroup, nil, []byte(strconv.FormatUint(uint64(d.Category/1000*1000), 10)), optKeyword, nil))
	for i, t := range d.Tags {
		doc.AddField(document.NewTextFieldCustom(fieldTags, []uint64{uint64(i)}, []byte(normTag(t)), optKeywordFacet, nil))
	}
	if d.Author != "" {
		doc.AddField(document.NewTextFieldCustom(fieldAuthor, nil, []byte(d.Author), optKeyword, nil))
	}
	if d.Index != "" {
		doc.AddField(document.NewTextFieldCustom(fieldIndex, nil, []byte(d.Index), optKeyword, nil))
	}
	if d.InfohashV1 != "" {
		doc.AddField(document.NewTextFieldCustom(fieldV1, nil, []byte(strings.ToLower(d.InfohashV1)), optKeywordStore, nil))
	}
	if d.InfohashV2 != "" {
		doc.AddField(document.NewTextFieldCustom(fieldV2, nil, []byte(strings.ToLower(d.InfohashV2)), optKeywordStore, nil))
	}
	doc.AddField(newNumField(fieldSize, int64(min(d.Size, math.MaxInt64))))
	var pub int64
	if !d.Published.IsZero() {
		pub = d.Published.UnixNano()
	}
	doc.AddField(newNumField(fieldPublished, pub))
	doc.AddField(document.NewTextFieldCustom(fieldPubDay, nil, pubDay(pub), optKeyword, nil))
	return doc
}

// normTag is how tags are compared: trimmed and lower-cased.
func normTag(t string) string { return strings.ToLower(strings.TrimSpace(t)) }

// Positions of consecutive sources in textField are this far apart, so a
// phrase never spans two of them.
const positionGap = 100

// textField is the one inverted full-text field of a document. It analyses
// title, name, description and file paths once each and merges their terms
// into a single posting list per term, as a composite field would, without
// indexing each source again on its own. Term locations (positions and
// offsets, for phrases and highlighting) are kept only for title and name,
// which are short; description and file terms carry frequencies only, so
// phrase queries match within a title or a name.
type textField struct {
	d      *Doc
	length int
	freqs  index.TokenFrequencies
}

func newTextField(d *Doc) *textField { return &textField{d: d} }

func (f *textField) Name() string                        { return fieldText }
func (f *textField) Value() []byte                       { return nil }
func (f *textField) ArrayPositions() []uint64            { return nil }
func (f *textField) EncodedFieldType() byte              { return 't' }
func (f *textField) Options() index.FieldIndexingOptions { return optText }
func (f *textField) AnalyzedLength() int                 { return f.length }
func (f *textField) AnalyzedTokenFrequencies() index.TokenFrequencies {
	return f.freqs
}
func (f *textField) NumPlainTextBytes() uint64 {
	n := len(f.d.Title) + len(f.d.Description) + len(f.d.Name)
	for _, p := range f.d.Files {
		n += len(p)
	}
	return uint64(n)
}
func (f *textField) Size() int { return 64 }

// Analyze implements index.Field.
func (f *textField) Analyze() {
	f.freqs = make(index.TokenFrequencies, 64)
	base := 0
	// The texts are copied into one buffer (the lower-casing filter may
	// rewrite a term in place) and the term counts allocated in slabs.
	buf := make([]byte, 0, f.NumPlainTextBytes())
	var slab []index.TokenFreq
	add := func(source, text string, locs bool) {
		if text == "" {
			return
		}
		start := len(buf)
		buf = append(buf, text...)
		toks := releaseAnalyzer.Analyze(buf[start:len(buf):len(buf)])
		f.length += len(toks)
		var tls []index.TokenLocation
		if locs {
			tls = make([]index.TokenLocation, len(toks))
		}
		last := 0
		for i, t := range toks {
			tf, ok := f.freqs[string(t.Term)]
			if !ok {
				if len(slab) == cap(slab) {
					slab = make([]index.TokenFreq, 0, 32)
				}
				slab = append(slab, index.TokenFreq{Term: t.Term})
				tf = &slab[len(slab)-1]
				f.freqs[string(t.Term)] = tf
			}
			tf.SetFrequency(tf.Frequency() + 1)
			if locs {
				tls[i] = index.TokenLocation{Field: source, Start: t.Start, End: t.End, Position: base + t.Position}
				tf.Locations = append(tf.Locations, &tls[i])
			}
			last = max(last, t.Position)
		}
		base += last + positionGap
	}
	add(fieldTitle, f.d.Title, true)
	add(fieldName, f.d.Name, true)
	add(fieldDescription, f.d.Description, false)
	for _, p := range f.d.Files {
		add(fieldFiles, fileTail(p, f.d.Name), false)
	}
}

// fileTail is what of file path p is analysed: a multi-file torrent's
// paths all start with its name as the top folder ("name/dir/file"), and a
// single-file torrent's one path is its name, which was analysed already.
// Analysing the name again for every file was a third of the text of a
// typical entry, and only inflated the frequencies of the name's words.
func fileTail(p, name string) string {
	if name == "" || !strings.HasPrefix(p, name) {
		return p
	}
	if len(p) == len(name) {
		return ""
	}
	if p[len(name)] == '/' {
		return p[len(name)+1:]
	}
	return p
}

// numField is a number indexed as one term: its full-precision prefix
// code, with doc values. bleve's own numeric field adds 15 lower-precision
// terms for range queries, which cost two thirds of the indexing time;
// here sorting reads the doc values, and size and date ranges are checked
// on the doc values of the candidates (see rangeFilter). Values are int64:
// bytes for size, Unix nanoseconds for published.
type numField struct {
	name  string
	value int64
	term  []byte
	freqs index.TokenFrequencies
}

func newNumField(name string, v int64) *numField {
	return &numField{name: name, value: v, term: numeric.MustNewPrefixCodedInt64(v, 0)}
}

func (f *numField) Name() string                        { return f.name }
func (f *numField) Value() []byte                       { return f.term }
func (f *numField) ArrayPositions() []uint64            { return nil }
func (f *numField) EncodedFieldType() byte              { return optNumericType }
func (f *numField) Options() index.FieldIndexingOptions { return optNumeric }
func (f *numField) AnalyzedLength() int                 { return 1 }
func (f *numField) AnalyzedTokenFrequencies() index.TokenFrequencies {
	return f.freqs
}
func (f *numField) NumPlainTextBytes() uint64 { return 8 }
func (f *numField) Size() int                 { return 64 + len(f.term) }
func (f *numField) Number() (float64, error)  { return float64(f.value), nil }

// Analyze implements index.Field.
func (f *numField) Analyze() {
	tf := &index.TokenFreq{Term: f.term}
	tf.SetFrequency(1)
	f.freqs = index.TokenFrequencies{string(f.term): tf}
}

// pubDay is the term of the UTC day of a publish time in Unix
// nanoseconds: the day number plus dayBias, 7 digits, so terms sort as
// days do for every date from 1970 minus 2700 years to well past 9999.
func pubDay(unixNano int64) []byte {
	day := unixNano / dayNanos
	if unixNano < 0 && unixNano%dayNanos != 0 {
		day--
	}
	return strconv.AppendInt(nil, day+dayBias, 10)
}

const (
	dayNanos = 86400 * 1e9
	dayBias  = 1000000
)
