package bot_test

import (
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/bot"
	"github.com/mpesa-bot/mpesa-bot/bot/telegramtest"
	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
)

// Every kind of outcome reaches the payer once, as a reply to the /pay,
// with its key word — whether the result came by callback or by STK Query.
func TestPayOutcomes(t *testing.T) {
	cases := []struct {
		name  string
		code  string
		words []string
	}{
		{"PaidSaysSuccessfulAndAmount", "0", []string{"successful", "KES 1,500"}},
		{"CancelledByCustomer", "1032", []string{"cancelled"}},
		{"Cancelled1031", "1031", []string{"cancelled"}},
		{"NoAnswerTimedOut", "1037", []string{"timed out"}},
		{"ExpiredTimedOut", "1019", []string{"timed out"}},
		{"InsufficientBalance", "1", []string{"insufficient"}},
		{"WrongPIN", "2001", []string{"PIN"}},
		{"AnotherSession", "1001", []string{"another"}},
		{"RuleLimitedFailed", "17", []string{"failed", "17"}},
		{"SystemBusyFailed", "26", []string{"failed", "26"}},
		{"PushErrorFailed", "1025", []string{"failed", "1025"}},
		{"Failed9999", "9999", []string{"failed", "9999"}},
		{"UnknownCodeFailed", "SFC_IC0003", []string{"failed", "SFC_IC0003"}},
	}
	for _, source := range []string{"callback", "query"} {
		t.Run(source, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					w := newWorld(t, options{})
					phone := "254712345678"
					w.sim.SetPhoneOutcome(phone, mpesatest.Outcome{ResultCode: c.code, NoCallback: source == "query"})
					chat := telegramtest.PrivateChat(customer)
					msg := w.say(chat, customer, "/pay 0712345678 1500 INV001")

					ack := w.awaitReply(chat.ID, msg, "sent", "ws_CO_")
					out := w.awaitOutcome(chat.ID, msg, ack, c.words...)
					if out.MessageID < ack.MessageID {
						t.Errorf("outcome arrived before the acknowledgement")
					}
					w.stopWantOneOutcome(chat.ID, ack, c.words...)
					if w.pushes() != 1 {
						t.Errorf("pushes = %d, want 1", w.pushes())
					}
				})
			}
		})
	}
}

// A paid callback carries the M-Pesa receipt number; the message shows it.
func TestPaidViaCallbackShowsReceipt(t *testing.T) {
	w := newWorld(t, options{})
	chat := telegramtest.PrivateChat(customer)
	msg := w.say(chat, customer, "/pay 0712345678 100 INV001")
	out := w.awaitReply(chat.ID, msg, "successful")
	txs := w.sim.Transactions()
	if len(txs) != 1 || txs[0].Receipt == "" {
		t.Fatalf("simulator transactions = %+v, want one with a receipt", txs)
	}
	if !containsAll(out.Plain, txs[0].Receipt, "KES 100") {
		t.Errorf("outcome %q lacks receipt %s or amount", out.Plain, txs[0].Receipt)
	}
}

// Both of Daraja's pending shapes mean "wait": the watcher keeps querying
// until the final answer, and the chat hears the outcome once.
func TestBothPendingShapesMeanWait(t *testing.T) {
	for _, shape := range []struct {
		name  string
		shape mpesatest.PendingShape
	}{{"HTTP500BeingProcessed", mpesatest.Pending500}, {"ResultCode4999", mpesatest.Pending4999}} {
		t.Run(shape.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, options{simOpts: []mpesatest.Option{mpesatest.WithPendingShape(shape.shape)}})
			phone := "254712345670"
			w.sim.SetPhoneOutcome(phone, mpesatest.Outcome{ResultCode: "0", After: 400 * time.Millisecond, NoCallback: true})
			chat := telegramtest.PrivateChat(customer)
			msg := w.say(chat, customer, "/pay 0712345670 10")
			w.awaitReply(chat.ID, msg, "successful")
			w.stop()
			if q := len(w.sim.Requests(mpesatest.EndpointQuery)); q < 2 {
				t.Errorf("queries = %d, want the pending answers to be followed by more queries", q)
			}
			if n := w.count(chat.ID, "successful"); n != 1 {
				t.Errorf("%d success messages, want 1", n)
			}
		})
	}
}

// A push Daraja refuses never reaches the phone: the chat is told "not sent"
// with the reason in plain words, never the raw body.
func TestRefusedPushSaysNotSent(t *testing.T) {
	w := newWorld(t, options{})
	chat := telegramtest.PrivateChat(customer)
	msg := w.say(chat, customer, "/pay 0712345677 100") // last digit 7: the simulator refuses the push
	out := w.awaitReply(chat.ID, msg, "not sent", "phone number")
	for _, raw := range []string{"400.002.02", "errorCode", "{"} {
		if containsAll(out.Plain, raw) {
			t.Errorf("refusal %q shows raw Daraja text %q", out.Plain, raw)
		}
	}
}

// No final result by POLL_TIMEOUT: the chat is told "not confirmed" and how to
// check; a late result is still delivered.
func TestNotConfirmedThenLateResult(t *testing.T) {
	w := newWorld(t, options{cfg: func(c *bot.Config) { c.PollTimeout = 300 * time.Millisecond }})
	phone := "254712345678"
	w.sim.SetPhoneOutcome(phone, mpesatest.Outcome{ResultCode: "0", Manual: true})
	chat := telegramtest.PrivateChat(customer)
	msg := w.say(chat, customer, "/pay 0712345678 250 LATE-1")
	ack := w.awaitReply(chat.ID, msg, "sent")
	w.awaitReply(chat.ID, msg, "not confirmed", "/status")

	id := checkoutID(t, ack.Plain)
	if err := w.sim.Complete(id); err != nil {
		t.Fatal(err)
	}
	w.awaitReply(chat.ID, msg, "successful")
}

func checkoutID(t testing.TB, ack string) string {
	t.Helper()
	var id string
	for _, f := range fieldsOf(ack) {
		if len(f) > 6 && f[:6] == "ws_CO_" {
			id = f
		}
	}
	if id == "" {
		t.Fatalf("no CheckoutRequestID in %q", ack)
	}
	return id
}

func fieldsOf(s string) []string {
	var out []string
	cur := []rune{}
	for _, r := range s {
		if r == ' ' || r == '\n' || r == ':' || r == '.' || r == ',' || r == '(' || r == ')' {
			if len(cur) > 0 {
				out = append(out, string(cur))
			}
			cur = cur[:0]
			continue
		}
		cur = append(cur, r)
	}
	if len(cur) > 0 {
		out = append(out, string(cur))
	}
	return out
}
