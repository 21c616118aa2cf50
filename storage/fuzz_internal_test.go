package storage

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

var allStates = []State{StateInitiating, StatePending, StateSucceeded, StateFailed, StateRejected, StateUnknown}

// FuzzLifecycle drives a few payments through random sequences of every write
// and checks the promises of the package after each step: the moves Settle
// makes are exactly CanSettle's, a final result never changes, histories are
// append-only and grow only when something changed, limits hold, and every
// index agrees with the records.
func FuzzLifecycle(f *testing.F) {
	f.Add([]byte{0, 0, 1, 4, 2, 8, 3, 0})                   // push, settle succeeded, notify, post
	f.Add([]byte{1, 4, 0, 0, 1, 12, 1, 8})                  // callback before push answer, then late results
	f.Add([]byte{1, 13, 2, 21, 1, 5, 2, 9, 3, 1})           // unknown, notified, then final
	f.Add([]byte{7, 0, 7, 1, 7, 2, 7, 0, 6, 1, 0, 5, 0, 6}) // limits and idempotent replays
	f.Add([]byte{0, 0, 0, 5, 1, 17, 4, 3, 5, 2, 4, 30})     // checkout conflicts, scheduling

	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		clock := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		s, err := Open(filepath.Join(t.TempDir(), "f.db"), Options{Now: func() time.Time { return clock }})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		// Speed only: nothing here survives the test, so skip fsync and the wait for company.
		s.db.NoSync = true
		s.db.MaxBatchDelay = 0

		var ids []string
		add := func(n int, phone string) (Payment, bool, error) {
			req := request(n)
			req.UserID = 1
			if phone != "" {
				req.Phone = phone
			}
			p, created, err := s.Create(req, Limits{OnePerPhone: true, MaxOpenPerUser: 3})
			if created {
				ids = append(ids, p.ID)
			}
			return p, created, err
		}
		for n := range 2 {
			if _, _, err := add(n, ""); err != nil {
				t.Fatal(err)
			}
		}

		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i]%8, int(ops[i+1])
			clock = clock.Add(time.Duration(arg) * time.Second)
			before := snapshot(t, s, ids)
			id := ids[arg%len(ids)]
			p := before[id]
			k := (arg >> 2) % 4
			co := fmt.Sprintf("ws_CO_%d", k)
			grew := -1 // expected history growth of p; -1: not checked

			switch op {
			case 0:
				_, err := s.RecordPush(id, co, "m", clock.Add(time.Minute))
				wantConflict := (p.CheckoutRequestID != "" && p.CheckoutRequestID != co) || heldByOther(before, co, id)
				checkErr(t, "RecordPush", err, wantConflict)
				if wantConflict {
					grew = 0
				}
			case 1:
				target := []State{StateSucceeded, StateFailed, StateRejected, StateUnknown}[arg%4]
				if arg&64 == 0 {
					co = ""
				}
				_, changed, err := s.Settle(id, Result{State: target, ResultCode: fmt.Sprint(arg), Receipt: co, CheckoutRequestID: co, Source: "fuzz"})
				mismatch := p.CheckoutRequestID != "" && co != "" && p.CheckoutRequestID != co
				can := CanSettle(p.State, target)
				wantConflict := mismatch || (can && p.CheckoutRequestID == "" && co != "" && heldByOther(before, co, id))
				checkErr(t, "Settle", err, wantConflict)
				if wantChanged := can && !wantConflict; changed != wantChanged {
					t.Fatalf("Settle %s → %s: changed=%v, want %v", p.State, target, changed, wantChanged)
				}
				grew = 0
				if changed {
					grew = 1
				}
			case 2:
				st := allStates[(arg>>2)%len(allStates)]
				ok, err := s.MarkNotified(id, st)
				checkErr(t, "MarkNotified", err, false)
				if ok != (p.State == st) {
					t.Fatalf("MarkNotified(%s) on %s = %v", st, p.State, ok)
				}
				grew = 0
				if ok && !p.Notified {
					grew = 1
				}
			case 3:
				checkErr(t, "MarkFeedPosted", s.MarkFeedPosted(id), false)
				grew = 0
				if !p.FeedPosted {
					grew = 1
				}
			case 4:
				var ev *Event
				if arg&1 == 1 {
					ev = &Event{Source: "watcher", Type: "query_answered"}
				}
				checkErr(t, "ScheduleQuery", s.ScheduleQuery(id, clock.Add(time.Duration(arg)*time.Second), arg>>1, ev), false)
				if ev != nil {
					grew = 1
				}
			case 5:
				checkErr(t, "AppendEvent", s.AppendEvent(id, Event{Source: "bot", Type: "note"}), false)
				grew = 1
			case 6:
				req := request(0)
				req.IdempotencyKey = p.IdempotencyKey
				got, created, err := s.Create(req, Limits{OnePerPhone: true, MaxOpenPerUser: 1})
				if err != nil || created || got.ID != id {
					t.Fatalf("replayed Create = %s, %v, %v; want %s, false", got.ID, created, err, id)
				}
				grew = 0
			case 7:
				if len(ids) >= 6 {
					break
				}
				open := 0
				phoneBusy := false
				for _, q := range before {
					if q.State.Open() {
						open++
						phoneBusy = phoneBusy || q.Phone == p.Phone
					}
				}
				_, created, err := add(100+i, p.Phone)
				switch {
				case phoneBusy:
					if !errors.Is(err, ErrPhoneBusy) {
						t.Fatalf("Create on a busy phone: %v, %v", created, err)
					}
				case open >= 3:
					if !errors.Is(err, ErrTooManyOpen) {
						t.Fatalf("Create over the user limit: %v, %v", created, err)
					}
				case err != nil || !created:
					t.Fatalf("Create: %v, %v", created, err)
				}
			}

			after := snapshot(t, s, ids)
			for qid, q := range before {
				a := after[qid]
				if !slices.Equal(a.History[:len(q.History)], q.History) {
					t.Fatalf("op %d rewrote the history of %s", op, qid)
				}
				if qid != id && !reflect.DeepEqual(a, q) {
					t.Fatalf("op %d on %s changed %s", op, id, qid)
				}
				if q.State.Final() && (a.State != q.State || a.ResultCode != q.ResultCode || a.Receipt != q.Receipt ||
					!a.SettledAt.Equal(q.SettledAt) || !a.NextQueryAt.IsZero()) {
					t.Fatalf("op %d changed the final result of %s: %+v → %+v", op, qid, q, a)
				}
				if a.State != q.State && !CanSettle(q.State, a.State) && !(q.State == StateInitiating && a.State == StatePending) {
					t.Fatalf("op %d moved %s from %s to %s", op, qid, q.State, a.State)
				}
			}
			if grew >= 0 && len(after[id].History)-len(p.History) != grew {
				t.Fatalf("op %d grew the history of %s by %d, want %d", op, id, len(after[id].History)-len(p.History), grew)
			}
		}

		if err := s.Check(); err != nil {
			t.Fatal(err)
		}
		checkLists(t, s, snapshot(t, s, ids))
	})
}

