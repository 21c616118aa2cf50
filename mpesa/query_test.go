package mpesa_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/mpesa/testkit"
)

const (
	pending500  = `{"requestId":"ws_CO_191220191020363925","errorCode":"500.001.1001","errorMessage":"The transaction is being processed"}`
	pending4999 = `{"ResultCode":"4999","ResultDesc":"The transaction is still under processing"}`
)

func finalAnswer(code, desc string) string {
	return `{"ResponseCode":"0","ResponseDescription":"The service request has been accepted successsfully","MerchantRequestID":"22205-34066-1","CheckoutRequestID":"` +
		testCheckout + `","ResultCode":"` + code + `","ResultDesc":"` + desc + `"}`
}

func TestQuery(t *testing.T) {
	t.Run("SendsTheReferenceRequest", func(t *testing.T) {
		f := newFakeDaraja(t)
		c := mustNew(t, testConfig(f.URL))
		if _, err := c.Query(testCtx(t), testCheckout); err != nil {
			t.Fatal(err)
		}
		q := f.calls(mpesa.PathSTKQuery)
		if len(q) != 1 || q[0].Method != http.MethodPost || !strings.HasPrefix(q[0].Header.Get("Authorization"), "Bearer ") {
			t.Fatalf("queries %+v", q)
		}
		body := decodeBody(t, q[0].Body)
		want := map[string]any{
			"BusinessShortCode": json.Number("174379"),
			"Password":          sandboxPassword,
			"Timestamp":         "20240607123045",
			"CheckoutRequestID": testCheckout,
		}
		for k, v := range want {
			if body[k] != v {
				t.Errorf("%s = %#v, want %#v", k, body[k], v)
			}
		}
		if len(body) != len(want) {
			t.Errorf("body %v has extra fields", body)
		}
	})

	for _, tc := range []struct {
		name, code string
		outcome    mpesa.Outcome
	}{
		{"ReturnsPaid", "0", mpesa.OutcomePaid},
		{"ReturnsCancelled", "1032", mpesa.OutcomeCancelled},
		{"ReturnsTimedOut", "1037", mpesa.OutcomeTimedOut},
		{"ReturnsOperatorDoesNotExistAsFailed", "SFC_IC0003", mpesa.OutcomeFailed},
		{"ReturnsUnknownCodeAsUnknown", "E9999", mpesa.OutcomeUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDaraja(t)
			f.onQuery(answer(200, finalAnswer(tc.code, "whatever the text says")))
			c := mustNew(t, testConfig(f.URL))
			res, err := c.Query(testCtx(t), testCheckout)
			if err != nil {
				t.Fatal(err)
			}
			if res.Pending || res.ResultCode != tc.code || res.Outcome() != tc.outcome || res.CheckoutRequestID != testCheckout ||
				res.MerchantRequestID != "22205-34066-1" || res.ResponseCode != "0" {
				t.Fatalf("result %+v, outcome %v", res, res.Outcome())
			}
		})
	}

	t.Run("ReadsANumericResultCodeAsText", func(t *testing.T) {
		f := newFakeDaraja(t)
		f.onQuery(answer(200, `{"ResponseCode":0,"CheckoutRequestID":"`+testCheckout+`","ResultCode":1032,"ResultDesc":"Request cancelled by user"}`))
		c := mustNew(t, testConfig(f.URL))
		res, err := c.Query(testCtx(t), testCheckout)
		if err != nil || res.ResultCode != "1032" || res.Outcome() != mpesa.OutcomeCancelled {
			t.Fatalf("Query = %+v, %v", res, err)
		}
	})

	t.Run("NeverDecidesOnTheDescription", func(t *testing.T) {
		f := newFakeDaraja(t)
		f.onQuery(answer(200, finalAnswer("1032", "The service request is processed successfully.")))
		c := mustNew(t, testConfig(f.URL))
		res, err := c.Query(testCtx(t), testCheckout)
		if err != nil || res.Outcome() != mpesa.OutcomeCancelled {
			t.Fatalf("a cancelled code with a success text gave %v, %v", res.Outcome(), err)
		}
	})
}

