package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/bot/telegramtest"
	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
)

// BenchmarkWholePaymentProcess measures one whole payment through the built
// binary — /pay → acknowledgement → STK Push → settled → outcome message
// accepted by Telegram — and what it costs the bot process alone, measured
// from outside through /proc. The binary (built as the Dockerfile builds it,
// without the failpoint tag) runs as a child process against a fake Telegram
// and a Daraja simulator living in the test process, with fsync on, log at
// INFO and every outbound limit lifted.
//
// b.N payments are driven by wpInFlight workers, each with its own phone
// (paid by the simulator, so the phone is free again once its payment is
// settled) and a new user and private chat for every payment; a worker sends
// its next /pay when the previous one's outcome arrived. The measured window
// starts after a warm-up round (token fetched, connections and caches warm)
// once the bot is idle, and ends when every outcome arrived and the bot is
// idle again (so the notified mark written after each outcome is counted);
// start-up and shutdown are outside it.
//
// Reported: cpu-ms/payment (the child's user+system CPU over the window),
// payments/s (b.N over the time to the last outcome), p50-ms and p99-ms
// (from injecting the /pay to Telegram accepting the outcome),
// log-lines/payment, queries/payment, daraja-conns/payment (TCP connections
// the simulator accepted), fakes-cpu-ms/payment (this test process: fake
// Telegram, simulator and drivers, sharing the machine with the bot) and
// others-cpu-ms/payment (every other process meanwhile: a disturbed run).
//
// Variants: Callback (the simulator posts the result callback to HTTP_ADDR;
// no STK Query is due within the run) and Query (the callback is lost; the
// STK Query settles the payment).
func BenchmarkWholePaymentProcess(b *testing.B) {
	if testing.Short() {
		b.Skip("builds and runs the binary: skipped with -short")
	}
	bin := wpBuild(b)
	b.Run("Callback", func(b *testing.B) { wpRun(b, bin, false) })
	b.Run("Query", func(b *testing.B) { wpRun(b, bin, true) })
}

const (
	// wpInFlight is how many payments are in flight at most.
	wpInFlight = 64
	// wpResultDelay is the simulated customer's time to answer the prompt:
	// short, so that wpInFlight payments keep the bot busy, and shorter
	// than the query variant's first query, so one query settles.
	wpResultDelay = 20 * time.Millisecond
	// wpHang bounds waits that only a hang would exceed.
	wpHang = 60 * time.Second
	// The fake Telegram's token; no real one.
	wpToken = "313131313:AAF-wholepay-BENCH-token-Kq2vN8rX4yZ"
	// The simulator's merchant credentials.
	wpKey, wpSecret = "ck-wholepay-bench-key", "cs-wholepay-bench-secret"
	wpPasskey       = "pk-wholepay-bench-passkey-0123456789abcdef"
)

// wpBuild builds the binary into the benchmark's temp dir (removed when the
// top-level benchmark ends, so once per -count) and returns its path.
func wpBuild(b *testing.B) string {
	b.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		b.Skipf("the go tool is needed to build the binary: %v", err)
	}
	path := filepath.Join(b.TempDir(), "mpesa-bot")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-o", path, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return path
}

// wpOutcome is what a worker hears of its chat: every accepted message.
type wpRouter struct {
	mu    sync.Mutex
	chats map[int64]chan telegramtest.Sent
}

func (r *wpRouter) watch(chatID int64) chan telegramtest.Sent {
	ch := make(chan telegramtest.Sent, 8)
	r.mu.Lock()
	r.chats[chatID] = ch
	r.mu.Unlock()
	return ch
}

func (r *wpRouter) forget(chatID int64) {
	r.mu.Lock()
	delete(r.chats, chatID)
	r.mu.Unlock()
}

func (r *wpRouter) onSend(s telegramtest.Sent) {
	r.mu.Lock()
	ch := r.chats[s.ChatID]
	r.mu.Unlock()
	if ch != nil {
		select {
		case ch <- s:
		default: // more than 8 messages to one payment's chat: the worker fails it anyway
		}
	}
}

