package mpesatest

import (
	"crypto/rand"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// tokenBody is the OAuth answer; expires_in is a string on the real API.
type tokenBody struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   string `json:"expires_in"`
}

func (s *Simulator) handleToken(r *http.Request) answer {
	if r.Method != http.MethodGet {
		return notFound()
	}
	key, secret, ok := r.BasicAuth()
	if !ok {
		return darajaError(http.StatusBadRequest, "", "400.008.01", "Invalid Authentication passed")
	}
	if s.cfg.checkCreds && !(equal(key, s.cfg.key) && equal(secret, s.cfg.secret)) {
		s.cfg.logger.Info("token refused: wrong consumer credentials")
		return answer{status: http.StatusBadRequest}
	}
	if r.URL.Query().Get("grant_type") != "client_credentials" {
		return darajaError(http.StatusBadRequest, newRequestID(), "400.008.02", "Invalid grant type passed")
	}
	tok := s.issueToken()
	s.cfg.logger.Info("token issued", "expires_in", s.cfg.tokenTTL)
	return jsonAnswer(http.StatusOK, tokenBody{
		AccessToken: tok,
		ExpiresIn:   strconv.FormatInt(int64(s.cfg.tokenTTL/time.Second), 10),
	})
}

func (s *Simulator) issueToken() string {
	tok := newToken()
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, exp := range s.tokens {
		if !now.Before(exp) {
			delete(s.tokens, t)
		}
	}
	s.tokens[tok] = now.Add(s.cfg.tokenTTL)
	return tok
}

// authorized reports whether r carries a bearer token that was issued and has not
// expired or been invalidated.
func (s *Simulator) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return false
	}
	now := s.now()
	s.mu.Lock()
	exp, ok := s.tokens[tok]
	s.mu.Unlock()
	return ok && now.Before(exp)
}

// InvalidateTokens makes every token issued so far invalid: the next push or query
// that uses one is answered 404 with 404.001.03 "Invalid Access Token", as happens
// when Daraja rotates tokens early.
func (s *Simulator) InvalidateTokens() {
	s.mu.Lock()
	clear(s.tokens)
	s.mu.Unlock()
}

// newToken looks like a Daraja access token: 28 letters and digits.
func newToken() string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 28)
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
