package storage_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/storage"
)

func TestRefusalSurvivesReopenAndExpires(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mpesa-bot.db")
	clock := newFakeClock()
	s, err := storage.Open(path, storage.Options{Now: clock.Now, BatchDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RecordRefusal("-100123:42", "phone_busy"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpenAt(t, path, clock)
	for _, tc := range []struct {
		name    string
		advance time.Duration
		want    bool
	}{
		{"KeptAcrossReopen", 0, true},
		{"KeptForTheDayTelegramRedelivers", 24 * time.Hour, true},
		{"KeptJustUnderTwoDays", 24*time.Hour - time.Nanosecond, true},
		{"GoneAfterTwoDays", time.Nanosecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock.Advance(tc.advance)
			code, ok, err := s.Refusal("-100123:42")
			if err != nil || ok != tc.want || (ok && code != "phone_busy") {
				t.Fatalf("Refusal = %q, %v, %v; want phone_busy: %v", code, ok, err, tc.want)
			}
		})
	}
	t.Run("RecordedAgainOnceExpired", func(t *testing.T) {
		if err := s.RecordRefusal("-100123:42", "rate_limited"); err != nil {
			t.Fatal(err)
		}
		if code, ok, err := s.Refusal("-100123:42"); err != nil || !ok || code != "rate_limited" {
			t.Fatalf("Refusal = %q, %v, %v; want rate_limited", code, ok, err)
		}
	})
}

func TestRecordRefusalKeepsTheFirstReason(t *testing.T) {
	s, clock := mustOpenStore(t)
	if err := s.RecordRefusal("1:1", "phone_busy"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if err := s.RecordRefusal("1:1", "too_many_pending"); err != nil {
		t.Fatal(err)
	}
	if code, ok, err := s.Refusal("1:1"); err != nil || !ok || code != "phone_busy" {
		t.Fatalf("Refusal = %q, %v, %v; want the first reason, phone_busy", code, ok, err)
	}
	if _, ok, err := s.Refusal("1:2"); err != nil || ok {
		t.Fatalf("Refusal of another message = %v, %v; want none", ok, err)
	}
	if _, ok, err := s.Refusal(""); err != nil || ok {
		t.Fatalf("Refusal of the empty key = %v, %v; want none", ok, err)
	}
}

func TestRecordRefusalRefusesBadArguments(t *testing.T) {
	s, _ := mustOpenStore(t)
	long := strings.Repeat("k", 513)
	for name, args := range map[string][2]string{
		"EmptyKey": {"", "phone_busy"}, "LongKey": {long, "phone_busy"},
		"EmptyCode": {"1:1", ""}, "LongCode": {"1:1", long},
	} {
		t.Run(name, func(t *testing.T) {
			if err := s.RecordRefusal(args[0], args[1]); !errors.Is(err, storage.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	if err := s.RecordRefusal(strings.Repeat("k", 512), strings.Repeat("c", 512)); err != nil {
		t.Fatalf("512-byte key and code: %v", err)
	}
}

// One read tells what decides a new payment: the payment already stored
// under the key, a remembered refusal, and the phone's hold.
func TestPrecheckReadsKeyRefusalAndHoldAtOnce(t *testing.T) {
	s, clock := mustOpenStore(t)
	stored := mustCreate(t, s, newPayment())
	if pc, err := s.Precheck(stored.IdempotencyKey, "254700000009"); err != nil || pc.Existing == nil || pc.Existing.ID != stored.ID {
		t.Fatalf("Precheck of a stored key = %+v, %v; want the payment", pc, err)
	}
	if err := s.RecordRefusal("chat:9", "phone_busy"); err != nil {
		t.Fatal(err)
	}
	held := pendingPayment(t, s, clock)
	until := clock.Now().Add(time.Minute)
	if _, _, err := s.Settle(held.ID, storage.Result{State: storage.StateUnknown, Source: "watcher", HoldUntil: until}); err != nil {
		t.Fatal(err)
	}
	pc, err := s.Precheck("chat:9", held.Phone)
	if err != nil || pc.Existing != nil || pc.Refusal != "phone_busy" || !pc.HeldUntil.Equal(until) {
		t.Fatalf("Precheck = %+v, %v; want the refusal and the hold", pc, err)
	}
	clock.Advance(49 * time.Hour)
	if pc, err := s.Precheck("chat:9", held.Phone); err != nil || pc.Refusal != "" || !pc.HeldUntil.IsZero() {
		t.Errorf("Precheck two days later = %+v, %v; want the refusal and the hold expired", pc, err)
	}
}
