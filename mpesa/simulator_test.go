package mpesa_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
)

// Tests against the Daraja simulator: the client and the simulator were
// written from the same references by different hands, so these catch
// misreadings on either side.

// simClient is a client for srv with millisecond retry waits.
func simClient(t testing.TB, srv *mpesatest.Server, edit ...func(*mpesa.Config)) *mpesa.Client {
	t.Helper()
	cfg := mpesa.Config{
		Environment:    mpesa.Simulator,
		BaseURL:        srv.URL,
		ConsumerKey:    testKey,
		ConsumerSecret: testSecret,
		RequestTimeout: 5 * time.Second,
		RetryWaitMin:   time.Millisecond,
		RetryWaitMax:   4 * time.Millisecond,
	}
	for _, e := range edit {
		e(&cfg)
	}
	return mustNew(t, cfg)
}

// manual makes phone's pushes wait for Complete, with their default result.
func manual(srv *mpesatest.Server, phone string, noCallback bool) {
	o := mpesatest.DefaultOutcome(phone)
	o.Manual, o.NoCallback = true, noCallback
	srv.SetPhoneOutcome(phone, o)
}

func TestSimulator_PushQueryRoundTrip(t *testing.T) {
	callbacks := make(chan []byte, 4)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		callbacks <- body
		io.WriteString(w, `{"ResultCode":0,"ResultDesc":"Accepted"}`)
	}))
	t.Cleanup(receiver.Close)

	srv := mpesatest.NewServer(t)
	manual(srv, testPhone, false)
	c := simClient(t, srv)
	ctx := testCtx(t)

	req := validPush()
	req.CallbackURL = receiver.URL + "/cb/secret"
	res, err := c.Push(ctx, req)
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if res.ResponseCode != "0" || !strings.HasPrefix(res.CheckoutRequestID, "ws_CO_") || res.MerchantRequestID == "" {
		t.Fatalf("push response %+v", res)
	}
	txn, ok := srv.Transaction(res.CheckoutRequestID)
	if !ok || txn.Phone != testPhone || txn.Amount != 100 || txn.AccountReference != "INV-001" || txn.State != mpesatest.StatePending {
		t.Fatalf("the simulator saw %+v", txn)
	}

	// Both pending shapes (the simulator alternates them), each asked once.
	for i := range 2 {
		q, err := c.Query(ctx, res.CheckoutRequestID)
		if err != nil || !q.Pending || q.Outcome() != mpesa.OutcomePending {
			t.Fatalf("query %d while pending: %+v, %v", i+1, q, err)
		}
	}
	if n := len(srv.Requests(mpesatest.EndpointQuery)); n != 2 {
		t.Fatalf("%d queries for 2 pending answers: pending must not be retried", n)
	}

	if err := srv.Complete(res.CheckoutRequestID); err != nil {
		t.Fatal(err)
	}
	q, err := c.Query(ctx, res.CheckoutRequestID)
	if err != nil || q.Pending || q.ResultCode != "0" || q.Outcome() != mpesa.OutcomePaid || q.CheckoutRequestID != res.CheckoutRequestID {
		t.Fatalf("final query: %+v, %v", q, err)
	}

	var body []byte
	select {
	case body = <-callbacks:
	case <-ctx.Done():
		t.Fatal("no callback")
	}
	cb, err := mpesa.ParseCallback(body)
	if err != nil {
		t.Fatalf("the simulator's callback does not parse: %v\n%s", err, body)
	}
	txn, _ = srv.Transaction(res.CheckoutRequestID)
	if cb.CheckoutRequestID != res.CheckoutRequestID || cb.Outcome() != mpesa.OutcomePaid || cb.Amount != 100 ||
		cb.Receipt == "" || cb.Receipt != txn.Receipt || cb.Phone != testPhone || cb.TransactionDate.IsZero() {
		t.Fatalf("callback %+v for transaction %+v", cb, txn)
	}
	if _, ok := cb.Item("Balance"); !ok {
		t.Error("the paid callback has no Balance item")
	}
	if n := len(srv.Requests(mpesatest.EndpointToken)); n != 1 {
		t.Errorf("%d token requests for one push and three queries, want 1", n)
	}
}

