package bot_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mpesa-bot/mpesa-bot/bot"
	"github.com/mpesa-bot/mpesa-bot/bot/telegramtest"
	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// The promise a merchant relies on: a "paid" message means M-Pesa said paid,
// through a callback that matched the payment or through an STK Query; and
// one PIN prompt per order, whatever restarts come between.

// queryOverride answers STK Queries with a scripted result once one is set,
// so a test can have M-Pesa change its mind after a payment was settled.
type queryOverride struct {
	bot.Daraja
	result  atomic.Pointer[mpesa.QueryResult]
	queries atomic.Int32
	fail    atomic.Int32 // this many queries fail (connection reset) before any answer
}

func (q *queryOverride) Query(ctx context.Context, checkoutID string) (*mpesa.QueryResult, error) {
	q.queries.Add(1)
	if q.fail.Add(-1) >= 0 {
		return nil, errors.New("read tcp: connection reset by peer")
	}
	if r := q.result.Load(); r != nil {
		res := *r
		res.CheckoutRequestID = checkoutID
		return &res, nil
	}
	return q.Daraja.Query(ctx, checkoutID)
}

// historyCount counts the payment's audit events of the given types.
func historyCount(p storage.Payment, types ...string) int {
	n := 0
	for _, ev := range p.History {
		for _, t := range types {
			if ev.Type == t {
				n++
			}
		}
	}
	return n
}

// assertLogsHide fails when the log shows any of the values in full.
func assertLogsHide(t *testing.T, w *world, values ...string) {
	t.Helper()
	logs := w.logs.String()
	for _, v := range values {
		if strings.Contains(logs, v) {
			t.Errorf("the log shows %q", v)
		}
	}
}

// Someone who learnt a payment's callback URL and its CheckoutRequestID (it
// is in the acknowledgement) posts "paid" again and again to a payment the
// customer cancelled. M-Pesa's query says cancelled: nobody is told
// anything, the payment stays cancelled, and the flood leaves a bounded
// trace in the audit trail.
func TestForgedPaidCallbacksOnACancelledPaymentAreNeverAnnounced(t *testing.T) {
	w := newWorld(t, options{cfg: func(c *bot.Config) {
		longInitialDelay(c)
		c.MerchantChatID = shopGroup.ID
	}})
	w.tg.AddChat(shopGroup)
	w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{ResultCode: "1032"})
	p := w.pay("/pay 0712345678 100 INV001")
	w.awaitOutcome(p.chat.ID, p.msg, p.ack, "cancelled")
	w.awaitNotified(p.checkoutID)
	path := w.callbackPath(p.checkoutID)

	// The forger even knows the amount and the full phone.
	forged := callbackBody(p.checkoutID, "0", "FORGED0001", 100)
	for range 60 {
		if a := w.post(path, forged); a.status != http.StatusOK {
			t.Fatalf("answer = %d %q, want 200", a.status, a.body)
		}
	}
	w.eventually("M-Pesa was asked", func() bool {
		got, err := w.store.GetByCheckoutID(p.checkoutID)
		return err == nil && historyCount(got, "verified") > 0 && !got.VerifyDue
	})
	w.stop() // waits for every check in flight

	got := w.storedAfterStop(p.checkoutID)
	if got.State != storage.StateFailed || got.ResultCode != "1032" || got.Receipt != "" {
		t.Errorf("payment %s code %s receipt %q, want it kept cancelled (failed 1032) with no receipt", got.State, got.ResultCode, got.Receipt)
	}
	if n := historyCount(got, "callback_conflict", "conflicts_capped"); n > 21 {
		t.Errorf("60 forged callbacks left %d conflict events, want at most 21", n)
	}
	// One check of the cancellation itself, and at most three for the
	// contradicting "paid" callbacks.
	if q := len(w.sim.Requests(mpesatest.EndpointQuery)); q < 1 || q > 4 {
		t.Errorf("STK Queries = %d, want between 1 and 4", q)
	}
	for _, word := range []string{"successful", "correction", "FORGED0001", "paid"} {
		if n := w.countExcept(p.chat.ID, p.ack.MessageID, word); n != 0 {
			t.Errorf("%d messages to the payer say %q:%s", n, word, w.transcript())
		}
	}
	for _, word := range []string{"FORGED0001", "Correction"} {
		if n := w.count(shopGroup.ID, word); n != 0 {
			t.Errorf("%d feed lines say %q:%s", n, word, w.transcript())
		}
	}
}