func snapshot(t *testing.T, s *Store, ids []string) map[string]Payment {
	t.Helper()
	m := make(map[string]Payment, len(ids))
	for _, id := range ids {
		p, err := s.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		m[id] = p
	}
	return m
}

func heldByOther(ps map[string]Payment, checkoutID, id string) bool {
	for qid, q := range ps {
		if qid != id && q.CheckoutRequestID == checkoutID {
			return true
		}
	}
	return false
}

func checkErr(t *testing.T, op string, err error, wantConflict bool) {
	t.Helper()
	if wantConflict != errors.Is(err, ErrConflict) || (!wantConflict && err != nil) {
		t.Fatalf("%s: err = %v, want conflict=%v", op, err, wantConflict)
	}
}

// checkLists compares every list and count with what the records say.
func checkLists(t *testing.T, s *Store, ps map[string]Payment) {
	t.Helper()
	var unnotified, unposted []string
	count := map[State]int{}
	openByUser := 0
	for id, p := range ps {
		count[p.State]++
		if (p.State.Final() || p.State == StateUnknown) && !p.Notified {
			unnotified = append(unnotified, id)
		}
		if p.State.Final() && !p.FeedPosted {
			unposted = append(unposted, id)
		}
		if p.State.Open() && p.UserID == 1 {
			openByUser++
		}
		if p.State.Open() {
			if _, ok, _ := s.OpenByPhone(p.Phone); !ok {
				t.Fatalf("OpenByPhone misses open payment %s", id)
			}
		}
	}
	slices.Sort(unnotified)
	slices.Sort(unposted)
	list := func(f func() ([]Payment, error)) []string {
		got, err := f()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range got {
			if _, ours := ps[p.ID]; ours {
				out = append(out, p.ID)
			}
		}
		slices.Sort(out)
		return out
	}
	if got := list(s.ListUnnotified); !slices.Equal(got, unnotified) {
		t.Fatalf("ListUnnotified = %v, want %v", got, unnotified)
	}
	if got := list(s.ListUnposted); !slices.Equal(got, unposted) {
		t.Fatalf("ListUnposted = %v, want %v", got, unposted)
	}
	for _, st := range allStates {
		if n, _ := s.CountByState(st); n != count[st] {
			t.Fatalf("CountByState(%s) = %d, want %d", st, n, count[st])
		}
	}
	if n, _ := s.CountOpenByUser(1); n != openByUser {
		t.Fatalf("CountOpenByUser = %d, want %d", n, openByUser)
	}
}
