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

func TestRecordPush(t *testing.T) {
	t.Run("MovesInitiatingToPending", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		p := mustCreate(t, s, newPayment())
		clock.Advance(2 * time.Second)
		next := clock.Now().Add(20 * time.Second)
		got, err := s.RecordPush(p.ID, "ws_CO_191220191020363925", "29115-34620561-1", next)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != storage.StatePending || got.CheckoutRequestID != "ws_CO_191220191020363925" ||
			got.MerchantRequestID != "29115-34620561-1" || !got.PushedAt.Equal(clock.Now()) || !got.NextQueryAt.Equal(next) {
			t.Errorf("after RecordPush: %+v", got)
		}
		if last := got.History[len(got.History)-1]; last.Type != "push_answered" || !strings.Contains(last.Detail, "ws_CO_191220191020363925") {
			t.Errorf("last event = %+v, want push_answered naming the checkout ID", last)
		}
		if byCheckout, err := s.GetByCheckoutID("ws_CO_191220191020363925"); err != nil || !reflect.DeepEqual(byCheckout, got) {
			t.Errorf("GetByCheckoutID = %v, %v; want %v", byCheckout, err, got)
		}
	})

	t.Run("SameAnswerTwiceChangesNothing", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		p := pendingPayment(t, s, clock)
		clock.Advance(time.Second)
		got, err := s.RecordPush(p.ID, p.CheckoutRequestID, p.MerchantRequestID, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, p) || !reflect.DeepEqual(mustGet(t, s, p.ID), p) {
			t.Errorf("second RecordPush changed the payment:\n got %+v\nwant %+v", got, p)
		}
	})

	t.Run("CallbackBeforePushAnswerKeepsTheFinalState", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		p := mustCreate(t, s, newPayment())
		settled, changed, err := s.Settle(p.ID, storage.Result{
			State: storage.StateSucceeded, ResultCode: "0", ResultDesc: "The service request is processed successfully.",
			Receipt: "NLJ7RT61SV", CheckoutRequestID: "ws_CO_early", Source: "callback",
		})
		if err != nil || !changed {
			t.Fatalf("Settle from initiating: %v, %v", changed, err)
		}
		if byCheckout, err := s.GetByCheckoutID("ws_CO_early"); err != nil || byCheckout.ID != p.ID {
			t.Fatalf("GetByCheckoutID after the callback: %v, %v", byCheckout.ID, err)
		}
		clock.Advance(time.Second)
		got, err := s.RecordPush(p.ID, "ws_CO_early", "29115-1", clock.Now().Add(20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if got.State != storage.StateSucceeded || got.Receipt != "NLJ7RT61SV" || got.ResultCode != "0" ||
			got.SettledBy != "callback" || !got.SettledAt.Equal(settled.SettledAt) {
			t.Errorf("RecordPush changed the callback's result: %+v", got)
		}
		if got.MerchantRequestID != "29115-1" || got.PushedAt.IsZero() {
			t.Errorf("RecordPush did not fill the empty fields: %+v", got)
		}
		if !got.NextQueryAt.IsZero() {
			t.Errorf("a final payment was scheduled for a query at %v", got.NextQueryAt)
		}
		if ps, _ := s.ListByState(storage.StatePending); len(ps) != 0 {
			t.Errorf("payment listed as pending: %v", ids(ps))
		}
		mustCheck(t, s)
	})

	t.Run("ErrConflictForADifferentCheckoutID", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		p := pendingPayment(t, s, clock)
		if _, err := s.RecordPush(p.ID, "ws_CO_other", "m", clock.Now()); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("err = %v, want ErrConflict", err)
		}
		if got := mustGet(t, s, p.ID); !reflect.DeepEqual(got, p) {
			t.Errorf("refused RecordPush changed the payment")
		}
	})

	t.Run("ErrConflictForACheckoutIDOfAnotherPayment", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		other := pendingPayment(t, s, clock)
		p := mustCreate(t, s, newPayment())
		if _, err := s.RecordPush(p.ID, other.CheckoutRequestID, "m", clock.Now()); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("err = %v, want ErrConflict", err)
		}
		if got, _ := s.GetByCheckoutID(other.CheckoutRequestID); got.ID != other.ID {
			t.Errorf("checkout ID now finds %s, want %s", got.ID, other.ID)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		if _, err := s.RecordPush("nope", "ws_CO_1", "m", clock.Now()); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})

	t.Run("ErrInvalidForEmptyCheckoutID", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		p := mustCreate(t, s, newPayment())
		if _, err := s.RecordPush(p.ID, "", "m", clock.Now()); !errors.Is(err, storage.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
}

func TestSettleTransitions(t *testing.T) {
	all := []storage.State{storage.StateInitiating, storage.StatePending, storage.StateSucceeded,
		storage.StateFailed, storage.StateRejected, storage.StateUnknown}
	targets := []storage.State{storage.StateSucceeded, storage.StateFailed, storage.StateRejected, storage.StateUnknown}
	allowed := map[[2]storage.State]bool{
		{storage.StateInitiating, storage.StateSucceeded}: true,
		{storage.StateInitiating, storage.StateFailed}:    true,
		{storage.StateInitiating, storage.StateRejected}:  true,
		{storage.StateInitiating, storage.StateUnknown}:   true,
		{storage.StatePending, storage.StateSucceeded}:    true,
		{storage.StatePending, storage.StateFailed}:       true,
		{storage.StatePending, storage.StateUnknown}:      true,
		{storage.StateUnknown, storage.StateSucceeded}:    true,
		{storage.StateUnknown, storage.StateFailed}:       true,
	}
	s, clock := mustOpenStore(t)
	for _, from := range all {
		for _, to := range targets {
			want := allowed[[2]storage.State{from, to}]
			name := string(from) + "To" + string(to)
			if want {
				name += "Changes"
			} else {
				name += "IsIgnored"
			}
			t.Run(name, func(t *testing.T) {
				if got := storage.CanSettle(from, to); got != want {
					t.Errorf("CanSettle(%s, %s) = %v, want %v", from, to, got, want)
				}
				before := paymentIn(t, s, clock, from)
				if _, err := s.MarkNotified(before.ID, from); err != nil {
					t.Fatal(err)
				}
				if err := s.MarkFeedPosted(before.ID); err != nil {
					t.Fatal(err)
				}
				before = mustGet(t, s, before.ID)
				at := clock.Advance(time.Second)
				got, changed, err := s.Settle(before.ID, storage.Result{
					State: to, ResultCode: "1032", ResultDesc: "Request cancelled by user", Receipt: "R1",
					Source: "query", Detail: "from the test",
				})
				if err != nil {
					t.Fatal(err)
				}
				if changed != want {
					t.Fatalf("changed = %v, want %v", changed, want)
				}
				if stored := mustGet(t, s, before.ID); !reflect.DeepEqual(stored, got) {
					t.Errorf("Settle returned %+v but stored %+v", got, stored)
				}
				if !want {
					if !reflect.DeepEqual(got, before) {
						t.Errorf("ignored Settle changed the payment:\n got %+v\nwant %+v", got, before)
					}
					return
				}
				if got.State != to || got.ResultCode != "1032" || got.ResultDesc != "Request cancelled by user" ||
					got.Receipt != "R1" || got.SettledBy != "query" {
					t.Errorf("result not applied: %+v", got)
				}
				if got.Notified || got.FeedPosted {
					t.Errorf("Notified=%v FeedPosted=%v after a change, want both false", got.Notified, got.FeedPosted)
				}
				if to.Final() {
					if !got.SettledAt.Equal(at) || !got.NextQueryAt.IsZero() {
						t.Errorf("final: SettledAt=%v NextQueryAt=%v, want %v and zero", got.SettledAt, got.NextQueryAt, at)
					}
				} else if !got.SettledAt.Equal(before.SettledAt) || !got.NextQueryAt.Equal(before.NextQueryAt) {
					t.Errorf("unknown: SettledAt=%v NextQueryAt=%v, want them kept (%v, %v)",
						got.SettledAt, got.NextQueryAt, before.SettledAt, before.NextQueryAt)
				}
				if len(got.History) != len(before.History)+1 || !reflect.DeepEqual(got.History[:len(before.History)], before.History) {
					t.Fatalf("history was not extended by one event: %+v", got.History)
				}
				last := got.History[len(got.History)-1]
				if last.Type != "settled" || last.Source != "query" || !last.At.Equal(at) ||
					!strings.Contains(last.Detail, string(from)+"→"+string(to)) || !strings.Contains(last.Detail, "from the test") {
					t.Errorf("settled event = %+v", last)
				}
			})
		}
	}
	mustCheck(t, s)
}

func TestSettle(t *testing.T) {
	t.Run("LateQueryNeverOverwritesACallback", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		p := pendingPayment(t, s, clock)
		if _, changed, err := s.Settle(p.ID, storage.Result{State: storage.StateSucceeded, ResultCode: "0",
			Receipt: "NLJ7RT61SV", Source: "callback"}); err != nil || !changed {
			t.Fatalf("callback: %v, %v", changed, err)
		}
		got, changed, err := s.Settle(p.ID, storage.Result{State: storage.StateFailed, ResultCode: "1037", Source: "query"})
		if err != nil || changed {
			t.Fatalf("late query: changed=%v err=%v, want false, nil", changed, err)
		}
		if got.State != storage.StateSucceeded || got.Receipt != "NLJ7RT61SV" || got.SettledBy != "callback" {
			t.Errorf("late query changed the result: %+v", got)
		}
	})

	t.Run("DuplicateCallbacksDoNotGrowTheHistory", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		p := paymentIn(t, s, clock, storage.StateSucceeded)
		for range 20 {
			if _, changed, _ := s.Settle(p.ID, storage.Result{State: storage.StateSucceeded, Source: "callback"}); changed {
				t.Fatal("a duplicate changed the payment")
			}
		}
		if got := mustGet(t, s, p.ID); len(got.History) != len(p.History) {
			t.Errorf("history grew from %d to %d events", len(p.History), len(got.History))
		}
	})

	t.Run("ManyGoroutinesChangeItExactlyOnce", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		p := pendingPayment(t, s, clock)
		const n = 50
		changed := make([]bool, n)
		results := make([]storage.Payment, n)
		var wg sync.WaitGroup
		for i := range n {
			to := storage.StateSucceeded
			if i%2 == 1 {
				to = storage.StateFailed
			}
			wg.Go(func() {
				var err error
				results[i], changed[i], err = s.Settle(p.ID, storage.Result{State: to, Source: "callback"})
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got := countTrue(changed); got != 1 {
			t.Fatalf("%d calls changed the payment, want exactly 1", got)
		}
		final := mustGet(t, s, p.ID)
		for i := range n {
			if changed[i] && results[i].State != final.State {
				t.Errorf("the winning call set %s, the store holds %s", results[i].State, final.State)
			}
		}
		if got := countEvents(final, "settled"); got != 1 {
			t.Errorf("%d settled events, want 1", got)
		}
	})

	t.Run("UnknownThenFinalKeepsPollingUntilFinal", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		p := pendingPayment(t, s, clock)
		unknown := settle(t, s, p.ID, storage.StateUnknown, "")
		if unknown.NextQueryAt.IsZero() || !unknown.SettledAt.IsZero() {
			t.Errorf("unknown: NextQueryAt=%v SettledAt=%v, want scheduled and unsettled", unknown.NextQueryAt, unknown.SettledAt)
		}
		if ok, err := s.MarkNotified(p.ID, storage.StateUnknown); err != nil || !ok {
			t.Fatalf("MarkNotified(unknown): %v, %v", ok, err)
		}
		final := settle(t, s, p.ID, storage.StateSucceeded, "0")
		if final.Notified || !final.NextQueryAt.IsZero() || final.SettledAt.IsZero() {
			t.Errorf("unknown → succeeded: %+v, want un-notified, unscheduled, settled", final)
		}
	})

	t.Run("FillsAnEmptyCheckoutID", func(t *testing.T) {
		s, _ := mustOpenStore(t)
		p := mustCreate(t, s, newPayment())
		got, _, err := s.Settle(p.ID, storage.Result{State: storage.StateFailed, CheckoutRequestID: "ws_CO_9", Source: "callback"})
		if err != nil || got.CheckoutRequestID != "ws_CO_9" {
			t.Fatalf("Settle = %q, %v; want the checkout ID filled", got.CheckoutRequestID, err)
		}
		if byID, err := s.GetByCheckoutID("ws_CO_9"); err != nil || byID.ID != p.ID {
			t.Errorf("GetByCheckoutID = %s, %v", byID.ID, err)
		}
	})

	t.Run("ErrConflictForADifferentCheckoutID", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		p := pendingPayment(t, s, clock)
		_, changed, err := s.Settle(p.ID, storage.Result{State: storage.StateSucceeded, CheckoutRequestID: "ws_CO_forged", Source: "callback"})
		if !errors.Is(err, storage.ErrConflict) || changed {
			t.Fatalf("Settle = %v, %v; want ErrConflict", changed, err)
		}
		if got := mustGet(t, s, p.ID); got.State != storage.StatePending {
			t.Errorf("state = %s, want pending", got.State)
		}
	})

	t.Run("ErrConflictForACheckoutIDOfAnotherPayment", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		other := pendingPayment(t, s, clock)
		p := mustCreate(t, s, newPayment())
		_, _, err := s.Settle(p.ID, storage.Result{State: storage.StateSucceeded, CheckoutRequestID: other.CheckoutRequestID, Source: "callback"})
		if !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("err = %v, want ErrConflict", err)
		}
		if got := mustGet(t, s, p.ID); got.State != storage.StateInitiating {
			t.Errorf("state = %s, want initiating", got.State)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		s, _ := mustOpenStore(t)
		if _, _, err := s.Settle("nope", storage.Result{State: storage.StateFailed, Source: "query"}); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})

	for _, r := range []storage.Result{
		{State: storage.StatePending, Source: "query"},
		{State: storage.StateInitiating, Source: "query"},
		{State: "", Source: "query"},
		{State: "paid", Source: "query"},
		{State: storage.StateSucceeded},
	} {
		t.Run("ErrInvalidFor"+string(r.State)+"From"+r.Source, func(t *testing.T) {
			s, _ := mustOpenStore(t)
			p := mustCreate(t, s, newPayment())
			if _, _, err := s.Settle(p.ID, r); !errors.Is(err, storage.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestMarkNotified(t *testing.T) {
	t.Run("MarksTheCurrentStateOnce", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		p := paymentIn(t, s, clock, storage.StateFailed)
		if got, _ := s.ListUnnotified(); !reflect.DeepEqual(ids(got), []string{p.ID}) {
			t.Fatalf("ListUnnotified = %v, want [%s]", ids(got), p.ID)
		}
		for range 3 {
			ok, err := s.MarkNotified(p.ID, storage.StateFailed)
			if err != nil || !ok {
				t.Fatalf("MarkNotified = %v, %v; want true", ok, err)
			}
		}
		got := mustGet(t, s, p.ID)
		if !got.Notified || countEvents(got, "notified") != 1 {
			t.Errorf("Notified=%v with %d notified events; want true, 1", got.Notified, countEvents(got, "notified"))
		}
		if left, _ := s.ListUnnotified(); len(left) != 0 {
			t.Errorf("ListUnnotified = %v, want none", ids(left))
		}
	})

	t.Run("FalseWhenTheStateMovedOn", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		p := paymentIn(t, s, clock, storage.StateUnknown)
		settle(t, s, p.ID, storage.StateSucceeded, "0")
		ok, err := s.MarkNotified(p.ID, storage.StateUnknown)
		if err != nil || ok {
			t.Fatalf("MarkNotified(stale state) = %v, %v; want false", ok, err)
		}
		if got := mustGet(t, s, p.ID); got.Notified {
			t.Error("the succeeded payment was marked notified by the message about unknown")
		}
		if left, _ := s.ListUnnotified(); !reflect.DeepEqual(ids(left), []string{p.ID}) {
			t.Errorf("ListUnnotified = %v, want the payment", ids(left))
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		s, _ := mustOpenStore(t)
		if _, err := s.MarkNotified("nope", storage.StateFailed); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}

func TestMarkFeedPosted(t *testing.T) {
	s, clock := mustOpenStore(t)
	done := paymentIn(t, s, clock, storage.StateSucceeded)
	unknown := paymentIn(t, s, clock, storage.StateUnknown)
	paymentIn(t, s, clock, storage.StatePending)

	t.Run("UnpostedListsOnlyFinalPayments", func(t *testing.T) {
		if got, _ := s.ListUnposted(); !reflect.DeepEqual(ids(got), []string{done.ID}) {
			t.Fatalf("ListUnposted = %v, want [%s]", ids(got), done.ID)
		}
	})
	t.Run("MarksOnce", func(t *testing.T) {
		for range 2 {
			if err := s.MarkFeedPosted(done.ID); err != nil {
				t.Fatal(err)
			}
		}
		got := mustGet(t, s, done.ID)
		if !got.FeedPosted || countEvents(got, "feed_posted") != 1 {
			t.Errorf("FeedPosted=%v with %d events, want true, 1", got.FeedPosted, countEvents(got, "feed_posted"))
		}
		if left, _ := s.ListUnposted(); len(left) != 0 {
			t.Errorf("ListUnposted = %v, want none", ids(left))
		}
	})
	t.Run("ANewFinalStateIsPostedAgain", func(t *testing.T) {
		if err := s.MarkFeedPosted(unknown.ID); err != nil {
			t.Fatal(err)
		}
		settle(t, s, unknown.ID, storage.StateFailed, "1037")
		if got, _ := s.ListUnposted(); !reflect.DeepEqual(ids(got), []string{unknown.ID}) {
			t.Errorf("ListUnposted = %v, want [%s]", ids(got), unknown.ID)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		if err := s.MarkFeedPosted("nope"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}

func TestScheduleQuery(t *testing.T) {
	t.Run("SetsScheduleCountAndEvent", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		p := pendingPayment(t, s, clock)
		next := clock.Now().Add(15 * time.Second)
		ev := &storage.Event{Source: "watcher", Type: "query_answered", Detail: "ResultCode=4999 pending"}
		if err := s.ScheduleQuery(p.ID, next, 1, ev); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, s, p.ID)
		if !got.NextQueryAt.Equal(next) || got.Queries != 1 {
			t.Errorf("NextQueryAt=%v Queries=%d, want %v, 1", got.NextQueryAt, got.Queries, next)
		}
		if last := got.History[len(got.History)-1]; last.Type != "query_answered" || !last.At.Equal(clock.Now()) {
			t.Errorf("last event = %+v", last)
		}
	})

	t.Run("WithoutEventAddsNoHistory", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		p := pendingPayment(t, s, clock)
		if err := s.ScheduleQuery(p.ID, clock.Now().Add(time.Minute), 2, nil); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, s, p.ID); len(got.History) != len(p.History) || got.Queries != 2 {
			t.Errorf("history %d → %d events, Queries %d", len(p.History), len(got.History), got.Queries)
		}
	})

	t.Run("NeverReschedulesAFinalPayment", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		p := paymentIn(t, s, clock, storage.StateSucceeded)
		ev := &storage.Event{Source: "watcher", Type: "query_answered", Detail: "0"}
		if err := s.ScheduleQuery(p.ID, clock.Now().Add(time.Minute), 3, ev); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, s, p.ID)
		if !got.NextQueryAt.IsZero() || got.Queries != 3 || countEvents(got, "query_answered") != 1 {
			t.Errorf("NextQueryAt=%v Queries=%d events=%d; want zero, 3, 1", got.NextQueryAt, got.Queries, countEvents(got, "query_answered"))
		}
	})

	t.Run("ErrInvalidForNegativeCount", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		p := pendingPayment(t, s, clock)
		if err := s.ScheduleQuery(p.ID, clock.Now(), -1, nil); !errors.Is(err, storage.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		if err := s.ScheduleQuery("nope", clock.Now(), 1, nil); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}

func TestAppendEvent(t *testing.T) {
	s, clock := mustOpenStore(t)
	p := mustCreate(t, s, newPayment())

	t.Run("StampsAZeroTimeWithTheClock", func(t *testing.T) {
		at := clock.Advance(time.Second)
		if err := s.AppendEvent(p.ID, storage.Event{Source: "daraja", Type: "push_sent"}); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, s, p.ID)
		if last := got.History[len(got.History)-1]; last.Type != "push_sent" || !last.At.Equal(at) {
			t.Errorf("last event = %+v, want push_sent at %v", last, at)
		}
	})
	t.Run("KeepsAGivenTime", func(t *testing.T) {
		at := time.Date(2026, 1, 2, 6, 0, 0, 0, time.FixedZone("EAT", 3*3600))
		if err := s.AppendEvent(p.ID, storage.Event{At: at, Source: "bot", Type: "failure"}); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, s, p.ID)
		if last := got.History[len(got.History)-1]; !last.At.Equal(at) {
			t.Errorf("At = %v, want %v", last.At, at)
		}
	})
	t.Run("CutsALongDetail", func(t *testing.T) {
		if err := s.AppendEvent(p.ID, storage.Event{Type: "failure", Detail: strings.Repeat("é", 5000)}); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, s, p.ID)
		last := got.History[len(got.History)-1].Detail
		if len(last) > 1024 || !strings.HasSuffix(last, "…") || !strings.HasPrefix(last, "éé") {
			t.Errorf("detail of %d bytes, want at most 1024 ending in …", len(last))
		}
	})
	t.Run("KeepsEarlierEvents", func(t *testing.T) {
		got := mustGet(t, s, p.ID)
		if len(got.History) != 4 || !reflect.DeepEqual(got.History[0], p.History[0]) {
			t.Errorf("history = %+v", got.History)
		}
	})
	t.Run("ErrInvalidWithoutType", func(t *testing.T) {
		if err := s.AppendEvent(p.ID, storage.Event{Source: "bot"}); !errors.Is(err, storage.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		if err := s.AppendEvent("nope", storage.Event{Type: "x"}); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}
