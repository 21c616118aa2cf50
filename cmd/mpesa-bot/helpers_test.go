package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/bot/telegramtest"
	"github.com/mpesa-bot/mpesa-bot/mpesa/testkit"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// Distinctive secrets: if any of them shows up in the output of a run, a
// secret leaked. They are shaped like the real thing, so redaction that looks
// for the shape is exercised too.
const (
	fakeToken      = "424242424:AAE-distinctive-TEST-token-Zq9xK7mW3pL"
	consumerKey    = "ck-DISTINCTIVE-consumer-key-0815"
	consumerSecret = "cs-DISTINCTIVE-consumer-secret-4711"
	passkey        = "pk-DISTINCTIVE-passkey-bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
	backupToken    = "bt-DISTINCTIVE-backup-token-31415926"
	// revokedToken is a token Telegram refuses (401).
	revokedToken = "737373737:AAH-revoked-TEST-token-Vb8nQ2xR5tY"
)

// secrets are the values no stdout or stderr may ever contain.
var secrets = []string{fakeToken, revokedToken, consumerKey, consumerSecret, passkey, backupToken}

// The payer of the tests' payments.
const (
	payerID   = 5550001
	payerName = "Wanjiru"
)

// hangLimit bounds waits that only a hang would exceed: prompt behaviour is
// never timed, a stuck one is caught.
const hangLimit = 30 * time.Second

// TestMain refuses to run next to a .env file: config reads ".env" from the
// working directory (the package directory under go test), so a stray one
// would quietly change what every in-process run sees.
func TestMain(m *testing.M) {
	if _, err := os.Stat(envFile); err == nil {
		fmt.Fprintf(os.Stderr, "cmd/mpesa-bot tests: remove the stray %s from the package directory: run would read it\n", envFile)
		os.Exit(1)
	}
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// vars is a map-backed getenv: tests never read the process environment.
type vars map[string]string

func (v vars) get(name string) string { return v[name] }

// with returns a copy of v with more variables set.
func (v vars) with(more vars) vars {
	out := maps.Clone(v)
	maps.Copy(out, more)
	return out
}

// environ is v as a process environment.
func (v vars) environ() []string {
	out := make([]string, 0, len(v))
	for k, x := range v {
		out = append(out, k+"="+x)
	}
	return out
}

// result is what a sub-command left behind.
type result struct {
	code           int
	stdout, stderr string
}

// String shows a result in failure messages.
func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// runMain runs the command line args in-process, to completion, and checks
// that no secret reached its output.
func runMain(t *testing.T, ctx context.Context, env vars, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr testkit.SyncBuffer
	code := run(ctx, args, env.get, strings.NewReader(stdin), &stdout, &stderr)
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	assertNoSecrets(t, r)
	return r
}

// assertNoSecrets fails the test when a secret appears in r's output.
func assertNoSecrets(t *testing.T, r result) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
			t.Errorf("the output shows the secret %q:\n%s", s, r)
		}
	}
}

// runningBot is `mpesa-bot run` started in-process on a goroutine.
type runningBot struct {
	t      *testing.T
	tg     *telegramtest.Server
	env    vars
	stop   context.CancelFunc
	done   chan struct{}
	code   int
	stdout testkit.SyncBuffer
	stderr testkit.SyncBuffer
}

// simulatorEnv is the environment of a bot on the in-process Daraja
// simulator and the fake Telegram tg, with its database in a temp dir and
// every delay in milliseconds.
func simulatorEnv(t testing.TB, tg *telegramtest.Server) vars {
	return vars{
		"ENVIRONMENT":           "simulator",
		"TELEGRAM_BOT_TOKEN":    tg.Token(),
		"TELEGRAM_API_ENDPOINT": tg.Endpoint(),
		"DB_PATH":               filepath.Join(t.TempDir(), "data", "bot.db"),
		"SIMULATOR_DELAY":       "50ms",
		// The first query waits POLL_INITIAL_DELAY: an hour means only a
		// callback can settle a payment within a test.
		"POLL_INITIAL_DELAY": "1h",
		"POLL_INTERVAL":      "100ms",
		"POLL_TIMEOUT":       "20s",
		"SEND_RATE_PER_CHAT": "0",
		"SEND_RATE_GLOBAL":   "0",
		"MPESA_RATE":         "0",
	}
}

// newFakeTelegram starts a fake Bot API that accepts fakeToken.
func newFakeTelegram(t testing.TB) *telegramtest.Server {
	return telegramtest.NewServer(t, telegramtest.Options{Token: fakeToken})
}

// launchBot runs `mpesa-bot run` with env on a goroutine. The bot is
// stopped, and its output checked for secrets, when the test ends.
func launchBot(t *testing.T, tg *telegramtest.Server, env vars) *runningBot {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &runningBot{t: t, tg: tg, env: env, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		b.code = run(ctx, []string{"run"}, env.get, strings.NewReader(""), &b.stdout, &b.stderr)
	}()
	t.Cleanup(func() { b.shutdown() })
	return b
}

// startBot launches the bot and waits until it long-polls tg.
func startBot(t *testing.T, tg *telegramtest.Server, env vars) *runningBot {
	t.Helper()
	b := launchBot(t, tg, env)
	wctx, wcancel := context.WithTimeout(context.Background(), hangLimit)
	defer wcancel()
	polling := make(chan error, 1)
	go func() { polling <- tg.WaitPolling(wctx) }()
	select {
	case err := <-polling:
		if err != nil {
			t.Fatalf("the bot never long-polled Telegram: %v\n%s", err, b.result())
		}
	case <-b.done:
		t.Fatalf("the bot stopped at start:\n%s", b.result())
	}
	return b
}

