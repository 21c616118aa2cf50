package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/bot/telegramtest"
	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
	"github.com/mpesa-bot/mpesa-bot/mpesa/testkit"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// The crash test runs the real binary, built with -tags failpoint, against a
// fake Telegram and a Daraja simulator that both live in the test process, so
// that they (and what they recorded) outlive the bot. The first run dies by
// SIGKILL at one step of a /pay; a second run, without the failpoint, starts
// on the same database. Whatever the step, the phone gets at most one PIN
// prompt, the chat is told the outcome (once; twice at most when the crash
// fell between Telegram accepting the message and the bot recording that),
// and the database holds exactly the one payment, in the state the chat was
// told.

// The crash test's payer phone: /pay takes it as typed, Daraja sees it as
// crashPhoneDaraja.
const (
	crashPhoneTyped  = "0712345678"
	crashPhoneDaraja = "254712345678"
	crashPay         = "/pay " + crashPhoneTyped + " 100 INV001"
)

// The failpoints of bot/internal/failpoint (internal to bot/, so spelled out
// here): where in a payment the first run dies.
const (
	fpAfterCreate      = "after_create"
	fpBeforePush       = "before_push"
	fpAfterPush        = "after_push"
	fpAfterPushStored  = "after_push_stored"
	fpAfterSettle      = "after_settle"
	fpAfterOutcomeSent = "after_outcome_sent"
)

// How a case's payment is settled once it reached Daraja.
const (
	settleNone     = ""         // the push never left: nothing to settle
	settleCallback = "callback" // the simulator posts the callback; no query before an hour
	settleQuery    = "query"    // the callback is lost; the STK Query settles it
)

// crashCase is one step of a payment at which the first run dies.
type crashCase struct {
	name  string // the subtest
	point string // MPESA_BOT_FAILPOINT of the first run
	// settle is how the paid result reaches the bot (settleNone: it cannot).
	settle string
	// pushes is how many STK Pushes the simulator must have received in all.
	pushes int
	// state is the payment's stored state at the end, outcome the key word
	// of the chat's final outcome message, settledBy the stored SettledBy.
	state     storage.State
	outcome   string
	settledBy string
	// interim is how many "not confirmed" messages come before a final
	// outcome (for a push whose answer was lost, before the callback).
	interim int
	// maxOutcomes is how many final outcome messages are allowed (at least
	// one is required).
	maxOutcomes int
	// completeAfterRestart keeps the simulated phone's answer until the
	// second run has told the chat "not confirmed", then delivers it; the
	// test also checks that the phone is held meanwhile.
	completeAfterRestart bool
}

var crashCases = []crashCase{
	{
		// The payment is stored, push_sent is not: the restart knows the push
		// never left and says "not sent".
		name: "KilledAfterCreate", point: fpAfterCreate, settle: settleNone, pushes: 0,
		state: storage.StateRejected, outcome: "not sent", settledBy: "startup", maxOutcomes: 1,
	},
	{
		// push_sent is recorded but the push did not leave. The restart
		// cannot tell, so it says "not confirmed" honestly and never pushes.
		name: "KilledBeforePush", point: fpBeforePush, settle: settleNone, pushes: 0,
		state: storage.StateUnknown, outcome: "not confirmed", settledBy: "startup", maxOutcomes: 1,
	},
	{
		// Daraja accepted the push, the answer (CheckoutRequestID) is lost:
		// the restart says "not confirmed" and holds the phone; the callback,
		// found by its secret, still settles the payment as paid.
		name: "KilledAfterPush", point: fpAfterPush, settle: settleCallback, pushes: 1,
		state: storage.StateSucceeded, outcome: "successful", settledBy: "callback", interim: 1, maxOutcomes: 1,
		completeAfterRestart: true,
	},
	{
		// The push answer is stored, the acknowledgement not sent: the
		// restart watches the payment and the query settles it.
		name: "KilledAfterPushStored", point: fpAfterPushStored, settle: settleQuery, pushes: 1,
		state: storage.StateSucceeded, outcome: "successful", settledBy: "query", maxOutcomes: 1,
	},
	{
		// The callback's result is stored, the chat not told: the restart
		// tells it (and a retried callback changes nothing).
		name: "KilledAfterSettle", point: fpAfterSettle, settle: settleCallback, pushes: 1,
		state: storage.StateSucceeded, outcome: "successful", settledBy: "callback", maxOutcomes: 1,
	},
	{
		// Telegram accepted the outcome, the bot did not record it: the
		// restart may tell it again (at least once), never more than that.
		name: "KilledAfterOutcomeSent", point: fpAfterOutcomeSent, settle: settleQuery, pushes: 1,
		state: storage.StateSucceeded, outcome: "successful", settledBy: "query", maxOutcomes: 2,
	},
}

