package bot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/mpesa-bot/mpesa-bot/bot"
	"github.com/mpesa-bot/mpesa-bot/bot/telegramtest"
	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// Helpers for the tests of the bot's HTTP side: callbacks, health, metrics,
// backup and the merchant feed.

// acceptedAnswer is the exact body Daraja expects from a callback receiver.
const acceptedAnswer = `{"ResultCode":0,"ResultDesc":"Accepted"}`

// handlerConfig is the configuration of a bot that only serves HTTP (its
// callbacks) in a test: Run is never called, so Telegram is never reached.
func handlerConfig(callbackURL string) bot.Config {
	return bot.Config{Token: "1:x", Endpoint: "http://127.0.0.1:1/bot%s/%s", CallbackURL: callbackURL,
		TransactionDesc: "Payment", MaxAmount: 250000,
		PollInitialDelay: time.Minute, PollInterval: time.Minute, PollTimeout: time.Hour}
}

// payment is one /pay as the chat saw it.
type payment struct {
	chat       *tgbotapi.Chat
	msg        int               // the /pay message
	ack        telegramtest.Sent // the bot's acknowledgement
	checkoutID string
}

// pay sends text as customer in a private chat and waits for the
// acknowledgement with the CheckoutRequestID.
func (w *world) pay(text string) payment {
	w.t.Helper()
	chat := telegramtest.PrivateChat(customer)
	msg := w.say(chat, customer, text)
	ack := w.awaitReply(chat.ID, msg, "sent", "ws_CO_")
	return payment{chat: chat, msg: msg, ack: ack, checkoutID: checkoutID(w.t, ack.Plain)}
}

// callbackURL is the CallBackURL the bot gave Daraja for checkoutID: the
// only place the payment's secret is known outside the bot.
func (w *world) callbackURL(checkoutID string) string {
	w.t.Helper()
	tx, ok := w.sim.Transaction(checkoutID)
	if !ok {
		w.t.Fatalf("the simulator has no transaction %s", checkoutID)
	}
	return tx.CallbackURL
}

// callbackPath is the path of checkoutID's CallBackURL on the bot's server.
func (w *world) callbackPath(checkoutID string) string {
	w.t.Helper()
	return pathOf(w.t, w.callbackURL(checkoutID))
}

func pathOf(t testing.TB, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("callback URL %q: %v", raw, err)
	}
	return u.Path
}

// secretOf is the last path segment of a CallBackURL.
func secretOf(t testing.TB, callbackURL string) string {
	t.Helper()
	s := path.Base(pathOf(t, callbackURL))
	if len(s) < 32 { // 128 bits in hex at least
		t.Fatalf("callback URL %q carries no secret of 128 bits or more", callbackURL)
	}
	return s
}

// answer is what the bot's HTTP server said.
type answer struct {
	status int
	header http.Header
	body   string
}

// request sends method path (on the bot's server) with body and returns the answer.
func (w *world) request(method, path string, body []byte, header ...string) answer {
	w.t.Helper()
	return doRequest(w.t, method, w.cb.URL+path, body, header...)
}

// post sends body to path on the bot's server.
func (w *world) post(path string, body []byte) answer {
	w.t.Helper()
	return w.request(http.MethodPost, path, body, "Content-Type", "application/json")
}

func doRequest(t testing.TB, method, target string, body []byte, header ...string) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, redactPath(target), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, redactPath(target), err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// redactPath keeps a callback secret out of test failure messages too.
func redactPath(target string) string {
	if i := strings.Index(target, "/daraja/cb/"); i >= 0 {
		return target[:i] + "/daraja/cb/…"
	}
	return target
}

// callbackBody is a result callback shaped like Daraja's: ResultCode a number
// when it is one, the metadata only when paid, paid from the tests' usual
// phone (0712345678).
func callbackBody(checkoutID, resultCode, receipt string, amount int64) []byte {
	return callbackBodyFrom(254712345678, checkoutID, resultCode, receipt, amount)
}

