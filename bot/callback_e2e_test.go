package bot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/bot"
	"github.com/mpesa-bot/mpesa-bot/bot/telegramtest"
	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// longInitialDelay keeps the watcher's first query far away, so only a
// callback can settle a payment while a test runs.
func longInitialDelay(c *bot.Config) { c.PollInitialDelay = 10 * time.Second }

// A payment the simulator calls back for is settled by the callback alone:
// the customer hears "successful" with the amount and the M-Pesa receipt, and
// Daraja is never asked with an STK Query.
func TestCallbackSettlesPaymentWithoutAQuery(t *testing.T) {
	t.Parallel()
	w := newWorld(t, options{cfg: longInitialDelay})
	p := w.pay("/pay 0712345678 1500 INV001")

	out := w.awaitOutcome(p.chat.ID, p.msg, p.ack, "successful")
	tx, _ := w.sim.Transaction(p.checkoutID)
	if tx.Receipt == "" {
		t.Fatalf("the simulator paid without a receipt: %+v", tx)
	}
	if !containsAll(out.Plain, "KES 1,500", tx.Receipt) {
		t.Errorf("outcome %q lacks the amount or the receipt %s", out.Plain, tx.Receipt)
	}
	if s := w.snapshot(p.checkoutID); s.State != storage.StateSucceeded || s.SettledBy != "callback" || s.Receipt != tx.Receipt {
		t.Errorf("stored payment = %+v, want succeeded by callback with receipt %s", s, tx.Receipt)
	}
	if cbs := w.awaitCallbackAttempts(1); len(cbs) != 1 || cbs[0].Status != http.StatusOK {
		t.Errorf("callback attempts = %+v, want one answered 200", cbs)
	}
	w.stopWantOneOutcome(p.chat.ID, p.ack, "successful")
	if q := len(w.sim.Requests(mpesatest.EndpointQuery)); q != 0 {
		t.Errorf("STK Queries = %d, want 0: the callback settled the payment", q)
	}
}

