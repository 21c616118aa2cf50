package storage_test

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/storage"
)

func TestCreate(t *testing.T) {
	t.Run("StoresInitiatingWithCreatedEvent", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		req := newPayment()
		p, created, err := s.Create(req, storage.Limits{})
		if err != nil || !created {
			t.Fatalf("Create: created=%v err=%v", created, err)
		}
		if p.State != storage.StateInitiating {
			t.Errorf("State = %s, want initiating", p.State)
		}
		if !p.CreatedAt.Equal(clock.Now()) || !p.UpdatedAt.Equal(clock.Now()) {
			t.Errorf("CreatedAt/UpdatedAt = %v/%v, want %v", p.CreatedAt, p.UpdatedAt, clock.Now())
		}
		if p.ChatID != req.ChatID || p.UserID != req.UserID || p.MessageID != req.MessageID ||
			p.IdempotencyKey != req.IdempotencyKey || p.Phone != req.Phone || p.Amount != req.Amount ||
			p.Reference != req.Reference || p.Description != req.Description {
			t.Errorf("request fields not kept: got %#v", p)
		}
		if len(p.History) != 1 || p.History[0].Type != "created" || p.History[0].Source != "bot" ||
			!p.History[0].At.Equal(clock.Now()) {
			t.Errorf("History = %+v, want one created event at %v", p.History, clock.Now())
		}
		if got := mustGet(t, s, p.ID); !reflect.DeepEqual(got, p) {
			t.Errorf("Get differs from what Create returned:\n got %+v\nwant %+v", got.History, p.History)
		}
	})

	t.Run("AssignsURLSafeIDsThatSortByCreationEvenWhenTheClockStepsBack", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		var prev string
		for i, step := range []time.Duration{0, time.Millisecond, 0, -time.Hour, time.Nanosecond, 2 * time.Hour} {
			clock.Advance(step)
			p := mustCreate(t, s, newPayment())
			if len(p.ID) != 16 || strings.Trim(p.ID, "0123456789abcdefghijklmnopqrstuv") != "" {
				t.Errorf("ID %q is not 16 lower-case base32hex characters", p.ID)
			}
			if i > 0 && p.ID <= prev {
				t.Errorf("ID %q does not sort after the earlier %q", p.ID, prev)
			}
			prev = p.ID
		}
	})

	t.Run("KeepsCallerID", func(t *testing.T) {
		s, _ := mustOpenStore(t)
		req := newPayment()
		req.ID = "order-42_A"
		if p := mustCreate(t, s, req); p.ID != "order-42_A" {
			t.Errorf("ID = %q, want the caller's", p.ID)
		}
		again := newPayment()
		again.ID = "order-42_A"
		if _, _, err := s.Create(again, storage.Limits{}); !errors.Is(err, storage.ErrConflict) {
			t.Errorf("second payment with the same ID: %v, want ErrConflict", err)
		}
	})

	t.Run("StoresOnlyTheRequestFields", func(t *testing.T) {
		s, _ := mustOpenStore(t)
		req := newPayment()
		req.State = storage.StateSucceeded
		req.Receipt = "FAKE"
		req.Notified = true
		req.History = []storage.Event{{Type: "forged"}}
		p := mustCreate(t, s, req)
		if p.State != storage.StateInitiating || p.Receipt != "" || p.Notified || len(p.History) != 1 {
			t.Errorf("Create kept server-owned fields: %+v", p)
		}
	})

	t.Run("SameKeyReturnsTheFirstPaymentAndWritesNothing", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		req := newPayment()
		first := mustCreate(t, s, req)
		clock.Advance(time.Minute)
		redelivered := req
		redelivered.Amount = 999
		got, created, err := s.Create(redelivered, storage.Limits{OnePerPhone: true, MaxOpenPerUser: 1})
		if err != nil || created {
			t.Fatalf("second Create: created=%v err=%v, want false, nil (limits not checked)", created, err)
		}
		if !reflect.DeepEqual(got, first) {
			t.Errorf("second Create returned %+v, want the first payment %+v", got, first)
		}
		if n, _ := s.CountByState(storage.StateInitiating); n != 1 {
			t.Errorf("%d payments stored, want 1", n)
		}
	})

	t.Run("SameKeyAfterSettleReturnsTheSettledPayment", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		req := newPayment()
		p := mustCreate(t, s, req)
		if _, err := s.RecordPush(p.ID, "ws_CO_x", "m", clock.Now()); err != nil {
			t.Fatal(err)
		}
		settle(t, s, p.ID, storage.StateSucceeded, "0")
		got, created, err := s.Create(req, storage.Limits{})
		if err != nil || created || got.State != storage.StateSucceeded {
			t.Fatalf("Create of a redelivered /pay = %s, %v, %v; want the succeeded payment, false", got.State, created, err)
		}
	})

	for _, tc := range []struct {
		name   string
		change func(*storage.Payment)
	}{
		{"RefusesEmptyIdempotencyKey", func(p *storage.Payment) { p.IdempotencyKey = "" }},
		{"RefusesHugeIdempotencyKey", func(p *storage.Payment) { p.IdempotencyKey = strings.Repeat("k", 600) }},
		{"RefusesPhoneWithPlus", func(p *storage.Payment) { p.Phone = "+254712345678" }},
		{"RefusesPhoneWithNUL", func(p *storage.Payment) { p.Phone = "25471234\x005678" }},
		{"RefusesShortPhone", func(p *storage.Payment) { p.Phone = "0712" }},
		{"RefusesZeroAmount", func(p *storage.Payment) { p.Amount = 0 }},
		{"RefusesNegativeAmount", func(p *storage.Payment) { p.Amount = -5 }},
		{"RefusesIDWithSlash", func(p *storage.Payment) { p.ID = "a/b" }},
		{"RefusesLongID", func(p *storage.Payment) { p.ID = strings.Repeat("a", 65) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := mustOpenStore(t)
			req := newPayment()
			tc.change(&req)
			if _, _, err := s.Create(req, storage.Limits{}); !errors.Is(err, storage.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if n, _ := s.CountByState(storage.StateInitiating); n != 0 {
				t.Errorf("%d payments stored, want none", n)
			}
		})
	}

	t.Run("RefusesAReusedCallbackSecret", func(t *testing.T) {
		s, _ := mustOpenStore(t)
		a := newPayment()
		mustCreate(t, s, a)
		b := newPayment()
		b.CallbackSecret = a.CallbackSecret
		_, _, err := s.Create(b, storage.Limits{})
		if !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("err = %v, want ErrConflict", err)
		}
		if strings.Contains(err.Error(), a.CallbackSecret) {
			t.Errorf("error %q contains the secret", err)
		}
	})
}

