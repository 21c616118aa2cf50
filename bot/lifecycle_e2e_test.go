package bot_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mpesa-bot/mpesa-bot/bot"
	"github.com/mpesa-bot/mpesa-bot/bot/telegramtest"
	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// Telegram delivers a /pay again (the bot crashed before confirming it): one
// push, and the second delivery is answered with the payment it already has.
func TestRedeliveredPaySendsOnePush(t *testing.T) {
	w := newWorld(t, options{})
	chat := telegramtest.PrivateChat(customer)
	update, msg := w.tg.SendText(chat, customer, "/pay 0712345678 100 INV001")
	w.awaitReply(chat.ID, msg, "successful")

	w.stop()
	// A fresh process polls from offset 0 and gets the update again.
	w.tg.Redeliver(update)
	w.start()
	w.awaitReply(chat.ID, msg, "already received", "no second PIN prompt")
	w.stop()
	if n := w.tg.Delivered(update); n != 2 {
		t.Errorf("update delivered %d times, want 2", n)
	}
	if w.pushes() != 1 {
		t.Errorf("pushes = %d, want 1", w.pushes())
	}
	if n := w.count(chat.ID, "payment successful"); n != 1 {
		t.Errorf("%d outcome messages, want 1", n)
	}
}

// A bot stopped while a payment is pending, started again on the same file,
// tells the outcome exactly once and never pushes again.
func TestRestartWhilePendingNotifiesOnceNeverPushesAgain(t *testing.T) {
	w := newWorld(t, options{})
	phone := "254712345678"
	w.sim.SetPhoneOutcome(phone, mpesatest.Outcome{ResultCode: "0", Manual: true, NoCallback: true})
	chat := telegramtest.PrivateChat(customer)
	msg := w.say(chat, customer, "/pay 0712345678 700 ORDER-7")
	ack := w.awaitReply(chat.ID, msg, "sent")
	w.stop()

	if err := w.sim.Complete(checkoutID(t, ack.Plain)); err != nil {
		t.Fatal(err)
	}
	w.start()
	w.awaitReply(chat.ID, msg, "successful", "KES 700")
	w.stop()
	if w.pushes() != 1 {
		t.Errorf("pushes = %d, want 1", w.pushes())
	}
	if n := w.count(chat.ID, "successful"); n != 1 {
		t.Errorf("%d outcome messages, want 1:%s", n, w.transcript())
	}
}

// A payment settled but not yet told (the bot crashed between the two) is
// told at start, as a reply to its /pay.
func TestSettledButUnnotifiedIsToldAtStart(t *testing.T) {
	w := newWorld(t, options{noStart: true})
	st, err := storage.Open(w.dbPath, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := seedPayment(t, st, 42, "254712345678", 900)
	if _, err := st.RecordPush(p.ID, "ws_CO_crash", "m-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Settle(p.ID, storage.Result{State: storage.StateSucceeded, ResultCode: "0", Receipt: "NLJ7RT61SV", Source: "callback"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	w.tg.AddChat(telegramtest.PrivateChat(customer))
	w.start()
	out := w.awaitReply(customer.ID, 42, "successful", "NLJ7RT61SV", "KES 900")
	if out.ReplyToMessageID != 42 {
		t.Errorf("outcome replies to %d, want 42", out.ReplyToMessageID)
	}
	w.stop()
	if w.pushes() != 0 {
		t.Errorf("pushes = %d, want 0", w.pushes())
	}
}

// A payment whose push answer was never stored (the bot died mid-push) is
// never pushed again at start. If the push was on its way the chat is told
// the outcome is not confirmed; if it never left, that it was not sent.
func TestInterruptedPushIsNeverRepeated(t *testing.T) {
	for _, c := range []struct {
		name   string
		sent   bool
		answer string
	}{{"SentMaybeReachedPhone", true, "not confirmed"}, {"NeverSent", false, "not sent"}} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, options{noStart: true})
			st, err := storage.Open(w.dbPath, storage.Options{})
			if err != nil {
				t.Fatal(err)
			}
			p := seedPayment(t, st, 7, "254712345678", 50)
			if c.sent {
				if err := st.AppendEvent(p.ID, storage.Event{Source: "bot", Type: "push_sent"}); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			w.tg.AddChat(telegramtest.PrivateChat(customer))
			w.start()
			w.awaitReply(customer.ID, 7, c.answer)
			w.stop()
			if w.pushes() != 0 {
				t.Errorf("pushes = %d, want 0", w.pushes())
			}
		})
	}
}

