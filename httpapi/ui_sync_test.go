package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"indexd/node"
)

// TestUISyncingShown: the network page marks an index catching up or
// indexing, and the search page warns that results may be incomplete.
func TestUISyncingShown(t *testing.T) {
	e := newEnv(t, Options{})
	render := func(name string, data any) string {
		t.Helper()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		e.s.ui.render(rec, req, http.StatusOK, name, &page{Title: "t", Data: data})
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", name, rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	net := render("network.html", &networkData{Status: &node.Status{Indexes: []node.IndexStatus{
		{Key: "aaa", CatchUp: &node.CatchUp{Peers: 1, Remaining: 42}, Unindexed: 9},
		{Key: "bbb", Unindexed: 7},
		{Key: "ccc"},
	}}})
	for _, want := range []string{
		`data-live="sync-aaa">syncing · about 42 to go<`,
		`data-live="sync-bbb">indexing · 7 to go<`,
		`data-live="sync-ccc" hidden><`,
	} {
		if !strings.Contains(net, want) {
			t.Errorf("network page lacks %q", want)
		}
	}
	for _, c := range []struct {
		s    *node.Syncing
		want string // "" = no notice
	}{
		{&node.Syncing{Remaining: 5, Peers: 2}, "Still syncing from 2 peers: about 5 more entries on the way"},
		{&node.Syncing{Remaining: 1, Peers: 1}, "Still syncing from 1 peer: about 1 more entry on the way"},
		{&node.Syncing{Remaining: 3}, "Still syncing: about 3 more entries on the way"},
		{nil, ""},
	} {
		page := render("search.html", &searchData{Res: &node.SearchResponse{Syncing: c.s}})
		switch {
		case c.want == "" && strings.Contains(page, "Still syncing"):
			t.Errorf("%+v: search page warns of a sync", c.s)
		case c.want != "" && !strings.Contains(page, c.want):
			t.Errorf("%+v: search page lacks %q", c.s, c.want)
		}
	}
}