func TestCreateLimits(t *testing.T) {
	onePerPhone := storage.Limits{OnePerPhone: true}

	t.Run("ErrPhoneBusyNamesTheOpenPayment", func(t *testing.T) {
		s, _ := mustOpenStore(t)
		first := mustCreate(t, s, newPayment())
		req := newPayment()
		req.Phone = first.Phone
		_, created, err := s.Create(req, onePerPhone)
		if !errors.Is(err, storage.ErrPhoneBusy) || created {
			t.Fatalf("Create = %v, %v; want ErrPhoneBusy", created, err)
		}
		var le *storage.LimitError
		if !errors.As(err, &le) || le.PaymentID != first.ID {
			t.Fatalf("err = %#v, want a *LimitError naming %s", err, first.ID)
		}
		if strings.Contains(err.Error(), first.Phone) {
			t.Errorf("error %q contains the phone number", err)
		}
		if _, err := s.GetByIdempotencyKey(req.IdempotencyKey); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("refused payment was stored: %v", err)
		}
	})

	t.Run("PendingHoldsThePhone", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		first := pendingPayment(t, s, clock)
		req := newPayment()
		req.Phone = first.Phone
		if _, _, err := s.Create(req, onePerPhone); !errors.Is(err, storage.ErrPhoneBusy) {
			t.Fatalf("err = %v, want ErrPhoneBusy", err)
		}
	})

	for _, st := range []storage.State{storage.StateSucceeded, storage.StateFailed, storage.StateRejected, storage.StateUnknown} {
		t.Run(string(st)+"FreesThePhone", func(t *testing.T) {
			s, clock := mustOpenStore(t)
			first := paymentIn(t, s, clock, st)
			req := newPayment()
			req.Phone = first.Phone
			if _, created, err := s.Create(req, onePerPhone); err != nil || !created {
				t.Fatalf("Create = %v, %v; want created", created, err)
			}
		})
	}

	t.Run("WithoutOnePerPhoneAPhoneMayHaveSeveral", func(t *testing.T) {
		s, _ := mustOpenStore(t)
		first := mustCreate(t, s, newPayment())
		req := newPayment()
		req.Phone = first.Phone
		second := mustCreate(t, s, req)
		if got, ok, err := s.OpenByPhone(first.Phone); err != nil || !ok || got.ID != first.ID {
			t.Errorf("OpenByPhone = %s, %v, %v; want the oldest, %s", got.ID, ok, err, first.ID)
		}
		settle(t, s, first.ID, storage.StateRejected, "")
		if got, ok, err := s.OpenByPhone(first.Phone); err != nil || !ok || got.ID != second.ID {
			t.Errorf("OpenByPhone = %s, %v, %v; want %s", got.ID, ok, err, second.ID)
		}
	})

	t.Run("ErrTooManyOpenCountsOnlyOpenPaymentsOfThatUser", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		lim := storage.Limits{MaxOpenPerUser: 2}
		paymentIn(t, s, clock, storage.StateSucceeded) // user 42, not open
		a := mustCreate(t, s, newPayment())
		pendingPayment(t, s, clock)
		_, _, err := s.Create(newPayment(), lim)
		var le *storage.LimitError
		if !errors.Is(err, storage.ErrTooManyOpen) || !errors.As(err, &le) || le.Open != 2 || le.Max != 2 {
			t.Fatalf("third open payment: %v, want ErrTooManyOpen with 2 open, limit 2", err)
		}
		other := newPayment()
		other.UserID = 7
		if _, created, err := s.Create(other, lim); err != nil || !created {
			t.Fatalf("another user: %v, %v; want created", created, err)
		}
		settle(t, s, a.ID, storage.StateRejected, "")
		if _, created, err := s.Create(newPayment(), lim); err != nil || !created {
			t.Fatalf("after one settled: %v, %v; want created", created, err)
		}
	})
}