// A payment without a result by POLL_TIMEOUT is stored as unknown ("not
// confirmed"); its phone is free again once its PIN prompt has surely
// expired (PromptLife after the push), not before.
func TestPollTimeoutMakesPaymentUnknownAndFreesThePhone(t *testing.T) {
	w := newWorld(t, options{cfg: func(c *bot.Config) {
		c.PollTimeout = 200 * time.Millisecond
		c.PromptLife = 400 * time.Millisecond
	}})
	w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{Manual: true, NoCallback: true})
	chat := telegramtest.PrivateChat(customer)
	msg := w.say(chat, customer, "/pay 0712345678 10")
	w.awaitReply(chat.ID, msg, "not confirmed")
	p, err := w.store.GetByIdempotencyKey("1111111:" + strconv.Itoa(msg))
	if err != nil {
		t.Fatal(err)
	}
	if p.State != storage.StateUnknown {
		t.Errorf("state = %s, want unknown", p.State)
	}
	// The prompt may still be answered until it expires: only then is the
	// phone free for a new /pay.
	w.eventually("the prompt's hold to expire", func() bool {
		until, _, err := w.store.PhoneHeldUntil("254712345678")
		return err == nil && time.Now().After(until)
	})
	again := w.say(chat, customer, "/pay 0712345678 20")
	w.awaitReply(chat.ID, again, "sent")
}

// Stopping (SIGTERM) during a long poll returns promptly: the poll is
// cancelled, not waited out (LongPoll is 50 s here).
func TestStopDuringLongPollIsPrompt(t *testing.T) {
	w := newWorld(t, options{cfg: func(c *bot.Config) { c.LongPoll = 50 * time.Second }})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := w.tg.WaitPolling(ctx); err != nil {
		t.Fatal(err)
	}
	w.stop() // fails the test if Run does not return within waitLimit (20 s < 50 s)
}

// A /pay whose push is in flight when the bot is told to stop is finished:
// its answer is stored and the chat acknowledged before Run returns.
func TestStopLetsInFlightPayFinish(t *testing.T) {
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	w := newWorld(t, options{wrap: func(d bot.Daraja) bot.Daraja {
		return &gatedDaraja{Daraja: d, phone: "254712345678", gate: gate, entered: entered}
	}})
	// No result comes during the test: the payment must be found pending,
	// with the push answer stored, however slowly the machine runs.
	w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{Manual: true, NoCallback: true})
	pc := telegramtest.PrivateChat(customer)
	msg := w.say(pc, customer, "/pay 0712345678 100 LAST")
	select {
	case <-entered:
	case <-time.After(waitLimit):
		t.Fatal("the push never started")
	}
	stopped := make(chan struct{})
	go func() { w.stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Run returned while a push was in flight")
	case <-time.After(100 * time.Millisecond):
	}
	close(gate)
	<-stopped
	if n := w.count(pc.ID, "payment request sent"); n != 1 {
		t.Errorf("%d acknowledgements, want 1:%s", n, w.transcript())
	}
	st, err := storage.Open(w.dbPath, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := st.GetByIdempotencyKey("1111111:" + strconv.Itoa(msg))
	if err != nil {
		t.Fatal(err)
	}
	if p.State != storage.StatePending || p.CheckoutRequestID == "" {
		t.Errorf("payment %s with checkout %q, want pending with the push answer stored", p.State, p.CheckoutRequestID)
	}
}

