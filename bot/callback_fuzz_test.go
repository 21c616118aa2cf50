package bot_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/bot"
	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// FuzzCallbackHandler posts arbitrary bodies to a real payment's callback
// URL. Whatever arrives, the receiver answers 200, 400 or 413 — never a 5xx,
// never a panic — and 200 (with Daraja's expected body) exactly for a
// readable callback that is this payment's: its CheckoutRequestID and, when it
// says "paid", its amount and phone in full.
func FuzzCallbackHandler(f *testing.F) {
	const checkout = "ws_CO_191220191020363925"
	for _, seed := range [][]byte{
		callbackBody(checkout, "0", "NLJ7RT61SV", 100),
		callbackBody(checkout, "1032", "", 0),
		callbackBody(checkout, "SFC_IC0003", "", 0),
		callbackBody("ws_CO_000000000000000000", "0", "NLJ7RT61SV", 100),
		[]byte(`{"Body":{"stkCallback":{"CheckoutRequestID":"` + checkout + `","ResultCode":"0"}}}`),
		[]byte(`{"Body":{"stkCallback":{"CheckoutRequestID":"` + checkout + `","ResultCode":null}}}`),
		[]byte(`{"Body":{"stkCallback":{"CheckoutRequestID":"` + checkout + `","ResultCode":4999}}}`),
		[]byte(`{"Body":{"stkCallback":null}}`),
		[]byte(`{"Body":`),
		[]byte(``),
		[]byte(`[]`),
		bytes.Repeat([]byte(" "), 64<<10+1),
	} {
		f.Add(seed)
	}

	sim := mpesatest.NewServer(f)
	daraja, err := mpesa.New(mpesa.Config{Environment: mpesa.Simulator, BaseURL: sim.URL})
	if err != nil {
		f.Fatal(err)
	}
	st, err := storage.Open(filepath.Join(f.TempDir(), "fuzz.db"), storage.Options{Timeout: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	const secret = "0123456789abcdef0123456789abcdef01234567"
	p, _, err := st.Create(storage.Payment{ChatID: customer.ID, UserID: customer.ID, MessageID: 1,
		IdempotencyKey: "1111111:1", Phone: "254712345678", Amount: 100, Reference: "FUZZ",
		Description: "Payment", CallbackSecret: secret}, storage.Limits{})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := st.RecordPush(p.ID, checkout, "m-1", time.Now().Add(time.Hour)); err != nil {
		f.Fatal(err)
	}
	b, err := bot.New(handlerConfig("https://bot.example.com/daraja/cb"), st, daraja)
	if err != nil {
		f.Fatal(err)
	}
	h, err := b.Handler(bot.HTTPOptions{})
	if err != nil {
		f.Fatal(err)
	}

	// ours reports whether body is a callback the payment must believe.
	ours := func(body []byte) bool {
		cb, err := mpesa.ParseCallback(body)
		if err != nil || cb.CheckoutRequestID != checkout {
			return false
		}
		return cb.Outcome() != mpesa.OutcomePaid || (cb.Amount == 100 && cb.Phone == "254712345678")
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/daraja/cb/"+secret, bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			if rec.Body.String() != acceptedAnswer {
				t.Errorf("200 with body %q, want %s", rec.Body.String(), acceptedAnswer)
			}
			if !ours(body) {
				t.Errorf("accepted a body that is not this payment's callback: %q", body)
			}
		case http.StatusBadRequest:
			if ours(body) {
				t.Errorf("refused this payment's readable callback %q", body)
			}
		case http.StatusRequestEntityTooLarge:
			if len(body) <= 64<<10 {
				t.Errorf("413 for a body of %d bytes", len(body))
			}
		default:
			t.Errorf("status %d for body %q", rec.Code, body)
		}
	})
}
