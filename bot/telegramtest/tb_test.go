package telegramtest

import (
	"fmt"
	"strings"
	"testing"
)

// The promise TB's doc makes: existing calls NewServer(t) keep compiling.
var (
	_ TB = (*testing.T)(nil)
	_ TB = (*testing.B)(nil)
	_ TB = (*testing.F)(nil)
)

// recordingTB is a TB whose Fatalf returns, as a TB outside testing may.
type recordingTB struct {
	fatal    []string
	cleanups int
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.fatal = append(r.fatal, fmt.Sprintf(format, args...))
}
func (r *recordingTB) Cleanup(func()) { r.cleanups++ }

func TestNewServer_ReportsAStartFailureThroughFatalf(t *testing.T) {
	tb := &recordingTB{}
	srv := NewServer(tb, Options{Token: "bad/token"})
	if srv != nil {
		srv.Close()
		t.Errorf("NewServer returned a server for a token that cannot appear in a URL")
	}
	if len(tb.fatal) != 1 || !strings.Contains(tb.fatal[0], "cannot appear in a URL path") {
		t.Errorf("Fatalf calls = %q, want one about the token", tb.fatal)
	}
	if tb.cleanups != 0 {
		t.Errorf("%d cleanups registered for a server that never started", tb.cleanups)
	}
}

func TestNewServer_ClosesTheServerAtCleanup(t *testing.T) {
	var srv *Server
	t.Run("inner", func(t *testing.T) { srv = NewServer(t) })
	select {
	case <-srv.closed:
	default:
		t.Errorf("the server outlived the test that started it")
	}
}
