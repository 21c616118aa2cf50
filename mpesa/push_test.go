package mpesa_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
)

func TestPush(t *testing.T) {
	t.Run("SendsTheReferenceRequest", func(t *testing.T) {
		f := newFakeDaraja(t)
		c := mustNew(t, testConfig(f.URL))
		res, err := c.Push(testCtx(t), validPush())
		if err != nil {
			t.Fatal(err)
		}
		if res.CheckoutRequestID != testCheckout || res.MerchantRequestID != "29115-34620561-1" || res.ResponseCode != "0" ||
			res.CustomerMessage != "Success. Request accepted for processing" {
			t.Fatalf("response %+v", res)
		}
		pushes := f.calls(mpesa.PathSTKPush)
		if len(pushes) != 1 {
			t.Fatalf("%d pushes, want 1", len(pushes))
		}
		p := pushes[0]
		if p.Method != http.MethodPost || !strings.HasPrefix(p.Header.Get("Authorization"), "Bearer tok-1-") ||
			p.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("push %s auth %q type %q", p.Method, p.Header.Get("Authorization"), p.Header.Get("Content-Type"))
		}
		body := decodeBody(t, p.Body)
		want := map[string]any{
			"BusinessShortCode": json.Number("174379"),
			"Password":          sandboxPassword,
			"Timestamp":         "20240607123045",
			"TransactionType":   "CustomerPayBillOnline",
			"Amount":            json.Number("100"),
			"PartyA":            json.Number("254712345678"),
			"PartyB":            json.Number("174379"),
			"PhoneNumber":       json.Number("254712345678"),
			"CallBackURL":       testCallback,
			"AccountReference":  "INV-001",
			"TransactionDesc":   "Payment",
		}
		for k, v := range want {
			if body[k] != v {
				t.Errorf("%s = %#v, want %#v", k, body[k], v)
			}
		}
		if len(body) != len(want) {
			t.Errorf("body has %d fields, want %d: %v", len(body), len(want), body)
		}
	})

	t.Run("BuyGoodsSendsTheTillAsPartyB", func(t *testing.T) {
		f := newFakeDaraja(t)
		cfg := testConfig(f.URL)
		cfg.TransactionType = mpesa.BuyGoodsOnline
		cfg.PartyB = "5432109"
		c := mustNew(t, cfg)
		if _, err := c.Push(testCtx(t), validPush()); err != nil {
			t.Fatal(err)
		}
		body := decodeBody(t, f.calls(mpesa.PathSTKPush)[0].Body)
		if body["TransactionType"] != "CustomerBuyGoodsOnline" || body["PartyB"] != json.Number("5432109") || body["BusinessShortCode"] != json.Number("174379") {
			t.Fatalf("buy goods body %v", body)
		}
	})

	t.Run("PasswordAndTimestampMatch", func(t *testing.T) {
		f := newFakeDaraja(t)
		cfg := testConfig(f.URL)
		clock := newFakeClock()
		cfg.Now = clock.Now
		c := mustNew(t, cfg)
		for range 3 {
			clock.Advance(time.Second)
			if _, err := c.Push(testCtx(t), validPush()); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range f.calls(mpesa.PathSTKPush) {
			b := decodeBody(t, p.Body)
			ts := b["Timestamp"].(string)
			if b["Password"] != mpesa.Password(mpesa.SandboxShortCode, mpesa.SandboxPasskey, ts) {
				t.Fatalf("password does not match timestamp %s", ts)
			}
		}
	})
}