func wpRun(b *testing.B, bin string, byQuery bool) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skipf("needs /proc to read the bot's CPU time: %v", err)
	}
	router := &wpRouter{chats: map[int64]chan telegramtest.Sent{}}
	tg := telegramtest.NewServer(b, telegramtest.Options{Token: wpToken, OnSend: router.onSend})
	sim := mpesatest.New(
		mpesatest.WithCredentials(wpKey, wpSecret),
		mpesatest.WithShortCode(mpesatest.SandboxShortCode, wpPasskey),
		mpesatest.WithResultDelay(wpResultDelay),
	)
	var darajaConns atomic.Int64
	ts := httptest.NewUnstartedServer(sim)
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			darajaConns.Add(1)
		}
	}
	ts.Start()
	b.Cleanup(func() {
		sim.Close()
		ts.Close()
	})

	phones := make([]string, wpInFlight) // as typed; paid (last digit 0)
	for i := range phones {
		phones[i] = fmt.Sprintf("0712%05d0", i)
		if byQuery {
			sim.SetPhoneOutcome("254"+phones[i][1:], mpesatest.Outcome{ResultCode: "0", NoCallback: true})
		}
	}

	addr := wpFreeAddr(b)
	env := map[string]string{
		"TELEGRAM_BOT_TOKEN":    tg.Token(),
		"TELEGRAM_API_ENDPOINT": tg.Endpoint(),
		"ENVIRONMENT":           "sandbox",
		"MPESA_BASE_URL":        ts.URL,
		"MPESA_CONSUMER_KEY":    wpKey,
		"MPESA_CONSUMER_SECRET": wpSecret,
		"MPESA_SHORTCODE":       mpesatest.SandboxShortCode,
		"MPESA_PASSKEY":         wpPasskey,
		"CALLBACK_URL":          "http://" + addr + "/cb",
		"HTTP_ADDR":             addr,
		"DB_PATH":               filepath.Join(b.TempDir(), "bot.db"),
		"POLL_INITIAL_DELAY":    "1h", // only the callback settles
		"POLL_INTERVAL":         "100ms",
		"POLL_TIMEOUT":          "30s",
		"SEND_RATE_GLOBAL":      "0",
		"SEND_RATE_PER_CHAT":    "0",
		"MPESA_RATE":            "0",
		"MAX_PENDING_PER_USER":  "0",
		"PAY_PER_USER_PER_HOUR": "0",
		"LOG_LEVEL":             "info",
		"LOG_FORMAT":            "json",
	}
	if byQuery {
		env["POLL_INITIAL_DELAY"] = "50ms"
		env["POLL_INTERVAL"] = "50ms"
	}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "GODEBUG", "GOGC", "GOMAXPROCS", "GOMEMLIMIT"} {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*wpHang)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run")
	cmd.Dir = b.TempDir() // no .env
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr := &wpLines{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	b.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	pid := cmd.Process.Pid

	wctx, wcancel := context.WithTimeout(ctx, wpHang)
	err := tg.WaitPolling(wctx)
	wcancel()
	if err != nil {
		b.Fatalf("the bot never long-polled: %v\n%s", err, stderr.tail())
	}

	var nextUser atomic.Int64
	nextUser.Store(30_000_000)
	// drive runs n payments on min(n, wpInFlight) workers and returns the
	// latency of each.
	drive := func(n int) ([]time.Duration, error) {
		workers := min(n, wpInFlight)
		var claimed atomic.Int64
		lat := make([][]time.Duration, workers)
		errs := make(chan error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for claimed.Add(1) <= int64(n) {
					d, err := wpPay(tg, router, nextUser.Add(1), phones[w])
					if err != nil {
						errs <- err
						return
					}
					lat[w] = append(lat[w], d)
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return nil, err
		}
		return slices.Concat(lat...), nil
	}

	// Warm-up: the token, connections, the database's pages.
	if _, err := drive(wpInFlight); err != nil {
		b.Fatalf("warm-up: %v\n%s", err, stderr.tail())
	}
	wpWaitIdle(pid)
	pushes0 := len(sim.Requests(mpesatest.EndpointPush))
	queries0 := len(sim.Requests(mpesatest.EndpointQuery))
	conns0 := darajaConns.Load()
	lines0 := stderr.count()
	cpu0, err := wpProcCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	self0 := wpSelfCPU()
	busy0 := wpMachineBusy()

	b.ResetTimer()
	start := time.Now()
	lat, err := drive(b.N)
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatalf("%v\n%s", err, stderr.tail())
	}
	wpWaitIdle(pid)
	cpu1, err := wpProcCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	self := wpSelfCPU() - self0
	others := wpMachineBusy() - busy0 - self - cpu1.sub(cpu0)
	lines := stderr.count() - lines0
	pushes := len(sim.Requests(mpesatest.EndpointPush)) - pushes0
	queries := len(sim.Requests(mpesatest.EndpointQuery)) - queries0
	conns := darajaConns.Load() - conns0

	// Shut down cleanly: SIGTERM, exit 0.
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			b.Fatalf("the bot did not exit cleanly: %v\n%s", err, stderr.tail())
		}
	case <-time.After(wpHang):
		b.Fatalf("the bot did not exit within %s of SIGTERM\n%s", wpHang, stderr.tail())
	}

	if pushes != b.N {
		b.Errorf("the simulator got %d STK Pushes for %d payments", pushes, b.N)
	}
	switch {
	case !byQuery && queries != 0:
		b.Errorf("%d STK Queries in the callback variant; want none", queries)
	case byQuery && queries < b.N:
		b.Errorf("%d STK Queries for %d payments settled by query", queries, b.N)
	}

	n := float64(b.N)
	b.ReportMetric(cpu1.sub(cpu0).Seconds()*1000/n, "cpu-ms/payment")
	b.ReportMetric(n/elapsed.Seconds(), "payments/s")
	b.ReportMetric(float64(wpPercentile(lat, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(wpPercentile(lat, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lines)/n, "log-lines/payment")
	b.ReportMetric(float64(queries)/n, "queries/payment")
	b.ReportMetric(float64(conns)/n, "daraja-conns/payment")
	b.ReportMetric(self.Seconds()*1000/n, "fakes-cpu-ms/payment")
	// CPU other processes took meanwhile: on a shared machine, a large
	// figure means the run was disturbed.
	b.ReportMetric(max(others, 0).Seconds()*1000/n, "others-cpu-ms/payment")
}

// wpPay sends one /pay from a new user in a new private chat and waits for
// the acknowledgement and the paid outcome; it returns the time from the
// /pay to Telegram accepting the outcome.
func wpPay(tg *telegramtest.Server, router *wpRouter, userID int64, phone string) (time.Duration, error) {
	u := telegramtest.User(userID, "Payer")
	chat := telegramtest.PrivateChat(u)
	ch := router.watch(chat.ID)
	defer router.forget(chat.ID)
	start := time.Now()
	_, msgID := tg.SendText(chat, u, "/pay "+phone+" 100 INV001")
	acked := false
	timeout := time.NewTimer(wpHang)
	defer timeout.Stop()
	for {
		select {
		case m := <-ch:
			l := strings.ToLower(m.Plain)
			switch {
			case m.ReplyToMessageID != msgID:
				return 0, fmt.Errorf("chat %d: a message that is no reply to the /pay: %q", chat.ID, m.Plain)
			case strings.Contains(l, "payment request sent to"):
				if acked {
					return 0, fmt.Errorf("chat %d: acknowledged twice", chat.ID)
				}
				acked = true
			case strings.Contains(l, "successful"):
				if !acked {
					return 0, fmt.Errorf("chat %d: the outcome came without an acknowledgement: %q", chat.ID, m.Plain)
				}
				return m.At.Sub(start), nil
			default:
				return 0, fmt.Errorf("chat %d: unexpected reply to the /pay: %q", chat.ID, m.Plain)
			}
		case <-timeout.C:
			return 0, fmt.Errorf("chat %d: no outcome within %s (acknowledged: %v)", chat.ID, wpHang, acked)
		}
	}
}

// wpCPU is a process's CPU time two ways: the sum of its threads'
// schedstat run time (ns; a thread that exited is missing) and
// utime+stime from stat (clock ticks; every thread, dead ones included).
type wpCPU struct {
	schedNs int64
	ticks   int64
}

// wpTick is USER_HZ, 100 on every Linux build Go supports.
const wpTick = 10 * time.Millisecond

// sub is the CPU time from c0 to c: from the ticks when there are enough of
// them to be precise to 1%, else from schedstat (when readable).
func (c wpCPU) sub(c0 wpCPU) time.Duration {
	ticks := c.ticks - c0.ticks
	if ticks >= 100 || c.schedNs == 0 {
		return time.Duration(ticks) * wpTick
	}
	return time.Duration(c.schedNs - c0.schedNs)
}

func wpProcCPU(pid int) (wpCPU, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return wpCPU{}, err
	}
	// The fields after the command name, which is in parentheses and may
	// hold anything: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return wpCPU{}, fmt.Errorf("%s/stat unreadable: %q", dir, stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return wpCPU{}, fmt.Errorf("%s/stat unreadable: %q", dir, stat)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return wpCPU{}, fmt.Errorf("%s/stat unreadable: %q", dir, stat)
	}
	c := wpCPU{ticks: utime + stime}
	tasks, _ := os.ReadDir(dir + "/task")
	for _, t := range tasks {
		s, err := os.ReadFile(dir + "/task/" + t.Name() + "/schedstat")
		if err != nil {
			continue
		}
		if run, _, ok := strings.Cut(string(s), " "); ok {
			if ns, err := strconv.ParseInt(run, 10, 64); err == nil {
				c.schedNs += ns
			}
		}
	}
	return c, nil
}

