package storage_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/storage"
)

func TestAddReceiptFillsOnlyAnEmptyReceipt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		make  func(*testing.T, *storage.Store, *fakeClock) storage.Payment
		added bool
	}{
		{"SucceededWithoutReceipt", func(t *testing.T, s *storage.Store, c *fakeClock) storage.Payment {
			return settle(t, s, pendingPayment(t, s, c).ID, storage.StateSucceeded, "0")
		}, true},
		{"SucceededWithReceipt", func(t *testing.T, s *storage.Store, c *fakeClock) storage.Payment {
			p, _, err := s.Settle(pendingPayment(t, s, c).ID, storage.Result{State: storage.StateSucceeded, Receipt: "NLJ7RT61SV", Source: "callback"})
			if err != nil {
				t.Fatal(err)
			}
			return p
		}, false},
		{"Failed", func(t *testing.T, s *storage.Store, c *fakeClock) storage.Payment {
			return paymentIn(t, s, c, storage.StateFailed)
		}, false},
		{"Unknown", func(t *testing.T, s *storage.Store, c *fakeClock) storage.Payment {
			return paymentIn(t, s, c, storage.StateUnknown)
		}, false},
		{"Pending", func(t *testing.T, s *storage.Store, c *fakeClock) storage.Payment {
			return paymentIn(t, s, c, storage.StatePending)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clock := mustOpenStore(t)
			before := tc.make(t, s, clock)
			if _, err := s.MarkNotified(before.ID, before.State); err != nil {
				t.Fatal(err)
			}
			before = mustGet(t, s, before.ID)
			at := clock.Advance(time.Second)
			got, added, err := s.AddReceipt(before.ID, "NLK8SU72TW", "callback")
			if err != nil || added != tc.added {
				t.Fatalf("AddReceipt = %v, %v; want %v", added, err, tc.added)
			}
			if stored := mustGet(t, s, before.ID); !reflect.DeepEqual(stored, got) {
				t.Errorf("AddReceipt returned %+v, stored %+v", got, stored)
			}
			if !tc.added {
				if !reflect.DeepEqual(got, before) {
					t.Errorf("AddReceipt changed the payment: %+v", got)
				}
				return
			}
			if got.Receipt != "NLK8SU72TW" || !got.UpdatedAt.Equal(at) || !got.Notified {
				t.Errorf("Receipt=%q UpdatedAt=%v Notified=%v; want the receipt, %v, still notified", got.Receipt, got.UpdatedAt, got.Notified, at)
			}
			last := got.History[len(got.History)-1]
			if last.Type != "receipt_added" || last.Source != "callback" ||
				!strings.Contains(last.Detail, "NLK8SU72TW") || !strings.Contains(last.Detail, "callback") {
				t.Errorf("last event = %+v, want receipt_added naming the receipt and the source", last)
			}
			if _, again, err := s.AddReceipt(before.ID, "OTHER1", "query"); err != nil || again {
				t.Errorf("second AddReceipt = %v, %v; want false", again, err)
			}
		})
	}
}