// callbackBodyFrom is callbackBody paid from phone.
func callbackBodyFrom(phone int64, checkoutID, resultCode, receipt string, amount int64) []byte {
	type item struct {
		Name  string `json:"Name"`
		Value any    `json:"Value,omitempty"`
	}
	cb := map[string]any{
		"MerchantRequestID": "29115-34620561-1",
		"CheckoutRequestID": checkoutID,
		"ResultDesc":        "result " + resultCode,
	}
	if n, err := strconv.Atoi(resultCode); err == nil {
		cb["ResultCode"] = n
	} else {
		cb["ResultCode"] = resultCode
	}
	if resultCode == "0" {
		cb["CallbackMetadata"] = map[string]any{"Item": []item{
			{Name: "Amount", Value: amount},
			{Name: "MpesaReceiptNumber", Value: receipt},
			{Name: "Balance"},
			{Name: "TransactionDate", Value: 20240607123045},
			{Name: "PhoneNumber", Value: phone},
		}}
	}
	b, err := json.Marshal(map[string]any{"Body": map[string]any{"stkCallback": cb}})
	if err != nil {
		panic(err)
	}
	return b
}

// storedAfterStop reads a payment from the database file once the bot has
// stopped: what the next start would find.
func (w *world) storedAfterStop(checkoutID string) storage.Payment {
	w.t.Helper()
	st, err := storage.Open(w.dbPath, storage.Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	defer st.Close()
	p, err := st.GetByCheckoutID(checkoutID)
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

// snapshot is what must not move when a callback is refused or ignored.
type snapshot struct {
	State      storage.State
	Receipt    string
	ResultCode string
	SettledBy  string
	UpdatedAt  time.Time
	Events     int
}

func (w *world) snapshot(checkoutID string) snapshot {
	w.t.Helper()
	p, err := w.store.GetByCheckoutID(checkoutID)
	if err != nil {
		w.t.Fatalf("payment %s: %v", checkoutID, err)
	}
	return snapshot{State: p.State, Receipt: p.Receipt, ResultCode: p.ResultCode, SettledBy: p.SettledBy,
		UpdatedAt: p.UpdatedAt, Events: len(p.History)}
}

// accessLine is one access log line of the bot's HTTP server.
type accessLine struct {
	method, route string
	status        int
}

var accessPattern = regexp.MustCompile(`msg="http request" method=(\S+) route=("[^"]*"|\S+) status=(\d+) duration=\S+`)

// accessLog returns the access log lines captured so far.
func (w *world) accessLog() []accessLine {
	var out []accessLine
	for _, line := range strings.Split(w.logs.String(), "\n") {
		m := accessPattern.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		route, err := strconv.Unquote(m[2])
		if err != nil {
			route = m[2]
		}
		status, _ := strconv.Atoi(m[3])
		out = append(out, accessLine{method: m[1], route: route, status: status})
	}
	return out
}

// awaitNotified waits until the store records that the chat was told about
// the payment's current state: the last write of a settled payment, after
// which nothing should change it.
func (w *world) awaitNotified(checkoutID string) {
	w.t.Helper()
	w.eventually("payment "+checkoutID+" marked notified", func() bool {
		p, err := w.store.GetByCheckoutID(checkoutID)
		return err == nil && p.Notified
	})
}

// awaitCallbackAttempts waits until the simulator has recorded n callback
// attempts (it records one once the bot has answered it, which may be after
// the bot already told the chat) and returns them.
func (w *world) awaitCallbackAttempts(n int) []mpesatest.CallbackAttempt {
	w.t.Helper()
	var cbs []mpesatest.CallbackAttempt
	w.eventually(fmt.Sprintf("%d callback attempts", n), func() bool {
		cbs = w.sim.Callbacks()
		return len(cbs) >= n
	})
	return cbs
}