// TestSimulator_DefaultOutcomes: every demo outcome reaches the caller as the
// right Outcome.
func TestSimulator_DefaultOutcomes(t *testing.T) {
	tests := []struct {
		phone string
		want  mpesa.Outcome
	}{
		{"254712345670", mpesa.OutcomePaid},
		{"254712345671", mpesa.OutcomeInsufficient},
		{"254712345672", mpesa.OutcomeCancelled},
		{"254712345673", mpesa.OutcomeTimedOut},
		{"254712345674", mpesa.OutcomeWrongPIN},
		{"254712345675", mpesa.OutcomeBusy},
		{"254712345676", mpesa.OutcomeFailed},
		{"254708374149", mpesa.OutcomePaid},
	}
	srv := mpesatest.NewServer(t)
	c := simClient(t, srv)
	for _, tc := range tests {
		t.Run(tc.phone, func(t *testing.T) {
			manual(srv, tc.phone, true)
			req := validPush()
			req.Phone = tc.phone
			res, err := c.Push(testCtx(t), req)
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Complete(res.CheckoutRequestID); err != nil {
				t.Fatal(err)
			}
			q, err := c.Query(testCtx(t), res.CheckoutRequestID)
			if err != nil || q.Outcome() != tc.want {
				t.Fatalf("Query = %+v (%v), %v; want %v", q, q.Outcome(), err, tc.want)
			}
		})
	}

	t.Run("254712345677IsRefusedByDaraja", func(t *testing.T) {
		req := validPush()
		req.Phone = "254712345677"
		_, err := c.Push(testCtx(t), req)
		var perr *mpesa.PaymentError
		var base *mpesa.Error
		if !errors.As(err, &perr) || perr.OutcomeUnknown() || !errors.As(err, &base) || base.StatusCode != 400 || base.Code != "400.002.02" {
			t.Fatalf("error %v: want a refused push with 400.002.02", err)
		}
	})
}

func TestSimulator_PushFaultsAreUnknownAndSentOnce(t *testing.T) {
	tests := []struct {
		name  string
		fault mpesatest.Fault
	}{
		{"BadGatewayHTML", mpesatest.HTMLFault(502)},
		{"ServiceUnavailableHTML", mpesatest.HTMLFault(503)},
		{"GatewayTimeoutHTML", mpesatest.HTMLFault(504)},
		{"InternalErrorEmpty", mpesatest.Fault{Status: 500}},
		{"BadGatewayAfterProcessing", withProcessed(mpesatest.HTMLFault(502))},
		{"CutOffMidResponse", mpesatest.Fault{CutBody: true, Processed: true}},
		{"DroppedConnection", mpesatest.Fault{Drop: true, Processed: true}},
		{"SlowerThanTheTimeout", mpesatest.Fault{Delay: time.Minute, Processed: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := mpesatest.NewServer(t)
			manual(srv, testPhone, true)
			c := simClient(t, srv, func(cfg *mpesa.Config) { cfg.RequestTimeout = 300 * time.Millisecond })
			if _, err := c.Token(testCtx(t)); err != nil { // keep the token request out of the fault's way
				t.Fatal(err)
			}
			srv.InjectFault(mpesatest.EndpointPush, tc.fault)
			_, err := c.Push(testCtx(t), validPush())
			var perr *mpesa.PaymentError
			if !errors.As(err, &perr) || !perr.OutcomeUnknown() {
				t.Fatalf("error %v: want a PaymentError with an unknown outcome", err)
			}
			if strings.Contains(err.Error(), "<html") || strings.Contains(err.Error(), "nginx") {
				t.Errorf("error shows the raw HTML: %v", err)
			}
			if n := len(srv.Requests(mpesatest.EndpointPush)); n != 1 {
				t.Fatalf("the push reached the simulator %d times, want exactly 1", n)
			}
			if n := len(srv.Transactions()); tc.fault.Processed && n != 1 || !tc.fault.Processed && n != 0 {
				t.Fatalf("%d transactions: at most one prompt may exist", n)
			}
		})
	}
}

func withProcessed(f mpesatest.Fault) mpesatest.Fault { f.Processed = true; return f }