// A payment told "timed out" is reported paid by M-Pesa's callback after
// all, and M-Pesa's STK Query confirms it: the chat and the feed are told
// once, as a correction with "successful" and the receipt; /status shows it
// paid. The same callback posted again tells nobody anything more.
func TestPaidAfterFailureConfirmedByQueryIsCorrectedOnce(t *testing.T) {
	q := &queryOverride{}
	reg := prometheus.NewRegistry()
	w := newWorld(t, options{
		cfg: func(c *bot.Config) {
			c.MerchantChatID = shopGroup.ID
			c.Metrics = bot.NewMetrics(reg)
		},
		wrap: func(d bot.Daraja) bot.Daraja { q.Daraja = d; return q },
	})
	w.tg.AddChat(shopGroup)
	w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{ResultCode: "1037", NoCallback: true})
	p := w.pay("/pay 0712345678 100 INV001")
	w.awaitOutcome(p.chat.ID, p.msg, p.ack, "timed out")
	w.awaitNotified(p.checkoutID)
	w.await(shopGroup.ID, "Not paid")

	q.result.Store(&mpesa.QueryResult{ResponseCode: "0", ResultCode: "0", ResultDesc: "The service request is processed successfully."})
	path := w.callbackPath(p.checkoutID)
	paid := callbackBody(p.checkoutID, "0", "RCPT0PAID1", 100)
	if a := w.post(path, paid); a.status != http.StatusOK {
		t.Fatalf("answer = %d %q, want 200", a.status, a.body)
	}
	w.awaitReply(p.chat.ID, p.msg, "correction", "successful", "RCPT0PAID1", "KES 100")
	w.await(shopGroup.ID, "Correction", "paid", "RCPT0PAID1")
	w.awaitNotified(p.checkoutID)
	for range 3 {
		if a := w.post(path, paid); a.status != http.StatusOK {
			t.Fatalf("answer = %d %q, want 200", a.status, a.body)
		}
	}
	status := w.say(p.chat, customer, "/status "+p.checkoutID)
	w.awaitReply(p.chat.ID, status, "successful", "RCPT0PAID1")
	w.stop()

	if n := w.countExcept(p.chat.ID, p.ack.MessageID, "correction"); n != 1 {
		t.Errorf("%d corrections to the payer, want 1:%s", n, w.transcript())
	}
	if n := w.count(shopGroup.ID, "Correction"); n != 1 {
		t.Errorf("%d corrections in the feed, want 1:%s", n, w.transcript())
	}
	got := w.storedAfterStop(p.checkoutID)
	if got.State != storage.StateSucceeded || got.Receipt != "RCPT0PAID1" || !got.Corrected {
		t.Errorf("payment %s receipt %q corrected %v, want succeeded with the receipt, marked corrected", got.State, got.Receipt, got.Corrected)
	}
	if n := historyCount(got, "corrected"); n != 1 {
		t.Errorf("%d corrected events, want 1", n)
	}
	m := samples(t, reg)
	if m["mpesa_bot_payments_corrected_total{}"] != 1 || m["mpesa_bot_payments_settled_total{outcome=paid,source=correction}"] != 1 {
		t.Errorf("metrics: corrected %v, settled paid by correction %v; want 1 and 1",
			m["mpesa_bot_payments_corrected_total{}"], m["mpesa_bot_payments_settled_total{outcome=paid,source=correction}"])
	}
}