// Whatever is not this payment's callback is refused with the status the
// issue names, and leaves the payment exactly as it was; the real callback
// afterwards is accepted with Daraja's expected answer.
func TestCallbackRejections(t *testing.T) {
	t.Parallel()
	w := newWorld(t, options{cfg: longInitialDelay})
	w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{Manual: true, NoCallback: true})
	p := w.pay("/pay 0712345678 100 INV001")
	cbPath := w.callbackPath(p.checkoutID)
	valid := callbackBody(p.checkoutID, "0", "NLJ7RT61SV", 100)
	other := callbackBody("ws_CO_191220191020363925", "0", "NLJ7RT61SV", 100)
	before := w.snapshot(p.checkoutID)

	cases := []struct {
		name   string
		method string
		path   string
		body   []byte
		status int
		// audited: not this payment's callback, so not believed, and one
		// bounded audit event records it; nothing else changes.
		audited bool
	}{
		{"UnknownSecretIs404", http.MethodPost, "/daraja/cb/" + strings.Repeat("0f", 20), valid, http.StatusNotFound, false},
		{"MissingSecretIs404", http.MethodPost, "/daraja/cb/", valid, http.StatusNotFound, false},
		{"SecretWithAnExtraSegmentIs404", http.MethodPost, cbPath + "/x", valid, http.StatusNotFound, false},
		{"MalformedJSONIs400", http.MethodPost, cbPath, []byte(`{"Body":{"stkCallback":`), http.StatusBadRequest, false},
		{"EmptyBodyIs400", http.MethodPost, cbPath, []byte{}, http.StatusBadRequest, false},
		{"JSONThatIsNoCallbackIs400", http.MethodPost, cbPath, []byte(`{"ResultCode":0,"ResultDesc":"Accepted"}`), http.StatusBadRequest, false},
		{"CallbackWithoutResultCodeIs400", http.MethodPost, cbPath,
			[]byte(`{"Body":{"stkCallback":{"CheckoutRequestID":"` + p.checkoutID + `","ResultDesc":"x"}}}`), http.StatusBadRequest, false},
		{"BodyOver64KiBIs413", http.MethodPost, cbPath, padTo(valid, 64<<10+1), http.StatusRequestEntityTooLarge, false},
		{"BodyOfExactly64KiBIsReadThenJudged", http.MethodPost, cbPath, padTo(other, 64<<10), http.StatusBadRequest, true},
		{"OtherCheckoutRequestIDIs400", http.MethodPost, cbPath, other, http.StatusBadRequest, true},
		{"OtherAmountIs400", http.MethodPost, cbPath, callbackBody(p.checkoutID, "0", "NLJ7RT61SV", 1), http.StatusBadRequest, true},
		{"GetIs405", http.MethodGet, cbPath, nil, http.StatusMethodNotAllowed, false},
		{"PutIs405", http.MethodPut, cbPath, valid, http.StatusMethodNotAllowed, false},
		{"DeleteIs405", http.MethodDelete, cbPath, nil, http.StatusMethodNotAllowed, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prev := w.snapshot(p.checkoutID)
			a := w.request(c.method, c.path, c.body, "Content-Type", "application/json")
			if a.status != c.status {
				t.Errorf("status = %d, want %d (body %q)", a.status, c.status, a.body)
			}
			if c.status == http.StatusMethodNotAllowed && a.header.Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q, want POST", a.header.Get("Allow"))
			}
			if a.body == acceptedAnswer {
				t.Errorf("a refused callback was answered %s", acceptedAnswer)
			}
			after := w.snapshot(p.checkoutID)
			if c.audited {
				if after.Events != prev.Events+1 {
					t.Errorf("%d audit events added, want 1", after.Events-prev.Events)
				}
				after.Events, after.UpdatedAt = prev.Events, prev.UpdatedAt
			}
			if after != prev {
				t.Errorf("the payment changed:\nbefore %+v\nafter  %+v", prev, after)
			}
			if after.State != before.State || after.Receipt != before.Receipt {
				t.Errorf("the result changed:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}

	t.Run("ItsOwnCallbackIsAccepted", func(t *testing.T) {
		a := w.post(cbPath, valid)
		if a.status != http.StatusOK || a.body != acceptedAnswer {
			t.Errorf("answer = %d %q, want 200 %s", a.status, a.body, acceptedAnswer)
		}
		if ct := a.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q, want application/json", ct)
		}
		w.awaitOutcome(p.chat.ID, p.msg, p.ack, "successful", "NLJ7RT61SV", "KES 100")
	})
	w.stopWantOneOutcome(p.chat.ID, p.ack, "successful")
}

// padTo adds JSON whitespace to body until it is n bytes long.
func padTo(body []byte, n int) []byte {
	return append(bytes.Clone(body), bytes.Repeat([]byte(" "), n-len(body))...)
}

// A result is final. Daraja retrying a callback, or a contradicting one
// arriving late, is answered 200 (so Daraja stops) and changes nothing:
// whether the payment was settled by a callback or by a query first. A
// retry leaves no trace; a contradiction is recorded in the audit trail.
func TestDuplicateAndLateCallbacksChangeNothing(t *testing.T) {
	for _, first := range []string{"callback", "query"} {
		t.Run("SettledBy"+first, func(t *testing.T) {
			t.Parallel()
			o := options{cfg: longInitialDelay}
			if first == "query" {
				o.cfg = nil // the harness's short POLL_INITIAL_DELAY: the watcher settles it
			}
			w := newWorld(t, o)
			if first == "query" {
				w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{ResultCode: "0", NoCallback: true})
			}
			p := w.pay("/pay 0712345678 100 INV001")
			w.awaitOutcome(p.chat.ID, p.msg, p.ack, "successful")
			cbPath := w.callbackPath(p.checkoutID)
			tx, _ := w.sim.Transaction(p.checkoutID)
			paid := callbackBody(p.checkoutID, "0", tx.Receipt, 100)
			if first == "callback" {
				cbs := w.awaitCallbackAttempts(1)
				if len(cbs) != 1 {
					t.Fatalf("callback attempts = %d, want 1", len(cbs))
				}
				paid = cbs[0].Body // exactly what Daraja sent
			}
			w.awaitNotified(p.checkoutID)
			before := w.snapshot(p.checkoutID)
			if before.SettledBy != first {
				t.Fatalf("settled by %q, want %q", before.SettledBy, first)
			}

			if first == "query" {
				// A query has no receipt: the callback that follows brings it,
				// and only that is stored.
				a := w.post(cbPath, paid)
				if a.status != http.StatusOK || a.body != acceptedAnswer {
					t.Fatalf("answer = %d %q, want 200 %s", a.status, a.body, acceptedAnswer)
				}
				before.Receipt, before.Events = tx.Receipt, before.Events+1
				if after := w.snapshot(p.checkoutID); after.Receipt != tx.Receipt || after.Events != before.Events {
					t.Fatalf("after the callback: %+v, want the receipt %s added with one event", after, tx.Receipt)
				}
			}
			for _, c := range []struct {
				name     string
				body     []byte
				conflict bool // contradicts the result: recorded in the audit trail, the result stays
			}{
				{"SameCallbackAgain", paid, false},
				{"SameCallbackThirdTime", paid, false},
				{"CancelledAfterPaid", callbackBody(p.checkoutID, "1032", "", 0), true},
				{"UnknownCodeAfterPaid", callbackBody(p.checkoutID, "SFC_IC0003", "", 0), true},
			} {
				t.Run(c.name+"Is200AndChangesNothing", func(t *testing.T) {
					prev := w.snapshot(p.checkoutID)
					a := w.post(cbPath, c.body)
					if a.status != http.StatusOK || a.body != acceptedAnswer {
						t.Errorf("answer = %d %q, want 200 %s", a.status, a.body, acceptedAnswer)
					}
					after := w.snapshot(p.checkoutID)
					if !c.conflict && after != prev {
						t.Errorf("the payment changed:\nbefore %+v\nafter  %+v", prev, after)
					}
					if after.State != before.State || after.Receipt != before.Receipt || after.ResultCode != before.ResultCode || after.SettledBy != before.SettledBy {
						t.Errorf("the result changed:\nbefore %+v\nafter  %+v", before, after)
					}
					if c.conflict && after.Events != prev.Events+1 {
						t.Errorf("a contradicting callback added %d audit events, want 1", after.Events-prev.Events)
					}
				})
			}
			w.stopWantOneOutcome(p.chat.ID, p.ack, "successful")
			for _, word := range []string{"cancelled", "failed"} {
				if n := w.count(p.chat.ID, word); n != 0 {
					t.Errorf("%d messages say %q after a paid result:%s", n, word, w.transcript())
				}
			}
		})
	}
}