// shutdown cancels the bot's context and waits for run to return.
func (b *runningBot) shutdown() result {
	b.t.Helper()
	b.stop()
	select {
	case <-b.done:
	case <-time.After(hangLimit):
		b.t.Fatalf("run did not return within %s of its context ending", hangLimit)
	}
	r := b.result()
	assertNoSecrets(b.t, r)
	return r
}

func (b *runningBot) result() result {
	select {
	case <-b.done:
		return result{code: b.code, stdout: b.stdout.String(), stderr: b.stderr.String()}
	default:
		return result{code: -1, stdout: b.stdout.String(), stderr: b.stderr.String()}
	}
}

// sendPay sends text from the payer in a private chat and returns the
// message's ID, which the bot's answers reply to.
func sendPay(tg *telegramtest.Server, text string) int {
	user := telegramtest.User(payerID, payerName)
	_, msgID := tg.SendText(telegramtest.PrivateChat(user), user, text)
	return msgID
}

// waitReply returns the bot's message in reply to msgID that contains want
// (case-insensitive).
func waitReply(t *testing.T, tg *telegramtest.Server, msgID int, want string) telegramtest.Sent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	m, err := tg.WaitSent(ctx, func(s telegramtest.Sent) bool {
		return s.ChatID == payerID && s.ReplyToMessageID == msgID &&
			strings.Contains(strings.ToLower(s.Plain), strings.ToLower(want))
	})
	if err != nil {
		t.Fatalf("no reply to message %d containing %q: %v\nsent: %q", msgID, want, err, plainTexts(tg.SentTo(payerID)))
	}
	return m
}

// checkoutIDPattern finds the CheckoutRequestID in an acknowledgement.
var checkoutIDPattern = regexp.MustCompile(`ws_CO_\d+`)

// payAndSettle sends a /pay the simulator's default pays (the phone ends in
// 8) and waits for the outcome; it returns the payment's CheckoutRequestID
// from the acknowledgement, and the outcome message.
func payAndSettle(t *testing.T, tg *telegramtest.Server, amount int) (string, telegramtest.Sent) {
	t.Helper()
	msgID := sendPay(tg, fmt.Sprintf("/pay 0712345678 %d INV001", amount))
	checkoutID := checkoutIDPattern.FindString(waitReply(t, tg, msgID, "request sent").Plain)
	if checkoutID == "" {
		t.Fatalf("the acknowledgement carries no CheckoutRequestID")
	}
	return checkoutID, waitReply(t, tg, msgID, "successful")
}

func plainTexts(ms []telegramtest.Sent) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Plain
	}
	return out
}

// freeAddr is a loopback address nothing listens on right now. HTTP_ADDR
// needs a port the test knows in advance, so ":0" will not do; another
// process could take the port in between, which would fail the test loudly,
// not wrongly.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// openStore opens a database file the way an operator would inspect it.
func openStore(t testing.TB, path string) *storage.Store {
	t.Helper()
	st, err := storage.Open(path, storage.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// seedStore writes a database at path holding one payment (write-ahead,
// never pushed) per amount, made by the payer, and closes it.
func seedStore(t testing.TB, path string, amounts ...int64) {
	t.Helper()
	st, err := storage.Open(path, storage.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i, amount := range amounts {
		_, _, err := st.Create(storage.Payment{
			ChatID: payerID, UserID: payerID, MessageID: i + 1,
			IdempotencyKey: fmt.Sprintf("%d:%d", payerID, i+1),
			Phone:          "254712345678", Amount: amount, Reference: "SEED",
		}, storage.Limits{})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// amountsIn lists the amounts of the payer's payments in the database at
// path, oldest first.
func amountsIn(t testing.TB, path string) []int64 {
	t.Helper()
	st := openStore(t, path)
	ps, err := st.ListByUser(payerID, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	out := make([]int64, len(ps))
	for i, p := range ps {
		out[len(ps)-1-i] = p.Amount
	}
	return out
}

// The binary, built once for the tests that need a real process.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// testVersion is stamped into the test binary, as the Dockerfile stamps a
// release.
const testVersion = "v0.0.0-cmdtest"

// binary builds mpesa-bot once per test run (per test binary: go test
// -count=3 reuses it) and returns its path.
func binary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary: skipped with -short")
	}
	binOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			binErr = fmt.Errorf("the go tool is needed to build the binary: %w", err)
			return
		}
		if binDir, binErr = os.MkdirTemp("", "mpesa-bot-cmdtest-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "mpesa-bot")
		// Built as the Dockerfile builds it: what is tested is what ships.
		cmd := exec.Command(goTool, "build", "-trimpath", "-ldflags", "-s -w -X main.version="+testVersion, "-o", binPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// command prepares the binary with args, env as its whole environment and a
// fresh temp dir as working directory (so no .env is read).
func command(t testing.TB, env vars, args ...string) (*exec.Cmd, *testkit.SyncBuffer, *testkit.SyncBuffer) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Dir = t.TempDir()
	cmd.Env = env.environ()
	var stdout, stderr testkit.SyncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

// exitCode is the process's exit status, or -1 when it did not exit by
// itself.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// waitProcess waits for a started cmd to exit, killing it after hangLimit.
func waitProcess(t testing.TB, cmd *exec.Cmd) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(hangLimit):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s did not exit within %s", cmd.Args, hangLimit)
		return nil
	}
}
