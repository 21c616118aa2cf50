package storage_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/storage"
)

func TestAppendEventLeavesTheRecordAlone(t *testing.T) {
	s, clock := mustOpenStore(t)
	p := pendingPayment(t, s, clock)
	want := p.History
	for i := range 50 {
		ev := storage.Event{At: clock.Advance(time.Second), Source: "watcher", Type: "query_answered", Detail: fmt.Sprint(i)}
		if err := s.AppendEvent(p.ID, ev); err != nil {
			t.Fatal(err)
		}
		want = append(want, ev)
	}
	got := mustGet(t, s, p.ID)
	if !reflect.DeepEqual(got.History, want) {
		t.Errorf("history = %+v\nwant %+v", got.History, want)
	}
	got.History = p.History
	if !reflect.DeepEqual(got, p) {
		t.Errorf("appending events changed the payment (UpdatedAt %v → %v)", p.UpdatedAt, got.UpdatedAt)
	}
}

func TestScheduleQueryWithTheStoredScheduleWritesOnlyTheEvent(t *testing.T) {
	s, clock := mustOpenStore(t)
	p := pendingPayment(t, s, clock)
	clock.Advance(time.Second)
	ev := storage.Event{Source: "watcher", Type: "query_answered"}
	if err := s.ScheduleQuery(p.ID, p.NextQueryAt, p.Queries, &ev); err != nil {
		t.Fatal(err)
	}
	got := mustGet(t, s, p.ID)
	if !got.UpdatedAt.Equal(p.UpdatedAt) || len(got.History) != len(p.History)+1 {
		t.Errorf("UpdatedAt %v → %v, history %d → %d events; want UpdatedAt kept and one event more",
			p.UpdatedAt, got.UpdatedAt, len(p.History), len(got.History))
	}
}

func TestHistoriesOfIDsSharingAPrefixStayApart(t *testing.T) {
	s, _ := mustOpenStore(t)
	var ps []storage.Payment
	for _, id := range []string{"order-1", "order-10", "order-1_", "order-"} {
		req := newPayment()
		req.ID = id
		ps = append(ps, mustCreate(t, s, req))
	}
	for i, p := range ps {
		for range i {
			if err := s.AppendEvent(p.ID, storage.Event{Type: "note", Detail: p.ID}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, p := range ps {
		got := mustGet(t, s, p.ID)
		if len(got.History) != 1+i || countEvents(got, "created") != 1 {
			t.Errorf("%s has %d events, want %d", p.ID, len(got.History), 1+i)
		}
		for _, e := range got.History[1:] {
			if e.Detail != p.ID {
				t.Errorf("%s holds an event of %s", p.ID, e.Detail)
			}
		}
	}
	mustCheck(t, s)
}

func TestEveryReadFillsTheHistory(t *testing.T) {
	s, clock := mustOpenStore(t)
	req := newPayment()
	p := mustCreate(t, s, req)
	if err := s.AppendEvent(p.ID, storage.Event{Source: "bot", Type: "push_sent"}); err != nil {
		t.Fatal(err)
	}
	p, err := s.RecordPush(p.ID, "ws_CO_reads", "m", clock.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := mustGet(t, s, p.ID)
	if len(want.History) != 3 {
		t.Fatalf("history of %d events, want created, push_sent, push_answered", len(want.History))
	}
	first := func(ps []storage.Payment, err error) (storage.Payment, error) {
		if err != nil || len(ps) != 1 {
			return storage.Payment{}, fmt.Errorf("%d payments, %w", len(ps), err)
		}
		return ps[0], nil
	}
	reads := map[string]func() (storage.Payment, error){
		"RecordPush":          func() (storage.Payment, error) { return p, nil },
		"GetByCheckoutID":     func() (storage.Payment, error) { return s.GetByCheckoutID("ws_CO_reads") },
		"GetByIdempotencyKey": func() (storage.Payment, error) { return s.GetByIdempotencyKey(req.IdempotencyKey) },
		"GetBySecret":         func() (storage.Payment, error) { return s.GetBySecret(req.CallbackSecret) },
		"ListByState":         func() (storage.Payment, error) { return first(s.ListByState(storage.StatePending)) },
		"ListByUser":          func() (storage.Payment, error) { return first(s.ListByUser(req.UserID, 1)) },
		"OpenByPhone": func() (storage.Payment, error) {
			got, _, err := s.OpenByPhone(req.Phone)
			return got, err
		},
		"CreateOfTheSameKey": func() (storage.Payment, error) {
			got, _, err := s.Create(req, storage.Limits{})
			return got, err
		},
	}
	for name, read := range reads {
		t.Run(name, func(t *testing.T) {
			got, err := read()
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v, %v\nwant %+v", got.History, err, want.History)
			}
		})
	}

	settled := settle(t, s, p.ID, storage.StateSucceeded, "0")
	for name, list := range map[string]func() ([]storage.Payment, error){
		"ListUnnotified": s.ListUnnotified, "ListUnposted": s.ListUnposted,
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := first(list()); err != nil || !reflect.DeepEqual(got, settled) || len(got.History) != 4 {
				t.Errorf("got %+v, %v\nwant %+v", got.History, err, settled.History)
			}
		})
	}
}