func TestCrash(t *testing.T) {
	t.Parallel()
	bin := failpointBinary(t)
	for _, tc := range crashCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runCrashCase(t, bin, tc)
		})
	}
}

func runCrashCase(t *testing.T, bin string, tc crashCase) {
	tg := newFakeTelegram(t)
	sim := mpesatest.NewServer(t,
		mpesatest.WithCredentials(consumerKey, consumerSecret),
		mpesatest.WithShortCode(mpesatest.SandboxShortCode, passkey),
		mpesatest.WithResultDelay(100*time.Millisecond),
	)
	outcome := mpesatest.Outcome{ResultCode: "0"} // paid
	switch {
	case tc.completeAfterRestart:
		outcome.Manual = true
	case tc.settle == settleQuery:
		outcome.NoCallback = true
	}
	sim.SetPhoneOutcome(crashPhoneDaraja, outcome)

	addr := freeAddr(t)
	pollInitialDelay := "1h" // only the callback can settle within the test
	if tc.settle == settleQuery {
		pollInitialDelay = "200ms"
	}
	env := vars{
		"TELEGRAM_BOT_TOKEN":    tg.Token(),
		"TELEGRAM_API_ENDPOINT": tg.Endpoint(),
		"ENVIRONMENT":           "sandbox",
		"MPESA_BASE_URL":        sim.URL,
		"MPESA_CONSUMER_KEY":    consumerKey,
		"MPESA_CONSUMER_SECRET": consumerSecret,
		"MPESA_SHORTCODE":       mpesatest.SandboxShortCode,
		"MPESA_PASSKEY":         passkey,
		"CALLBACK_URL":          "http://" + addr + "/cb",
		"HTTP_ADDR":             addr,
		"DB_PATH":               filepath.Join(t.TempDir(), "bot.db"),
		"POLL_INITIAL_DELAY":    pollInitialDelay,
		"POLL_INTERVAL":         "100ms",
		"POLL_TIMEOUT":          "20s",
		"SEND_RATE_GLOBAL":      "0",
		"SEND_RATE_PER_CHAT":    "0",
		"MPESA_RATE":            "0",
		"LOG_FORMAT":            "json",
	}

	// Run 1: dies by SIGKILL at the failpoint.
	first := startProcess(t, bin, env.with(vars{"MPESA_BOT_FAILPOINT": tc.point}), "run 1 ("+tc.point+")")
	first.waitStarted(t)
	payMsg := sendPay(tg, crashPay)
	first.waitKilledAt(t, tc.point)

	// Run 2: same database, same Telegram, same Daraja, no failpoint.
	second := startProcess(t, bin, env, "run 2")
	second.waitStarted(t) // resume() has run: what the crash left is settled or watched
	switch {
	case tc.completeAfterRestart:
		second.waitFor(t, "the chat is told \"not confirmed\"", func() bool {
			return countReplies(tg, payMsg)["not confirmed"] >= 1
		})
		// The prompt may still be on the phone: a new /pay to it is refused.
		busyMsg := sendPay(tg, "/pay "+crashPhoneTyped+" 50 INV002")
		second.waitFor(t, "the second /pay is refused as the phone is busy", func() bool {
			for _, m := range tg.SentTo(payerID) {
				if m.ReplyToMessageID == busyMsg {
					return true
				}
			}
			return false
		})
		for _, m := range tg.SentTo(payerID) {
			if m.ReplyToMessageID == busyMsg && !strings.Contains(strings.ToLower(m.Plain), "another payment waiting") {
				t.Errorf("a /pay to the phone whose prompt may still be open was not refused as busy: %q", m.Plain)
			}
		}
		txns := sim.Transactions() // more than one is reported with the pushes below
		if len(txns) == 0 {
			t.Fatalf("the simulator has no transaction: run 1's push did not reach it")
		}
		if err := sim.Complete(txns[0].CheckoutRequestID); err != nil {
			t.Fatalf("completing the push: %v", err)
		}
		second.waitFor(t, "the chat is told \""+tc.outcome+"\"", func() bool {
			return countReplies(tg, payMsg)[tc.outcome] >= 1
		})
	case tc.point == fpAfterOutcomeSent:
		// The outcome was told before the crash; what the restart owes is
		// queued by resume() and sent before a SIGTERM'd bot exits.
	default:
		second.waitFor(t, "the chat is told \""+tc.outcome+"\"", func() bool {
			return countReplies(tg, payMsg)[tc.outcome] >= 1
		})
	}
	second.stop(t)

	// Never a second prompt: all pushes are counted, whatever phone.
	pushes := sim.Requests(mpesatest.EndpointPush)
	if len(pushes) != tc.pushes {
		t.Errorf("the simulator received %d STK Pushes; want %d (at most one prompt per order)", len(pushes), tc.pushes)
	}
	for _, r := range pushes {
		if phone := pushPhone(r.Body); phone != crashPhoneDaraja {
			t.Errorf("an STK Push went to %q; want %q", phone, crashPhoneDaraja)
		}
	}

	// What the chat was told, as replies to the /pay.
	got := countReplies(tg, payMsg)
	replies := replyTexts(tg, payMsg)
	t.Logf("replies to the /pay:\n%s", strings.Join(replies, "\n"))
	if got["other"] > 0 {
		t.Errorf("the /pay got a reply that is neither an acknowledgement, a duplicate notice nor an outcome:\n%s", strings.Join(replies, "\n"))
	}
	if got["ack"] > 1 {
		t.Errorf("the /pay was acknowledged %d times:\n%s", got["ack"], strings.Join(replies, "\n"))
	}
	finals := 0
	for _, k := range finalKinds {
		finals += got[k]
	}
	interim := got["not confirmed"]
	if tc.outcome == "not confirmed" {
		// Unknown is where this payment ends: its one outcome.
		finals, interim = interim, 0
	}
	if finals < 1 || finals > tc.maxOutcomes {
		t.Errorf("the chat got %d outcome messages; want 1..%d:\n%s", finals, tc.maxOutcomes, strings.Join(replies, "\n"))
	}
	if n := got[tc.outcome]; n != finals {
		t.Errorf("the chat was told %q %d times among %d outcomes; want every outcome to say %q:\n%s",
			tc.outcome, n, finals, tc.outcome, strings.Join(replies, "\n"))
	}
	if interim != tc.interim {
		t.Errorf("the chat got %d \"not confirmed\" messages; want %d:\n%s", interim, tc.interim, strings.Join(replies, "\n"))
	}
	if t.Failed() {
		t.Logf("run 1:\n%s\nrun 2:\n%s", first.result(), second.result())
	}

	// Nothing lost: exactly one payment, in the state the chat was told.
	st := openStore(t, env["DB_PATH"])
	all, err := st.ListByState(storage.StateInitiating, storage.StatePending, storage.StateSucceeded,
		storage.StateFailed, storage.StateRejected, storage.StateUnknown)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Fatalf("the database holds %d payments; want exactly 1: %v", len(all), all)
	}
	p := all[0]
	t.Logf("stored: %v, settled by %q, notified %v", p, p.SettledBy, p.Notified)
	if p.State != tc.state || p.SettledBy != tc.settledBy || !p.Notified {
		t.Errorf("stored %v: state %s, settled by %q, notified %v; want %s by %q, notified\nhistory: %v",
			p, p.State, p.SettledBy, p.Notified, tc.state, tc.settledBy, p.History)
	}
	if last := lastOutcome(tg, payMsg); !strings.Contains(stateKeyword(p.State), last) || last == "" {
		t.Errorf("the chat was last told %q, but the payment is stored %s (%q)", last, p.State, stateKeyword(p.State))
	}
	if p.Amount != 100 || p.Reference != "INV001" || p.Phone != crashPhoneDaraja {
		t.Errorf("stored %v: amount %d, reference %q; want KES 100 INV001 to %s", p, p.Amount, p.Reference, crashPhoneDaraja)
	}
	if tc.pushes == 0 {
		if p.CheckoutRequestID != "" {
			t.Errorf("stored %v has a CheckoutRequestID though no push left", p)
		}
		return
	}
	txns := sim.Transactions()
	if len(txns) != 1 {
		t.Fatalf("the simulator has %d transactions; want 1", len(txns))
	}
	if p.CheckoutRequestID != txns[0].CheckoutRequestID {
		t.Errorf("stored CheckoutRequestID %q; the push's is %q", p.CheckoutRequestID, txns[0].CheckoutRequestID)
	}
	if tc.settle == settleCallback && (p.Receipt == "" || p.Receipt != txns[0].Receipt) {
		t.Errorf("stored receipt %q; the callback's is %q", p.Receipt, txns[0].Receipt)
	}
}

