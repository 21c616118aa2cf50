package mpesatest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/mpesa/testkit"
)

// simulatorGoroutines lists the goroutines running code of this package's
// non-test files.
func simulatorGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var found []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, line := range strings.Split(g, "\n") {
			line = strings.TrimSpace(line)
			if strings.Contains(line, "/mpesa/mpesatest/") && !strings.Contains(line, "_test.go:") {
				found = append(found, g)
				break
			}
		}
	}
	return found
}

// wantNoSimulatorGoroutines allows goroutines that are returning from the
// simulator's code a moment to finish, the way goleak does, then fails on any
// still there.
func wantNoSimulatorGoroutines(t *testing.T) {
	t.Helper()
	var left []string
	if !testkit.Poll(waitLimit, func() bool { // a poll: nothing signals a goroutine's exit
		left = simulatorGoroutines()
		return len(left) == 0
	}) {
		t.Fatalf("%d goroutines still run simulator code after Close:\n%s", len(left), strings.Join(left, "\n\n"))
	}
}

// TestClose is not parallel: it counts goroutines of this package.
func TestClose(t *testing.T) {
	t.Run("StopsTimersDeliveriesAndSlowAnswers", func(t *testing.T) {
		sim := New(WithResultDelay(time.Hour), WithCallbackRetries(3, time.Hour))
		ts := httptest.NewServer(sim)
		defer ts.Close()
		c := &client{t: t, base: ts.URL, http: ts.Client()}
		c.login()

		// A result timer.
		c.mustPush("254700000000", "https://example.com/cb")

		// A delivery waiting for its retry.
		failing := newReceiver(t, http.StatusInternalServerError)
		sim.SetPhoneOutcome("254700000010", Outcome{Manual: true})
		if err := sim.Complete(c.mustPush("254700000010", failing.URL)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, sim, "the failed attempt", func() bool { return len(sim.Callbacks()) == 1 })

		// A delivery stuck in a receiver that never answers.
		arrived := make(chan struct{}, 1)
		stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.ReadAll(r.Body) // only then does the server notice a client leaving
			arrived <- struct{}{}
			<-r.Context().Done()
		}))
		defer stuck.Close()
		sim.SetPhoneOutcome("254700000020", Outcome{Manual: true})
		if err := sim.Complete(c.mustPush("254700000020", stuck.URL+"/cb")); err != nil {
			t.Fatal(err)
		}
		<-arrived

		// A slow answer.
		sim.InjectFault(EndpointToken, Fault{Delay: time.Hour})
		slow := make(chan int, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodGet, ts.URL+pathToken+"?grant_type=client_credentials", nil)
			req.SetBasicAuth("k", "s")
			resp, err := ts.Client().Do(req)
			if err != nil {
				slow <- -1
				return
			}
			resp.Body.Close()
			slow <- resp.StatusCode
		}()
		waitFor(t, sim, "the slow request", func() bool { return len(sim.Requests(EndpointToken)) == 2 })

		sim.Close()
		if got := <-slow; got != http.StatusServiceUnavailable {
			t.Errorf("the slow request got %d, want 503 when the simulator closes", got)
		}
		wantNoSimulatorGoroutines(t)
		if n := len(sim.Callbacks()); n != 1 {
			t.Errorf("%d callback attempts, want the one before Close", n)
		}
	})

	t.Run("AnswersUnavailableAfterwards", func(t *testing.T) {
		srv := NewServer(t, WithResultDelay(time.Hour))
		c := newClient(t, srv)
		c.login()
		id := c.mustPush("254700000000", "https://example.com/cb")
		srv.Close()
		srv.Close() // twice is fine

		r := c.getToken("k", "s")
		if r.status != http.StatusServiceUnavailable || !strings.HasPrefix(string(r.body), "<html>") {
			t.Errorf("after Close: %d %q", r.status, r.body)
		}
		if err := srv.Complete(id); !errors.Is(err, ErrClosed) {
			t.Errorf("Complete after Close = %v, want ErrClosed", err)
		}
		if tx, _ := srv.Transaction(id); tx.State != StatePending {
			t.Errorf("state = %s, want the transaction left pending", tx.State)
		}
		wantRecordedOnce(t, srv.Simulator, EndpointToken, 2, http.StatusServiceUnavailable)
	})
}

func TestConcurrentPushesAndQueries(t *testing.T) {
	t.Parallel()
	var delivered atomic.Int64
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		delivered.Add(1)
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("{}")), Request: r}, nil
	})
	srv := NewServer(t, WithResultDelay(time.Millisecond), WithCallbackClient(&http.Client{Transport: rt}))
	c := newClient(t, srv)
	c.login()

	const workers, each = 8, 6
	ids := make(chan string, workers*each)
	errs := make(chan error, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				phone := fmt.Sprintf("2547000%03d%d0", w, i) // ends in 0: paid
				r, err := c.tryPush(phone, "https://bot.example/cb")
				if err != nil || r.status != http.StatusOK {
					errs <- fmt.Errorf("push %s: %d %s %v", phone, r.status, r.body, err)
					continue
				}
				id := string(bytes.Split(bytes.Split(r.body, []byte(`"CheckoutRequestID":"`))[1], []byte(`"`))[0])
				ids <- id
				if i%2 == 0 {
					_ = srv.Complete(id) // races with the timer on purpose: either may win
				}
				srv.SetCheckoutOutcome(id, Outcome{After: time.Millisecond})
				_ = srv.Requests(EndpointPush)
				_ = srv.Transactions()
			}
		})
	}
	wg.Wait()
	close(ids)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("CheckoutRequestID %s given twice", id)
		}
		seen[id] = true
	}
	waitFor(t, srv.Simulator, "every callback", func() bool { return len(srv.Callbacks()) == workers*each })
	for _, tx := range srv.Transactions() {
		if tx.State != StateCompleted || tx.ResultCode != "0" {
			t.Errorf("transaction %s: %s %s", tx.CheckoutRequestID, tx.State, tx.ResultCode)
		}
	}
	if n := delivered.Load(); n != workers*each {
		t.Errorf("%d callbacks delivered, want exactly one per transaction (%d)", n, workers*each)
	}
}

