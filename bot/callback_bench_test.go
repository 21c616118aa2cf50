package bot_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/bot"
	"github.com/mpesa-bot/mpesa-bot/bot/telegramtest"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// BenchmarkCallbackToOutcome measures what a paying customer waits for once
// Daraja has the result: from the moment Daraja starts POSTing the callback
// to the moment (fake) Telegram accepts the outcome message, everything on
// loopback. Callbacks arrive open-loop at a fixed rate, each on its own
// goroutine, so a slow one delays none of the others (no coordinated
// omission). b.N is the number of callbacks; the payments are stored pending
// beforehand, as if pushed. The outbound limits are lifted, the store is a
// real bbolt file with fsync on and the default batch delay, and the bot logs
// at info as in production.
//
// Reported: p50-ms, p90-ms, p99-ms and max-ms of callback → outcome message,
// answer-p99-ms of callback → Daraja's 200, and the rate achieved. ns/op is
// suppressed: it would only be the pacing interval. The target is
// p99 ≤ 20 ms at 200 callbacks/s.
func BenchmarkCallbackToOutcome(b *testing.B) {
	for _, rate := range []int{200, 1000} {
		b.Run(fmt.Sprintf("%dPerSecond", rate), func(b *testing.B) { benchCallbacks(b, rate) })
	}
}

func benchCallbacks(b *testing.B, perSecond int) {
	n := b.N
	info := slog.LevelInfo // as in production
	w := newWorld(b, options{noStart: true, logLevel: &info, cfg: func(c *bot.Config) {
		c.PollInitialDelay = time.Hour // only callbacks settle
		c.LongPoll = time.Second
	}})
	chat := telegramtest.PrivateChat(customer)
	w.tg.AddChat(chat)
	st, err := storage.Open(w.dbPath, storage.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	secrets, bodies := storePending(b, st, n, chat.ID)
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	outcomes := make(chan telegramtest.Sent, n)
	watch := func(s telegramtest.Sent) {
		if s.ChatID == chat.ID && s.ReplyToMessageID > 0 {
			outcomes <- s
		}
	}
	w.onSend.Store(&watch)
	w.start()
	defer w.stop()

	transport := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}

	interval := time.Second / time.Duration(perSecond)
	postedAt := make([]time.Time, n)
	answered := make([]time.Duration, n)
	failed := make([]string, n)
	var wg sync.WaitGroup
	b.ResetTimer()
	begin := time.Now()
	for i := range n {
		if d := time.Until(begin.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d) // the pacing of the load, not a wait for the bot
		}
		postedAt[i] = time.Now()
		wg.Add(1)
		go func(i int, at time.Time) {
			defer wg.Done()
			resp, err := client.Post(w.cb.URL+"/daraja/cb/"+secrets[i], "application/json", bytes.NewReader(bodies[i]))
			if err != nil {
				failed[i] = err.Error()
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			answered[i] = time.Since(at)
			if resp.StatusCode != http.StatusOK {
				failed[i] = resp.Status
			}
		}(i, postedAt[i])
	}
	sent := time.Since(begin)
	wg.Wait()
	latency := make([]time.Duration, 0, n)
	timeout := time.After(30*time.Second + time.Duration(n)*interval)
	for len(latency) < n {
		select {
		case s := <-outcomes:
			latency = append(latency, s.At.Sub(postedAt[s.ReplyToMessageID-1]))
		case <-timeout:
			b.Fatalf("%d of %d outcome messages arrived", len(latency), n)
		}
	}
	b.StopTimer()
	for i, f := range failed {
		if f != "" {
			b.Fatalf("callback %d: %s", i, f)
		}
	}

	slices.Sort(latency)
	slices.Sort(answered)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(rank(latency, 50)), "p50-ms")
	b.ReportMetric(ms(rank(latency, 90)), "p90-ms")
	b.ReportMetric(ms(rank(latency, 99)), "p99-ms")
	b.ReportMetric(ms(latency[n-1]), "max-ms")
	b.ReportMetric(ms(rank(answered, 99)), "answer-p99-ms")
	if n > 1 {
		b.ReportMetric(float64(n-1)/sent.Seconds(), "callbacks/s")
	}
}

// rank is the p-th percentile of sorted durations (nearest rank).
func rank(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100 // ceil(n·p/100)
	return sorted[max(i, 1)-1]
}

// storePending stores n pending payments of chatID, as pushed: payment i
// replies to message i+1, and its callback is bodies[i] at secrets[i]. The
// writes run side by side so bbolt batches their fsyncs.
func storePending(b *testing.B, st *storage.Store, n int, chatID int64) (secrets []string, bodies [][]byte) {
	b.Helper()
	secrets, bodies = make([]string, n), make([][]byte, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range n {
		secrets[i] = fmt.Sprintf("%040x", i+1)
		checkout := fmt.Sprintf("ws_CO_%018d", i+1)
		bodies[i] = callbackBody(checkout, "0", fmt.Sprintf("BNC%07d", i), 100)
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			p, _, err := st.Create(storage.Payment{ChatID: chatID, UserID: chatID, MessageID: i + 1,
				IdempotencyKey: fmt.Sprintf("%d:%d", chatID, i+1), Phone: "254712345678", Amount: 100,
				Reference: fmt.Sprintf("B%d", i), Description: "Payment", CallbackSecret: secrets[i]}, storage.Limits{})
			if err == nil {
				_, err = st.RecordPush(p.ID, checkout, fmt.Sprintf("m-%d", i), time.Now().Add(time.Hour))
			}
			if err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return secrets, bodies
}