// finalKinds are the key words of the outcomes that end a payment.
var finalKinds = []string{"successful", "not sent", "cancelled", "timed out", "failed"}

// replyKind sorts a reply to the /pay: "ack", "duplicate" (the /pay came
// again), an outcome's key word, or "other".
func replyKind(plain string) string {
	l := strings.ToLower(plain)
	switch {
	case strings.Contains(l, "payment request sent to"):
		return "ack"
	case strings.Contains(l, "already received"): // its summary may name the state: checked first
		return "duplicate"
	case strings.Contains(l, "not confirmed"):
		return "not confirmed"
	}
	for _, k := range finalKinds {
		if strings.Contains(l, k) {
			return k
		}
	}
	return "other"
}

// countReplies counts the bot's replies to the /pay msgID by kind.
func countReplies(tg *telegramtest.Server, msgID int) map[string]int {
	n := map[string]int{}
	for _, m := range tg.SentTo(payerID) {
		if m.ReplyToMessageID == msgID {
			n[replyKind(m.Plain)]++
		}
	}
	return n
}

// lastOutcome is the key word of the last outcome among the replies to
// msgID, "" when there is none.
func lastOutcome(tg *telegramtest.Server, msgID int) string {
	last := ""
	for _, m := range tg.SentTo(payerID) {
		if m.ReplyToMessageID != msgID {
			continue
		}
		switch k := replyKind(m.Plain); k {
		case "ack", "duplicate", "other":
		default:
			last = k
		}
	}
	return last
}