func TestRecording(t *testing.T) {
	t.Parallel()

	t.Run("KeepsEveryRequestInOrderWithItsHeaders", func(t *testing.T) {
		t.Parallel()
		clock := &fakeClock{now: time.Date(2024, 6, 7, 9, 30, 0, 0, time.UTC)}
		srv := NewServer(t, WithClock(clock.Now), WithResultDelay(time.Hour))
		c := newClient(t, srv)
		tok := c.login()
		id := c.mustPush("254708374149", "https://example.com/cb")
		c.query(id)
		c.query(id)

		all := srv.Requests()
		if len(all) != 4 {
			t.Fatalf("%d requests recorded, want 4", len(all))
		}
		want := []Endpoint{EndpointToken, EndpointPush, EndpointQuery, EndpointQuery}
		for i, r := range all {
			if r.Endpoint != want[i] || !r.At.Equal(clock.Now()) || r.Status == 0 {
				t.Errorf("request %d = %s at %v status %d, want %s", i, r.Endpoint, r.At, r.Status, want[i])
			}
		}
		push := srv.Requests(EndpointPush)
		if len(push) != 1 || push[0].Method != http.MethodPost || push[0].Path != pathPush ||
			push[0].Header.Get("Authorization") != "Bearer "+tok || !bytes.Contains(push[0].Body, []byte(`"PhoneNumber":254708374149`)) {
			t.Errorf("push recorded as %+v", push)
		}
		if n := len(srv.Requests(EndpointQuery, EndpointToken)); n != 3 {
			t.Errorf("%d token+query requests, want 3", n)
		}
	})

	t.Run("CopiesOutOfTheSimulator", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t)
		c := newClient(t, srv)
		c.getToken("k", "s")
		r := srv.Requests()[0]
		r.Body = append(r.Body[:0], 'X')
		r.Header.Set("Authorization", "changed")
		if again := srv.Requests()[0]; again.Header.Get("Authorization") == "changed" || len(again.Body) != 0 {
			t.Errorf("a caller changed the recording: %+v", again)
		}
	})

	t.Run("ServesWithoutANetwork", func(t *testing.T) {
		t.Parallel()
		sim := New()
		defer sim.Close()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, pathToken+"?grant_type=client_credentials", nil)
		req.SetBasicAuth("k", "s")
		sim.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("recorder got %d %q", rec.Code, rec.Header().Get("Content-Type"))
		}
	})

	t.Run("ServerListensOnLoopback", func(t *testing.T) {
		t.Parallel()
		if srv := NewServer(t); !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
			t.Errorf("URL = %s, want 127.0.0.1", srv.URL)
		}
	})
}

func TestLogging(t *testing.T) {
	t.Parallel()
	const (
		key, secret = "consumer-key-9f8e7d", "consumer-secret-1a2b3c"
		phone       = "254712345678"
		cbSecret    = "cb-secret-5150"
	)
	var logs testkit.SyncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := NewServer(t, WithCredentials(key, secret), WithLogger(logger), WithCallbackRetries(1, time.Millisecond))
	srv.SetPhoneOutcome(phone, Outcome{Manual: true})

	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/callback/" + cbSecret
	dead.Close()
	rc := newReceiver(t, http.StatusInternalServerError)

	c := newClient(t, srv)
	if r := c.getToken(key, "wrong"); r.status != http.StatusBadRequest {
		t.Fatalf("wrong secret: %d", r.status)
	}
	r := c.getToken(key, secret)
	tok := r.str(t, "access_token")
	c.token = tok
	id := c.mustPush(phone, rc.URL+"/"+cbSecret)
	c.query(id)
	if err := srv.Complete(id); err != nil {
		t.Fatal(err)
	}
	srv.SetPhoneOutcome("254712345670", Outcome{Manual: true})
	id2 := c.mustPush("254712345670", deadURL)
	if err := srv.Complete(id2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv.Simulator, "four callback attempts", func() bool { return len(srv.Callbacks()) == 4 })
	srv.Close()

	out := logs.String()
	for _, want := range []string{"stk push accepted", "*********678", "callback attempt failed", "transaction completed"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for name, leak := range map[string]string{
		"access token":      tok,
		"consumer secret":   secret,
		"passkey":           SandboxPasskey,
		"password":          password(SandboxShortCode, SandboxPasskey, testTimestamp),
		"full phone":        phone,
		"phone without 254": phone[3:],
		"callback secret":   cbSecret,
	} {
		if strings.Contains(out, leak) {
			t.Errorf("log contains the %s:\n%s", name, out)
		}
	}
}