// holdPush lets the simulator answer a push but keeps the answer from the bot
// until released: the bot has not stored the CheckoutRequestID yet.
type holdPush struct {
	bot.Daraja
	answered chan *mpesa.PushResponse
	release  chan struct{}
}

func (h *holdPush) Push(ctx context.Context, req mpesa.PushRequest) (*mpesa.PushResponse, error) {
	resp, err := h.Daraja.Push(ctx, req)
	if err != nil {
		return resp, err
	}
	h.answered <- resp
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return resp, err
}

// Daraja can call back before the bot has stored the push answer (the answer
// was slow, the callback fast). The secret in the URL still finds the
// payment: it settles correctly, the chat hears the acknowledgement first and
// then exactly one outcome.
func TestCallbackBeforeThePushAnswerIsStored(t *testing.T) {
	cases := []struct {
		name    string
		code    string
		state   storage.State
		words   []string
		receipt string
	}{
		{"PaidSettlesWithReceipt", "0", storage.StateSucceeded, []string{"successful", "KES 100", "NLJ7RT61SV"}, "NLJ7RT61SV"},
		{"CancelledSettlesAsCancelled", "1032", storage.StateFailed, []string{"cancelled"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			hold := &holdPush{answered: make(chan *mpesa.PushResponse, 1), release: make(chan struct{})}
			w := newWorld(t, options{cfg: longInitialDelay, wrap: func(d bot.Daraja) bot.Daraja {
				hold.Daraja = d
				return hold
			}})
			release := sync.OnceFunc(func() { close(hold.release) })
			t.Cleanup(release) // runs before the world stops
			w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{Manual: true, NoCallback: true})
			chat := telegramtest.PrivateChat(customer)
			msg := w.say(chat, customer, "/pay 0712345678 100 EARLY-1")

			var resp *mpesa.PushResponse
			select {
			case resp = <-hold.answered:
			case <-time.After(waitLimit):
				t.Fatal("no push reached the simulator")
			}
			pushes := w.sim.Requests(mpesatest.EndpointPush)
			if len(pushes) != 1 {
				t.Fatalf("pushes = %d, want 1", len(pushes))
			}
			var sent struct{ CallBackURL string }
			if err := json.Unmarshal(pushes[0].Body, &sent); err != nil {
				t.Fatal(err)
			}
			key := fmt.Sprintf("%d:%d", chat.ID, msg)
			if p, err := w.store.GetByIdempotencyKey(key); err != nil || p.State != storage.StateInitiating || p.CheckoutRequestID != "" {
				t.Fatalf("before the callback the payment is %v (%v); want initiating without a CheckoutRequestID", p, err)
			}

			a := w.post(pathOf(t, sent.CallBackURL), callbackBody(resp.CheckoutRequestID, c.code, c.receipt, 100))
			if a.status != http.StatusOK || a.body != acceptedAnswer {
				t.Fatalf("answer = %d %q, want 200 %s", a.status, a.body, acceptedAnswer)
			}
			release()

			ack := w.awaitReply(chat.ID, msg, "sent", resp.CheckoutRequestID)
			out := w.awaitOutcome(chat.ID, msg, ack, c.words...)
			if out.MessageID < ack.MessageID {
				t.Errorf("the outcome (message %d) came before the acknowledgement (message %d)", out.MessageID, ack.MessageID)
			}
			p, err := w.store.GetByIdempotencyKey(key)
			if err != nil {
				t.Fatal(err)
			}
			if p.State != c.state || p.SettledBy != "callback" || p.Receipt != c.receipt ||
				p.CheckoutRequestID != resp.CheckoutRequestID || p.MerchantRequestID != resp.MerchantRequestID {
				t.Errorf("stored %v settled by %q, receipt %q, merchant request %q; want %s by callback, receipt %q, IDs of the push answer",
					p, p.SettledBy, p.Receipt, p.MerchantRequestID, c.state, c.receipt)
			}
			w.stopWantOneOutcome(chat.ID, ack, c.words...)
			if len(w.tg.SentTo(chat.ID)) != 2 {
				t.Errorf("messages to the chat = %d, want the acknowledgement and the outcome:%s", len(w.tg.SentTo(chat.ID)), w.transcript())
			}
			// A "paid" callback matched the payment: no query. A "not paid"
			// one carries nothing to match, so M-Pesa's query confirms it.
			if q := len(w.sim.Requests(mpesatest.EndpointQuery)); c.state == storage.StateSucceeded && q != 0 {
				t.Errorf("STK Queries = %d, want 0", q)
			}
		})
	}
}