// stateKeyword names the outcome key words (one, or a list for failed) a
// chat may have been told last for a payment stored in state s.
func stateKeyword(s storage.State) string {
	switch s {
	case storage.StateSucceeded:
		return "successful"
	case storage.StateRejected:
		return "not sent"
	case storage.StateUnknown:
		return "not confirmed"
	case storage.StateFailed:
		return "failed, cancelled or timed out"
	}
	return "nothing (still " + string(s) + ")"
}

// replyTexts lists the bot's replies to msgID for failure messages.
func replyTexts(tg *telegramtest.Server, msgID int) []string {
	var out []string
	for _, m := range tg.SentTo(payerID) {
		if m.ReplyToMessageID == msgID {
			out = append(out, fmt.Sprintf("  #%d [%s] %q", m.MessageID, replyKind(m.Plain), m.Plain))
		}
	}
	return out
}

// pushPhone is the PhoneNumber of an STK Push body, "" when unreadable.
func pushPhone(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var fields map[string]any
	if dec.Decode(&fields) != nil {
		return ""
	}
	v, ok := fields["PhoneNumber"]
	if !ok {
		return ""
	}
	return fmt.Sprint(v)
}

// failpointBinary builds mpesa-bot with -tags failpoint into the test's temp
// dir (removed once every subtest is done) and returns its path.
func failpointBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary: skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go tool is needed to build the failpoint binary: %v", err)
	}
	path := filepath.Join(t.TempDir(), "mpesa-bot-failpoint")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-tags", "failpoint", "-trimpath", "-o", path, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags failpoint: %v\n%s", err, out)
	}
	return path
}