// A callback whose amount or phone is not the payment's is not believed:
// 400, one audit event, and the payment waits for M-Pesa's own answer,
// which the STK Query brings on its usual schedule.
func TestMismatchedCallbackIsNotBelieved(t *testing.T) {
	for _, c := range []struct {
		name string
		body func(checkoutID string) []byte
	}{
		{"AmountDiffers", func(id string) []byte { return callbackBody(id, "0", "FAKE000001", 1) }},
		{"PhoneDiffers", func(id string) []byte {
			return []byte(strings.Replace(string(callbackBody(id, "0", "FAKE000001", 5000)), "254712345678", "254700000001", 1))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, options{})
			w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{ResultCode: "0", Manual: true, NoCallback: true})
			p := w.pay("/pay 0712345678 5000 INV001")
			a := w.post(w.callbackPath(p.checkoutID), c.body(p.checkoutID))
			if a.status != http.StatusBadRequest || a.body == acceptedAnswer {
				t.Errorf("answer = %d %q, want 400", a.status, a.body)
			}
			got, err := w.store.GetByCheckoutID(p.checkoutID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != storage.StatePending {
				t.Errorf("payment %s, want still pending", got.State)
			}
			if n := historyCount(got, "callback_mismatch"); n != 1 {
				t.Errorf("%d callback_mismatch events, want 1", n)
			}
			// M-Pesa's own answer, through the STK Query, decides.
			if err := w.sim.Complete(p.checkoutID); err != nil {
				t.Fatal(err)
			}
			out := w.awaitOutcome(p.chat.ID, p.msg, p.ack, "successful", "KES 5,000")
			if strings.Contains(out.Plain, "FAKE000001") {
				t.Errorf("the outcome shows the mismatched callback's receipt: %q", out.Plain)
			}
			w.stop()
			assertLogsHide(t, w, "254712345678", "254700000001")
		})
	}
}

// The STK Query settled a payment "paid" before the callback came (a query
// has no receipt): the callback's receipt is stored and /status shows it,
// and the chat is not told twice.
func TestReceiptOfACallbackAfterTheQueryIsKept(t *testing.T) {
	w := newWorld(t, options{})
	w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{ResultCode: "0", NoCallback: true})
	p := w.pay("/pay 0712345678 100 INV001")
	w.awaitOutcome(p.chat.ID, p.msg, p.ack, "successful")
	w.awaitNotified(p.checkoutID)
	tx, _ := w.sim.Transaction(p.checkoutID)
	if a := w.post(w.callbackPath(p.checkoutID), callbackBody(p.checkoutID, "0", tx.Receipt, 100)); a.status != http.StatusOK {
		t.Fatalf("answer = %d %q, want 200", a.status, a.body)
	}
	got, err := w.store.GetByCheckoutID(p.checkoutID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Receipt != tx.Receipt || got.SettledBy != "query" {
		t.Errorf("receipt %q settled by %s, want %q kept on the query's result", got.Receipt, got.SettledBy, tx.Receipt)
	}
	status := w.say(p.chat, customer, "/status "+p.checkoutID)
	w.awaitReply(p.chat.ID, status, "successful", tx.Receipt)
	w.stopWantOneOutcome(p.chat.ID, p.ack, "payment successful")
}

// A push whose answer was lost (it reached Daraja; the connection was cut)
// holds the phone. The hold is in the store: a restart (a deploy) does not
// let a second /pay put a second prompt on that phone.
func TestUnknownPushHoldsThePhoneAcrossARestart(t *testing.T) {
	w := newWorld(t, options{cfg: longInitialDelay})
	w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{Manual: true, NoCallback: true})
	w.sim.InjectFault(mpesatest.EndpointPush, mpesatest.Fault{Drop: true, Processed: true})
	chat := telegramtest.PrivateChat(customer)
	first := w.say(chat, customer, "/pay 0712345678 100 INV001")
	w.awaitReply(chat.ID, first, "not confirmed")
	w.stop()
	w.start()
	again := w.say(chat, customer, "/pay 0712345678 100 INV002")
	w.awaitReply(chat.ID, again, "another")
	w.stop()
	if w.pushes() != 1 {
		t.Errorf("pushes = %d, want 1", w.pushes())
	}
}

// POLL_TIMEOUT shorter than a PIN prompt's life tells the chat "not
// confirmed" while the prompt may still be answered: the phone stays held
// until the prompt surely expired, so no second prompt joins it.
func TestShortPollTimeoutKeepsThePhoneHeld(t *testing.T) {
	w := newWorld(t, options{cfg: func(c *bot.Config) { c.PollTimeout = 300 * time.Millisecond }})
	w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{Manual: true, NoCallback: true})
	p := w.pay("/pay 0712345678 100 INV001")
	w.awaitOutcome(p.chat.ID, p.msg, p.ack, "not confirmed")
	again := w.say(p.chat, customer, "/pay 0712345678 100 INV002")
	w.awaitReply(p.chat.ID, again, "another")
	w.stop()
	if w.pushes() != 1 {
		t.Errorf("pushes = %d, want 1", w.pushes())
	}
}