func TestQuery_PendingShapes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"HTTP500BeingProcessed", answer(500, pending500)},
		{"HTTP200ResultCode4999", answer(200, pending4999)},
	} {
		t.Run(tc.name+"IsPendingAndNotRetried", func(t *testing.T) {
			f := newFakeDaraja(t)
			f.onQuery(tc.handler)
			c := mustNew(t, testConfig(f.URL))
			res, err := c.Query(testCtx(t), testCheckout)
			if err != nil {
				t.Fatalf("pending answer gave an error: %v", err)
			}
			if !res.Pending || res.Outcome() != mpesa.OutcomePending || res.CheckoutRequestID != testCheckout {
				t.Fatalf("result %+v, want pending", res)
			}
			if n := len(f.calls(mpesa.PathSTKQuery)); n != 1 {
				t.Fatalf("%d queries, want 1: pending stops the retries at once", n)
			}
		})
	}
}

func TestQuery_Retries(t *testing.T) {
	t.Run("RetriesOn503ThenAnswers", func(t *testing.T) {
		f := newFakeDaraja(t)
		f.onQuery(sequence(answerHTML(503), answer(503, ``), answer(200, finalAnswer("0", "ok"))))
		c := mustNew(t, testConfig(f.URL))
		res, err := c.Query(testCtx(t), testCheckout)
		if err != nil || res.Outcome() != mpesa.OutcomePaid {
			t.Fatalf("Query = %+v, %v", res, err)
		}
		if n := len(f.calls(mpesa.PathSTKQuery)); n != 3 {
			t.Fatalf("%d queries, want 3", n)
		}
	})

	t.Run("RetriesOn503ThenStopsAtPending", func(t *testing.T) {
		for _, pending := range []http.HandlerFunc{answer(500, pending500), answer(200, pending4999)} {
			f := newFakeDaraja(t)
			f.onQuery(sequence(answer(503, ``), pending, answer(200, finalAnswer("0", "ok"))))
			cfg := testConfig(f.URL)
			cfg.RetryMax = 5
			c := mustNew(t, cfg)
			res, err := c.Query(testCtx(t), testCheckout)
			if err != nil || !res.Pending {
				t.Fatalf("Query = %+v, %v; want pending", res, err)
			}
			if n := len(f.calls(mpesa.PathSTKQuery)); n != 2 {
				t.Fatalf("%d queries, want 2 (503, then pending)", n)
			}
		}
	})

	for _, status := range []int{408, 429, 500, 502, 504} {
		t.Run("RetriesOnHTTP"+http.StatusText(status), func(t *testing.T) {
			f := newFakeDaraja(t)
			f.onQuery(sequence(answer(status, ``), answer(200, finalAnswer("0", "ok"))))
			c := mustNew(t, testConfig(f.URL))
			if _, err := c.Query(testCtx(t), testCheckout); err != nil {
				t.Fatal(err)
			}
			if n := len(f.calls(mpesa.PathSTKQuery)); n != 2 {
				t.Fatalf("%d queries, want 2", n)
			}
		})
	}

	t.Run("RetriesACutOffAnswer", func(t *testing.T) {
		f := newFakeDaraja(t)
		f.onQuery(sequence(cutOff(200), answer(200, finalAnswer("0", "ok"))))
		c := mustNew(t, testConfig(f.URL))
		if _, err := c.Query(testCtx(t), testCheckout); err != nil {
			t.Fatal(err)
		}
		if n := len(f.calls(mpesa.PathSTKQuery)); n != 2 {
			t.Fatalf("%d queries, want 2", n)
		}
	})

	t.Run("GivesUpAfterRetryMaxKeepingTheStatus", func(t *testing.T) {
		f := newFakeDaraja(t)
		f.onQuery(answerHTML(503))
		c := mustNew(t, testConfig(f.URL))
		_, err := c.Query(testCtx(t), testCheckout)
		var qerr *mpesa.QueryError
		var base *mpesa.Error
		if !errors.As(err, &qerr) || !errors.As(err, &base) || base.StatusCode != 503 {
			t.Fatalf("error %v: want a QueryError with HTTP 503", err)
		}
		if strings.Contains(err.Error(), "<html") {
			t.Fatalf("error shows the raw HTML: %q", err)
		}
		if n := len(f.calls(mpesa.PathSTKQuery)); n != 3 {
			t.Fatalf("%d queries, want RetryMax+1 = 3", n)
		}
	})

	t.Run("SpikeArrestIsRetriedAndThrottled", func(t *testing.T) {
		f := newFakeDaraja(t)
		f.onQuery(answer(500, `{"requestId":"r","errorCode":"500.003.02","errorMessage":"Error Occurred: Spike Arrest Violation"}`))
		c := mustNew(t, testConfig(f.URL))
		_, err := c.Query(testCtx(t), testCheckout)
		if !mpesa.IsThrottled(err) {
			t.Fatalf("error %v is not throttled", err)
		}
		var base *mpesa.Error
		if !errors.As(err, &base) || base.Code != "500.003.02" || base.RequestID != "r" {
			t.Fatalf("error fields %+v", base)
		}
		if n := len(f.calls(mpesa.PathSTKQuery)); n != 3 {
			t.Fatalf("%d queries, want 3", n)
		}
	})

	t.Run("DoesNotRetryAClientError", func(t *testing.T) {
		f := newFakeDaraja(t)
		f.onQuery(answer(400, `{"requestId":"r","errorCode":"400.002.02","errorMessage":"Bad Request - Invalid CheckoutRequestID"}`))
		c := mustNew(t, testConfig(f.URL))
		_, err := c.Query(testCtx(t), testCheckout)
		var qerr *mpesa.QueryError
		var base *mpesa.Error
		if !errors.As(err, &qerr) || !errors.As(err, &base) || base.Code != "400.002.02" || base.StatusCode != 400 {
			t.Fatalf("error %v", err)
		}
		if n := len(f.calls(mpesa.PathSTKQuery)); n != 1 {
			t.Fatalf("%d queries, want 1", n)
		}
	})

	t.Run("StopsWhenTheCallerGivesUp", func(t *testing.T) {
		f := newFakeDaraja(t)
		ctx, cancel := context.WithCancel(context.Background())
		f.onQuery(func(w http.ResponseWriter, r *http.Request) { cancel(); writeJSON(w, 503, ``) })
		cfg := testConfig(f.URL)
		cfg.RetryWaitMin, cfg.RetryWaitMax = time.Hour, time.Hour // only ctx can end the wait
		c := mustNew(t, cfg)
		_, err := c.Query(ctx, testCheckout)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
		if n := len(f.calls(mpesa.PathSTKQuery)); n != 1 {
			t.Fatalf("%d queries after the caller gave up", n)
		}
	})

	t.Run("CapsRetryAfterAtRetryWaitMax", func(t *testing.T) {
		f := newFakeDaraja(t)
		f.onQuery(sequence(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3600")
			writeJSON(w, 429, ``)
		}, answer(200, finalAnswer("0", "ok"))))
		c := mustNew(t, testConfig(f.URL)) // RetryWaitMax is 4ms
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := c.Query(ctx, testCheckout); err != nil {
			t.Fatalf("a Retry-After of an hour was obeyed: %v", err)
		}
	})
}

