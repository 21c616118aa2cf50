package testkit

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Every write from every goroutine is kept whole; the race detector checks
// the locking.
func TestSyncBufferKeepsConcurrentWrites(t *testing.T) {
	var buf SyncBuffer
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				fmt.Fprintf(&buf, "goroutine %d line %d\n", g, i)
				_ = buf.String()
			}
		})
	}
	wg.Wait()
	if n := strings.Count(buf.String(), "\n"); n != 8*50 {
		t.Errorf("%d lines, want %d", n, 8*50)
	}
	if !strings.Contains(buf.String(), "goroutine 7 line 49\n") {
		t.Errorf("the last line of goroutine 7 is missing:\n%s", buf.String())
	}
}

func TestPoll(t *testing.T) {
	t.Run("ReportsAConditionThatComesTrue", func(t *testing.T) {
		var calls atomic.Int32
		if !Poll(time.Minute, func() bool { return calls.Add(1) == 3 }) {
			t.Error("Poll gave up on a condition that came true")
		}
	})
	t.Run("GivesUpOnceTheLimitPasses", func(t *testing.T) {
		if Poll(10*time.Millisecond, func() bool { return false }) {
			t.Error("Poll reported a condition that never held")
		}
	})
}

// recorder is a TB whose Fatalf records the failure and returns.
type recorder struct{ failures []string }

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func TestWaitUntil(t *testing.T) {
	t.Run("PassesOnceTheConditionHolds", func(t *testing.T) {
		var r recorder
		WaitUntil(&r, "anything", time.Minute, func() bool { return true })
		if len(r.failures) != 0 {
			t.Errorf("failed: %q", r.failures)
		}
	})
	t.Run("FailsNamingWhatItWaitedFor", func(t *testing.T) {
		var r recorder
		WaitUntil(&r, "the payment to settle", 10*time.Millisecond, func() bool { return false })
		if len(r.failures) != 1 || !strings.Contains(r.failures[0], "the payment to settle") {
			t.Errorf("failures = %q, want one naming the payment", r.failures)
		}
	})
}
