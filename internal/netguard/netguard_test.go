package netguard

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestPublic(t *testing.T) {
	for _, tt := range []struct {
		ip   string
		want bool
	}{
		{"1.1.1.1", true}, {"2606:4700::1111", true},
		{"127.0.0.1", false}, {"::1", false}, {"10.1.2.3", false}, {"172.16.0.1", false},
		{"192.168.1.1", false}, {"169.254.169.254", false}, {"fe80::1", false}, {"fc00::1", false},
		{"0.0.0.0", false}, {"::", false}, {"224.0.0.1", false}, {"100.64.0.1", false},
		{"::ffff:127.0.0.1", false}, {"::ffff:8.8.8.8", true}, {"192.0.2.1", false},
	} {
		if got := Public(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("Public(%s) = %v, want %v", tt.ip, got, tt.want)
		}
	}
}

// TestClient: a loopback server is refused by the guarded client, also
// through a redirect, and reached by the permissive one.
func TestClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, nil)
	if _, err := Client(false).Do(req); !errors.Is(err, ErrPrivate) {
		t.Errorf("guarded client to loopback: %v; want ErrPrivate", err)
	}
	resp, err := Client(true).Do(req)
	if err != nil {
		t.Fatalf("permissive client: %v", err)
	}
	resp.Body.Close()
}