func TestSimulator_PushRefusals(t *testing.T) {
	t.Run("SecondPromptToTheSamePhoneIsLocked", func(t *testing.T) {
		srv := mpesatest.NewServer(t)
		manual(srv, testPhone, true)
		c := simClient(t, srv)
		if _, err := c.Push(testCtx(t), validPush()); err != nil {
			t.Fatal(err)
		}
		_, err := c.Push(testCtx(t), validPush())
		var perr *mpesa.PaymentError
		if !errors.As(err, &perr) || perr.OutcomeUnknown() || !mpesa.IsSubscriberLocked(err) {
			t.Fatalf("error %v: want a refused push, subscriber locked", err)
		}
	})

	t.Run("WrongPasskeyIsRefused", func(t *testing.T) {
		srv := mpesatest.NewServer(t)
		c := simClient(t, srv, func(cfg *mpesa.Config) { cfg.Passkey = "not-the-passkey" })
		_, err := c.Push(testCtx(t), validPush())
		var perr *mpesa.PaymentError
		var base *mpesa.Error
		if !errors.As(err, &perr) || perr.OutcomeUnknown() || !errors.As(err, &base) || base.Code != "500.001.1001" ||
			!strings.Contains(strings.ToLower(base.Message), "wrong credentials") {
			t.Fatalf("error %v: want a refused push, wrong credentials", err)
		}
	})

	t.Run("UnknownMerchantIsRefused", func(t *testing.T) {
		srv := mpesatest.NewServer(t)
		c := simClient(t, srv, func(cfg *mpesa.Config) { cfg.ShortCode = "600999" })
		_, err := c.Push(testCtx(t), validPush())
		var base *mpesa.Error
		if !errors.As(err, &base) || !strings.Contains(strings.ToLower(base.Message), "merchant does not exist") {
			t.Fatalf("error %v: want merchant does not exist", err)
		}
	})

	t.Run("WrongConsumerCredentialsAreReadable", func(t *testing.T) {
		srv := mpesatest.NewServer(t, mpesatest.WithCredentials("right-key", "right-secret"))
		c := simClient(t, srv)
		_, err := c.Push(testCtx(t), validPush())
		var aerr *mpesa.AuthenticationError
		var perr *mpesa.PaymentError
		if !errors.As(err, &aerr) || !errors.As(err, &perr) || perr.OutcomeUnknown() ||
			!strings.Contains(err.Error(), "HTTP 400 from Daraja, empty body: check MPESA_CONSUMER_KEY/SECRET") {
			t.Fatalf("error %v", err)
		}
		if n := len(srv.Requests(mpesatest.EndpointPush)); n != 0 {
			t.Fatalf("%d pushes without a token", n)
		}
	})
}

