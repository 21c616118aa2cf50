package bot

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
)

// tokenPattern matches anything shaped like a Bot API token (digits, a colon,
// a long secret), so even a token this process was not given is not logged.
var tokenPattern = regexp.MustCompile(`\d{3,}:[A-Za-z0-9_-]{20,}`)

const redacted = "[redacted]"

// redact removes the token, and anything token-shaped, from s.
func redact(s, token string) string {
	if token != "" {
		s = strings.ReplaceAll(s, token, redacted)
		s = strings.ReplaceAll(s, url.PathEscape(token), redacted)
	}
	return tokenPattern.ReplaceAllString(s, redacted)
}

// redactedError is a transport error with the token taken out of its text. It
// keeps the cause reachable for errors.Is (context.Canceled, timeouts) through
// a copy of the *url.Error whose URL is redacted.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }

// Timeout reports whether the cause was a timeout, as net.Error does.
func (e *redactedError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.cause, &t) && t.Timeout()
}

func redactError(err error, token string) error {
	if err == nil {
		return nil
	}
	var cause error = err
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error's inner error (a net.OpError, a context error) carries
		// addresses, never the path: keep it, with the URL redacted.
		cause = &url.Error{Op: ue.Op, URL: redact(ue.URL, token), Err: ue.Err}
	} else {
		cause = errors.New(redact(err.Error(), token))
	}
	return &redactedError{msg: redact(err.Error(), token), cause: cause}
}

// LibraryLogger adapts slog to go-telegram-bot-api's logger interface and
// redacts every line: the library prints request URLs, which hold the token.
// Install it with tgbotapi.SetLogger once, at start.
func LibraryLogger(l *slog.Logger, token string) interface {
	Println(v ...any)
	Printf(format string, v ...any)
} {
	return libraryLogger{l: l, token: token}
}

type libraryLogger struct {
	l     *slog.Logger
	token string
}

func (g libraryLogger) Println(v ...any) {
	g.l.Warn("telegram library", slog.String("text", redact(strings.TrimSuffix(fmt.Sprintln(v...), "\n"), g.token)))
}

func (g libraryLogger) Printf(format string, v ...any) {
	g.l.Warn("telegram library", slog.String("text", redact(strings.TrimSuffix(fmt.Sprintf(format, v...), "\n"), g.token)))
}
