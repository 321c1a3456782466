package scrape

import (
	"context"
	"encoding/binary"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
)

func ih(b byte) [20]byte {
	var h [20]byte
	for i := range h {
		h[i] = b
	}
	return h
}

// TestHTTP: the scrape URL follows BEP 48, every infohash is asked for,
// and the counts come back; a failure reason is an error.
func TestHTTP(t *testing.T) {
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail/scrape" {
			w.Write([]byte("d14:failure reason8:go away!e"))
			return
		}
		if r.URL.Path != "/x/scrape.php" || r.URL.Query().Get("passkey") != "k" {
			http.NotFound(w, r)
			return
		}
		asked = r.URL.Query()["info_hash"]
		a, b := ih(1), ih(2)
		resp := map[string]any{"files": map[string]any{
			string(a[:]): map[string]int{"complete": 5, "incomplete": 2, "downloaded": 40},
			string(b[:]): map[string]int{"complete": 0, "incomplete": 1, "downloaded": 0},
			"short":      map[string]int{"complete": 9},
		}}
		enc, _ := bencode.Marshal(resp)
		w.Write(enc)
	}))
	defer srv.Close()
	got, err := Scrape(context.Background(), srv.URL+"/x/announce.php?passkey=k", [][20]byte{ih(1), ih(2), ih(3)}, true)
	if err != nil {
		t.Fatal(err)
	}
	one := ih(1)
	if len(asked) != 3 || asked[0] != string(one[:]) {
		t.Errorf("asked for %d infohashes", len(asked))
	}
	if got[ih(1)] != (Stats{5, 2, 40}) || got[ih(2)] != (Stats{0, 1, 0}) || len(got) != 2 {
		t.Errorf("Scrape = %+v", got)
	}
	if _, err := Scrape(context.Background(), srv.URL+"/fail/announce", [][20]byte{ih(1)}, true); err == nil || !strings.Contains(err.Error(), "go away") {
		t.Errorf("failure reason: %v", err)
	}
	for _, u := range []string{srv.URL + "/no-announce-here", "wss://t/announce", "::bad"} {
		if _, err := Scrape(context.Background(), u, [][20]byte{ih(1)}, true); err == nil {
			t.Errorf("Scrape(%s): no error", u)
		}
	}
}

// udpTracker answers BEP 15 connect and scrape requests; drop makes it
// ignore the first packet (a lost datagram).
func udpTracker(t *testing.T, drop bool, stats func([20]byte) (uint32, uint32, uint32)) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	conn := uint64(0x1122334455667788)
	go func() {
		buf := make([]byte, 2048)
		for first := true; ; first = false {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if first && drop {
				continue
			}
			p := buf[:k]
			if len(p) < 16 {
				continue
			}
			action, tx := binary.BigEndian.Uint32(p[8:12]), p[12:16]
			switch {
			case action == 0 && binary.BigEndian.Uint64(p[:8]) == udpMagic:
				out := binary.BigEndian.AppendUint32(nil, 0)
				out = append(append(out, tx...), binary.BigEndian.AppendUint64(nil, conn)...)
				pc.WriteTo(out, from)
			case action == 2 && binary.BigEndian.Uint64(p[:8]) == conn:
				out := binary.BigEndian.AppendUint32(nil, 2)
				out = append(out, tx...)
				for h := p[16:]; len(h) >= 20; h = h[20:] {
					s, c, l := stats([20]byte(h[:20]))
					out = binary.BigEndian.AppendUint32(out, s)
					out = binary.BigEndian.AppendUint32(out, c)
					out = binary.BigEndian.AppendUint32(out, l)
				}
				pc.WriteTo(out, from)
			default:
				out := binary.BigEndian.AppendUint32(nil, 3)
				pc.WriteTo(append(append(out, tx...), "bad request"...), from)
			}
		}
	}()
	return "udp://" + pc.LocalAddr().String() + "/announce"
}

// TestUDP: connect then scrape, counts in order; a lost first datagram is
// sent again; silence ends in an error within the context's deadline.
func TestUDP(t *testing.T) {
	for _, drop := range []bool{false, true} {
		u := udpTracker(t, drop, func(h [20]byte) (uint32, uint32, uint32) { return uint32(h[0]) * 10, 7, uint32(h[0]) })
		got, err := Scrape(context.Background(), u, [][20]byte{ih(1), ih(2)}, true)
		if err != nil {
			t.Fatalf("drop=%v: %v", drop, err)
		}
		if got[ih(1)] != (Stats{10, 1, 7}) || got[ih(2)] != (Stats{20, 2, 7}) {
			t.Errorf("drop=%v: Scrape = %+v", drop, got)
		}
	}
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := Scrape(ctx, "udp://"+silent.LocalAddr().String(), [][20]byte{ih(1)}, true); err == nil {
		t.Error("a silent tracker: no error")
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("a silent tracker held Scrape for %v past its 0.5 s deadline", time.Since(start))
	}
}

// FuzzDecodeHTTP and FuzzDecodeUDP: tracker responses never panic, and
// counts are never negative.
func FuzzDecodeHTTP(f *testing.F) {
	f.Add([]byte("d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei5e10:downloadedi1e10:incompletei2eeee"))
	f.Add([]byte("d14:failure reason3:nope"))
	f.Add([]byte("d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei-5eeee"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := DecodeHTTP(b)
		if err != nil {
			return
		}
		for _, s := range got {
			if s.Seeders < 0 || s.Leechers < 0 || s.Completed < 0 {
				t.Fatalf("negative counts %+v", s)
			}
		}
	})
}

func FuzzDecodeUDP(f *testing.F) {
	f.Add(make([]byte, 24), 2)
	f.Add(make([]byte, 13), 1)
	f.Fuzz(func(t *testing.T, b []byte, k int) {
		if k < 0 || k > MaxHashes {
			return
		}
		ihs := make([][20]byte, k)
		for i := range ihs {
			ihs[i] = ih(byte(i))
		}
		got, err := DecodeUDP(b, ihs)
		if err == nil && len(got) > k {
			t.Fatalf("%d stats for %d infohashes", len(got), k)
		}
	})
}

// TestPrivateRefused: without allowPrivate a tracker on loopback is not
// contacted, over HTTP or UDP.
func TestPrivateRefused(t *testing.T) {
	asked := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { asked = true }))
	defer srv.Close()
	u := udpTracker(t, false, func([20]byte) (uint32, uint32, uint32) { return 1, 1, 1 })
	for _, tr := range []string{srv.URL + "/announce", u} {
		if _, err := Scrape(context.Background(), tr, [][20]byte{ih(1)}, false); err == nil || !strings.Contains(err.Error(), "non-public") {
			t.Errorf("Scrape(%s) without allowPrivate: %v; want a refusal", tr, err)
		}
	}
	if asked {
		t.Error("the loopback HTTP tracker was contacted")
	}
}