func TestSimulator_InvalidTokenRecovery(t *testing.T) {
	t.Run("Push", func(t *testing.T) {
		srv := mpesatest.NewServer(t)
		manual(srv, testPhone, true)
		c := simClient(t, srv)
		if _, err := c.Token(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		srv.InvalidateTokens()
		if _, err := c.Push(testCtx(t), validPush()); err != nil {
			t.Fatalf("Push after the tokens were invalidated: %v", err)
		}
		if n := len(srv.Requests(mpesatest.EndpointToken)); n != 2 {
			t.Errorf("%d token requests, want 2", n)
		}
		if n := len(srv.Transactions()); n != 1 {
			t.Fatalf("%d transactions: the refused push must not have made a prompt", n)
		}
	})
	t.Run("Query", func(t *testing.T) {
		srv := mpesatest.NewServer(t)
		manual(srv, testPhone, true)
		c := simClient(t, srv)
		res, err := c.Push(testCtx(t), validPush())
		if err != nil {
			t.Fatal(err)
		}
		srv.InvalidateTokens()
		if q, err := c.Query(testCtx(t), res.CheckoutRequestID); err != nil || !q.Pending {
			t.Fatalf("Query after the tokens were invalidated: %+v, %v", q, err)
		}
		if n := len(srv.Requests(mpesatest.EndpointQuery)); n != 2 {
			t.Errorf("%d queries, want 2 (refused, then with a fresh token)", n)
		}
	})
}

func TestSimulator_QueryRetries(t *testing.T) {
	setup := func(t *testing.T, opts ...mpesatest.Option) (*mpesatest.Server, *mpesa.Client, string) {
		srv := mpesatest.NewServer(t, opts...)
		manual(srv, testPhone, true)
		c := simClient(t, srv)
		res, err := c.Push(testCtx(t), validPush())
		if err != nil {
			t.Fatal(err)
		}
		return srv, c, res.CheckoutRequestID
	}

	t.Run("RetriesOn503ThenAnswers", func(t *testing.T) {
		srv, c, id := setup(t)
		if err := srv.Complete(id); err != nil {
			t.Fatal(err)
		}
		f := mpesatest.HTMLFault(503)
		f.Times = 2
		srv.InjectFault(mpesatest.EndpointQuery, f)
		q, err := c.Query(testCtx(t), id)
		if err != nil || q.Outcome() != mpesa.OutcomePaid {
			t.Fatalf("Query = %+v, %v", q, err)
		}
		if n := len(srv.Requests(mpesatest.EndpointQuery)); n != 3 {
			t.Fatalf("%d queries, want 3", n)
		}
	})

	t.Run("GivesUpAfterRetryMax", func(t *testing.T) {
		srv, c, id := setup(t)
		f := mpesatest.HTMLFault(503)
		f.Times = 10
		srv.InjectFault(mpesatest.EndpointQuery, f)
		_, err := c.Query(testCtx(t), id)
		var qerr *mpesa.QueryError
		var base *mpesa.Error
		if !errors.As(err, &qerr) || !errors.As(err, &base) || base.StatusCode != 503 {
			t.Fatalf("error %v: want a QueryError with HTTP 503", err)
		}
		if n := len(srv.Requests(mpesatest.EndpointQuery)); n != 3 {
			t.Fatalf("%d queries, want RetryMax+1 = 3", n)
		}
	})

	for _, shape := range []struct {
		name  string
		shape mpesatest.PendingShape
	}{{"Pending500", mpesatest.Pending500}, {"Pending4999", mpesatest.Pending4999}} {
		t.Run("RetriesOn503ThenStopsAt"+shape.name, func(t *testing.T) {
			srv, c, id := setup(t, mpesatest.WithPendingShape(shape.shape))
			srv.InjectFault(mpesatest.EndpointQuery, mpesatest.HTMLFault(503))
			q, err := c.Query(testCtx(t), id)
			if err != nil || !q.Pending {
				t.Fatalf("Query = %+v, %v; want pending", q, err)
			}
			if n := len(srv.Requests(mpesatest.EndpointQuery)); n != 2 {
				t.Fatalf("%d queries, want 2: the 503, then pending stops at once", n)
			}
		})
	}

	t.Run("SpikeArrestIsThrottled", func(t *testing.T) {
		srv, c, id := setup(t)
		f := mpesatest.ErrorFault(500, "500.003.02", "Error Occurred: Spike Arrest Violation")
		f.Times = 10
		srv.InjectFault(mpesatest.EndpointQuery, f)
		_, err := c.Query(testCtx(t), id)
		if !mpesa.IsThrottled(err) {
			t.Fatalf("error %v: want throttled", err)
		}
		if n := len(srv.Requests(mpesatest.EndpointQuery)); n != 3 {
			t.Fatalf("%d queries, want 3", n)
		}
	})

	t.Run("UnknownCheckoutIsAnError", func(t *testing.T) {
		srv, c, _ := setup(t)
		_, err := c.Query(testCtx(t), "ws_CO_000000000000000000")
		var base *mpesa.Error
		if !errors.As(err, &base) || base.Code != "400.002.02" {
			t.Fatalf("error %v", err)
		}
		if n := len(srv.Requests(mpesatest.EndpointQuery)); n != 1 {
			t.Fatalf("%d queries, want 1", n)
		}
	})
}

func TestSimulator_TokenCachedAcrossCalls(t *testing.T) {
	srv := mpesatest.NewServer(t)
	c := simClient(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 5 {
		if _, err := c.Token(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(srv.Requests(mpesatest.EndpointToken)); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
}

// BenchmarkPushQueryRoundTrip measures one payment's Daraja traffic through
// the simulator: a push, a pending query, the result, a final query.
func BenchmarkPushQueryRoundTrip(b *testing.B) {
	srv := mpesatest.NewServer(b)
	srv.SetPhoneOutcome(testPhone, mpesatest.Outcome{ResultCode: "0", Manual: true, NoCallback: true})
	c := simClient(b, srv)
	ctx := context.Background()
	req := validPush()
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.Push(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if q, err := c.Query(ctx, res.CheckoutRequestID); err != nil || !q.Pending {
			b.Fatalf("pending query: %+v, %v", q, err)
		}
		if err := srv.Complete(res.CheckoutRequestID); err != nil {
			b.Fatal(err)
		}
		if q, err := c.Query(ctx, res.CheckoutRequestID); err != nil || q.Outcome() != mpesa.OutcomePaid {
			b.Fatalf("final query: %+v, %v", q, err)
		}
	}
}
