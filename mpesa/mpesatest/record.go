package mpesatest

import (
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Request is one request the simulator received, recorded once whatever happened
// to it.
type Request struct {
	Endpoint Endpoint // "" for an unknown path
	Method   string
	Path     string
	Header   http.Header
	Body     []byte
	// Status is the HTTP status sent; 0 while the answer is being prepared and
	// when none was sent (a dropped connection, a client that gave up).
	Status int
	At     time.Time
}

// Requests returns the requests received so far, in arrival order: all of them,
// or only those to the given endpoints.
func (s *Simulator) Requests(eps ...Endpoint) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if len(eps) > 0 && !slices.Contains(eps, r.Endpoint) {
			continue
		}
		r.Header = r.Header.Clone()
		r.Body = bytes.Clone(r.Body)
		out = append(out, r)
	}
	return out
}

func (s *Simulator) setStatus(idx, status int) {
	s.mu.Lock()
	s.requests[idx].Status = status
	s.changedLocked()
	s.mu.Unlock()
}

// maskPhone keeps the last three digits of a phone number.
func maskPhone(phone string) string {
	if len(phone) <= 3 {
		return strings.Repeat("*", len(phone))
	}
	return strings.Repeat("*", len(phone)-3) + phone[len(phone)-3:]
}

// hostOf is the part of a callback URL that may be logged: the path carries a
// secret.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
