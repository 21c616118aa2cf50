package lifecycle

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/storage"
)

func scheduleEngine() *Engine {
	return &Engine{cfg: Config{PollInterval: 15 * time.Second, PollTimeout: 5 * time.Minute}}
}

// The query schedule: first query at the stored time, then the
// interval growing to a minute, never past POLL_TIMEOUT while pending, every
// five minutes once unknown, nothing after 24 hours or once final.
func TestNextQuery(t *testing.T) {
	e := scheduleEngine()
	pushed := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	base := storage.Payment{State: storage.StatePending, CheckoutRequestID: "ws_CO_1", PushedAt: pushed}

	t.Run("FirstQueryAtStoredTime", func(t *testing.T) {
		p := base
		p.NextQueryAt = pushed.Add(20 * time.Second)
		at, ok := e.nextQuery(p, pushed)
		if !ok || !at.Equal(p.NextQueryAt) {
			t.Errorf("got %v %v, want %v", at, ok, p.NextQueryAt)
		}
	})
	t.Run("IntervalGrowsToAMinute", func(t *testing.T) {
		now := pushed.Add(30 * time.Second)
		prev := time.Duration(0)
		for q := 1; q <= 10; q++ {
			p := base
			p.Queries = q
			at, ok := e.nextQuery(p, now)
			if !ok {
				t.Fatalf("query %d: not watched", q)
			}
			gap := at.Sub(now)
			if gap < prev-prev/10 {
				t.Errorf("query %d: gap %s shrank from %s", q, gap, prev)
			}
			if gap > maxPollInterval+maxPollInterval/10 {
				t.Errorf("query %d: gap %s over the 1m cap (+10%% jitter)", q, gap)
			}
			if q == 1 && (gap < 15*time.Second || gap > 17*time.Second) {
				t.Errorf("first interval %s, want POLL_INTERVAL (15s) plus jitter", gap)
			}
			prev = gap
		}
		if prev < maxPollInterval {
			t.Errorf("interval reached only %s, want the 1m cap", prev)
		}
	})
	t.Run("NeverPastPollTimeoutWhilePending", func(t *testing.T) {
		p := base
		p.Queries = 9
		now := pushed.Add(4*time.Minute + 50*time.Second)
		at, ok := e.nextQuery(p, now)
		if !ok || at.After(pushed.Add(5*time.Minute)) {
			t.Errorf("got %v, want no later than the POLL_TIMEOUT mark", at)
		}
	})
	t.Run("UnknownEveryFiveMinutes", func(t *testing.T) {
		p := base
		p.State, p.Queries = storage.StateUnknown, 12
		now := pushed.Add(time.Hour)
		at, ok := e.nextQuery(p, now)
		if gap := at.Sub(now); !ok || gap < reconcileInterval || gap > reconcileInterval+reconcileInterval/10 {
			t.Errorf("gap %s, want 5m plus jitter", gap)
		}
	})
	t.Run("StopsAfter24Hours", func(t *testing.T) {
		p := base
		p.State, p.Queries = storage.StateUnknown, 300
		if _, ok := e.nextQuery(p, pushed.Add(24*time.Hour-time.Minute)); ok {
			t.Error("still watched when the next check would pass 24 hours")
		}
	})
	t.Run("NotWatched", func(t *testing.T) {
		for _, p := range []storage.Payment{
			{State: storage.StateSucceeded, CheckoutRequestID: "x", PushedAt: pushed},
			{State: storage.StateFailed, CheckoutRequestID: "x", PushedAt: pushed},
			{State: storage.StateInitiating, PushedAt: pushed},
			{State: storage.StateUnknown, PushedAt: pushed}, // push outcome unknown: nothing to query
		} {
			if _, ok := e.nextQuery(p, pushed); ok {
				t.Errorf("%s payment (checkout %q) is watched", p.State, p.CheckoutRequestID)
			}
		}
	})
}

// The watcher checks each payment when due, earliest first, and a payment
// rescheduled during its own check comes back.
func TestWatcherRunsDuePaymentsInOrder(t *testing.T) {
	var mu sync.Mutex
	var order []string
	checked := make(chan string, 10)
	w := newWatcher(func(_ context.Context, id string) {
		mu.Lock()
		order = append(order, id)
		mu.Unlock()
		checked <- id
	}, 1)
	now := time.Now()
	w.schedule("late", now.Add(30*time.Millisecond))
	w.schedule("early", now.Add(-time.Second))
	w.schedule("gone", now)
	w.remove("gone")
	w.schedule("moved", now.Add(time.Hour))
	w.schedule("moved", now.Add(10*time.Millisecond))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.run(ctx); close(done) }()
	for range 3 {
		select {
		case <-checked:
		case <-time.After(10 * time.Second):
			t.Fatal("watcher did not run due payments")
		}
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	want := []string{"early", "moved", "late"}
	if !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	if w.len() != 0 {
		t.Errorf("%d payments still watched", w.len())
	}
}

func TestUserLimitsSlidingHour(t *testing.T) {
	l := newUserLimits(2)
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	steps := []struct {
		at   time.Duration
		user int64
		ok   bool
	}{
		{0, 1, true},
		{10 * time.Minute, 1, true},
		{20 * time.Minute, 1, false}, // third in the hour
		{20 * time.Minute, 2, true},  // another user
		{60 * time.Minute, 1, true},  // the first left the window
		{61 * time.Minute, 1, false},
		{70 * time.Minute, 1, true},
	}
	for _, s := range steps {
		ok, retry := l.allow(s.user, t0.Add(s.at))
		if ok != s.ok {
			t.Errorf("user %d at +%s: allowed=%v, want %v", s.user, s.at, ok, s.ok)
		}
		if !ok && retry <= 0 {
			t.Errorf("refusal without a retry time")
		}
	}
	if ok, _ := newUserLimits(0).allow(1, t0); !ok {
		t.Error("0 per hour must mean no limit")
	}
}

func TestDefaultReferenceIsStableAndFitsDaraja(t *testing.T) {
	a, b := defaultReference("1:2"), defaultReference("1:2")
	if a != b {
		t.Errorf("same key gave %q and %q", a, b)
	}
	if a == defaultReference("1:3") {
		t.Errorf("different keys gave the same reference %q", a)
	}
	if len(a) > 12 {
		t.Errorf("reference %q is longer than 12", a)
	}
}
