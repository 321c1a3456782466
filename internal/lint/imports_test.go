// Package lint holds repository-wide checks that are not tied to one package.
package lint

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// layer gives each top-level package its height in DESIGN.md's diagram.
// A package may import only packages of a strictly lower layer; siblings on
// the same layer (index and search) never import each other.
var layer = map[string]int{
	"indexd/feedtree":   0,
	"indexd/dag":        1,
	"indexd/content":    1,
	"indexd/index":      2,
	"indexd/search":     2,
	"indexd/replicate":  3,
	"indexd/node":       4,
	"indexd/httpapi":    5,
	"indexd/cmd/indexd": 6,
}

// thirdParty lists libraries that only one package (and its tests) may
// import, so a dependency stays behind one door (STYLE.md L2).
var thirdParty = map[string][]string{
	"github.com/blevesearch/bleve":  {"indexd/search"},
	"github.com/libp2p/go-libp2p":   {"indexd/replicate"},
	"github.com/anacrolix/torrent/": {"indexd/index"},
}

type pkg struct {
	ImportPath  string
	Imports     []string
	TestImports []string
	Deps        []string
}

func TestForbiddenImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports,TestImports,Deps", "indexd/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		seen++
		from, ok := layerOf(p.ImportPath)
		for _, d := range p.Deps {
			if ok {
				if to, ok2 := layerOf(d); ok2 && to >= from && !sameTree(p.ImportPath, d) {
					t.Errorf("%s (layer %d) imports %s (layer %d): imports must point down", p.ImportPath, from, d, to)
				}
			}
		}
		// Third-party doors are checked on direct imports: a package above
		// search reaches bleve through search, which is the point.
		for _, d := range append(p.Imports, p.TestImports...) {
			for lib, allowed := range thirdParty {
				if strings.HasPrefix(d, lib) && !allowedFor(p.ImportPath, allowed) {
					t.Errorf("%s imports %s; only %v may", p.ImportPath, d, allowed)
				}
			}
		}
	}
	if seen < 2 {
		t.Fatalf("go list returned %d packages; want the whole module", seen)
	}
}

// layerOf finds the layer of path or of the top-level package it lives under.
func layerOf(path string) (int, bool) {
	for p, l := range layer {
		if path == p || strings.HasPrefix(path, p+"/") {
			return l, true
		}
	}
	return 0, false
}

func sameTree(a, b string) bool {
	top := func(s string) string {
		for p := range layer {
			if s == p || strings.HasPrefix(s, p+"/") {
				return p
			}
		}
		return s
	}
	return top(a) == top(b)
}

func allowedFor(path string, allowed []string) bool {
	if strings.HasPrefix(path, "indexd/internal/") {
		return true
	}
	for _, a := range allowed {
		if path == a || strings.HasPrefix(path, a+"/") {
			return true
		}
	}
	return false
}
