package mpesatest

import (
	"net/http"
	"net/http/httptest"
)

// TB is what NewServer needs of a test; *testing.T, *testing.B and
// *testing.F satisfy it. The package declares it rather than importing
// testing because the release binary runs the simulator itself and must
// not link the testing package.
type TB interface {
	Helper()
	Cleanup(func())
}

// Server is a Simulator served over HTTP on 127.0.0.1 for a test.
type Server struct {
	*Simulator
	// URL is the base URL to give the client, e.g. "http://127.0.0.1:41234".
	URL string
	ts  *httptest.Server
}

// NewServer starts a simulator on a loopback httptest server. Both are closed
// when the test ends: the simulator first, so that slow answers stop.
func NewServer(tb TB, opts ...Option) *Server {
	tb.Helper()
	sim := New(opts...)
	ts := httptest.NewServer(sim)
	tb.Cleanup(func() {
		sim.Close()
		ts.Close()
	})
	return &Server{Simulator: sim, URL: ts.URL, ts: ts}
}

// Client returns an HTTP client for the server, closed with it.
func (s *Server) Client() *http.Client { return s.ts.Client() }
