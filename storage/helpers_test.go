package storage_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/storage"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// mustOpenStore opens a store on a fresh file in tb.TempDir() with a fake
// clock and closes it when the test ends.
func mustOpenStore(tb testing.TB) (*storage.Store, *fakeClock) {
	tb.Helper()
	clock := newFakeClock()
	s := mustOpenAt(tb, filepath.Join(tb.TempDir(), "mpesa-bot.db"), clock)
	return s, clock
}

func mustOpenAt(tb testing.TB, path string, clock *fakeClock) *storage.Store {
	tb.Helper()
	s, err := storage.Open(path, storage.Options{Timeout: 50 * time.Millisecond, Now: clock.Now, BatchDelay: time.Millisecond})
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

var paymentSeq atomic.Int64

// newPayment is a valid request with its own key, phone and secret.
func newPayment() storage.Payment {
	n := paymentSeq.Add(1)
	return storage.Payment{
		ChatID:         1000 + n,
		UserID:         42,
		MessageID:      int(n),
		IdempotencyKey: fmt.Sprintf("%d:%d", 1000+n, n),
		Phone:          fmt.Sprintf("2547%08d", n),
		Amount:         100,
		Reference:      "INV001",
		Description:    "Payment",
		CallbackSecret: fmt.Sprintf("cbsecret-%d-Zq8rT1xW", n),
	}
}

func mustCreate(tb testing.TB, s *storage.Store, p storage.Payment) storage.Payment {
	tb.Helper()
	got, created, err := s.Create(p, storage.Limits{})
	if err != nil || !created {
		tb.Fatalf("Create: created=%v err=%v", created, err)
	}
	return got
}

func mustGet(tb testing.TB, s *storage.Store, id string) storage.Payment {
	tb.Helper()
	p, err := s.Get(id)
	if err != nil {
		tb.Fatalf("Get(%s): %v", id, err)
	}
	return p
}

func mustCheck(tb testing.TB, s *storage.Store) {
	tb.Helper()
	if err := s.Check(); err != nil {
		tb.Fatalf("Check: %v", err)
	}
}

// pendingPayment creates a payment and records its push answer.
func pendingPayment(tb testing.TB, s *storage.Store, clock *fakeClock) storage.Payment {
	tb.Helper()
	p := mustCreate(tb, s, newPayment())
	got, err := s.RecordPush(p.ID, "ws_CO_"+p.ID, "29115-"+p.ID, clock.Now().Add(20*time.Second))
	if err != nil {
		tb.Fatalf("RecordPush: %v", err)
	}
	return got
}

// paymentIn brings a new payment to state through the public API.
func paymentIn(tb testing.TB, s *storage.Store, clock *fakeClock, state storage.State) storage.Payment {
	tb.Helper()
	switch state {
	case storage.StateInitiating:
		return mustCreate(tb, s, newPayment())
	case storage.StatePending:
		return pendingPayment(tb, s, clock)
	}
	if state == storage.StateRejected { // only reachable from initiating
		return settle(tb, s, mustCreate(tb, s, newPayment()).ID, state, "400.002.02")
	}
	return settle(tb, s, pendingPayment(tb, s, clock).ID, state, "")
}

func settle(tb testing.TB, s *storage.Store, id string, state storage.State, code string) storage.Payment {
	tb.Helper()
	p, changed, err := s.Settle(id, storage.Result{State: state, ResultCode: code, Source: "query"})
	if err != nil || !changed {
		tb.Fatalf("Settle(%s → %s): changed=%v err=%v", id, state, changed, err)
	}
	return p
}

func countEvents(p storage.Payment, typ string) int {
	n := 0
	for _, e := range p.History {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func ids(ps []storage.Payment) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}