// wpWaitIdle waits, at most a few seconds, until the process used less
// than 0.5 ms of CPU in 50 ms: the work of the payments before is done.
func wpWaitIdle(pid int) {
	prev, err := wpProcCPU(pid)
	if err != nil {
		return
	}
	for range 100 {
		time.Sleep(50 * time.Millisecond)
		cur, err := wpProcCPU(pid)
		if err != nil {
			return
		}
		idle := cur.schedNs-prev.schedNs < int64(500*time.Microsecond)
		if prev.schedNs == 0 {
			idle = cur.ticks == prev.ticks
		}
		if idle {
			return
		}
		prev = cur
	}
}

// wpMachineBusy is the CPU time all processes have used since boot (the
// first line of /proc/stat, idle and iowait left out); 0 when unreadable.
func wpMachineBusy() time.Duration {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is counted in user already
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0
		}
		ticks += n
	}
	return time.Duration(ticks) * wpTick
}

func wpSelfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func wpPercentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// wpFreeAddr is a loopback address nothing listens on right now.
func wpFreeAddr(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		b.Fatal(err)
	}
	return addr
}

// wpLines takes the bot's output: it counts lines and keeps the last 64 KiB
// for failure messages.
type wpLines struct {
	mu    sync.Mutex
	lines int
	last  []byte
}

func (w *wpLines) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines += bytes.Count(p, []byte{'\n'})
	w.last = append(w.last, p...)
	if over := len(w.last) - 64<<10; over > 0 {
		w.last = append(w.last[:0], w.last[over:]...)
	}
	return len(p), nil
}

func (w *wpLines) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lines
}

func (w *wpLines) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return "--- the bot's output (last 64 KiB)\n" + string(w.last)
}
