package storage_test

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/storage"
)

func TestState(t *testing.T) {
	for _, tc := range []struct {
		state              storage.State
		final, open, valid bool
	}{
		{storage.StateInitiating, false, true, true},
		{storage.StatePending, false, true, true},
		{storage.StateSucceeded, true, false, true},
		{storage.StateFailed, true, false, true},
		{storage.StateRejected, true, false, true},
		{storage.StateUnknown, false, false, true},
		{"paid", false, false, false},
		{"", false, false, false},
	} {
		t.Run(string(tc.state), func(t *testing.T) {
			if tc.state.Final() != tc.final || tc.state.Open() != tc.open || tc.state.Valid() != tc.valid {
				t.Errorf("Final=%v Open=%v Valid=%v, want %v %v %v",
					tc.state.Final(), tc.state.Open(), tc.state.Valid(), tc.final, tc.open, tc.valid)
			}
		})
	}
}

func TestGettersReturnErrNotFound(t *testing.T) {
	s, clock := mustOpenStore(t)
	pendingPayment(t, s, clock)
	for name, get := range map[string]func() (storage.Payment, error){
		"Get":                 func() (storage.Payment, error) { return s.Get("nope") },
		"GetEmptyID":          func() (storage.Payment, error) { return s.Get("") },
		"GetByCheckoutID":     func() (storage.Payment, error) { return s.GetByCheckoutID("ws_CO_nope") },
		"GetByEmptyCheckout":  func() (storage.Payment, error) { return s.GetByCheckoutID("") },
		"GetByIdempotencyKey": func() (storage.Payment, error) { return s.GetByIdempotencyKey("1:1") },
		"GetBySecret":         func() (storage.Payment, error) { return s.GetBySecret("nope") },
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := get(); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestGetters(t *testing.T) {
	s, clock := mustOpenStore(t)
	req := newPayment()
	p := mustCreate(t, s, req)
	p, err := s.RecordPush(p.ID, "ws_CO_1", "m-1", clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	for name, get := range map[string]func() (storage.Payment, error){
		"Get":                 func() (storage.Payment, error) { return s.Get(p.ID) },
		"GetByCheckoutID":     func() (storage.Payment, error) { return s.GetByCheckoutID("ws_CO_1") },
		"GetByIdempotencyKey": func() (storage.Payment, error) { return s.GetByIdempotencyKey(req.IdempotencyKey) },
		"GetBySecret":         func() (storage.Payment, error) { return s.GetBySecret(req.CallbackSecret) },
	} {
		t.Run(name+"FindsThePayment", func(t *testing.T) {
			got, err := get()
			if err != nil || !reflect.DeepEqual(got, p) {
				t.Fatalf("got %v, %v; want %v", got, err, p)
			}
		})
	}
	t.Run("ReturnedPaymentsAreCopies", func(t *testing.T) {
		a := mustGet(t, s, p.ID)
		a.History[0].Type = "scribbled"
		a.History = append(a.History, storage.Event{Type: "scribbled"})
		if b := mustGet(t, s, p.ID); !reflect.DeepEqual(b, p) {
			t.Errorf("changing a returned payment changed the store: %+v", b.History)
		}
	})
}

func TestListByState(t *testing.T) {
	s, clock := mustOpenStore(t)
	byState := map[storage.State][]string{}
	for range 3 {
		for _, st := range []storage.State{storage.StatePending, storage.StateSucceeded, storage.StateUnknown, storage.StateInitiating} {
			clock.Advance(time.Millisecond)
			p := paymentIn(t, s, clock, st)
			byState[st] = append(byState[st], p.ID)
		}
	}

	t.Run("OneStateOldestFirst", func(t *testing.T) {
		got, err := s.ListByState(storage.StatePending)
		if err != nil || !reflect.DeepEqual(ids(got), byState[storage.StatePending]) {
			t.Fatalf("ListByState(pending) = %v, %v; want %v", ids(got), err, byState[storage.StatePending])
		}
		for _, p := range got {
			if p.State != storage.StatePending {
				t.Errorf("listed %s in state %s", p.ID, p.State)
			}
		}
	})
	t.Run("SeveralStatesMergedOldestFirst", func(t *testing.T) {
		want := append(slices.Clone(byState[storage.StatePending]), byState[storage.StateUnknown]...)
		slices.Sort(want)
		got, err := s.ListByState(storage.StateUnknown, storage.StatePending, storage.StateUnknown)
		if err != nil || !reflect.DeepEqual(ids(got), want) {
			t.Fatalf("got %v, %v; want %v", ids(got), err, want)
		}
	})
	t.Run("EmptyState", func(t *testing.T) {
		if got, err := s.ListByState(storage.StateRejected); err != nil || len(got) != 0 {
			t.Fatalf("got %v, %v; want none", ids(got), err)
		}
	})
	t.Run("ErrInvalidForAnUnknownState", func(t *testing.T) {
		if _, err := s.ListByState("paid"); !errors.Is(err, storage.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
	t.Run("CountByState", func(t *testing.T) {
		for st, want := range byState {
			if n, err := s.CountByState(st); err != nil || n != len(want) {
				t.Errorf("CountByState(%s) = %d, %v; want %d", st, n, err, len(want))
			}
		}
		if _, err := s.CountByState("paid"); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("CountByState(paid): %v, want ErrInvalid", err)
		}
	})
	t.Run("ListUnnotifiedHasFinalAndUnknownOnly", func(t *testing.T) {
		want := append(slices.Clone(byState[storage.StateSucceeded]), byState[storage.StateUnknown]...)
		slices.Sort(want)
		if got, err := s.ListUnnotified(); err != nil || !reflect.DeepEqual(ids(got), want) {
			t.Fatalf("got %v, %v; want %v", ids(got), err, want)
		}
	})
}

func TestListByUser(t *testing.T) {
	s, clock := mustOpenStore(t)
	users := []int64{42, 43, math.MaxInt64, -1, math.MinInt64, 0}
	want := map[int64][]string{}
	for i := range 4 {
		for _, u := range users[:len(users)-i] {
			clock.Advance(time.Second)
			req := newPayment()
			req.UserID = u
			want[u] = slices.Insert(want[u], 0, mustCreate(t, s, req).ID) // newest first
		}
	}
	for _, u := range users {
		t.Run(fmt.Sprintf("NewestFirstForUser%d", u), func(t *testing.T) {
			got, err := s.ListByUser(u, 0)
			if err != nil || !reflect.DeepEqual(ids(got), want[u]) {
				t.Fatalf("ListByUser(%d) = %v, %v; want %v", u, ids(got), err, want[u])
			}
		})
	}
	t.Run("Limit", func(t *testing.T) {
		got, err := s.ListByUser(42, 2)
		if err != nil || !reflect.DeepEqual(ids(got), want[42][:2]) {
			t.Fatalf("got %v, %v; want %v", ids(got), err, want[42][:2])
		}
	})
	t.Run("UnknownUser", func(t *testing.T) {
		if got, err := s.ListByUser(7, 5); err != nil || len(got) != 0 {
			t.Fatalf("got %v, %v; want none", ids(got), err)
		}
	})
	t.Run("CountOpenByUser", func(t *testing.T) {
		settle(t, s, want[42][0], storage.StateRejected, "")
		if n, err := s.CountOpenByUser(42); err != nil || n != len(want[42])-1 {
			t.Fatalf("CountOpenByUser(42) = %d, %v; want %d", n, err, len(want[42])-1)
		}
		if n, _ := s.CountOpenByUser(7); n != 0 {
			t.Errorf("CountOpenByUser(7) = %d, want 0", n)
		}
	})
}

func TestOpenByPhone(t *testing.T) {
	s, clock := mustOpenStore(t)
	p := pendingPayment(t, s, clock)
	t.Run("FindsThePendingPayment", func(t *testing.T) {
		got, ok, err := s.OpenByPhone(p.Phone)
		if err != nil || !ok || got.ID != p.ID {
			t.Fatalf("got %s, %v, %v; want %s", got.ID, ok, err, p.ID)
		}
	})
	t.Run("APrefixOfThePhoneIsAnotherPhone", func(t *testing.T) {
		if _, ok, err := s.OpenByPhone(p.Phone[:len(p.Phone)-1]); err != nil || ok {
			t.Fatalf("got %v, %v; want none", ok, err)
		}
	})
	t.Run("NoneOnceSettled", func(t *testing.T) {
		settle(t, s, p.ID, storage.StateSucceeded, "0")
		if _, ok, err := s.OpenByPhone(p.Phone); err != nil || ok {
			t.Fatalf("got %v, %v; want none", ok, err)
		}
	})
	t.Run("InvalidPhoneHasNone", func(t *testing.T) {
		if _, ok, err := s.OpenByPhone("2547\x00"); err != nil || ok {
			t.Fatalf("got %v, %v; want none", ok, err)
		}
	})
}
