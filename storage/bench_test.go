package storage_test

import (
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/storage"
)

// Writers a busy bot might have at once (one per chat being served).
const benchWriters = 64

// BenchmarkCreate measures Create under concurrent /pay commands, where Batch
// lets them share fsyncs.
func BenchmarkCreate(b *testing.B) {
	s := benchStore(b)
	b.SetParallelism(benchWriters / max(1, runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := newPayment()
			req.UserID = req.ChatID // one user per chat, so the limits are checked but pass
			if _, _, err := s.Create(req, storage.Limits{OnePerPhone: true, MaxOpenPerUser: 3}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCreateSerial is one writer alone: every Create waits out bbolt's
// batch delay and pays its own fsync. It is the latency of one /pay.
func BenchmarkCreateSerial(b *testing.B) {
	s := benchStore(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Create(newPayment(), storage.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSettle measures Settle: a change made by one writer alone, changes
// by many writers at once, and a duplicate result (callback retries, late
// queries), which is answered without a write.
func BenchmarkSettle(b *testing.B) {
	result := storage.Result{State: storage.StateSucceeded, ResultCode: "0", Receipt: "NLJ7RT61SV", Source: "callback"}
	b.Run("Serial", func(b *testing.B) {
		s := benchStore(b)
		ps := pendingPayments(b, s, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, changed, err := s.Settle(ps[i], result); err != nil || !changed {
				b.Fatal(changed, err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		s := benchStore(b)
		ps := pendingPayments(b, s, b.N)
		var next atomic.Int64
		b.SetParallelism(benchWriters / max(1, runtime.GOMAXPROCS(0)))
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, changed, err := s.Settle(ps[next.Add(1)-1], result); err != nil || !changed {
					b.Error(changed, err)
					return
				}
			}
		})
	})
	b.Run("Duplicate", func(b *testing.B) {
		s := benchStore(b)
		id := pendingPayments(b, s, 1)[0]
		if _, _, err := s.Settle(id, result); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, changed, err := s.Settle(id, result); err != nil || changed {
				b.Fatal(changed, err)
			}
		}
	})
}

// BenchmarkListByState runs on a store of 10,000 payments shaped like a
// working bot's: 100 pending, 9,900 succeeded, of which 10 not yet notified.
func BenchmarkListByState(b *testing.B) {
	const total, pending, unnotified = 10_000, 100, 10
	s := benchStore(b)
	result := storage.Result{State: storage.StateSucceeded, ResultCode: "0", Receipt: "NLJ7RT61SV", Source: "callback"}
	parallel(b, total, func(i int) error {
		p, _, err := s.Create(newPayment(), storage.Limits{})
		if err != nil {
			return err
		}
		if _, err := s.RecordPush(p.ID, "ws_CO_"+p.ID, "m-"+p.ID, time.Now().Add(time.Minute)); err != nil || i < pending {
			return err
		}
		if _, _, err := s.Settle(p.ID, result); err != nil || i < pending+unnotified {
			return err
		}
		if _, err := s.MarkNotified(p.ID, storage.StateSucceeded); err != nil {
			return err
		}
		return s.MarkFeedPosted(p.ID)
	})

	list := func(name string, want int, f func() ([]storage.Payment, error)) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ps, err := f()
				if err != nil || len(ps) != want {
					b.Fatalf("%d payments, %v; want %d", len(ps), err, want)
				}
			}
		})
	}
	list("Pending100", pending, func() ([]storage.Payment, error) { return s.ListByState(storage.StatePending) })
	list("Succeeded9900", total-pending, func() ([]storage.Payment, error) { return s.ListByState(storage.StateSucceeded) })
	list("Unnotified10", unnotified, s.ListUnnotified)
	b.Run("CountSucceeded9900", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if n, err := s.CountByState(storage.StateSucceeded); err != nil || n != total-pending {
				b.Fatal(n, err)
			}
		}
	})
	b.Run("GetByCheckoutID", func(b *testing.B) {
		ps, err := s.ListByState(storage.StatePending)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.GetByCheckoutID(ps[0].CheckoutRequestID); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchStore(b *testing.B) *storage.Store {
	b.Helper()
	s, err := storage.Open(filepath.Join(b.TempDir(), "bench.db"), storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// pendingPayments makes n pending payments, concurrently so setup is quick.
func pendingPayments(b *testing.B, s *storage.Store, n int) []string {
	b.Helper()
	out := make([]string, n)
	parallel(b, n, func(i int) error {
		p, _, err := s.Create(newPayment(), storage.Limits{})
		if err != nil {
			return err
		}
		out[i] = p.ID
		_, err = s.RecordPush(p.ID, "ws_CO_"+p.ID, "m", time.Now().Add(time.Minute))
		return err
	})
	return out
}

// parallel runs f(0..n-1) on benchWriters goroutines.
func parallel(b *testing.B, n int, f func(i int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range benchWriters {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := f(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// BenchmarkAppendEvent appends to a payment with a short and with a long
// history: an event is one key of its own, so the cost must not grow with the
// events already recorded.
func BenchmarkAppendEvent(b *testing.B) {
	for _, tc := range []struct {
		name   string
		events int
	}{{"After10Events", 10}, {"After4000Events", 4000}} {
		b.Run(tc.name, func(b *testing.B) {
			s := benchStore(b)
			id := pendingPayments(b, s, 1)[0]
			p, err := s.Get(id)
			if err != nil {
				b.Fatal(err)
			}
			ev := storage.Event{Source: "watcher", Type: "query_answered", Detail: "ResultCode=4999 still processing"}
			parallel(b, tc.events-len(p.History), func(int) error { return s.AppendEvent(id, ev) })
			b.ReportAllocs()
			for b.Loop() {
				if err := s.AppendEvent(id, ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
