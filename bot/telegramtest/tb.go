package telegramtest

import "testing"

// NewServer starts a server for a test and closes it when the test ends;
// opts, when given, is used as in Start.
func NewServer(tb testing.TB, opts ...Options) *Server {
	tb.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	s, err := Start(o)
	if err != nil {
		tb.Fatalf("telegramtest: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}