func TestQuery_InvalidTokenRecovery(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"On404.001.03", `{"requestId":"r1","errorCode":"404.001.03","errorMessage":"Invalid Access Token"}`, 404},
		{"On401.002.01", `{"requestId":"r1","errorCode":"401.002.01","errorMessage":"Error Occurred - Invalid Access Token - abc"}`, 401},
		{"On404.001.03WithHTTP500", `{"requestId":"r1","errorCode":"404.001.03","errorMessage":"Invalid Access Token"}`, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDaraja(t)
			f.onQuery(sequence(answer(tc.status, tc.body), answer(200, finalAnswer("0", "ok"))))
			c := mustNew(t, testConfig(f.URL))
			res, err := c.Query(testCtx(t), testCheckout)
			if err != nil || res.Outcome() != mpesa.OutcomePaid {
				t.Fatalf("Query = %+v, %v", res, err)
			}
			q := f.calls(mpesa.PathSTKQuery)
			if len(q) != 2 || len(f.calls(mpesa.PathToken)) != 2 {
				t.Fatalf("%d queries and %d token fetches, want 2 and 2", len(q), len(f.calls(mpesa.PathToken)))
			}
			if q[0].Header.Get("Authorization") == q[1].Header.Get("Authorization") {
				t.Fatal("the retry used the refused token")
			}
		})
	}

	t.Run("GivesUpAfterOneRetry", func(t *testing.T) {
		f := newFakeDaraja(t)
		f.onQuery(answer(404, `{"requestId":"r1","errorCode":"404.001.03","errorMessage":"Invalid Access Token"}`))
		c := mustNew(t, testConfig(f.URL))
		_, err := c.Query(testCtx(t), testCheckout)
		var qerr *mpesa.QueryError
		if !errors.As(err, &qerr) || !mpesa.IsInvalidToken(err) {
			t.Fatalf("error %v", err)
		}
		if n := len(f.calls(mpesa.PathSTKQuery)); n != 2 {
			t.Fatalf("%d queries, want 2", n)
		}
	})
}

