package bot

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

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
