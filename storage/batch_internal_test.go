package storage

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openInternal(tb testing.TB) *Store {
	tb.Helper()
	s, err := Open(filepath.Join(tb.TempDir(), "mpesa-bot.db"), Options{Timeout: 50 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func request(n int) Payment {
	return Payment{
		UserID: int64(n), ChatID: int64(n), MessageID: n, IdempotencyKey: fmt.Sprintf("%d:%d", n, n),
		Phone: fmt.Sprintf("2547%08d", n), Amount: 10, CallbackSecret: fmt.Sprintf("secret-%d", n),
	}
}

// TestBatchRerunLeavesNoTrace puts creates and settles in one bbolt batch with
// a function that fails. bbolt then rolls the batch back and runs the others
// again; each caller must still get exactly its own, single result.
func TestBatchRerunLeavesNoTrace(t *testing.T) {
	s := openInternal(t)
	const creates, settles = 12, 12
	pending := make([]Payment, settles)
	for i := range pending {
		p, _, err := s.Create(request(1000+i), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if pending[i], err = s.RecordPush(p.ID, fmt.Sprintf("ws_CO_%d", i), "m", time.Now()); err != nil {
			t.Fatal(err)
		}
	}

	for round := range 4 {
		// The batch runs when full, so every write below lands in it. From
		// round 2 the settles are duplicates, answered without a write.
		wantChanged := round < 2 // unknown, then succeeded; then nothing more
		s.db.MaxBatchSize = creates + 1
		if wantChanged {
			s.db.MaxBatchSize += settles
		}
		s.db.MaxBatchDelay = 5 * time.Second // only a safety net; the batch fills first
		var wg sync.WaitGroup
		created := make([]Payment, creates)
		settled := make([]bool, settles)
		for i := range creates {
			wg.Go(func() {
				p, ok, err := s.Create(request(round*100+i), Limits{OnePerPhone: true, MaxOpenPerUser: 1})
				if err != nil || !ok {
					t.Errorf("Create: %v, %v", ok, err)
				}
				created[i] = p
			})
		}
		for i := range settles {
			wg.Go(func() {
				_, changed, err := s.Settle(pending[i].ID, Result{State: []State{StateUnknown, StateSucceeded}[round%2], Source: "query"})
				if err != nil {
					t.Error(err)
				}
				settled[i] = changed
			})
		}
		boom := errors.New("boom")
		wg.Go(func() {
			if err := s.db.Batch(func(*bolt.Tx) error { return boom }); !errors.Is(err, boom) {
				t.Errorf("failing batch call: %v", err)
			}
		})
		wg.Wait()

		for i, c := range settled {
			if c != wantChanged {
				t.Errorf("round %d: Settle of %s changed=%v, want %v", round, pending[i].ID, c, wantChanged)
			}
		}
		for _, p := range created {
			got, err := s.Get(p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.IdempotencyKey != p.IdempotencyKey || len(got.History) != 1 {
				t.Errorf("round %d: created %s holds key %s with %d events", round, p.ID, got.IdempotencyKey, len(got.History))
			}
		}
	}
	for _, p := range pending {
		got, _ := s.Get(p.ID)
		if n := countType(got.History, "settled"); n != 2 {
			t.Errorf("%s has %d settled events, want 2", p.ID, n)
		}
	}
	if n, _ := s.CountByState(StateInitiating); n != 4*creates {
		t.Errorf("%d initiating payments, want %d", n, 4*creates)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func countType(h []Event, typ string) int {
	n := 0
	for _, e := range h {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func TestCheckFindsCorruption(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(b *txBuckets, p Payment) error
	}{
		{"MissingIndexEntry", func(b *txBuckets, p Payment) error {
			return b.idx[idxCheckout].Delete([]byte(p.CheckoutRequestID))
		}},
		{"StrayIndexEntry", func(b *txBuckets, p Payment) error {
			return b.idx[idxUnposted].Put([]byte(p.ID), []byte(p.ID))
		}},
		{"IndexPointsElsewhere", func(b *txBuckets, p Payment) error {
			return b.idx[idxIdempotency].Put([]byte(p.IdempotencyKey), []byte("someone-else"))
		}},
		{"UnreadableRecord", func(b *txBuckets, p Payment) error {
			return b.payments.Put([]byte(p.ID), []byte("{not json"))
		}},
		{"EventOfMissingPayment", func(b *txBuckets, p Payment) error {
			return b.events.Put(eventKey(p.ID+"x", 1), []byte(`{"type":"created"}`))
		}},
		{"MalformedEventsKey", func(b *txBuckets, p Payment) error {
			return b.events.Put([]byte(p.ID), []byte(`{"type":"created"}`))
		}},
		{"UnreadableEvent", func(b *txBuckets, p Payment) error {
			return b.events.Put(eventKey(p.ID, 9), []byte("{not json"))
		}},
		{"HoldOfMissingPayment", func(b *txBuckets, p Payment) error {
			return b.holds.Put([]byte(p.Phone), holdValue(time.Now(), "someone-else"))
		}},
		{"HoldOfAnotherPhone", func(b *txBuckets, p Payment) error {
			return b.holds.Put([]byte("254799999999"), holdValue(time.Now(), p.ID))
		}},
		{"ShortHold", func(b *txBuckets, p Payment) error {
			return b.holds.Put([]byte(p.Phone), []byte{1, 2, 3})
		}},
		{"UnreadableRefusal", func(b *txBuckets, p Payment) error {
			return b.refusals.Put([]byte(p.IdempotencyKey), []byte("phone_busy"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openInternal(t)
			p, _, err := s.Create(request(1), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if p, err = s.RecordPush(p.ID, "ws_CO_1", "m", time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := s.Check(); err != nil {
				t.Fatalf("Check before corruption: %v", err)
			}
			err = s.db.Update(func(tx *bolt.Tx) error {
				b, err := bucketsOf(tx)
				if err != nil {
					return err
				}
				return tc.corrupt(b, p)
			})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Check()
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Check = %v, want ErrCorrupt", err)
			}
		})
	}

	t.Run("UnreadableRecordIsErrCorruptOnRead", func(t *testing.T) {
		s := openInternal(t)
		p, _, err := s.Create(request(1), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte(bucketPayments)).Put([]byte(p.ID), []byte(`{"id":"other"}`))
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(p.ID); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Get = %v, want ErrCorrupt", err)
		}
		if _, _, err := s.Settle(p.ID, Result{State: StateFailed, Source: "query"}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Settle = %v, want ErrCorrupt", err)
		}
		if _, err := s.ListByState(StateInitiating); !errors.Is(err, ErrCorrupt) {
			t.Errorf("ListByState = %v, want ErrCorrupt", err)
		}
	})

	// Reads decode a payment's events as one array; a value holding two
	// events must not pass for two of them.
	t.Run("EventValueHoldingTwoEventsIsErrCorruptOnRead", func(t *testing.T) {
		s := openInternal(t)
		p, _, err := s.Create(request(1), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte(bucketEvents)).Put(eventKey(p.ID, 1), []byte(`{"type":"created"},{"type":"forged"}`))
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(p.ID); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Get = %v, want ErrCorrupt", err)
		}
		if err := s.Check(); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Check = %v, want ErrCorrupt", err)
		}
	})
}