func TestPush_ValidatesBeforeAnyNetworkCall(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*mpesa.PushRequest)
		field string
	}{
		{"RefusesBadPhone", func(r *mpesa.PushRequest) { r.Phone = "0812345678" }, "PhoneNumber"},
		{"RefusesEmptyPhone", func(r *mpesa.PushRequest) { r.Phone = "" }, "PhoneNumber"},
		{"RefusesZeroAmount", func(r *mpesa.PushRequest) { r.Amount = 0 }, "Amount"},
		{"RefusesNegativeAmount", func(r *mpesa.PushRequest) { r.Amount = -5 }, "Amount"},
		{"RefusesAmountAboveMax", func(r *mpesa.PushRequest) { r.Amount = 250001 }, "Amount"},
		{"RefusesLongReference", func(r *mpesa.PushRequest) { r.AccountReference = "ABCDEFGHIJKLM" }, "AccountReference"},
		{"RefusesEmptyReference", func(r *mpesa.PushRequest) { r.AccountReference = "" }, "AccountReference"},
		{"RefusesEmptyDescription", func(r *mpesa.PushRequest) { r.TransactionDesc = "" }, "TransactionDesc"},
		{"RefusesLongDescription", func(r *mpesa.PushRequest) { r.TransactionDesc = "Payment for goods" }, "TransactionDesc"},
		{"RefusesEmptyCallbackURL", func(r *mpesa.PushRequest) { r.CallbackURL = "" }, "CallBackURL"},
		{"RefusesRelativeCallbackURL", func(r *mpesa.PushRequest) { r.CallbackURL = "/mpesa-cb/x" }, "CallBackURL"},
		{"RefusesNonHTTPCallbackURL", func(r *mpesa.PushRequest) { r.CallbackURL = "ftp://example.com/cb" }, "CallBackURL"},
		{"RefusesCallbackURLWithCredentials", func(r *mpesa.PushRequest) { r.CallbackURL = "https://u:p@example.com/cb" }, "CallBackURL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDaraja(t)
			c := mustNew(t, testConfig(f.URL))
			req := validPush()
			tc.edit(&req)
			_, err := c.Push(testCtx(t), req)
			var perr *mpesa.PaymentError
			var verr *mpesa.ValidationError
			if !errors.As(err, &perr) || !errors.As(err, &verr) {
				t.Fatalf("error %v: want a PaymentError wrapping a ValidationError", err)
			}
			if perr.OutcomeUnknown() {
				t.Error("a refused request reports an unknown outcome")
			}
			if verr.Field != tc.field {
				t.Errorf("field %s, want %s", verr.Field, tc.field)
			}
			if n := len(f.calls(mpesa.PathToken)) + len(f.calls(mpesa.PathSTKPush)); n != 0 {
				t.Fatalf("%d requests reached Daraja for an invalid push", n)
			}
		})
	}
}

func TestPush_ReportsEveryProblemAtOnce(t *testing.T) {
	c := mustNew(t, testConfig("http://127.0.0.1:1"))
	_, err := c.Push(testCtx(t), mpesa.PushRequest{Phone: "x", Amount: 0, AccountReference: "", TransactionDesc: "", CallbackURL: ""})
	for _, field := range []string{"PhoneNumber", "Amount", "AccountReference", "TransactionDesc", "CallBackURL"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error does not mention %s: %v", field, err)
		}
	}
}

func TestPush_CallbackSecretNeverInErrors(t *testing.T) {
	c := mustNew(t, testConfig("http://127.0.0.1:1"))
	req := validPush()
	req.CallbackURL = "ftp://example.com/s3cr3t-callback-path"
	_, err := c.Push(testCtx(t), req)
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("error %v shows the callback path", err)
	}
}