// A /pay refused because the phone was busy, delivered again by Telegram
// after a crash when the phone is free, is refused again: the chat was told
// "no", and a prompt now would surprise everyone.
func TestRefusedPayRedeliveredIsRefusedAgain(t *testing.T) {
	w := newWorld(t, options{})
	w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{ResultCode: "0", Manual: true, NoCallback: true})
	chat := telegramtest.PrivateChat(customer)
	first := w.say(chat, customer, "/pay 0712345678 100 INV001")
	ack := w.awaitReply(chat.ID, first, "sent")
	update, second := w.tg.SendText(chat, customer, "/pay 0712345678 100 INV002")
	w.awaitReply(chat.ID, second, "another")
	if err := w.sim.Complete(checkoutID(t, ack.Plain)); err != nil {
		t.Fatal(err)
	}
	w.stop()
	w.start() // the watcher settles the first payment: the phone is free
	w.awaitReply(chat.ID, first, "successful")
	w.stop()
	w.tg.Redeliver(update)
	w.start()
	w.eventually("the second /pay answered again", func() bool { return w.count(chat.ID, "another") == 2 })
	w.stop()
	if w.pushes() != 1 {
		t.Errorf("pushes = %d, want 1", w.pushes())
	}
}

// A merchant asking /status in a group sees the summary of a customer's
// payment, not its receipt or audit trail (the group reads along); in a
// private chat they see everything.
func TestMerchantStatusInAGroupShowsOnlyTheSummary(t *testing.T) {
	w := newWorld(t, options{})
	p := w.pay("/pay 0712345678 100 INV001")
	out := w.awaitOutcome(p.chat.ID, p.msg, p.ack, "successful")
	tx, _ := w.sim.Transaction(p.checkoutID)
	if !strings.Contains(out.Plain, tx.Receipt) {
		t.Fatalf("the outcome %q lacks the receipt %s", out.Plain, tx.Receipt)
	}
	inGroup := w.say(shopGroup, merchant, "/status "+p.checkoutID)
	group := w.awaitReply(shopGroup.ID, inGroup, "successful", "KES 100")
	for _, hidden := range []string{tx.Receipt, "History"} {
		if strings.Contains(group.Plain, hidden) {
			t.Errorf("the group answer shows %q: %q", hidden, group.Plain)
		}
	}
	mc := telegramtest.PrivateChat(merchant)
	private := w.say(mc, merchant, "/status "+p.checkoutID)
	w.awaitReply(mc.ID, private, "successful", tx.Receipt, "History")
}

// A push Daraja refused never reached a phone; a "paid" callback posted to
// its callback URL afterwards (the URL was in the refused request) is never
// announced.
func TestPaidCallbackOnARefusedPushIsNeverAnnounced(t *testing.T) {
	w := newWorld(t, options{})
	w.sim.InjectFault(mpesatest.EndpointPush, mpesatest.ErrorFault(http.StatusBadRequest, "400.002.02", "Bad Request - Invalid Amount"))
	chat := telegramtest.PrivateChat(customer)
	msg := w.say(chat, customer, "/pay 0712345678 100 INV001")
	w.awaitReply(chat.ID, msg, "not sent")
	reqs := w.sim.Requests(mpesatest.EndpointPush)
	if len(reqs) != 1 {
		t.Fatalf("pushes = %d, want 1", len(reqs))
	}
	var sent struct{ CallBackURL string }
	if err := json.Unmarshal(reqs[0].Body, &sent); err != nil {
		t.Fatal(err)
	}
	a := w.post(pathOf(t, sent.CallBackURL), callbackBody("ws_CO_never_pushed", "0", "RCPTNEVER1", 100))
	if a.status == http.StatusInternalServerError {
		t.Errorf("answer = %d %q", a.status, a.body)
	}
	p, err := w.store.GetByIdempotencyKey(idempotencyKey(customer.ID, msg))
	if err != nil {
		t.Fatal(err)
	}
	w.stop()
	if p.State != storage.StateRejected || p.Receipt != "" {
		t.Errorf("payment %s receipt %q, want it kept rejected", p.State, p.Receipt)
	}
	for _, word := range []string{"successful", "correction", "RCPTNEVER1"} {
		if n := w.count(chat.ID, word); n != 0 {
			t.Errorf("%d messages say %q:%s", n, word, w.transcript())
		}
	}
}