func TestCreateConcurrently(t *testing.T) {
	const n = 50

	t.Run("SameKeyCreatesExactlyOne", func(t *testing.T) {
		s, _ := mustOpenStore(t)
		req := newPayment()
		results := make([]storage.Payment, n)
		created := make([]bool, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				var err error
				if results[i], created[i], err = s.Create(req, storage.Limits{OnePerPhone: true}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got := countTrue(created); got != 1 {
			t.Errorf("%d calls created a payment, want exactly 1", got)
		}
		for _, p := range results {
			if p.ID != results[0].ID {
				t.Fatalf("calls returned IDs %s and %s, want one payment", p.ID, results[0].ID)
			}
		}
		if c, _ := s.CountByState(storage.StateInitiating); c != 1 {
			t.Errorf("%d payments stored, want 1", c)
		}
		mustCheck(t, s)
	})

	t.Run("SamePhoneCreatesExactlyOne", func(t *testing.T) {
		s, _ := mustOpenStore(t)
		phone := newPayment().Phone
		errs := make([]error, n)
		created := make([]bool, n)
		var wg sync.WaitGroup
		for i := range n {
			req := newPayment()
			req.Phone = phone
			wg.Go(func() {
				_, created[i], errs[i] = s.Create(req, storage.Limits{OnePerPhone: true})
			})
		}
		wg.Wait()
		if got := countTrue(created); got != 1 {
			t.Errorf("%d payments created for one phone, want exactly 1", got)
		}
		holder, ok, err := s.OpenByPhone(phone)
		if err != nil || !ok {
			t.Fatalf("OpenByPhone: %v, %v", ok, err)
		}
		for i, err := range errs {
			var le *storage.LimitError
			if !created[i] && (!errors.As(err, &le) || !errors.Is(err, storage.ErrPhoneBusy) || le.PaymentID != holder.ID) {
				t.Errorf("refused call: %v, want ErrPhoneBusy naming %s", err, holder.ID)
			}
		}
		mustCheck(t, s)
	})

	t.Run("UserLimitHoldsUnderConcurrency", func(t *testing.T) {
		s, _ := mustOpenStore(t)
		created := make([]bool, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				var err error
				_, created[i], err = s.Create(newPayment(), storage.Limits{MaxOpenPerUser: 3})
				if err != nil && !errors.Is(err, storage.ErrTooManyOpen) {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got := countTrue(created); got != 3 {
			t.Errorf("%d payments created under a limit of 3", got)
		}
		if c, _ := s.CountOpenByUser(42); c != 3 {
			t.Errorf("CountOpenByUser = %d, want 3", c)
		}
	})
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func TestCreate_KeepsSourceInvoiceAndLanguage(t *testing.T) {
	tests := []struct {
		name       string
		source     string
		invoiceID  string
		language   string
		wantSource string
	}{
		{"PayIsSTKWhenUnsaid", "", "", "", storage.SourceSTK},
		{"STK", storage.SourceSTK, "", "sw", storage.SourceSTK},
		{"Invoice", storage.SourceInvoice, "inv-1", "sw", storage.SourceInvoice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := mustOpenStore(t)
			p := newPayment()
			p.Source, p.InvoiceID, p.Language = tt.source, tt.invoiceID, tt.language
			created, _, err := s.Create(p, storage.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			got := mustGet(t, s, created.ID)
			if got.Source != tt.wantSource || got.InvoiceID != tt.invoiceID || got.Language != tt.language {
				t.Errorf("read back source %q invoice %q language %q, want %q %q %q",
					got.Source, got.InvoiceID, got.Language, tt.wantSource, tt.invoiceID, tt.language)
			}
		})
	}
}

func TestCreate_RefusesAnInconsistentSource(t *testing.T) {
	tests := []struct{ name, source, invoiceID string }{
		{"UnknownSource", "cash", ""},
		{"InvoiceWithoutInvoiceID", storage.SourceInvoice, ""},
		{"STKNamingAnInvoice", storage.SourceSTK, "inv-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := mustOpenStore(t)
			p := newPayment()
			p.Source, p.InvoiceID = tt.source, tt.invoiceID
			if _, _, err := s.Create(p, storage.Limits{}); !errors.Is(err, storage.ErrInvalid) {
				t.Fatalf("Create = %v, want storage.ErrInvalid", err)
			}
		})
	}
}
