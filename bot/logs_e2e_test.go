package bot_test

import (
	"encoding/json"
	"net/http"
	"path"
	"strings"
	"testing"

	"github.com/mpesa-bot/mpesa-bot/bot/telegramtest"
	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
)

// The captured DEBUG log of a busy session — payments by callback and by
// query, a refused push, a not-confirmed one, commands, a Telegram outage and
// bad callbacks — never holds the bot token, the consumer secret, the
// passkey, a callback secret or a full phone number.
func TestLogsNeverShowSecrets(t *testing.T) {
	w := newWorld(t, options{})
	pc := telegramtest.PrivateChat(customer)
	w.sim.SetPhoneOutcome("254712345670", mpesatest.Outcome{ResultCode: "1032", NoCallback: true})
	for _, text := range []string{"/pay 0712345678 100 A", "/pay 0712345670 100 B", "/pay 0712345677 100 C"} {
		m := w.say(pc, customer, text)
		w.awaitReply(pc.ID, m, "payment")
	}
	w.await(pc.ID, "successful")
	w.await(pc.ID, "cancelled")
	w.await(pc.ID, "not sent")

	ac := telegramtest.PrivateChat(admin)
	m := w.say(ac, admin, "/envinfo")
	w.awaitReply(ac.ID, m, "simulator")
	m = w.say(ac, admin, "/status")
	w.awaitReply(ac.ID, m, "payments")

	for _, body := range []string{"{not json", `{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_other","ResultCode":0}}}`} {
		for _, secret := range append(callbackSecrets(t, w), "0123456789abcdef0123456789abcdef01234567") {
			resp, err := http.Post(w.cb.URL+"/daraja/cb/"+secret, "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	w.tg.FailNext("sendMessage", telegramtest.Fault{Status: 502, HTML: true})
	m = w.say(pc, customer, "/help")
	w.awaitReply(pc.ID, m, "/pay")
	w.stop()

	logs := w.logs.String()
	forbidden := map[string]string{
		"bot token":       w.tg.Token(),
		"token secret":    strings.SplitN(w.tg.Token(), ":", 2)[1],
		"consumer secret": "consumer-secret-do-not-log",
		"passkey":         mpesa.SandboxPasskey,
		"full phone":      "712345678",
		"full phone 2":    "712345670",
	}
	for i, s := range callbackSecrets(t, w) {
		forbidden["callback secret "+string(rune('A'+i))] = s
	}
	for what, s := range forbidden {
		if strings.Contains(logs, s) {
			t.Errorf("the log shows the %s", what)
		}
	}
	if !strings.Contains(logs, "level=DEBUG") || !strings.Contains(logs, "*********678") {
		t.Error("no DEBUG payloads or masked phones were logged: the test proves nothing")
	}
}

// callbackSecrets are the secrets of every CallBackURL the bot sent.
func callbackSecrets(t *testing.T, w *world) []string {
	t.Helper()
	var out []string
	for _, r := range w.sim.Requests(mpesatest.EndpointPush) {
		var body struct{ CallBackURL string }
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		out = append(out, path.Base(body.CallBackURL))
	}
	if len(out) == 0 {
		t.Fatal("no push recorded")
	}
	return out
}
