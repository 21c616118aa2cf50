package bot_test

import (
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/bot"
	"github.com/mpesa-bot/mpesa-bot/bot/telegramtest"
	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// benchWorld is a world tuned for load: no outbound limits, no Daraja rate
// limit, results that never come during the run (so only acknowledgements
// flow), and the log at INFO as in production.
func benchWorld(b *testing.B) *world {
	info := slog.LevelInfo // as in production
	return newWorld(b, options{noStart: true, logLevel: &info, simOpts: []mpesatest.Option{mpesatest.WithResultDelay(time.Hour)},
		cfg: func(c *bot.Config) {
			c.PollInitialDelay = time.Hour
		}})
}

// payLoad sends n /pay commands, one per chat and phone, at most perSecond a
// second (0 = as fast as possible), and returns the time from each message's
// injection to Telegram accepting its acknowledgement.
func payLoad(b *testing.B, w *world, first, n int, perSecond int) []time.Duration {
	var mu sync.Mutex
	sentAt := make(map[int64]time.Time, n)
	acks := make(chan time.Duration, n)
	watch := func(s telegramtest.Sent) {
		mu.Lock()
		at, ok := sentAt[s.ChatID]
		mu.Unlock()
		if ok {
			acks <- s.At.Sub(at)
		}
	}
	w.onSend.Store(&watch)
	defer w.onSend.Store(nil)
	var tick *time.Ticker
	if perSecond > 0 {
		tick = time.NewTicker(time.Second / time.Duration(perSecond))
		defer tick.Stop()
	}
	go func() {
		for i := first; i < first+n; i++ {
			if tick != nil {
				<-tick.C
			}
			u := telegramtest.User(int64(10_000_000+i), "Payer")
			chat := telegramtest.PrivateChat(u)
			mu.Lock()
			sentAt[chat.ID] = time.Now()
			mu.Unlock()
			w.tg.SendText(chat, u, fmt.Sprintf("/pay 07%08d 100", i))
		}
	}()
	lat := make([]time.Duration, 0, n)
	timeout := time.After(5 * time.Minute)
	for len(lat) < n {
		select {
		case d := <-acks:
			lat = append(lat, d)
		case <-timeout:
			b.Fatalf("only %d of %d acknowledgements arrived", len(lat), n)
		}
	}
	return lat
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkPayThroughput: /pay to acknowledgement through the whole pipeline
// (fake Telegram, handlers, bbolt write-ahead, STK Push on the simulator,
// bbolt push record, reply) as fast as it goes. Target ≥ 1,000 payments/s.
func BenchmarkPayThroughput(b *testing.B) {
	w := benchWorld(b)
	w.start()
	b.ResetTimer()
	start := time.Now()
	payLoad(b, w, 0, b.N, 0)
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "payments/s")
}

// BenchmarkPayLatencyAt500: acknowledgement latency with /pay arriving at a
// steady 500 a second. Target p99 ≤ 50 ms.
func BenchmarkPayLatencyAt500(b *testing.B) {
	w := benchWorld(b)
	w.start()
	n := max(b.N, 500)
	b.ResetTimer()
	lat := payLoad(b, w, 0, n, 500)
	b.StopTimer()
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
}

// BenchmarkWatching10000Pending: heap with 10,000 pending payments watched,
// and the CPU the process spends while none is due. Targets: heap ≤ 30 MB,
// no CPU while idle.
func BenchmarkWatching10000Pending(b *testing.B) {
	w := benchWorld(b)
	st, err := storage.Open(w.dbPath, storage.Options{BatchDelay: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	const pending = 10_000
	var wg sync.WaitGroup
	for g := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < pending; i += 50 {
				p, _, err := st.Create(storage.Payment{ChatID: int64(i + 1), UserID: int64(i + 1), MessageID: 1,
					IdempotencyKey: fmt.Sprintf("%d:1", i+1), Phone: fmt.Sprintf("2547%08d", i), Amount: 100,
					Reference: "BENCH", Description: "Payment", CallbackSecret: fmt.Sprintf("secret-%d-0123456789", i)}, storage.Limits{})
				if err == nil {
					_, err = st.RecordPush(p.ID, fmt.Sprintf("ws_CO_bench_%d", i), "m", time.Now().Add(time.Hour))
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	w.start()
	if n, _ := w.store.CountByState(storage.StatePending); n != pending {
		b.Fatalf("%d pending, want %d", n, pending)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		time.Sleep(100 * time.Millisecond) // idle on purpose: the figure is what idling costs
	}
	b.StopTimer()
	idle := time.Duration(b.N) * 100 * time.Millisecond
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MB")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(idle), "cpu-s/s")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
