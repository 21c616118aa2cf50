package bot_test

import (
	"strconv"
	"testing"
	"time"

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
	p, _, err := st.Create(storage.Payment{ChatID: customer.ID, UserID: customer.ID, MessageID: 42,
		IdempotencyKey: "1111111:42", Phone: "254712345678", Amount: 900, Reference: "CRASH-1",
		Description: "Payment", CallbackSecret: "s3cret-s3cret-s3cret"}, storage.Limits{})
	if err != nil {
		t.Fatal(err)
	}
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
// not pushed again at start: the chat is told the outcome is not confirmed.
func TestInterruptedPushIsNotConfirmedNeverRepeated(t *testing.T) {
	w := newWorld(t, options{noStart: true})
	st, err := storage.Open(w.dbPath, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Create(storage.Payment{ChatID: customer.ID, UserID: customer.ID, MessageID: 7,
		IdempotencyKey: "1111111:7", Phone: "254712345678", Amount: 50, Reference: "MIDPUSH",
		Description: "Payment", CallbackSecret: "another-s3cret-value"}, storage.Limits{}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	w.tg.AddChat(telegramtest.PrivateChat(customer))
	w.start()
	w.awaitReply(customer.ID, 7, "not confirmed")
	w.stop()
	if w.pushes() != 0 {
		t.Errorf("pushes = %d, want 0", w.pushes())
	}
}

// A payment without a result by POLL_TIMEOUT is stored as unknown ("not
// confirmed"): its PIN prompt has long expired, so the phone is free again.
func TestPollTimeoutMakesPaymentUnknownAndFreesThePhone(t *testing.T) {
	w := newWorld(t, options{cfg: func(c *bot.Config) { c.PollTimeout = 200 * time.Millisecond }})
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
	again := w.say(chat, customer, "/pay 0712345678 20")
	w.awaitReply(chat.ID, again, "sent")
}