func TestAddReceiptRefusals(t *testing.T) {
	s, clock := mustOpenStore(t)
	p := settle(t, s, pendingPayment(t, s, clock).ID, storage.StateSucceeded, "0")
	for name, receipt := range map[string]string{
		"Empty": "", "TooLong": strings.Repeat("A", 65), "Space": "NLJ 7RT61SV", "Punctuation": "NLJ7-RT61",
		"NonASCII": "NLJ7RT61SÉ", "Markup": "<b>NLJ</b>",
	} {
		t.Run("ErrInvalidFor"+name+"Receipt", func(t *testing.T) {
			if _, _, err := s.AddReceipt(p.ID, receipt, "callback"); !errors.Is(err, storage.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	t.Run("ErrInvalidWithoutSource", func(t *testing.T) {
		if _, _, err := s.AddReceipt(p.ID, "NLJ7RT61SV", ""); !errors.Is(err, storage.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
	t.Run("AcceptsSixtyFourCharacters", func(t *testing.T) {
		if _, added, err := s.AddReceipt(p.ID, strings.Repeat("A1", 32), "callback"); err != nil || !added {
			t.Fatalf("AddReceipt = %v, %v; want added", added, err)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		if _, _, err := s.AddReceipt("nope", "NLJ7RT61SV", "callback"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
	if got := mustGet(t, s, p.ID); countEvents(got, "receipt_added") != 1 {
		t.Errorf("%d receipt_added events, want 1", countEvents(got, "receipt_added"))
	}
}

func TestCorrectMovesFailedToSucceededOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mpesa-bot.db")
	clock := newFakeClock()
	s, err := storage.Open(path, storage.Options{Now: clock.Now, BatchDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	failed := paymentIn(t, s, clock, storage.StateFailed)
	if _, err := s.MarkNotified(failed.ID, storage.StateFailed); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkFeedPosted(failed.ID); err != nil {
		t.Fatal(err)
	}
	at := clock.Advance(time.Minute)
	r := storage.Result{State: storage.StateSucceeded, ResultCode: "0", ResultDesc: "The service request is processed successfully.",
		Receipt: "NLJ7RT61SV", CheckoutRequestID: failed.CheckoutRequestID, Source: "query", Detail: "the STK Query confirmed it"}

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		changes []storage.Payment
	)
	for range 10 {
		wg.Go(func() {
			p, changed, err := s.Correct(failed.ID, r)
			if err != nil {
				t.Error(err)
			}
			if changed {
				mu.Lock()
				changes = append(changes, p)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(changes) != 1 {
		t.Fatalf("%d calls corrected the payment, want exactly 1", len(changes))
	}
	got := changes[0]
	if got.State != storage.StateSucceeded || !got.Corrected || got.ResultCode != "0" || got.Receipt != "NLJ7RT61SV" ||
		got.SettledBy != "query" || !got.SettledAt.Equal(at) || !got.UpdatedAt.Equal(at) || got.Notified || got.FeedPosted {
		t.Errorf("corrected payment = %+v", got)
	}
	if n := countEvents(got, "corrected"); n != 1 {
		t.Fatalf("%d corrected events, want 1", n)
	}
	last := got.History[len(got.History)-1]
	if want := "failed→succeeded code=0 receipt=NLJ7RT61SV: the STK Query confirmed it"; last.Type != "corrected" ||
		last.Detail != want || last.Source != "query" || !last.At.Equal(at) {
		t.Errorf("last event = %+v, want corrected %q", last, want)
	}
	for name, list := range map[string]func() ([]storage.Payment, error){"ListUnnotified": s.ListUnnotified, "ListUnposted": s.ListUnposted} {
		if ps, err := list(); err != nil || !reflect.DeepEqual(ids(ps), []string{failed.ID}) {
			t.Errorf("%s = %v, %v; want the corrected payment", name, ids(ps), err)
		}
	}
	if ps, _ := s.ListByState(storage.StateFailed); len(ps) != 0 {
		t.Errorf("still listed as failed: %v", ids(ps))
	}
	mustCheck(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpenAt(t, path, clock)
	if again := mustGet(t, s, failed.ID); !reflect.DeepEqual(again, got) {
		t.Errorf("after reopen:\n got %+v\nwant %+v", again, got)
	}
	if p, changed, err := s.Correct(failed.ID, r); err != nil || changed || !reflect.DeepEqual(p, got) {
		t.Errorf("Correct after reopen = %v, %v; want the payment unchanged", changed, err)
	}
}

func TestCorrectKeepsAStoredReceiptWhenGivenNone(t *testing.T) {
	s, clock := mustOpenStore(t)
	p := pendingPayment(t, s, clock)
	if _, _, err := s.Settle(p.ID, storage.Result{State: storage.StateFailed, ResultCode: "1", Receipt: "NLJ7RT61SV", Source: "callback"}); err != nil {
		t.Fatal(err)
	}
	got, changed, err := s.Correct(p.ID, storage.Result{State: storage.StateSucceeded, ResultCode: "0", Source: "query"})
	if err != nil || !changed || got.Receipt != "NLJ7RT61SV" {
		t.Fatalf("Correct = %q, %v, %v; want the stored receipt kept", got.Receipt, changed, err)
	}
}

func TestCorrectLeavesEveryOtherState(t *testing.T) {
	s, clock := mustOpenStore(t)
	r := storage.Result{State: storage.StateSucceeded, ResultCode: "0", Source: "query"}
	for _, st := range []storage.State{storage.StateInitiating, storage.StatePending, storage.StateSucceeded,
		storage.StateRejected, storage.StateUnknown} {
		t.Run(string(st), func(t *testing.T) {
			before := paymentIn(t, s, clock, st)
			got, changed, err := s.Correct(before.ID, r)
			if err != nil || changed || !reflect.DeepEqual(got, before) || !reflect.DeepEqual(mustGet(t, s, before.ID), before) {
				t.Fatalf("Correct = %+v, %v, %v; want the payment unchanged", got, changed, err)
			}
		})
	}
}

func TestCorrectRefusals(t *testing.T) {
	s, clock := mustOpenStore(t)
	p := paymentIn(t, s, clock, storage.StateFailed)
	for _, tc := range []struct {
		name string
		r    storage.Result
		want error
	}{
		{"ErrInvalidForFailed", storage.Result{State: storage.StateFailed, Source: "query"}, storage.ErrInvalid},
		{"ErrInvalidForUnknown", storage.Result{State: storage.StateUnknown, Source: "query"}, storage.ErrInvalid},
		{"ErrInvalidWithoutSource", storage.Result{State: storage.StateSucceeded}, storage.ErrInvalid},
		{"ErrInvalidForABadReceipt", storage.Result{State: storage.StateSucceeded, Source: "query", Receipt: "NLJ 7"}, storage.ErrInvalid},
		{"ErrConflictForAnotherCheckoutID", storage.Result{State: storage.StateSucceeded, Source: "query", CheckoutRequestID: "ws_CO_forged"}, storage.ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, changed, err := s.Correct(p.ID, tc.r); !errors.Is(err, tc.want) || changed {
				t.Fatalf("Correct = %v, %v; want %v", changed, err, tc.want)
			}
		})
	}
	t.Run("ErrNotFound", func(t *testing.T) {
		if _, _, err := s.Correct("nope", storage.Result{State: storage.StateSucceeded, Source: "query"}); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
	if got := mustGet(t, s, p.ID); got.State != storage.StateFailed {
		t.Errorf("a refused Correct changed the state to %s", got.State)
	}
}

func TestAppendConflictIsBounded(t *testing.T) {
	const limit, flood, workers = 5, 10_000, 20
	s, clock := mustOpenStore(t)
	p := paymentIn(t, s, clock, storage.StateFailed)
	before := mustGet(t, s, p.ID)

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		recorded int
	)
	for w := range workers {
		wg.Go(func() {
			n := 0
			for i := range flood / workers {
				ok, err := s.AppendConflict(p.ID, storage.Event{Source: "callback", Type: "callback_conflict",
					Detail: fmt.Sprintf("forged %d/%d", w, i)}, limit)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					n++
				}
			}
			mu.Lock()
			recorded += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if recorded != limit {
		t.Errorf("%d calls reported recorded, want %d", recorded, limit)
	}
	got := mustGet(t, s, p.ID)
	added := got.History[len(before.History):]
	if len(added) != limit+1 || countEvents(got, "callback_conflict") != limit {
		t.Fatalf("the flood added %d events (%d conflicts), want %d conflicts and the cap", len(added), countEvents(got, "callback_conflict"), limit)
	}
	if last := added[limit]; last.Type != "conflicts_capped" || last.Detail != "further conflicting callbacks are not recorded" {
		t.Errorf("last event = %+v, want conflicts_capped", last)
	}
	got.History = before.History
	if !reflect.DeepEqual(got, before) {
		t.Errorf("conflicts changed the payment: %+v", got)
	}
}

func TestAppendConflictRefusals(t *testing.T) {
	s, clock := mustOpenStore(t)
	p := paymentIn(t, s, clock, storage.StateSucceeded)
	for name, tc := range map[string]struct {
		id    string
		ev    storage.Event
		limit int
		want  error
	}{
		"ErrInvalidForZeroLimit":  {p.ID, storage.Event{Type: "callback_conflict"}, 0, storage.ErrInvalid},
		"ErrInvalidWithoutAType":  {p.ID, storage.Event{Source: "callback"}, 3, storage.ErrInvalid},
		"ErrNotFoundForUnknownID": {"nope", storage.Event{Type: "callback_conflict"}, 3, storage.ErrNotFound},
	} {
		t.Run(name, func(t *testing.T) {
			if ok, err := s.AppendConflict(tc.id, tc.ev, tc.limit); !errors.Is(err, tc.want) || ok {
				t.Fatalf("AppendConflict = %v, %v; want %v", ok, err, tc.want)
			}
		})
	}
	if got := mustGet(t, s, p.ID); len(got.History) != len(p.History) {
		t.Errorf("refused calls added %d events", len(got.History)-len(p.History))
	}
}

func TestMoveChatMovesEveryPaymentOfTheChat(t *testing.T) {
	const from, to, other = -100123, -100999123, -100555
	s, clock := mustOpenStore(t)
	var moving, staying []string
	// Every state moves: a final payment's /status and correction follow
	// the chat too.
	for i, st := range []storage.State{storage.StateInitiating, storage.StatePending, storage.StateSucceeded,
		storage.StateFailed, storage.StateRejected, storage.StateUnknown} {
		staying = append(staying, paymentIn(t, s, clock, st).ID) // a chat of its own
		req := newPayment()
		req.ChatID = from
		if i%3 == 0 {
			req.ChatID = other
		}
		q := mustCreate(t, s, req)
		if st != storage.StateInitiating && st != storage.StateRejected {
			if _, err := s.RecordPush(q.ID, "ws_CO_"+q.ID, "m", clock.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if st != storage.StateInitiating && st != storage.StatePending {
			settle(t, s, q.ID, st, "")
		}
		if req.ChatID == from {
			moving = append(moving, q.ID)
		} else {
			staying = append(staying, q.ID)
		}
	}
	before := map[string]storage.Payment{}
	for _, p := range allPayments(t, s) {
		before[p.ID] = p
	}
	at := clock.Advance(time.Second)

	n, err := s.MoveChat(from, to)
	if err != nil || n != len(moving) {
		t.Fatalf("MoveChat = %d, %v; want %d", n, err, len(moving))
	}
	for _, id := range moving {
		got := mustGet(t, s, id)
		last := got.History[len(got.History)-1]
		if got.ChatID != to || !got.UpdatedAt.Equal(at) || last.Type != "chat_moved" ||
			last.Detail != fmt.Sprintf("chat %d → %d", from, to) || len(got.History) != len(before[id].History)+1 {
			t.Errorf("moved payment %s: chat %d, last event %+v", id, got.ChatID, last)
		}
	}
	for _, id := range staying {
		if got := mustGet(t, s, id); !reflect.DeepEqual(got, before[id]) {
			t.Errorf("payment %s of another chat changed: %+v", id, got)
		}
	}

	if n, err := s.MoveChat(from, to); err != nil || n != 0 {
		t.Errorf("second MoveChat = %d, %v; want 0", n, err)
	}
	if n, err := s.MoveChat(other, other); err != nil || n != 0 {
		t.Errorf("MoveChat to the same chat = %d, %v; want 0", n, err)
	}
	for _, id := range moving {
		if got := mustGet(t, s, id); countEvents(got, "chat_moved") != 1 {
			t.Errorf("%s has %d chat_moved events, want 1", id, countEvents(got, "chat_moved"))
		}
	}
	mustCheck(t, s)
}
