package lifecycle

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/storage"
)

// noDaraja is a Daraja that must not be called.
type noDaraja struct{ Daraja }

// A store read that fails (a disk hiccup) must not make the watcher forget
// the payment until the next restart: it is checked again later.
func TestWatcherKeepsAPaymentWhoseReadFailed(t *testing.T) {
	st, err := storage.Open(filepath.Join(t.TempDir(), "bot.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{CallbackURL: "https://example.com/cb", TransactionDesc: "Payment",
		PollInitialDelay: time.Second, PollInterval: time.Second, PollTimeout: time.Minute},
		st, noDaraja{}, &fakeChats{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil { // every read fails from now on
		t.Fatal(err)
	}
	e.checkPayment(context.Background(), "0123456789abcdef")
	if n := e.watcher.len(); n != 1 {
		t.Errorf("watched payments = %d after a failed read, want 1 (scheduled again)", n)
	}
}

// A payment scheduled again while it is being checked is not handed to a
// second worker (two queries at once): it waits for the check to finish,
// at the earlier of the times asked for.
func TestWatcherNeverChecksOnePaymentTwiceAtOnce(t *testing.T) {
	w := newWatcher(nil, 2)
	now := time.Now()
	w.schedule("p1", now)
	if id, _ := w.next(now); id != "p1" {
		t.Fatalf("next = %q, want p1", id)
	}
	w.schedule("p1", now.Add(time.Minute))
	w.schedule("p1", now.Add(time.Second))
	if id, _ := w.next(now.Add(time.Hour)); id != "" {
		t.Fatalf("next during the check = %q, want nothing", id)
	}
	w.done("p1")
	if id, _ := w.next(now.Add(time.Second)); id != "p1" {
		t.Errorf("after the check: next = %q, want p1 due at the earlier time", id)
	}
	w.done("p1")
	if n := w.len(); n != 0 {
		t.Errorf("watched = %d after a check that scheduled nothing, want 0", n)
	}
}
