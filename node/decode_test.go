package node

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

var lineSeeds = []string{
	`{"name":"Some.Release.2024.1080p","title":"Some Release","size":123,"category":2040,"tags":["hd","x"],` +
		`"files":[{"path":"Some.Release.2024.1080p/a.mkv","size":123}],"published":"2024-01-02T03:04:05Z",` +
		`"infohash_v1":"0123456789abcdef0123456789abcdef01234567","meta":{"imdb":"tt1"},"private":true}`,
	`{"name":"\u00e9t\u00e9 \ud83c\udf89","TITLE":"case","Size":1}`,
	`{"name":"x","name":"dup"}`,
	`{"size":-1}`,
	`{"size":1e3}`,
	`{"size":18446744073709551616}`,
	`{"category":4294967296}`,
	`{"tags":"notalist"}`,
	`{"files":[{"path":1}]}`,
	`{"published":"yesterday"}`,
	`{"published":null,"tags":null}`,
	`{"name":"a"} trailing`,
	`{"name":"a"`,
	`[]`,
	`null`,
	`"str"`,
	``,
	`{"name":"bad \x01 control"}`,
	"{\"name\":\"invalid utf8 \xff\"}",
	`{"unknown":{"deep":[1,2,{"x":null}]},"name":"ok"}`,
	`{"meta":{"a":1}}`,
	`{"score":1.5,"publishers":2,"history":[{}]}`,
}

// decodeLine (goccy/go-json) and encoding/json agree on what a line is:
// both reject it, or both accept it with the same value.
func FuzzDecodeLine(f *testing.F) {
	for _, s := range lineSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got, want EntryView
		gerr := decodeLine(bytes.Clone(b), &got)
		werr := json.Unmarshal(b, &want)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("%q: decodeLine err %v, encoding/json err %v", b, gerr, werr)
		}
		if gerr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: decodeLine %+v, encoding/json %+v", b, got, want)
		}
	})
}

// The import reuses its line buffer: nothing decoded may alias it.
func TestDecodeLineCopies(t *testing.T) {
	b := []byte(lineSeeds[0])
	var v EntryView
	if err := decodeLine(b, &v); err != nil {
		t.Fatal(err)
	}
	want := v.Name + "|" + v.Title + "|" + v.Tags[0] + "|" + v.Files[0].Path + "|" + v.Meta["imdb"] + "|" + v.InfohashV1
	for i := range b {
		b[i] = 'Z'
	}
	if got := v.Name + "|" + v.Title + "|" + v.Tags[0] + "|" + v.Files[0].Path + "|" + v.Meta["imdb"] + "|" + v.InfohashV1; got != want {
		t.Fatalf("decoded fields changed with the buffer: %q, want %q", got, want)
	}
}