// holdQuery holds the first STK Query the bot makes until released, reports
// every query's CheckoutRequestID as it starts, and hands over the held
// query's answer.
type holdQuery struct {
	bot.Daraja
	first    sync.Once
	started  chan string
	release  chan struct{}
	answered chan *mpesa.QueryResult
}

func (h *holdQuery) Query(ctx context.Context, checkoutID string) (*mpesa.QueryResult, error) {
	select {
	case h.started <- checkoutID:
	default: // nobody is counting any more
	}
	held := false
	h.first.Do(func() { held = true })
	if !held {
		return h.Daraja.Query(ctx, checkoutID)
	}
	select {
	case <-h.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	res, err := h.Daraja.Query(ctx, checkoutID)
	if err == nil {
		h.answered <- res
	}
	return res, err
}

// awaitQuery waits until a query for checkoutID starts.
func (h *holdQuery) awaitQuery(t *testing.T, checkoutID string) {
	t.Helper()
	timeout := time.After(waitLimit)
	for {
		select {
		case id := <-h.started:
			if id == checkoutID {
				return
			}
		case <-timeout:
			t.Fatalf("no STK Query for %s", checkoutID)
		}
	}
}

// A callback settles a payment while the watcher's query of it is on its way;
// the query then answers the same final result. Nothing is lost (the receipt
// stays, the payment stays settled by the callback) and the chat hears one
// outcome.
func TestCallbackThenQueryAnswerSendsOneMessage(t *testing.T) {
	t.Parallel()
	hq := &holdQuery{started: make(chan string, 1024), release: make(chan struct{}), answered: make(chan *mpesa.QueryResult, 1)}
	w := newWorld(t, options{
		cfg: func(c *bot.Config) {
			c.QueryWorkers = 1 // so a later payment's query starts only once the held answer was handled
			c.PollInitialDelay = 50 * time.Millisecond
			c.PollTimeout = time.Minute
		},
		wrap: func(d bot.Daraja) bot.Daraja { hq.Daraja = d; return hq },
	})
	release := sync.OnceFunc(func() { close(hq.release) })
	t.Cleanup(release) // runs before the world stops
	w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{Manual: true, NoCallback: true})
	w.sim.SetPhoneOutcome("254712345670", mpesatest.Outcome{Manual: true, NoCallback: true})

	// The prompt is open and the watcher's first query of it is held.
	p := w.pay("/pay 0712345678 100 INV001")
	hq.awaitQuery(t, p.checkoutID)

	// The customer pays; Daraja calls back before the query is answered.
	if err := w.sim.Complete(p.checkoutID); err != nil {
		t.Fatal(err)
	}
	tx, _ := w.sim.Transaction(p.checkoutID)
	a := w.post(w.callbackPath(p.checkoutID), callbackBody(p.checkoutID, "0", tx.Receipt, 100))
	if a.status != http.StatusOK || a.body != acceptedAnswer {
		t.Fatalf("answer = %d %q, want 200 %s", a.status, a.body, acceptedAnswer)
	}
	w.awaitOutcome(p.chat.ID, p.msg, p.ack, "successful", tx.Receipt)

	// Now the query answers: paid, without a receipt.
	release()
	select {
	case res := <-hq.answered:
		if res.Pending || res.ResultCode != "0" {
			t.Fatalf("the held query answered %+v, want the final paid result", res)
		}
	case <-time.After(waitLimit):
		t.Fatal("the held query did not answer")
	}
	// With one query worker, another payment's query starting proves the
	// bot has finished with that answer.
	other := telegramtest.PrivateChat(stranger)
	otherMsg := w.say(other, stranger, "/pay 0712345670 50 OTHER")
	otherID := checkoutID(t, w.awaitReply(other.ID, otherMsg, "sent", "ws_CO_").Plain)
	hq.awaitQuery(t, otherID)

	if s := w.snapshot(p.checkoutID); s.State != storage.StateSucceeded || s.SettledBy != "callback" || s.Receipt != tx.Receipt {
		t.Errorf("stored payment = %+v, want succeeded by callback with receipt %s", s, tx.Receipt)
	}
	w.stopWantOneOutcome(p.chat.ID, p.ack, "successful")
	if n := len(w.tg.SentTo(p.chat.ID)); n != 2 {
		t.Errorf("messages to the chat = %d, want the acknowledgement and one outcome:%s", n, w.transcript())
	}
}

