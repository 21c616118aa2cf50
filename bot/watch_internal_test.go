package bot

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/storage"
)

// noDaraja is a Daraja that must not be called.
type noDaraja struct{ Daraja }

// A store read that fails (a disk hiccup) must not make the watcher forget
// the payment until the next restart: it is checked again later.
func TestWatcherKeepsAPaymentWhoseReadFailed(t *testing.T) {
	st, err := storage.Open(filepath.Join(t.TempDir(), "bot.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{Token: "t", Endpoint: "http://127.0.0.1:1/bot%s/%s", CallbackURL: "https://example.com/cb",
		TransactionDesc: "Payment", MaxAmount: 100, PollInitialDelay: time.Second, PollInterval: time.Second, PollTimeout: time.Minute},
		st, noDaraja{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil { // every read fails from now on
		t.Fatal(err)
	}
	b.checkPayment(context.Background(), "0123456789abcdef")
	if n := b.watcher.len(); n != 1 {
		t.Errorf("watched payments = %d after a failed read, want 1 (scheduled again)", n)
	}
}

// The sender of a callback is the peer, or behind trusted proxies the first
// X-Forwarded-For hop from the right that is not one of them.
func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, c := range []struct {
		name, peer string
		xff        []string
		want       string // "" = unreadable
	}{
		{"PeerWithoutProxies", "196.201.214.200:443", nil, "196.201.214.200"},
		{"UntrustedPeerIgnoresForwardedFor", "203.0.113.9:1", []string{"196.201.214.200"}, "203.0.113.9"},
		{"TrustedPeerNamesTheSender", "10.1.2.3:1", []string{"196.201.214.200"}, "196.201.214.200"},
		{"RightmostUntrustedHopWins", "10.1.2.3:1", []string{"196.201.214.200, 203.0.113.9"}, "203.0.113.9"},
		{"ProxyChainIsSkipped", "10.1.2.3:1", []string{"196.201.214.200, 10.9.9.9"}, "196.201.214.200"},
		{"SeveralHeadersReadInOrder", "10.1.2.3:1", []string{"203.0.113.9", "196.201.214.200"}, "196.201.214.200"},
		{"HopWithAPort", "10.1.2.3:1", []string{"196.201.214.200:5555"}, "196.201.214.200"},
		{"GarbageHopIsUnreadable", "10.1.2.3:1", []string{"not-an-ip"}, ""},
		{"TrustedPeerWithoutHeaderIsThePeer", "10.1.2.3:1", nil, "10.1.2.3"},
		{"IPv4MappedPeer", "[::ffff:196.201.214.200]:443", nil, "196.201.214.200"},
		{"IPv6Proxy", "[::1]:8080", []string{"196.201.214.200"}, "196.201.214.200"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/cb/x", nil)
			r.RemoteAddr = c.peer
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got, ok := clientIP(r, proxies)
			switch {
			case c.want == "" && ok:
				t.Errorf("clientIP = %s, want unreadable", got)
			case c.want != "" && (!ok || got.String() != c.want):
				t.Errorf("clientIP = %s (%v), want %s", got, ok, c.want)
			}
		})
	}
}

// A payment scheduled again while it is being checked is not handed to a
// second worker (two queries at once): it waits for the check to finish,
// at the earlier of the times asked for.
func TestWatcherNeverChecksOnePaymentTwiceAtOnce(t *testing.T) {
	w := newWatcher(nil, 2)
	now := time.Now()
	w.schedule("p1", now)
	if id, _ := w.next(now); id != "p1" {
		t.Fatalf("next = %q, want p1", id)
	}
	w.schedule("p1", now.Add(time.Minute))
	w.schedule("p1", now.Add(time.Second))
	if id, _ := w.next(now.Add(time.Hour)); id != "" {
		t.Fatalf("next during the check = %q, want nothing", id)
	}
	w.done("p1")
	if id, _ := w.next(now.Add(time.Second)); id != "p1" {
		t.Errorf("after the check: next = %q, want p1 due at the earlier time", id)
	}
	w.done("p1")
	if n := w.len(); n != 0 {
		t.Errorf("watched = %d after a check that scheduled nothing, want 0", n)
	}
}
