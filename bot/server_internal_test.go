package bot

import (
	"log/slog"
	"net/http"
	"testing"
)

// The server never waits on a client forever: a slow or stuck
// one is cut off while reading the headers, the body, writing the answer or
// idling, and a callback has its answer well before Daraja gives up.
func TestServerHasEveryTimeout(t *testing.T) {
	srv := newServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	for name, d := range map[string]int64{
		"ReadHeaderTimeout": int64(srv.ReadHeaderTimeout),
		"ReadTimeout":       int64(srv.ReadTimeout),
		"WriteTimeout":      int64(srv.WriteTimeout),
		"IdleTimeout":       int64(srv.IdleTimeout),
	} {
		if d <= 0 {
			t.Errorf("%s is not set: a client can hold a connection forever", name)
		}
	}
	if srv.ReadHeaderTimeout > srv.ReadTimeout {
		t.Errorf("ReadHeaderTimeout %v is longer than ReadTimeout %v", srv.ReadHeaderTimeout, srv.ReadTimeout)
	}
	if srv.ErrorLog == nil {
		t.Error("the server's own errors would go to the standard logger, not the bot's")
	}
}
