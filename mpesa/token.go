package mpesa

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// tokenRefreshMargin: a token is replaced this long before it expires, so a
// request never leaves with a token that dies on the way.
const tokenRefreshMargin = 60 * time.Second

// tokenCache holds the access token and the one fetch in flight.
type tokenCache struct {
	mu        sync.Mutex
	token     string
	refreshAt time.Time // fetch a new one from here on
	expiresAt time.Time // still usable until here if a refresh fails
	inflight  *tokenFetch
}

// tokenFetch is one token request that any number of callers wait for.
type tokenFetch struct {
	done  chan struct{}
	token string
	err   error
	// abandoned: the fetching caller's ctx ended; the result says nothing
	// about Daraja, so a waiter with time left fetches again itself.
	abandoned bool
}

// Token returns a valid access token (function 1 of the original module),
// from the cache when it is more than 60 s from expiry. However many
// goroutines ask at once, one request is made; the others wait for it, each
// as long as its own ctx allows. Errors are *AuthenticationError; a bad
// consumer key or secret reads "HTTP 400 from Daraja, empty body: check
// MPESA_CONSUMER_KEY/SECRET".
func (c *Client) Token(ctx context.Context) (string, error) {
	for {
		now := c.cfg.Now()
		c.tokens.mu.Lock()
		if c.tokens.token != "" && now.Before(c.tokens.refreshAt) {
			tok := c.tokens.token
			c.tokens.mu.Unlock()
			return tok, nil
		}
		if f := c.tokens.inflight; f != nil {
			c.tokens.mu.Unlock()
			select {
			case <-f.done:
				if !f.abandoned {
					return f.token, f.err
				}
				if ctx.Err() == nil {
					continue
				}
			case <-ctx.Done():
			}
			return "", &AuthenticationError{Base: &Error{Op: opToken, Message: "gave up waiting for an access token", Err: ctx.Err()}}
		}
		f := &tokenFetch{done: make(chan struct{})}
		c.tokens.inflight = f
		c.tokens.mu.Unlock()
		return c.fetchShared(ctx, f, now)
	}
}

// fetchShared makes the fetch f that other callers wait for, stores its
// result and releases them.
func (c *Client) fetchShared(ctx context.Context, f *tokenFetch, now time.Time) (tok string, err error) {
	released := false
	defer func() {
		if !released {
			// A panic below must not leave the waiters waiting forever.
			c.tokens.mu.Lock()
			c.tokens.inflight = nil
			f.abandoned = true
			c.tokens.mu.Unlock()
			close(f.done)
		}
	}()
	tok, ttl, err := c.fetchToken(ctx, now)
	after := c.cfg.Now()

	fellBack := false
	c.tokens.mu.Lock() // nothing that can panic until Unlock
	c.tokens.inflight = nil
	switch {
	case err == nil && ttl > 0:
		margin := min(tokenRefreshMargin, ttl/2)
		c.tokens.token = tok
		c.tokens.refreshAt = now.Add(ttl - margin)
		c.tokens.expiresAt = now.Add(ttl)
	case err != nil && c.tokens.token != "" && after.Before(c.tokens.expiresAt):
		// Refreshing early failed but the current token has not expired:
		// keep working with it and try again on the next call.
		fellBack = true
		tok = c.tokens.token
	}
	if fellBack {
		f.token = tok
	} else {
		f.token, f.err = tok, err
		f.abandoned = err != nil && ctx.Err() != nil
	}
	c.tokens.mu.Unlock()
	released = true
	close(f.done)
	if fellBack {
		c.log.LogAttrs(ctx, slog.LevelWarn, "mpesa: token refresh failed, using the current token",
			slog.String("error", err.Error()))
		return tok, nil
	}
	return tok, err
}

// InvalidateToken drops the cached token; the next call fetches a new one.
func (c *Client) InvalidateToken() {
	c.tokens.mu.Lock()
	defer c.tokens.mu.Unlock()
	c.tokens.token = ""
	c.tokens.refreshAt, c.tokens.expiresAt = time.Time{}, time.Time{}
}

// dropToken drops tok from the cache after Daraja refused it, unless another
// goroutine already replaced it.
func (c *Client) dropToken(tok string) {
	c.tokens.mu.Lock()
	defer c.tokens.mu.Unlock()
	if c.tokens.token == tok {
		c.tokens.token = ""
		c.tokens.refreshAt, c.tokens.expiresAt = time.Time{}, time.Time{}
	}
}

// fetchToken asks Daraja for a token. ttl is 0 when the answer had no usable
// expires_in: the token is then used once and not cached.
func (c *Client) fetchToken(ctx context.Context, now time.Time) (string, time.Duration, error) {
	fail := func(e *Error) (string, time.Duration, error) {
		e.Op = opToken
		c.log.LogAttrs(ctx, slog.LevelError, "mpesa: token request failed",
			slog.Int("status", e.StatusCode), slog.String("error_code", e.Code), slog.String("error", e.Error()))
		return "", 0, &AuthenticationError{Base: e}
	}
	a, err := c.doRetrying(ctx, http.MethodGet, PathToken, nil, c.basic)
	if err != nil {
		return fail(&Error{Message: "no answer from Daraja's OAuth endpoint", Err: err})
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "mpesa: token response", slog.Int("status", a.status),
		slog.Int("body_bytes", len(a.body))) // the body is the token itself: never logged
	if a.readErr != nil {
		return fail(&Error{StatusCode: a.status, Message: "the answer was cut off", Err: a.readErr})
	}
	if a.status != http.StatusOK {
		e := &Error{StatusCode: a.status}
		if de, ok := decodeDarajaError(a.body); ok {
			e.Code, e.RequestID = de.ErrorCode.String(), c.static.clean(de.RequestID.String(), 64)
			e.Message = c.static.clean(de.ErrorMessage.String(), maxErrorMessageRunes)
		} else {
			e.Message = bodyKind(a.contentType, a.body)
		}
		if a.status == http.StatusBadRequest || a.status == http.StatusUnauthorized || a.status == http.StatusForbidden {
			e.Message += ": check MPESA_CONSUMER_KEY/SECRET"
		}
		return fail(e)
	}
	var body struct {
		AccessToken string     `json:"access_token"`
		ExpiresIn   flexString `json:"expires_in"`
	}
	if err := json.Unmarshal(a.body, &body); err != nil || body.AccessToken == "" {
		return fail(&Error{StatusCode: a.status, Message: "the answer holds no access_token (" + bodyKind(a.contentType, a.body) + ")"})
	}
	var ttl time.Duration
	if body.ExpiresIn != "" {
		secs, err := strconv.ParseFloat(body.ExpiresIn.String(), 64)
		if err != nil || secs <= 0 || secs > 366*24*3600 {
			return fail(&Error{StatusCode: a.status, Message: "unreadable expires_in " + strconv.Quote(c.static.clean(body.ExpiresIn.String(), 20))})
		}
		ttl = time.Duration(secs * float64(time.Second))
	}
	c.log.LogAttrs(ctx, slog.LevelInfo, "mpesa: token obtained", slog.Duration("expires_in", ttl),
		slog.Time("obtained_at", now))
	return body.AccessToken, ttl, nil
}