// Daraja's retries can overlap: the same callback arriving several times at
// once is accepted every time and settles the payment once, with one message.
func TestConcurrentDuplicateCallbacksSettleOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t, options{cfg: longInitialDelay})
	w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{Manual: true, NoCallback: true})
	p := w.pay("/pay 0712345678 100 INV001")
	cbPath := w.callbackPath(p.checkoutID)
	body := callbackBody(p.checkoutID, "0", "NLJ7RT61SV", 100)

	const copies = 8
	answers := make(chan answer, copies)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range copies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			answers <- doRequestNoFatal(w.cb.URL+cbPath, body)
		}()
	}
	close(start)
	wg.Wait()
	close(answers)
	for a := range answers {
		if a.status != http.StatusOK || a.body != acceptedAnswer {
			t.Errorf("answer = %d %q, want 200 %s", a.status, a.body, acceptedAnswer)
		}
	}
	w.awaitOutcome(p.chat.ID, p.msg, p.ack, "successful", "NLJ7RT61SV")
	w.awaitNotified(p.checkoutID)
	pay, err := w.store.GetByCheckoutID(p.checkoutID)
	if err != nil {
		t.Fatal(err)
	}
	settles := 0
	for _, ev := range pay.History {
		if ev.Type == "settled" {
			settles++
		}
	}
	if settles != 1 {
		t.Errorf("%d settled events in the history, want 1: %+v", settles, pay.History)
	}
	w.stopWantOneOutcome(p.chat.ID, p.ack, "successful")
}

// doRequestNoFatal posts body to target from any goroutine; a transport
// error comes back as status 0.
func doRequestNoFatal(target string, body []byte) answer {
	resp, err := http.Post(target, "application/json", bytes.NewReader(body))
	if err != nil {
		return answer{body: err.Error()}
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b.String()}
}