// TestPush_Answers: what each Daraja answer means for the caller. The
// request must reach the server exactly once whatever happens.
func TestPush_Answers(t *testing.T) {
	tests := []struct {
		name         string
		handler      http.HandlerFunc
		unknown      bool
		status       int
		code         string
		locked       bool
		throttled    bool
		wantInError  string
		okNoErrorOut bool
	}{
		{name: "BadGatewayHTMLIsUnknown", handler: answerHTML(502), unknown: true, status: 502, wantInError: "HTML body"},
		{name: "ServiceUnavailableEmptyIsUnknown", handler: answer(503, ``), unknown: true, status: 503, wantInError: "empty body"},
		{name: "GatewayTimeoutIsUnknown", handler: answerHTML(504), unknown: true, status: 504},
		{name: "InternalErrorWithoutDarajaBodyIsUnknown", handler: answer(500, `{"fault":"x"}`), unknown: true, status: 500},
		{name: "CutOffMidResponseIsUnknown", handler: cutOff(200), unknown: true, status: 200, wantInError: "cut off"},
		{name: "UndecodableSuccessIsUnknown", handler: answer(200, `{"MerchantRequestID":`), unknown: true, status: 200},
		{name: "HTMLSuccessIsUnknown", handler: answerHTML(200), unknown: true, status: 200},
		{name: "SuccessWithoutResponseCodeIsUnknown", handler: answer(200, `{}`), unknown: true, status: 200},
		{name: "AcceptanceWithoutCheckoutIDIsUnknown", handler: answer(200, `{"ResponseCode":"0"}`), unknown: true, status: 200},
		{name: "AcceptanceWithAnUnusableCheckoutIDIsUnknown", handler: answer(200, `{"ResponseCode":"0","CheckoutRequestID":"ws CO <1>"}`), unknown: true, status: 200},
		{name: "InvalidFieldIsRefused", handler: answer(400, `{"requestId":"11728-2929992-1","errorCode":"400.002.02","errorMessage":"Bad Request - Invalid Amount"}`),
			status: 400, code: "400.002.02", wantInError: "Bad Request - Invalid Amount"},
		{name: "SubscriberLockedIsRefused", handler: answer(500, `{"requestId":"r","errorCode":"500.001.1001","errorMessage":"Unable to lock subscriber, a transaction is already in process for the current subscriber"}`),
			status: 500, code: "500.001.1001", locked: true},
		{name: "WrongCredentialsIsRefused", handler: answer(500, `{"requestId":"r","errorCode":"500.001.1001","errorMessage":"Wrong credentials"}`),
			status: 500, code: "500.001.1001"},
		{name: "SpikeArrestIsRefusedAndThrottled", handler: answer(500, `{"requestId":"r","errorCode":"500.003.02","errorMessage":"Error Occurred: Spike Arrest Violation"}`),
			status: 500, code: "500.003.02", throttled: true},
		{name: "TooManyRequestsIsRefusedAndThrottled", handler: answer(429, ``), status: 429, throttled: true},
		{name: "NotFoundHTMLIsRefused", handler: answerHTML(404), status: 404},
		{name: "RedirectIsNotFollowed", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		}, status: 307},
		{name: "NonZeroResponseCodeIsRefused", handler: answer(200, `{"MerchantRequestID":"m","CheckoutRequestID":"","ResponseCode":"1","ResponseDescription":"Rejected"}`),
			status: 200, code: "1", wantInError: "Rejected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDaraja(t)
			f.onPush(tc.handler)
			c := mustNew(t, testConfig(f.URL))
			res, err := c.Push(testCtx(t), validPush())
			if err == nil {
				t.Fatalf("Push succeeded with %+v", res)
			}
			var perr *mpesa.PaymentError
			var base *mpesa.Error
			if !errors.As(err, &perr) || !errors.As(err, &base) {
				t.Fatalf("error %v: want PaymentError and Error", err)
			}
			if perr.OutcomeUnknown() != tc.unknown {
				t.Errorf("OutcomeUnknown() = %v, want %v (%v)", perr.OutcomeUnknown(), tc.unknown, err)
			}
			if base.StatusCode != tc.status || base.Code != tc.code {
				t.Errorf("status %d code %q, want %d %q", base.StatusCode, base.Code, tc.status, tc.code)
			}
			if mpesa.IsSubscriberLocked(err) != tc.locked || mpesa.IsThrottled(err) != tc.throttled {
				t.Errorf("IsSubscriberLocked %v IsThrottled %v", mpesa.IsSubscriberLocked(err), mpesa.IsThrottled(err))
			}
			if !strings.Contains(err.Error(), tc.wantInError) {
				t.Errorf("error %q does not contain %q", err, tc.wantInError)
			}
			if strings.Contains(err.Error(), "<html") || strings.Contains(err.Error(), "nginx") {
				t.Errorf("error shows the raw HTML: %q", err)
			}
			if n := len(f.calls(mpesa.PathSTKPush)); n != 1 {
				t.Fatalf("the push reached Daraja %d times, want exactly 1", n)
			}
			if n := len(f.calls("/elsewhere")); n != 0 {
				t.Fatalf("a redirect was followed %d times", n)
			}
		})
	}
}

