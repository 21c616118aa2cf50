package storage_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/storage"
)

var onePerPhone = storage.Limits{OnePerPhone: true}

// unknownWithHold brings a new payment to unknown with its phone held for d.
func unknownWithHold(t *testing.T, s *storage.Store, clock *fakeClock, d time.Duration) storage.Payment {
	t.Helper()
	p := pendingPayment(t, s, clock)
	got, changed, err := s.Settle(p.ID, storage.Result{State: storage.StateUnknown, Source: "watcher", HoldUntil: clock.Now().Add(d)})
	if err != nil || !changed {
		t.Fatalf("Settle to unknown: %v, %v", changed, err)
	}
	return got
}

func onPhone(phone string) storage.Payment {
	req := newPayment()
	req.Phone = phone
	return req
}

func TestCreateRefusesPhoneHeldAfterReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mpesa-bot.db")
	clock := newFakeClock()
	s, err := storage.Open(path, storage.Options{Now: clock.Now, BatchDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	heldUntil := clock.Now().Add(3 * time.Minute)
	held := unknownWithHold(t, s, clock, 3*time.Minute)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpenAt(t, path, clock)
	clock.Advance(3*time.Minute - time.Nanosecond)
	_, created, err := s.Create(onPhone(held.Phone), onePerPhone)
	var le *storage.LimitError
	if !errors.As(err, &le) || !errors.Is(err, storage.ErrPhoneBusy) || le.PaymentID != held.ID || created {
		t.Fatalf("Create on the held phone = %v, %v; want ErrPhoneBusy naming %s", created, err, held.ID)
	}
	if until, id, err := s.PhoneHeldUntil(held.Phone); err != nil || id != held.ID || !until.Equal(heldUntil) {
		t.Errorf("PhoneHeldUntil = %v, %q, %v; want the hold of %s", until, id, err, held.ID)
	}

	clock.Advance(time.Nanosecond)
	if _, created, err := s.Create(onPhone(held.Phone), onePerPhone); err != nil || !created {
		t.Fatalf("Create once the hold expired = %v, %v; want created", created, err)
	}
	if until, id, err := s.PhoneHeldUntil(held.Phone); err != nil || !until.IsZero() || id != "" {
		t.Errorf("PhoneHeldUntil after expiry = %v, %q, %v; want not held", until, id, err)
	}
	mustCheck(t, s)
}

func TestHoldOutlivesTheFinalResult(t *testing.T) {
	s, clock := mustOpenStore(t)
	held := unknownWithHold(t, s, clock, time.Minute)
	settle(t, s, held.ID, storage.StateFailed, "1037")
	if _, _, err := s.Create(onPhone(held.Phone), onePerPhone); !errors.Is(err, storage.ErrPhoneBusy) {
		t.Fatalf("Create after the held payment failed = %v, want ErrPhoneBusy until the hold expires", err)
	}
}

func TestCreateWithoutOnePerPhoneIgnoresHolds(t *testing.T) {
	s, clock := mustOpenStore(t)
	held := unknownWithHold(t, s, clock, time.Minute)
	if _, created, err := s.Create(onPhone(held.Phone), storage.Limits{MaxOpenPerUser: 5}); err != nil || !created {
		t.Fatalf("Create = %v, %v; want created", created, err)
	}
}

func TestSettleHoldsOnAMoveToUnknownOrFailed(t *testing.T) {
	for _, tc := range []struct {
		name string
		to   storage.State
		hold time.Duration
		held bool
	}{
		{"UnknownWithHoldUntil", storage.StateUnknown, time.Minute, true},
		{"FailedWithHoldUntil", storage.StateFailed, time.Minute, true},
		{"SucceededWithHoldUntil", storage.StateSucceeded, time.Minute, false},
		{"UnknownWithoutHoldUntil", storage.StateUnknown, 0, false},
		{"UnknownWithAPastHoldUntil", storage.StateUnknown, -time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clock := mustOpenStore(t)
			p := pendingPayment(t, s, clock)
			r := storage.Result{State: tc.to, Source: "watcher"}
			if tc.hold != 0 {
				r.HoldUntil = clock.Now().Add(tc.hold)
			}
			if _, changed, err := s.Settle(p.ID, r); err != nil || !changed {
				t.Fatalf("Settle: %v, %v", changed, err)
			}
			until, _, err := s.PhoneHeldUntil(p.Phone)
			if err != nil || until.IsZero() == tc.held {
				t.Errorf("PhoneHeldUntil = %v, %v; want held %v", until, err, tc.held)
			}
		})
	}
}

func TestHoldKeepsTheLaterUntil(t *testing.T) {
	s, clock := mustOpenStore(t)
	first := unknownWithHold(t, s, clock, 5*time.Minute)
	firstUntil := clock.Now().Add(5 * time.Minute)
	// A second payment on the phone (Create without limits ignores holds)
	// goes unknown with an earlier hold.
	second := mustCreate(t, s, onPhone(first.Phone))
	if _, _, err := s.Settle(second.ID, storage.Result{State: storage.StateUnknown, Source: "push", HoldUntil: clock.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if until, id, _ := s.PhoneHeldUntil(first.Phone); !until.Equal(firstUntil) || id != first.ID {
		t.Errorf("after an earlier hold: held until %v by %s, want %v by %s", until, id, firstUntil, first.ID)
	}

	later := clock.Now().Add(time.Hour)
	if err := s.Hold(second.ID, later); err != nil {
		t.Fatal(err)
	}
	if until, id, _ := s.PhoneHeldUntil(first.Phone); !until.Equal(later) || id != second.ID {
		t.Errorf("after a later hold: held until %v by %s, want %v by %s", until, id, later, second.ID)
	}
	if got := mustGet(t, s, second.ID); countEvents(got, "phone_held") != 1 {
		t.Errorf("%d phone_held events, want 1", countEvents(got, "phone_held"))
	}
	for _, until := range []time.Time{later, later.Add(-time.Minute), clock.Now()} {
		if err := s.Hold(second.ID, until); err != nil {
			t.Fatal(err)
		}
	}
	if got := mustGet(t, s, second.ID); countEvents(got, "phone_held") != 1 {
		t.Errorf("holds that changed nothing were recorded: %d phone_held events", countEvents(got, "phone_held"))
	}
	mustCheck(t, s)
}

func TestHoldRefusals(t *testing.T) {
	s, clock := mustOpenStore(t)
	p := pendingPayment(t, s, clock)
	if err := s.Hold(p.ID, time.Time{}); !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("Hold(zero time) = %v, want ErrInvalid", err)
	}
	if err := s.Hold("nope", clock.Now().Add(time.Minute)); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Hold(unknown id) = %v, want ErrNotFound", err)
	}
	for _, phone := range []string{"", "2547\x00", p.Phone} {
		if until, id, err := s.PhoneHeldUntil(phone); err != nil || !until.IsZero() || id != "" {
			t.Errorf("PhoneHeldUntil(%q) = %v, %q, %v; want not held", phone, until, id, err)
		}
	}
}
