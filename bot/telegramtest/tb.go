package telegramtest

// TB is what NewServer needs of a test; *testing.T, *testing.B and
// *testing.F satisfy it. The package declares it rather than importing
// testing because `mpesa-bot demo` links this package into the release
// binary, which must not link the testing package.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// NewServer starts a server for a test and closes it when the test ends;
// opts, when given, is used as in Start. When the server cannot start it
// calls tb.Fatalf, and returns nil should Fatalf return.
func NewServer(tb TB, opts ...Options) *Server {
	tb.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	s, err := Start(o)
	if err != nil {
		tb.Fatalf("telegramtest: %v", err)
		return nil // for a TB whose Fatalf, unlike testing's, returns
	}
	tb.Cleanup(s.Close)
	return s
}
