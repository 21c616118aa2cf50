package bot

import (
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// allowCallbacks refuses callbacks from addresses outside allowed (403,
// nothing changed) before the payment is even looked up. With no allowed
// list every sender is let through: the per-payment secret and the
// matching rules still decide what is believed.
func (b *Bot) allowCallbacks(next http.HandlerFunc) http.HandlerFunc {
	allowed, trusted := b.cfg.CallbackAllowedIPs, b.cfg.TrustedProxies
	if len(allowed) == 0 {
		return next
	}
	// A flood from outside is counted in full but logged once a second.
	logEvery := &rate.Sometimes{Interval: time.Second}
	return func(w http.ResponseWriter, r *http.Request) {
		ip, ok := clientIP(r, trusted)
		if !ok || !containsAddr(allowed, ip) {
			b.metrics.callback("forbidden")
			from := "unreadable"
			if ok {
				from = ip.String()
			}
			logEvery.Do(func() {
				b.log.Warn("callback from an address outside CALLBACK_ALLOWED_IPS refused", slog.String("client_ip", from))
			})
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		next(w, r)
	}
}

// clientIP is the address a request came from: the peer's, or, when the
// peer is a trusted proxy, the nearest address in X-Forwarded-For that is
// not one. Addresses are read right to left because each proxy appends the
// one it saw: only the part written by proxies we trust can be believed, and
// anything left of the first untrusted hop may be forged by the client.
func clientIP(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	ip := peer.Addr().Unmap()
	if !containsAddr(trusted, ip) {
		return ip, true
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseHop(hops[i])
		if !ok {
			return netip.Addr{}, false // garbage where a trusted proxy wrote: believe nothing
		}
		ip = hop
		if !containsAddr(trusted, hop) {
			return hop, true
		}
	}
	return ip, true
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a port.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func containsAddr(prefixes []netip.Prefix, ip netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