// A payment Daraja no longer knows (400.002.02 Invalid CheckoutRequestID,
// long after the push: say, an in-process simulator restarted) is reported
// "not confirmed" once and not queried again for 24 hours.
func TestPaymentUnknownToDarajaIsNotQueriedAgain(t *testing.T) {
	w := newWorld(t, options{noStart: true})
	tenMinutesAgo := func() time.Time { return time.Now().Add(-10 * time.Minute) }
	st, err := storage.Open(w.dbPath, storage.Options{Now: tenMinutesAgo})
	if err != nil {
		t.Fatal(err)
	}
	p := seedPayment(t, st, 9, "254712345678", 75)
	if _, err := st.RecordPush(p.ID, "ws_CO_forgotten", "m-9", tenMinutesAgo().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	w.tg.AddChat(telegramtest.PrivateChat(customer))
	w.start()
	w.awaitReply(customer.ID, 9, "not confirmed")
	w.eventually("the refusal recorded", func() bool {
		got, err := w.store.Get(p.ID)
		return err == nil && got.NextQueryAt.IsZero() && got.Queries == 1
	})
	w.stop()
	if q := len(w.sim.Requests(mpesatest.EndpointQuery)); q != 1 {
		t.Errorf("queries = %d, want 1", q)
	}
}

// More outcomes owed than the notifier queue holds (thousands settled
// during a Telegram outage, or at start) are all told in this run: what does
// not fit is read again from the store as the queue empties.
func TestOutcomesBeyondTheQueueAreAllTold(t *testing.T) {
	w := newWorld(t, options{noStart: true, cfg: func(c *bot.Config) {
		c.NotifyQueue = 4
		c.NotifyRescan = 20 * time.Millisecond
	}})
	st, err := storage.Open(w.dbPath, storage.Options{BatchDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const owed = 15
	for i := range owed {
		p := seedPayment(t, st, 100+i, "2547123456"+strconv.Itoa(10+i), 10)
		_, err := st.RecordPush(p.ID, "ws_CO_owed_"+strconv.Itoa(i), "m", time.Now())
		if err == nil {
			_, _, err = st.Settle(p.ID, storage.Result{State: storage.StateSucceeded, ResultCode: "0", Source: "callback"})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	w.tg.AddChat(telegramtest.PrivateChat(customer))
	w.start()
	for i := range owed {
		w.awaitReply(customer.ID, 100+i, "successful")
	}
}

// A /pay still queued when the shutdown deadline passes is not lost: it is
// not pushed (the bot is stopping), and the chat is told "not sent" — at the
// next start if not before.
func TestPayQueuedAtShutdownIsToldNotSent(t *testing.T) {
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	reg := prometheus.NewRegistry()
	w := newWorld(t, options{
		cfg: func(c *bot.Config) {
			c.ShutdownTimeout = 100 * time.Millisecond
			c.Metrics = bot.NewMetrics(reg)
		},
		wrap: func(d bot.Daraja) bot.Daraja {
			return &gatedDaraja{Daraja: d, phone: "254712345678", gate: gate, entered: entered}
		}})
	defer close(gate)
	pc := telegramtest.PrivateChat(customer)
	w.say(pc, customer, "/pay 0712345678 100 SLOW")
	select {
	case <-entered:
	case <-time.After(waitLimit):
		t.Fatal("the push never started")
	}
	update, queued := w.tg.SendText(pc, customer, "/pay 0712345670 100 QUEUED") // behind the blocked /pay
	// Handed to a handler, not merely fetched: an update fetched but not
	// handed over when the bot stops stays with Telegram, which delivers it
	// again (and then it is simply a new /pay).
	w.eventually("the second /pay was handed to a handler", func() bool {
		return w.tg.Delivered(update) == 1 && samples(t, reg)["mpesa_bot_telegram_updates_total{}"] == 2
	})
	w.stop()
	w.start()
	w.awaitReply(pc.ID, queued, "not sent", "shutting down")
	w.stop()
	for _, r := range w.sim.Requests(mpesatest.EndpointPush) {
		if strings.Contains(string(r.Body), "254712345670") {
			t.Error("the queued /pay was pushed while the bot was stopping")
		}
	}
}
