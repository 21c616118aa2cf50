package config

import (
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxQuoted keeps a pasted novel out of a problem line.
const maxQuoted = 60

// maxBadEntries is how many bad entries of a list one problem line names.
const maxBadEntries = 5

// quote shows a (non-secret) value in a problem, shortened if long.
func quote(s string) string {
	if utf8.RuneCountInString(s) > maxQuoted {
		s = string([]rune(s)[:maxQuoted]) + "…"
	}
	return strconv.Quote(s)
}

// choice reads a value from a fixed list, in any case, and returns it in the
// list's spelling. ok is false when the value was refused.
func (l *loader) choice(name, def string, allowed ...string) (string, bool) {
	v := l.str(name)
	if v == "" {
		return def, true
	}
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a, true
		}
	}
	l.fail(name, "%s is not one of %s", quote(v), strings.Join(allowed, ", "))
	return def, false
}

func (l *loader) logLevel(name string) slog.Level {
	levels := map[string]slog.Level{
		"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
	}
	v, _ := l.choice(name, "info", "debug", "info", "warn", "error")
	return levels[v]
}

// digits reads a string of ASCII digits of a length in [min, max]; "" when
// unset or refused.
func (l *loader) digits(name string, min, max int) string {
	v := l.str(name)
	if v == "" {
		return ""
	}
	ok := len(v) >= min && len(v) <= max
	for _, r := range v {
		ok = ok && r >= '0' && r <= '9'
	}
	if !ok {
		if min == 1 {
			l.fail(name, "%s must be digits only, at most %d", quote(v), max)
		} else {
			l.fail(name, "%s must be %d to %d digits", quote(v), min, max)
		}
		return ""
	}
	return v
}

// httpURL reads an absolute http(s) URL and drops a trailing "/", since
// callers append paths. callback adds CALLBACK_URL's rules.
func (l *loader) httpURL(name string, callback bool) string {
	v := l.str(name)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil {
		// url's error quotes the text, password and all: say less.
		l.fail(name, "is not a URL: write it like https://example.com/path")
		return ""
	}
	shown := quote(u.Redacted())
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		l.fail(name, "%s must be an absolute http or https URL", shown)
		return ""
	case u.Host == "" || u.Hostname() == "":
		l.fail(name, "%s has no host", shown)
		return ""
	case u.Port() != "" && !validPort(u.Port()):
		l.fail(name, "%s has a port that is not a number from 0 to 65535", shown)
		return ""
	case u.User != nil:
		// Daraja and the mpesa client refuse credentials in the URL, and they
		// would show wherever the URL is printed.
		l.fail(name, "%s must not carry a user name or password", shown)
		return ""
	case callback && (u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(v, "#")):
		l.fail(name, "%s must not have a query or fragment: each payment's callback is CALLBACK_URL/<secret>", shown)
		return ""
	}
	return strings.TrimRight(v, "/")
}

func validPort(p string) bool {
	n, err := strconv.ParseUint(p, 10, 16)
	return err == nil && n <= math.MaxUint16
}