func TestQuery_Refusals(t *testing.T) {
	t.Run("RefusesAnAnswerAboutAnotherCheckout", func(t *testing.T) {
		f := newFakeDaraja(t)
		f.onQuery(answer(200, `{"ResponseCode":"0","CheckoutRequestID":"ws_CO_other","ResultCode":"0","ResultDesc":"ok"}`))
		c := mustNew(t, testConfig(f.URL))
		res, err := c.Query(testCtx(t), testCheckout)
		var qerr *mpesa.QueryError
		if !errors.As(err, &qerr) {
			t.Fatalf("Query = %+v, %v; want a QueryError", res, err)
		}
	})

	t.Run("RefusesAnAnswerWithoutResultCode", func(t *testing.T) {
		for _, body := range []string{`{}`, `{"ResponseCode":"0"}`, `[]`, `not json`} {
			f := newFakeDaraja(t)
			f.onQuery(answer(200, body))
			c := mustNew(t, testConfig(f.URL))
			res, err := c.Query(testCtx(t), testCheckout)
			var qerr *mpesa.QueryError
			if !errors.As(err, &qerr) {
				t.Errorf("body %s: Query = %+v, %v; want a QueryError", body, res, err)
			}
		}
	})

	t.Run("NonZeroResponseCodeIsAnError", func(t *testing.T) {
		f := newFakeDaraja(t)
		f.onQuery(answer(200, `{"ResponseCode":"1","ResponseDescription":"Rejected"}`))
		c := mustNew(t, testConfig(f.URL))
		_, err := c.Query(testCtx(t), testCheckout)
		var base *mpesa.Error
		if !errors.As(err, &base) || base.Code != "1" || base.Message != "Rejected" {
			t.Fatalf("error %v", err)
		}
	})

	t.Run("RefusesABadCheckoutIDBeforeSending", func(t *testing.T) {
		f := newFakeDaraja(t)
		c := mustNew(t, testConfig(f.URL))
		for _, id := range []string{"", "ws CO", strings.Repeat("a", 200), `ws_CO_"}`} {
			_, err := c.Query(testCtx(t), id)
			var verr *mpesa.ValidationError
			var qerr *mpesa.QueryError
			if !errors.As(err, &verr) || !errors.As(err, &qerr) || verr.Field != "CheckoutRequestID" {
				t.Errorf("Query(%q): %v", id, err)
			}
		}
		if n := len(f.calls(mpesa.PathSTKQuery)) + len(f.calls(mpesa.PathToken)); n != 0 {
			t.Fatalf("%d requests for invalid IDs", n)
		}
	})

	t.Run("NonPendingOverloadedCodeIsAnError", func(t *testing.T) {
		f := newFakeDaraja(t)
		f.onQuery(answer(500, `{"requestId":"r","errorCode":"500.001.1001","errorMessage":"Wrong credentials"}`))
		c := mustNew(t, testConfig(f.URL))
		res, err := c.Query(testCtx(t), testCheckout)
		if err == nil || mpesa.IsPending(err) {
			t.Fatalf("Query = %+v, %v; want a non-pending error", res, err)
		}
	})
}

// TestQuery_LogLevelOfAnAnswer logs at warn the answers someone should look
// at: codes the table lacks, and codes the merchant can fix (with the hint).
func TestQuery_LogLevelOfAnAnswer(t *testing.T) {
	tests := []struct {
		name, code, level string
		hint              bool
	}{
		{"PaidIsInfo", "0", "INFO", false},
		{"CancelledIsInfo", "1032", "INFO", false},
		{"UnknownCodeIsWarn", "E9999", "WARN", false},
		{"MerchantSideCodeIsWarnWithHint", "SFC_IC0003", "WARN", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDaraja(t)
			f.onQuery(answer(200, finalAnswer(tc.code, "whatever")))
			var buf testkit.SyncBuffer
			cfg := testConfig(f.URL)
			cfg.Logger = debugLogger(&buf)
			if _, err := mustNew(t, cfg).Query(testCtx(t), testCheckout); err != nil {
				t.Fatal(err)
			}
			var line map[string]any
			for l := range strings.Lines(buf.String()) {
				var m map[string]any
				if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "mpesa: stk query answered" {
					line = m
				}
			}
			if line == nil {
				t.Fatalf("no answer line in the log:\n%s", buf.String())
			}
			if line["level"] != tc.level {
				t.Errorf("level %v, want %s", line["level"], tc.level)
			}
			if _, ok := line["hint"]; ok != tc.hint {
				t.Errorf("hint logged: %v, want %v (%v)", ok, tc.hint, line)
			}
		})
	}
}
