package main

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/bot/telegramtest"
	"github.com/mpesa-bot/mpesa-bot/mpesa/testkit"
)

// BenchmarkStartup is the time from calling run (simulator environment, fake
// Telegram, a new database) until the bot holds its first getUpdates: the
// bot is taking messages. Shutdown is not counted.
func BenchmarkStartup(b *testing.B) {
	for range b.N {
		b.StopTimer()
		tg := newFakeTelegram(b)
		env := simulatorEnv(b, tg)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		var out testkit.SyncBuffer
		b.StartTimer()

		go func() { done <- run(ctx, []string{"run"}, env.get, strings.NewReader(""), &out, &out) }()
		waitPolling(b, tg)

		b.StopTimer()
		cancel()
		if code := <-done; code != 0 {
			b.Fatalf("run exited %d:\n%s", code, out.String())
		}
		tg.Close()
	}
}

// BenchmarkStartupProcess is the same for the built binary (as the
// Dockerfile builds it), from exec to the first held getUpdates, and reports
// the process's resident memory at that point, idle (VmRSS-KiB), and how
// long it then takes to exit on SIGTERM (exit-ms), neither counted in ns/op.
func BenchmarkStartupProcess(b *testing.B) {
	var rssTotal int64
	var exitTotal time.Duration
	for range b.N {
		b.StopTimer()
		tg := newFakeTelegram(b)
		env := simulatorEnv(b, tg)
		cmd, _, stderr := command(b, env, "run")
		b.StartTimer()

		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		waitPolling(b, tg)

		b.StopTimer()
		rss, err := vmRSS(cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		rssTotal += rss
		stopping := time.Now()
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			b.Fatal(err)
		}
		if err := waitProcess(b, cmd); err != nil {
			b.Fatalf("the bot did not exit cleanly: %v\n%s", err, stderr.String())
		}
		exitTotal += time.Since(stopping)
		tg.Close()
	}
	b.ReportMetric(float64(rssTotal)/float64(b.N), "VmRSS-KiB")
	b.ReportMetric(float64(exitTotal.Milliseconds())/float64(b.N), "exit-ms")
}

// BenchmarkDemoProcess is the README's three-payment demo (paid, cancelled,
// refused) through the built binary with piped input and SIMULATOR_DELAY=200ms,
// from exec to exit.
func BenchmarkDemoProcess(b *testing.B) {
	for range b.N {
		b.StopTimer()
		cmd, stdout, stderr := command(b, vars{"SIMULATOR_DELAY": "200ms", "TMPDIR": b.TempDir()}, "demo")
		cmd.Stdin = strings.NewReader(demoInput)
		b.StartTimer()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		if err := waitProcess(b, cmd); err != nil {
			b.Fatalf("demo failed: %v\n%s%s", err, stdout.String(), stderr.String())
		}
	}
}

func waitPolling(tb testing.TB, tg *telegramtest.Server) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	if err := tg.WaitPolling(ctx); err != nil {
		tb.Fatalf("the bot never long-polled: %v", err)
	}
}

// vmRSS reads a process's resident set size in KiB from /proc.
func vmRSS(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, os.ErrNotExist
}
