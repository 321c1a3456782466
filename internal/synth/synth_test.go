package synth

import (
	"reflect"
	"strings"
	"testing"
)

func TestDeterministic(t *testing.T) {
	var first []Entry
	Entries(7, 200, func(i int, e Entry) { first = append(first, e) })
	for i := 199; i >= 0; i-- {
		if got := Make(7, i); !reflect.DeepEqual(got, first[i]) {
			t.Fatalf("Make(7, %d) = %+v; want %+v", i, got, first[i])
		}
	}
	if reflect.DeepEqual(Make(8, 5), first[5]) {
		t.Errorf("seeds 7 and 8 give the same entry 5")
	}
}

func TestShape(t *testing.T) {
	const n = 5000
	reposts, the, v2 := 0, 0, 0
	cats := map[uint32]int{}
	Entries(1, n, func(i int, e Entry) {
		if len(e.Files) != 5 || len(e.Tags) != 3 || e.Tags[0] == e.Tags[1] || e.Tags[1] == e.Tags[2] || e.Tags[0] == e.Tags[2] {
			t.Fatalf("entry %d: %d files, tags %q", i, len(e.Files), e.Tags)
		}
		if len(e.InfohashV1) != 40 || (e.InfohashV2 != "" && len(e.InfohashV2) != 64) || e.Title == "" || e.Name == "" || e.Size == 0 {
			t.Fatalf("entry %d malformed: %+v", i, e)
		}
		if e.RepostOf >= 0 {
			reposts++
			if src := Make(1, e.RepostOf); src.InfohashV1 != e.InfohashV1 || src.Name != e.Name {
				t.Fatalf("entry %d reposts %d but differs", i, e.RepostOf)
			}
		}
		if e.InfohashV2 != "" {
			v2++
		}
		if strings.Contains(" "+strings.ToLower(e.Title)+" ", " the ") {
			the++
		}
		cats[e.Category/1000*1000]++
	})
	if reposts < n/100 || reposts > n/20 {
		t.Errorf("%d reposts of %d; want about 2%%", reposts, n)
	}
	if the < n/20 {
		t.Errorf("%d titles with \"the\" of %d; want a common word", the, n)
	}
	if v2 < n/10 || len(cats) != 6 {
		t.Errorf("v2 %d, categories %v", v2, cats)
	}
}

func BenchmarkMake(b *testing.B) {
	for i := 0; b.Loop(); i++ {
		Make(1, i)
	}
}