func TestPush_TimeoutAfterSendingIsUnknownAndSentOnce(t *testing.T) {
	f := newFakeDaraja(t)
	f.onPush(hang)
	cfg := testConfig(f.URL)
	cfg.RequestTimeout = 300 * time.Millisecond
	c := mustNew(t, cfg)
	_, err := c.Push(testCtx(t), validPush())
	var perr *mpesa.PaymentError
	if !errors.As(err, &perr) || !perr.OutcomeUnknown() {
		t.Fatalf("error %v: want a PaymentError with an unknown outcome", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
	if n := len(f.calls(mpesa.PathSTKPush)); n != 1 {
		t.Fatalf("the push reached Daraja %d times, want exactly 1", n)
	}
}

func TestPush_CallerCancelAfterSendingIsUnknown(t *testing.T) {
	f := newFakeDaraja(t)
	arrived := make(chan struct{})
	f.onPush(func(w http.ResponseWriter, r *http.Request) { close(arrived); <-r.Context().Done() })
	c := mustNew(t, testConfig(f.URL))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	_, err := c.Push(ctx, validPush())
	var perr *mpesa.PaymentError
	if !errors.As(err, &perr) || !perr.OutcomeUnknown() || !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v: want an unknown outcome wrapping context.Canceled", err)
	}
}

// dialControl makes the next N dials fail for real (connection refused)
// and counts dials, so a test knows how often a request was tried.
type dialControl struct {
	deadAddr string
	failNext atomic.Int32
	dials    atomic.Int32
}

func newDialControl(t *testing.T) *dialControl {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dc := &dialControl{deadAddr: closed.Addr().String()}
	closed.Close() // nothing listens there any more
	return dc
}

func (dc *dialControl) client() *http.Client {
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true, // one dial per request
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dc.dials.Add(1)
			if dc.failNext.Add(-1) >= 0 {
				return d.DialContext(ctx, network, dc.deadAddr)
			}
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func TestPush_RetriesOnlyWhenTheDialFailed(t *testing.T) {
	f := newFakeDaraja(t)
	dc := newDialControl(t)
	cfg := testConfig(f.URL)
	cfg.HTTPClient = dc.client()
	c := mustNew(t, cfg)
	if _, err := c.Token(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	dc.dials.Store(0)
	dc.failNext.Store(2) // the push's first two dials are refused
	res, err := c.Push(testCtx(t), validPush())
	if err != nil {
		t.Fatalf("Push after two refused dials: %v", err)
	}
	if res.CheckoutRequestID != testCheckout {
		t.Fatalf("response %+v", res)
	}
	if n := dc.dials.Load(); n != 3 {
		t.Fatalf("%d dials, want 3 (two refused, one through)", n)
	}
	if n := len(f.calls(mpesa.PathSTKPush)); n != 1 {
		t.Fatalf("the push reached Daraja %d times, want 1", n)
	}
}

func TestPush_NoConnectionIsNotSent(t *testing.T) {
	f := newFakeDaraja(t)
	dc := newDialControl(t)
	cfg := testConfig(f.URL)
	cfg.RetryMax = 2
	cfg.HTTPClient = dc.client()
	c := mustNew(t, cfg)
	if _, err := c.Token(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	dc.dials.Store(0)
	dc.failNext.Store(1000)
	_, err := c.Push(testCtx(t), validPush())
	var perr *mpesa.PaymentError
	if !errors.As(err, &perr) || perr.OutcomeUnknown() {
		t.Fatalf("error %v: want a PaymentError that was certainly not sent", err)
	}
	if !strings.Contains(err.Error(), "not sent") {
		t.Errorf("error %q does not say the request was not sent", err)
	}
	if n := dc.dials.Load(); n != 3 {
		t.Fatalf("%d dials, want RetryMax+1 = 3", n)
	}
	if n := len(f.calls(mpesa.PathSTKPush)); n != 0 {
		t.Fatalf("the push reached Daraja %d times", n)
	}
}

func TestPush_InvalidTokenRecovery(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"On404.001.03", `{"requestId":"r1","errorCode":"404.001.03","errorMessage":"Invalid Access Token"}`, 404},
		{"On401.002.01", `{"requestId":"r1","errorCode":"401.002.01","errorMessage":"Error Occurred - Invalid Access Token - tok-1-0A0v8OgxqqoocblflR58m9chMdnU"}`, 401},
		{"On401.002.01WithHTTP400", `{"requestId":"r1","errorCode":"401.002.01","errorMessage":"Error Occurred - Invalid Access Token - x"}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDaraja(t)
			f.onPush(sequence(answer(tc.status, tc.body), f.push))
			c := mustNew(t, testConfig(f.URL))
			res, err := c.Push(testCtx(t), validPush())
			if err != nil {
				t.Fatalf("Push: %v", err)
			}
			if res.CheckoutRequestID != testCheckout {
				t.Fatalf("response %+v", res)
			}
			pushes := f.calls(mpesa.PathSTKPush)
			if len(pushes) != 2 || len(f.calls(mpesa.PathToken)) != 2 {
				t.Fatalf("%d pushes and %d token fetches, want 2 and 2", len(pushes), len(f.calls(mpesa.PathToken)))
			}
			if a, b := pushes[0].Header.Get("Authorization"), pushes[1].Header.Get("Authorization"); a == b || !strings.HasPrefix(b, "Bearer tok-2-") {
				t.Fatalf("retry used token %q after %q, want the fresh one", b, a)
			}
		})
	}

	t.Run("GivesUpAfterOneRetry", func(t *testing.T) {
		f := newFakeDaraja(t)
		f.onPush(answer(404, `{"requestId":"r1","errorCode":"404.001.03","errorMessage":"Invalid Access Token"}`))
		c := mustNew(t, testConfig(f.URL))
		_, err := c.Push(testCtx(t), validPush())
		var perr *mpesa.PaymentError
		if !errors.As(err, &perr) || perr.OutcomeUnknown() || !mpesa.IsInvalidToken(err) {
			t.Fatalf("error %v: want a refused PaymentError with an invalid token", err)
		}
		if n := len(f.calls(mpesa.PathSTKPush)); n != 2 {
			t.Fatalf("%d pushes, want 2 (one retry)", n)
		}
	})
}

func TestPush_TokenFailureIsNotSent(t *testing.T) {
	f := newFakeDaraja(t)
	f.onToken(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(400) })
	c := mustNew(t, testConfig(f.URL))
	_, err := c.Push(testCtx(t), validPush())
	var perr *mpesa.PaymentError
	var aerr *mpesa.AuthenticationError
	if !errors.As(err, &perr) || perr.OutcomeUnknown() || !errors.As(err, &aerr) {
		t.Fatalf("error %v: want a not-sent PaymentError wrapping an AuthenticationError", err)
	}
	if n := len(f.calls(mpesa.PathSTKPush)); n != 0 {
		t.Fatalf("%d pushes without a token", n)
	}
}

func TestPush_CancelledContextIsNotSent(t *testing.T) {
	f := newFakeDaraja(t)
	c := mustNew(t, testConfig(f.URL))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Push(ctx, validPush())
	var perr *mpesa.PaymentError
	if !errors.As(err, &perr) || perr.OutcomeUnknown() || !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v: want a not-sent PaymentError wrapping context.Canceled", err)
	}
	if n := len(f.calls(mpesa.PathSTKPush)); n != 0 {
		t.Fatalf("%d pushes with a cancelled context", n)
	}
}

func TestPush_TokenEchoedByDarajaIsRedacted(t *testing.T) {
	f := newFakeDaraja(t)
	f.onPush(answer(401, `{"requestId":"r1","errorCode":"401.002.01","errorMessage":"Error Occurred - Invalid Access Token - tok-1-0A0v8OgxqqoocblflR58m9chMdnU tok-2-0A0v8OgxqqoocblflR58m9chMdnU"}`))
	c := mustNew(t, testConfig(f.URL))
	_, err := c.Push(testCtx(t), validPush())
	if err == nil || strings.Contains(err.Error(), "0A0v8Ogxqqoocblf") {
		t.Fatalf("error shows the access token: %v", err)
	}
}

func TestPush_ConnectionDroppedWithoutAnswerIsUnknownAndSentOnce(t *testing.T) {
	f := newFakeDaraja(t)
	f.onPush(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	c := mustNew(t, testConfig(f.URL))
	_, err := c.Push(testCtx(t), validPush())
	var perr *mpesa.PaymentError
	if !errors.As(err, &perr) || !perr.OutcomeUnknown() {
		t.Fatalf("error %v: want a PaymentError with an unknown outcome", err)
	}
	if n := len(f.calls(mpesa.PathSTKPush)); n != 1 {
		t.Fatalf("the push reached Daraja %d times, want exactly 1", n)
	}
}