// A payment's callback URL stops working a day after its final result: a
// late or copied URL is answered 404 and changes nothing.
func TestCallbackSecretExpiresADayAfterTheFinalResult(t *testing.T) {
	w := newWorld(t, options{noStart: true})
	seed := func(at time.Time, msg int, secret, checkout string) {
		st, err := storage.Open(w.dbPath, storage.Options{Now: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		p, _, err := st.Create(storage.Payment{ChatID: customer.ID, UserID: customer.ID, MessageID: msg,
			IdempotencyKey: idempotencyKey(customer.ID, msg), Phone: "254712345678", Amount: 100, Reference: "OLD",
			Description: "Payment", CallbackSecret: secret}, storage.Limits{})
		if err == nil {
			_, err = st.RecordPush(p.ID, checkout, "m", at)
		}
		if err == nil {
			_, _, err = st.Settle(p.ID, storage.Result{State: storage.StateFailed, ResultCode: "1032", Source: "callback"})
		}
		if err == nil {
			_, err = st.MarkNotified(p.ID, storage.StateFailed)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	const old, recent = "0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0", "4ec4ec4ec4ec4ec4ec4ec4ec4ec4ec4ec4ec4ec4"
	seed(time.Now().Add(-25*time.Hour), 1, old, "ws_CO_old")
	seed(time.Now().Add(-time.Hour), 2, recent, "ws_CO_recent")
	w.tg.AddChat(telegramtest.PrivateChat(customer))
	w.start()
	if a := w.post("/daraja/cb/"+old, callbackBody("ws_CO_old", "1032", "", 0)); a.status != http.StatusNotFound {
		t.Errorf("a day-old secret: answer %d, want 404", a.status)
	}
	if a := w.post("/daraja/cb/"+recent, callbackBody("ws_CO_recent", "1032", "", 0)); a.status != http.StatusOK {
		t.Errorf("an hour-old secret: answer %d, want 200", a.status)
	}
	w.stop()
	assertLogsHide(t, w, old, recent)
}

// CALLBACK_ALLOWED_IPS refuses other senders with 403 and changes nothing;
// behind a trusted proxy the sender is read from X-Forwarded-For, right to
// left, so a client cannot forge its way in.
func TestCallbackAllowedIPs(t *testing.T) {
	safaricom := netip.MustParsePrefix("196.201.214.200/32")
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	for _, c := range []struct {
		name    string
		allowed []netip.Prefix
		trusted []netip.Prefix
		xff     string
		status  int
	}{
		{"OtherSenderIs403", []netip.Prefix{safaricom}, nil, "", http.StatusForbidden},
		{"ForwardedForFromAnUntrustedPeerIsIgnored", []netip.Prefix{safaricom}, nil, "196.201.214.200", http.StatusForbidden},
		{"AllowedSenderBehindATrustedProxy", []netip.Prefix{safaricom}, []netip.Prefix{loopback}, "196.201.214.200", http.StatusOK},
		{"ForgedHopLeftOfTheRealSender", []netip.Prefix{safaricom}, []netip.Prefix{loopback}, "196.201.214.200, 203.0.113.9", http.StatusForbidden},
		{"AllowedPeer", []netip.Prefix{loopback}, nil, "", http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, options{cfg: func(cfg *bot.Config) {
				longInitialDelay(cfg)
				cfg.CallbackAllowedIPs, cfg.TrustedProxies = c.allowed, c.trusted
			}})
			w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{ResultCode: "1032", Manual: true, NoCallback: true})
			p := w.pay("/pay 0712345678 100 INV001")
			before := w.snapshot(p.checkoutID)
			header := []string{"Content-Type", "application/json"}
			if c.xff != "" {
				header = append(header, "X-Forwarded-For", c.xff)
			}
			a := w.request(http.MethodPost, w.callbackPath(p.checkoutID), callbackBody(p.checkoutID, "1032", "", 0), header...)
			if a.status != c.status {
				t.Errorf("answer = %d %q, want %d", a.status, a.body, c.status)
			}
			if after := w.snapshot(p.checkoutID); c.status == http.StatusForbidden && after != before {
				t.Errorf("a refused callback changed the payment:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
}

// With OPS_ADDR the operations routes leave the public listener: it serves
// callbacks only, and the operations handler serves /healthz and /readyz.
func TestOperationsRoutesMoveToTheirOwnListener(t *testing.T) {
	w := newWorld(t, options{})
	public, err := w.bot.Handler(bot.HTTPOptions{CallbacksOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	pub := httptest.NewServer(public)
	defer pub.Close()
	ops := httptest.NewServer(w.bot.OpsHandler(bot.HTTPOptions{}))
	defer ops.Close()
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/backup"} {
		if a := doRequest(t, http.MethodGet, pub.URL+path, nil); a.status != http.StatusNotFound {
			t.Errorf("public %s = %d, want 404", path, a.status)
		}
	}
	if a := doRequest(t, http.MethodGet, ops.URL+"/healthz", nil); a.status != http.StatusOK {
		t.Errorf("ops /healthz = %d, want 200", a.status)
	}
	p := w.pay("/pay 0712345678 100 INV001")
	if a := doRequest(t, http.MethodPost, pub.URL+w.callbackPath(p.checkoutID), callbackBody(p.checkoutID, "1032", "", 0)); a.status != http.StatusOK {
		t.Errorf("public callback = %d %q, want 200", a.status, a.body)
	}
}

// A probe hammering /readyz while Daraja refuses the credentials causes at
// most one token request a minute, not one per probe.
func TestReadyzAsksDarajaForATokenAtMostOnceAMinute(t *testing.T) {
	w := newWorld(t, options{})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := w.tg.WaitPolling(ctx); err != nil {
		t.Fatal(err)
	}
	w.sim.InjectFault(mpesatest.EndpointToken, mpesatest.Fault{Status: http.StatusBadRequest, Times: 100})
	for range 20 {
		if a := w.request(http.MethodGet, "/readyz", nil); a.status != http.StatusServiceUnavailable {
			t.Fatalf("/readyz = %d %q, want 503 while Daraja refuses the token", a.status, a.body)
		}
	}
	if n := len(w.sim.Requests(mpesatest.EndpointToken)); n > 1 {
		t.Errorf("token requests = %d for 20 probes, want at most 1", n)
	}
}

// idempotencyKey is the key of the /pay with message ID msg in chat chatID.
func idempotencyKey(chatID int64, msg int) string {
	return strconv.FormatInt(chatID, 10) + ":" + strconv.Itoa(msg)
}

// A group upgraded to a supergroup while a payment was pending: the outcome
// goes to the supergroup, once, whether the bot learns of the upgrade from a
// refused send or from the service message, and the payment moves with it.
func TestOutcomeFollowsAGroupUpgradedToASupergroup(t *testing.T) {
	for _, how := range []string{"RefusedSend", "ServiceMessage"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, options{})
			group := telegramtest.BasicGroupChat(4001, "Stall")
			const super = -1_000_000_004_001
			w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{ResultCode: "0", Manual: true, NoCallback: true})
			msg := w.say(group, customer, "/pay 0712345678 100 INV001")
			ack := w.awaitReply(group.ID, msg, "sent")
			key := idempotencyKey(group.ID, msg)
			if how == "RefusedSend" {
				w.tg.MigrateChat(group.ID, super)
			} else {
				w.tg.SendMigration(group, super, customer)
				w.eventually("the payment moved to the supergroup", func() bool {
					p, err := w.store.GetByIdempotencyKey(key)
					return err == nil && p.ChatID == super
				})
			}
			if err := w.sim.Complete(checkoutID(t, ack.Plain)); err != nil {
				t.Fatal(err)
			}
			w.await(super, "successful", "KES 100")
			w.stop()
			if n := w.count(super, "successful"); n != 1 {
				t.Errorf("%d outcomes in the supergroup, want 1:%s", n, w.transcript())
			}
			st, err := storage.Open(w.dbPath, storage.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			p, err := st.GetByIdempotencyKey(key)
			if err != nil {
				t.Fatal(err)
			}
			if p.ChatID != super || !p.Notified {
				t.Errorf("payment in chat %d notified %v, want moved to %d and notified", p.ChatID, p.Notified, int64(super))
			}
		})
	}
}

// The merchant feed's group became a supergroup: the feed follows it, and
// the operator is told at WARN the ID to put in MERCHANT_CHAT_ID.
func TestMerchantFeedFollowsItsGroupToASupergroup(t *testing.T) {
	feed := telegramtest.BasicGroupChat(5001, "Feed")
	const super = -1_000_000_005_001
	w := newWorld(t, options{cfg: func(c *bot.Config) { c.MerchantChatID = feed.ID }})
	w.tg.AddChat(feed)
	w.tg.MigrateChat(feed.ID, super)
	p := w.pay("/pay 0712345678 100 INV001")
	w.awaitOutcome(p.chat.ID, p.msg, p.ack, "successful")
	w.await(super, "Paid", "KES 100")
	w.stop()
	warned := false
	for _, line := range strings.Split(w.logs.String(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "MERCHANT_CHAT_ID") && strings.Contains(line, "new_chat_id=-1000000005001") {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no WARN line names MERCHANT_CHAT_ID and the new ID:\n%s", w.logs.String())
	}
}

// A result code that means the bot is set up wrong (SFC_IC0003: a till
// number sent as the shortcode) tells the merchant what to fix, in the feed
// and in their /status; the payer's message stays plain "failed".
func TestConfigurationResultCodesTellTheMerchantWhatToFix(t *testing.T) {
	w := newWorld(t, options{cfg: func(c *bot.Config) { c.MerchantChatID = shopGroup.ID }})
	w.tg.AddChat(shopGroup)
	w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{ResultCode: "SFC_IC0003"})
	p := w.pay("/pay 0712345678 100 INV001")
	out := w.awaitOutcome(p.chat.ID, p.msg, p.ack, "failed", "SFC_IC0003")
	if strings.Contains(out.Plain, "MPESA_SHORTCODE") {
		t.Errorf("the payer is shown the operator's fix: %q", out.Plain)
	}
	w.await(shopGroup.ID, "Not paid", "For the merchant", "MPESA_SHORTCODE", "MPESA_PARTY_B")
	mc := telegramtest.PrivateChat(merchant)
	status := w.say(mc, merchant, "/status "+p.checkoutID)
	w.awaitReply(mc.ID, status, "For the merchant", "MPESA_PARTY_B")
}

// Someone holding a payment's callback URL posts "cancelled" while the
// customer still has the PIN prompt (a "not paid" callback carries no amount
// or phone to check), then floods it with mismatched callbacks. The chat is
// told "cancelled", but the phone stays held and M-Pesa's query checks the
// result: when the customer pays, the payment is corrected to paid, and no
// second prompt was ever sent to the phone.
func TestForgedCancellationIsCheckedAndCorrectedWhenTheCustomerPays(t *testing.T) {
	w := newWorld(t, options{cfg: longInitialDelay})
	w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{ResultCode: "0", Manual: true, NoCallback: true})
	p := w.pay("/pay 0712345678 100 INV001")
	path := w.callbackPath(p.checkoutID)
	if a := w.post(path, callbackBody(p.checkoutID, "1032", "", 0)); a.status != http.StatusOK {
		t.Fatalf("forged cancellation: answer %d %q", a.status, a.body)
	}
	w.awaitOutcome(p.chat.ID, p.msg, p.ack, "cancelled")
	for range 25 {
		if a := w.post(path, callbackBody(p.checkoutID, "0", "FAKE000001", 1)); a.status != http.StatusBadRequest {
			t.Fatalf("mismatched callback: answer %d, want 400", a.status)
		}
	}
	again := w.say(p.chat, customer, "/pay 0712345678 100 INV002")
	w.awaitReply(p.chat.ID, again, "another")

	if err := w.sim.Complete(p.checkoutID); err != nil { // the customer enters the PIN
		t.Fatal(err)
	}
	w.awaitReply(p.chat.ID, p.msg, "correction", "successful", "KES 100")
	w.stop()
	if w.pushes() != 1 {
		t.Errorf("pushes = %d, want 1", w.pushes())
	}
	got := w.storedAfterStop(p.checkoutID)
	if got.State != storage.StateSucceeded || !got.Corrected || got.VerifyDue {
		t.Errorf("payment %s corrected %v owing a check %v; want succeeded, corrected, nothing owed", got.State, got.Corrected, got.VerifyDue)
	}
}

// The check of a contradicting "paid" survives a failed query: it is asked
// again until M-Pesa answers, and then the correction is told once.
func TestCheckOfAContradictingPaidSurvivesAFailedQuery(t *testing.T) {
	q := &queryOverride{}
	w := newWorld(t, options{wrap: func(d bot.Daraja) bot.Daraja { q.Daraja = d; return q }})
	w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{ResultCode: "1037", NoCallback: true})
	p := w.pay("/pay 0712345678 100 INV001")
	w.awaitOutcome(p.chat.ID, p.msg, p.ack, "timed out")
	w.awaitNotified(p.checkoutID)

	q.fail.Store(2)
	q.result.Store(&mpesa.QueryResult{ResponseCode: "0", ResultCode: "0", ResultDesc: "The service request is processed successfully."})
	if a := w.post(w.callbackPath(p.checkoutID), callbackBody(p.checkoutID, "0", "RCPT0PAID1", 100)); a.status != http.StatusOK {
		t.Fatalf("answer = %d %q, want 200", a.status, a.body)
	}
	w.awaitReply(p.chat.ID, p.msg, "correction", "successful", "RCPT0PAID1")
	w.stop()
	if n := w.countExcept(p.chat.ID, p.ack.MessageID, "correction"); n != 1 {
		t.Errorf("%d corrections, want 1:%s", n, w.transcript())
	}
	if got := q.fail.Load(); got >= 0 {
		t.Errorf("the failing queries were not all made (%d left): the test proves nothing", got+1)
	}
}

// A check owed when the bot stops is made after the restart.
func TestCheckOwedAtShutdownIsMadeAfterARestart(t *testing.T) {
	q := &queryOverride{}
	w := newWorld(t, options{cfg: longInitialDelay, wrap: func(d bot.Daraja) bot.Daraja { q.Daraja = d; return q }})
	w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{ResultCode: "0", Manual: true, NoCallback: true})
	p := w.pay("/pay 0712345678 100 INV001")
	q.fail.Store(1 << 20) // M-Pesa cannot be asked while this run lasts
	if a := w.post(w.callbackPath(p.checkoutID), callbackBody(p.checkoutID, "1032", "", 0)); a.status != http.StatusOK {
		t.Fatalf("answer %d %q", a.status, a.body)
	}
	w.awaitOutcome(p.chat.ID, p.msg, p.ack, "cancelled")
	w.stop()

	q.fail.Store(0)
	if err := w.sim.Complete(p.checkoutID); err != nil {
		t.Fatal(err)
	}
	w.start()
	w.awaitReply(p.chat.ID, p.msg, "correction", "successful")
}

// A forged "not paid" that arrives before the push answer is stored, naming
// a CheckoutRequestID of its own, must not take the payment over: the real
// push answer is still stored, and when the customer pays, M-Pesa's query
// corrects the payment.
func TestForgedCancellationBeforeThePushAnswerCannotNameThePayment(t *testing.T) {
	hold := &holdPush{answered: make(chan *mpesa.PushResponse, 1), release: make(chan struct{})}
	w := newWorld(t, options{cfg: longInitialDelay, wrap: func(d bot.Daraja) bot.Daraja { hold.Daraja = d; return hold }})
	release := sync.OnceFunc(func() { close(hold.release) })
	t.Cleanup(release)
	w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{ResultCode: "0", Manual: true, NoCallback: true})
	chat := telegramtest.PrivateChat(customer)
	msg := w.say(chat, customer, "/pay 0712345678 100 EARLY-1")
	var resp *mpesa.PushResponse
	select {
	case resp = <-hold.answered:
	case <-time.After(waitLimit):
		t.Fatal("no push reached the simulator")
	}
	var sent struct{ CallBackURL string }
	if err := json.Unmarshal(w.sim.Requests(mpesatest.EndpointPush)[0].Body, &sent); err != nil {
		t.Fatal(err)
	}
	if a := w.post(pathOf(t, sent.CallBackURL), callbackBody("ws_CO_forged00000000", "1032", "", 0)); a.status != http.StatusOK {
		t.Fatalf("forged cancellation: answer %d %q", a.status, a.body)
	}
	release()
	w.awaitReply(chat.ID, msg, "cancelled")
	w.eventually("the real push answer stored", func() bool {
		p, err := w.store.GetByIdempotencyKey(idempotencyKey(chat.ID, msg))
		return err == nil && p.CheckoutRequestID == resp.CheckoutRequestID
	})
	if err := w.sim.Complete(resp.CheckoutRequestID); err != nil {
		t.Fatal(err)
	}
	w.awaitReply(chat.ID, msg, "correction", "successful")
}