// endpoint reads a Bot API endpoint format. Problems never quote it: a
// mistaken one may hold the bot token in place of a %s.
func (l *loader) endpoint(name string) string {
	v := l.str(name)
	if v == "" {
		return DefaultTelegramAPIEndpoint
	}
	const want = "like https://api.telegram.org/bot%s/%s (the value is not shown: it may hold the token)"
	rest := strings.ReplaceAll(strings.ReplaceAll(v, "%%", ""), "%s", "")
	if strings.Count(v, "%s") != 2 || strings.Contains(rest, "%") {
		l.fail(name, "must contain exactly two %%s, the token and then the method, and no other %% verb: write it %s", want)
		return DefaultTelegramAPIEndpoint
	}
	u, err := url.Parse(fmt.Sprintf(v, "TOKEN", "getMe"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		l.fail(name, "must be an absolute http or https URL once filled in: write it %s", want)
		return DefaultTelegramAPIEndpoint
	}
	return v
}

func (l *loader) transactionDesc(name string) string {
	v := l.str(name)
	if v == "" {
		return DefaultTransactionDesc
	}
	if n := utf8.RuneCountInString(v); n > 13 {
		l.fail(name, "%s is %d characters; Daraja takes at most 13", quote(v), n)
		return DefaultTransactionDesc
	}
	if strings.ContainsFunc(v, unicode.IsControl) {
		l.fail(name, "%s contains a control character", quote(v))
		return DefaultTransactionDesc
	}
	return v
}

// duration reads a Go duration, > 0 (or >= 0 with allowZero).
func (l *loader) duration(name string, def time.Duration, allowZero bool) time.Duration {
	v := l.str(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		l.fail(name, "%s is not a duration: write it like 200ms, 15s or 5m", quote(v))
		return def
	case d < 0 || (d == 0 && !allowZero):
		if allowZero {
			l.fail(name, "must be 0 or more, got %s", quote(v))
		} else {
			l.fail(name, "must be more than 0, got %s", quote(v))
		}
		return def
	}
	return d
}

// integer reads a whole number >= min.
func (l *loader) integer(name string, def, min int64) int64 {
	v := l.str(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	switch {
	case err != nil:
		l.fail(name, "%s is not a whole number", quote(v))
		return def
	case n < min:
		l.fail(name, "must be at least %d, got %d", min, n)
		return def
	case n > math.MaxInt32:
		l.fail(name, "%d is too large", n)
		return def
	}
	return n
}

// rate reads a per-second rate: a finite number >= 0, 0 meaning no limit.
func (l *loader) rate(name string, def float64) float64 {
	v := l.str(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	switch {
	case err != nil || math.IsNaN(f) || math.IsInf(f, 0):
		l.fail(name, "%s is not a number: write it like 25, 0.5 or 0 for no limit", quote(v))
		return def
	case f < 0:
		l.fail(name, "must be 0 (no limit) or more, got %s", quote(v))
		return def
	}
	return f
}

// hostPort reads a listen address; "" means off.
func (l *loader) hostPort(name string) string {
	v := l.str(name)
	if v == "" {
		return ""
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil || !validPort(port) {
		l.fail(name, "%s must be host:port with a numeric port, like :8080 or 127.0.0.1:8080", quote(v))
		return ""
	}
	return v
}

// sameListenAddr reports whether two listen addresses would collide: the
// same port on the same host, or on any host when either listens on all
// interfaces. Port 0 picks a free port each time, so it never collides.
// Host names are compared as written, not resolved.
func sameListenAddr(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil {
		return a == b
	}
	na, _ := strconv.Atoi(pa)
	nb, _ := strconv.Atoi(pb)
	if na != nb || na == 0 {
		return false
	}
	return strings.EqualFold(ha, hb) || allInterfaces(ha) || allInterfaces(hb)
}

func allInterfaces(host string) bool {
	if host == "" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsUnspecified()
}

// prefixes reads comma-separated IP addresses and CIDRs; nil when unset. A
// bare address becomes a single-address prefix (/32 or /128), and an
// IPv4-mapped IPv6 form becomes plain IPv4, as net/http reports IPv4 peers.
// Every bad entry is named in one problem: a list copied from a web page
// tends to carry several of the same typo.
func (l *loader) prefixes(name string) []netip.Prefix {
	v := l.str(name)
	if v == "" {
		return nil
	}
	var (
		out   []netip.Prefix
		bad   []string
		empty int
	)
	for i, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			if empty == 0 {
				empty = i + 1
			}
			continue
		}
		p, reason := parsePrefix(item)
		if reason != "" {
			bad = append(bad, quote(item)+" "+reason)
			continue
		}
		out = append(out, p)
	}
	if len(bad) > maxBadEntries {
		bad = append(bad[:maxBadEntries], fmt.Sprintf("and %d more", len(bad)-maxBadEntries))
	}
	switch {
	case len(bad) > 0:
		l.fail(name, "%s: write IPs or CIDRs separated by commas, like 196.201.214.200, 196.201.212.0/24, 2001:db8::/32", strings.Join(bad, "; "))
		return nil
	case empty > 0:
		l.fail(name, "item %d is empty: write IPs or CIDRs separated by commas, like 196.201.214.200,196.201.212.0/24", empty)
		return nil
	}
	return out
}

// parsePrefix reads one IP or CIDR; reason says what is wrong with it.
func parsePrefix(item string) (netip.Prefix, string) {
	if strings.Contains(item, "%") {
		return netip.Prefix{}, "has an IPv6 zone, which cannot match a sender's address"
	}
	if !strings.Contains(item, "/") {
		ip, err := netip.ParseAddr(item)
		if err != nil {
			return netip.Prefix{}, "is not an IP address"
		}
		ip = ip.Unmap()
		return netip.PrefixFrom(ip, ip.BitLen()), ""
	}
	p, err := netip.ParsePrefix(item)
	if err != nil {
		return netip.Prefix{}, "is not a CIDR"
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if p.Masked() != p {
		// 10.0.0.5/8 may mean 10.0.0.0/8 or 10.0.0.5/32: guessing wrong
		// would let in or shut out a whole network.
		return netip.Prefix{}, fmt.Sprintf("has host bits set: write %s for the network, or %s for the one address", p.Masked(), netip.PrefixFrom(p.Addr(), p.Addr().BitLen()))
	}
	return p, ""
}

func (l *loader) dbPath(name string) string {
	v := l.str(name)
	if v == "" {
		return DefaultDBPath
	}
	if strings.HasSuffix(v, "/") || v == "." || v == ".." {
		l.fail(name, "%s names a folder: give a file, like data/mpesa-bot.db", quote(v))
		return DefaultDBPath
	}
	return v
}

// userIDs reads comma-separated Telegram user IDs. User IDs are positive;
// a negative number is a group's chat ID and could never match a sender.
func (l *loader) userIDs(name string) []int64 {
	v := l.str(name)
	if v == "" {
		return nil
	}
	var ids []int64
	for i, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			l.fail(name, "item %d is empty: write IDs separated by commas, like 111111,222222", i+1)
			return nil
		}
		id, err := strconv.ParseInt(item, 10, 64)
		if err != nil {
			l.fail(name, "%s is not a Telegram user ID (a whole number)", quote(item))
			return nil
		}
		if id <= 0 {
			l.fail(name, "%d is not a user ID: user IDs are positive (negative IDs are group chats)", id)
			return nil
		}
		ids = append(ids, id)
	}
	return ids
}

func (l *loader) chatID(name string) int64 {
	v := l.str(name)
	if v == "" {
		return 0
	}
	id, err := strconv.ParseInt(v, 10, 64)
	switch {
	case err != nil:
		l.fail(name, "%s is not a Telegram chat ID (a whole number, negative for groups)", quote(v))
		return 0
	}
	return id // 0 is off, like unset
}

// merchantName is MERCHANT_NAME: printable text of at most maxMerchantName
// characters, or "" when unset.
func (l *loader) merchantName(name string) string {
	v := l.str(name)
	switch {
	case utf8.RuneCountInString(v) > maxMerchantName:
		l.fail(name, "is longer than %d characters", maxMerchantName)
		return ""
	case strings.IndexFunc(v, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		l.fail(name, "holds a control character")
		return ""
	}
	return v
}

// clock reads an HH:MM time of day (24-hour) as minutes after midnight, or
// -1 when unset.
func (l *loader) clock(name string) int {
	v := l.str(name)
	if v == "" {
		return -1
	}
	t, err := time.Parse("15:04", v)
	if err != nil || len(v) != len("15:04") {
		l.fail(name, "%s is not a time of day like 07:30 or 21:00 (24-hour HH:MM, EAT)", quote(v))
		return -1
	}
	return t.Hour()*60 + t.Minute()
}