// botProcess is one run of the binary.
type botProcess struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr *testkit.SyncBuffer
	done           chan struct{} // closed when the process has exited
	err            error         // cmd.Wait's, once done
}

// startProcess starts `mpesa-bot run` with env as its whole environment and
// a fresh working directory (no .env). A process still running when the test
// ends is killed; a hang beyond twice hangLimit is killed too.
func startProcess(t *testing.T, bin string, env vars, name string) *botProcess {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*hangLimit)
	cmd := exec.CommandContext(ctx, bin, "run")
	cmd.Dir = t.TempDir()
	cmd.Env = env.environ()
	p := &botProcess{name: name, cmd: cmd, stdout: &testkit.SyncBuffer{}, stderr: &testkit.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("%s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel() // kills it if it still runs
		<-p.done
		assertNoSecrets(t, p.result())
	})
	return p
}

// result is the process's output, with its exit code once it exited (-1
// before, or when a signal ended it).
func (p *botProcess) result() result {
	code := -1
	if p.exited() {
		code = exitCode(p.err)
	}
	return result{code: code, stdout: p.stdout.String(), stderr: p.stderr.String()}
}

// exited reports whether the process has ended; p.err is set once it has.
func (p *botProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitFor polls cond until it holds; the process exiting first, or a hang,
// fails the test with the process's output.
func (p *botProcess) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !testkit.Poll(hangLimit, func() bool { return cond() || p.exited() }) {
		t.Fatalf("%s: %s did not happen within %s\n%s", p.name, what, hangLimit, p.result())
	}
	// Polling stops when the process ends too, which may have done what was
	// awaited just before.
	if !cond() {
		t.Fatalf("%s exited before %s: %v\n%s", p.name, what, p.err, p.result())
	}
}

// waitStarted waits until the bot has resumed the store and is polling
// Telegram: it logs "bot started" then.
func (p *botProcess) waitStarted(t *testing.T) {
	t.Helper()
	p.waitFor(t, "the bot started", func() bool { return strings.Contains(p.stderr.String(), `"msg":"bot started"`) })
}

// waitKilledAt waits for the process to die by SIGKILL at the failpoint.
func (p *botProcess) waitKilledAt(t *testing.T, point string) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(hangLimit):
		t.Fatalf("%s: not killed at the failpoint within %s\n%s", p.name, hangLimit, p.result())
	}
	r := p.result()
	assertNoSecrets(t, r)
	var ee *exec.ExitError
	if !errors.As(p.err, &ee) {
		t.Fatalf("%s exited by itself (%v), not by SIGKILL at %s:\n%s", p.name, p.err, point, r)
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("%s ended with %v, not SIGKILL at %s:\n%s", p.name, p.err, point, r)
	}
	if want := "failpoint " + point + ": killing the process"; !strings.Contains(r.stderr, want) {
		t.Fatalf("%s was killed, but not by the failpoint (no %q):\n%s", p.name, want, r)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *botProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("%s: SIGTERM: %v\n%s", p.name, err, p.result())
	}
	select {
	case <-p.done:
	case <-time.After(hangLimit):
		t.Fatalf("%s did not exit within %s of SIGTERM\n%s", p.name, hangLimit, p.result())
	}
	r := p.result()
	assertNoSecrets(t, r)
	if r.code != 0 {
		t.Fatalf("%s did not exit 0 on SIGTERM:\n%s", p.name, r)
	}
}
