package mpesa

import (
	"bytes"
	"log/slog"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	redacted         = "[REDACTED]"
	maxLoggedSnippet = 200
)

// redactURL keeps the scheme and host of a callback URL and hides the rest:
// the path carries the per-payment callback secret.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		if s == "" {
			return ""
		}
		return redacted
	}
	host := u.Host
	if u.User != nil {
		host = redacted + "@" + host
	}
	if u.Path == "" || u.Path == "/" {
		if u.RawQuery == "" && u.Fragment == "" {
			return u.Scheme + "://" + host + u.Path
		}
	}
	return u.Scheme + "://" + host + "/" + redacted
}

// redactor replaces known secret values in text that came back from Daraja
// before it goes into an error or a log line: Daraja echoes the bearer token
// in "Invalid Access Token - <token>".
type redactor struct{ r *strings.Replacer }

// newRedactor builds a redactor for pairs of (secret, replacement); empty and
// very short secrets are skipped (an empty needle would match everywhere).
func newRedactor(pairs ...string) redactor {
	var keep []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if len(pairs[i]) >= 4 {
			keep = append(keep, pairs[i], pairs[i+1])
		}
	}
	return redactor{r: strings.NewReplacer(keep...)}
}

func (r redactor) String(s string) string {
	if r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// clean makes text from Daraja safe for one log or error line: redacted,
// valid UTF-8, no control characters, bounded.
func (r redactor) clean(s string, maxRunes int) string {
	s = scrubTokenEcho(r.String(strings.ToValidUTF8(s, "?")))
	var b strings.Builder
	n := 0
	for _, c := range s {
		if n == maxRunes {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(c) {
			c = ' '
		}
		b.WriteRune(c)
		n++
	}
	return strings.TrimSpace(b.String())
}

// bodyKind describes a body that is not a Daraja JSON answer, for errors:
// the raw HTML of a gateway page never goes into an error.
func bodyKind(contentType string, body []byte) string {
	t := bytes.TrimSpace(body)
	switch {
	case len(t) == 0:
		return "empty body"
	case strings.Contains(strings.ToLower(contentType), "html") || t[0] == '<':
		return "HTML body (a gateway page, not a Daraja answer)"
	case t[0] == '{' || t[0] == '[':
		return "JSON body that is not a Daraja answer"
	default:
		return "unreadable body"
	}
}

// bodyAttr is the DEBUG view of a response body: redacted and bounded.
func (r redactor) bodyAttr(body []byte) slog.Attr {
	if !utf8.Valid(body) {
		return slog.Int("body_bytes", len(body))
	}
	return slog.String("body", r.clean(string(body), maxLoggedSnippet))
}

// scrubTokenEcho cuts what follows "Invalid Access Token" in Daraja's
// 401.002.01 message: it is a token, possibly not the one in hand (an older
// one, still valid for all we know).
func scrubTokenEcho(s string) string {
	const phrase = "invalid access token"
	i := indexFoldASCII(s, phrase)
	if i < 0 {
		return s
	}
	rest := strings.TrimLeft(s[i+len(phrase):], " -:")
	if rest == "" || rest[0] == '"' {
		return s // nothing echoed after the phrase
	}
	return s[:i+len(phrase)] + " - " + redacted
}

// indexFoldASCII finds an ASCII phrase in s ignoring case, at a byte offset
// of s itself (strings.ToLower may change lengths).
func indexFoldASCII(s, phrase string) int {
	for i := 0; i+len(phrase) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(phrase)], phrase) {
			return i
		}
	}
	return -1
}
