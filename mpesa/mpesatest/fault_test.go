package mpesatest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// wantRecordedOnce asserts that ep saw exactly n requests, the last with status.
func wantRecordedOnce(t *testing.T, s *Simulator, ep Endpoint, n, status int) {
	t.Helper()
	reqs := s.Requests(ep)
	if len(reqs) != n {
		t.Fatalf("%s recorded %d times, want %d", ep, len(reqs), n)
	}
	if got := reqs[n-1].Status; got != status {
		t.Errorf("recorded status %d, want %d", got, status)
	}
}

// freshClient never reuses a connection, so that Go's transport cannot replay a
// request whose connection was dropped.
func freshClient(t *testing.T) *http.Client {
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestFault(t *testing.T) {
	t.Parallel()

	t.Run("StatusWithDarajaErrorAppliesTimesThenClears", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, WithResultDelay(time.Hour))
		c := newClient(t, srv)
		c.login()
		id := c.mustPush("254708374149", "https://example.com/cb")
		f := ErrorFault(http.StatusInternalServerError, "500.003.02", "Error Occurred: Spike Arrest Violation")
		f.Times = 2
		srv.InjectFault(EndpointQuery, f)
		for range 2 {
			c.query(id).wantError(t, http.StatusInternalServerError, "500.003.02", "Error Occurred: Spike Arrest Violation")
		}
		wantPending500(t, c.query(id), id)
		reqs := srv.Requests(EndpointQuery)
		if len(reqs) != 3 || reqs[0].Status != 500 || reqs[1].Status != 500 {
			t.Errorf("recorded %d queries: %+v", len(reqs), reqs)
		}
	})

	t.Run("HTMLGatewayPage", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t)
		srv.InjectFault(EndpointToken, HTMLFault(http.StatusServiceUnavailable))
		c := newClient(t, srv)
		r := c.getToken("k", "s")
		if r.status != http.StatusServiceUnavailable || r.header.Get("Content-Type") != "text/html" ||
			!strings.HasPrefix(string(r.body), "<html>") || !strings.Contains(string(r.body), "503 Service Temporarily Unavailable") {
			t.Errorf("answer = %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
		}
		wantRecordedOnce(t, srv.Simulator, EndpointToken, 1, http.StatusServiceUnavailable)
		if r := c.getToken("k", "s"); r.status != http.StatusOK {
			t.Errorf("after the fault: %d", r.status)
		}
	})

	t.Run("StatusWithEmptyBody", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t)
		srv.InjectFault(EndpointToken, Fault{Status: http.StatusBadGateway})
		r := newClient(t, srv).getToken("k", "s")
		if r.status != http.StatusBadGateway || len(r.body) != 0 {
			t.Errorf("answer = %d %q, want 502 with no body", r.status, r.body)
		}
	})

	t.Run("FaultsQueueInOrder", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t)
		srv.InjectFault(EndpointToken, Fault{Status: 502})
		srv.InjectFault(EndpointToken, Fault{Status: 504})
		c := newClient(t, srv)
		for _, want := range []int{502, 504, 200} {
			if r := c.getToken("k", "s"); r.status != want {
				t.Errorf("status %d, want %d", r.status, want)
			}
		}
	})

	t.Run("DelayAloneDelaysTheNormalAnswer", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t)
		srv.InjectFault(EndpointToken, Fault{Delay: 5 * time.Millisecond})
		r := newClient(t, srv).getToken("k", "s")
		if r.status != http.StatusOK || r.str(t, "expires_in") != "3599" {
			t.Errorf("answer = %d %s", r.status, r.body)
		}
		wantRecordedOnce(t, srv.Simulator, EndpointToken, 1, http.StatusOK)
	})

	t.Run("DelayStopsWhenTheClientGivesUp", func(t *testing.T) {
		t.Parallel()
		// A bare server: NewServer's Close would also end the wait and hide a bug.
		sim := New()
		ts := httptest.NewServer(sim)
		defer ts.Close()
		defer sim.Close()
		sim.InjectFault(EndpointToken, Fault{Delay: time.Hour, Status: 500})

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+pathToken+"?grant_type=client_credentials", nil)
		req.SetBasicAuth("k", "s")
		done := make(chan error, 1)
		go func() {
			_, err := ts.Client().Do(req)
			done <- err
		}()
		waitFor(t, sim, "the request to arrive", func() bool { return len(sim.Requests()) == 1 })
		cancel() // the client gives up while the answer is delayed
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want the client's cancellation", err)
		}
		closed := make(chan struct{})
		go func() { ts.Close(); close(closed) }() // returns once every handler has returned
		select {
		case <-closed:
		case <-time.After(waitLimit):
			t.Fatal("the handler still waits after its client gave up")
		}
		wantRecordedOnce(t, sim, EndpointToken, 1, 0)
	})

	t.Run("DropClosesWithoutAnswer", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t)
		c := newClient(t, srv)
		c.login()
		c.http = freshClient(t)
		srv.InjectFault(EndpointPush, Fault{Drop: true})
		req := c.request(http.MethodPost, pathPush, `{"Amount":1}`)
		if _, err := c.http.Do(req); err == nil {
			t.Fatal("a dropped request got an answer")
		}
		wantRecordedOnce(t, srv.Simulator, EndpointPush, 1, 0)
		if got := string(srv.Requests(EndpointPush)[0].Body); got != `{"Amount":1}` {
			t.Errorf("recorded body %q", got)
		}
		if n := len(srv.Transactions()); n != 0 {
			t.Errorf("%d transactions from a dropped push, want 0", n)
		}
	})

	t.Run("DropOnTokenRecordedOnce", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t)
		srv.InjectFault(EndpointToken, Fault{Drop: true})
		c := newClient(t, srv)
		c.http = freshClient(t)
		req := c.request(http.MethodGet, pathToken+"?grant_type=client_credentials", "")
		req.SetBasicAuth("k", "s")
		if _, err := c.http.Do(req); err == nil {
			t.Fatal("a dropped request got an answer")
		}
		wantRecordedOnce(t, srv.Simulator, EndpointToken, 1, 0)
	})

	t.Run("CutBodyEndsMidJSON", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t)
		srv.InjectFault(EndpointToken, Fault{CutBody: true})
		c := newClient(t, srv)
		req := c.request(http.MethodGet, pathToken+"?grant_type=client_credentials", "")
		req.SetBasicAuth("k", "s")
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatalf("the headers should arrive: %v", err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("reading the body: %v, want unexpected EOF", err)
		}
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(b), `{"access_token":"`) {
			t.Errorf("got %d %q, want 200 and the start of a token", resp.StatusCode, b)
		}
		wantRecordedOnce(t, srv.Simulator, EndpointToken, 1, http.StatusOK)
	})

	t.Run("CutBodyOfAGivenBody", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t)
		srv.InjectFault(EndpointToken, Fault{CutBody: true, Status: 500, Body: `{"errorCode":"500.001.1001","errorMessage":"x"}`})
		c := newClient(t, srv)
		req := c.request(http.MethodGet, pathToken+"?grant_type=client_credentials", "")
		req.SetBasicAuth("k", "s")
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if resp.StatusCode != 500 || err == nil || resp.Header.Get("Content-Type") != "application/json" ||
			!strings.HasPrefix(string(b), `{"errorCode"`) {
			t.Errorf("got %d %q %v", resp.StatusCode, b, err)
		}
	})

	t.Run("ProcessedPushLosesItsAnswerButHappens", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, WithResultDelay(time.Millisecond))
		rc := newReceiver(t)
		c := newClient(t, srv)
		c.login()
		c.http = freshClient(t)
		srv.InjectFault(EndpointPush, Fault{Drop: true, Processed: true})
		b := `{"BusinessShortCode":174379,"Password":"` + password(SandboxShortCode, SandboxPasskey, testTimestamp) +
			`","Timestamp":"` + testTimestamp + `","TransactionType":"CustomerPayBillOnline","Amount":1,` +
			`"PartyA":254708374149,"PartyB":174379,"PhoneNumber":254708374149,"CallBackURL":"` + rc.URL +
			`","AccountReference":"INV-42","TransactionDesc":"Payment"}`
		req := c.request(http.MethodPost, pathPush, b)
		req.Header.Set("Authorization", "Bearer "+c.token)
		if _, err := c.http.Do(req); err == nil {
			t.Fatal("a dropped push got an answer")
		}
		cb := stkCallbackOf(t, rc.next(t)) // the customer was still charged
		txs := srv.Transactions()
		if len(txs) != 1 || cb["CheckoutRequestID"] != txs[0].CheckoutRequestID {
			t.Errorf("transactions %+v, callback %v", txs, cb)
		}
		wantRecordedOnce(t, srv.Simulator, EndpointPush, 1, 0)
	})

	t.Run("ProcessedTokenWithStatusStillIssues", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t)
		srv.InjectFault(EndpointToken, Fault{Status: 504, Processed: true})
		c := newClient(t, srv)
		if r := c.getToken("k", "s"); r.status != 504 {
			t.Fatalf("status %d, want 504", r.status)
		}
		srv.mu.Lock()
		n := len(srv.tokens)
		srv.mu.Unlock()
		if n != 1 {
			t.Errorf("%d tokens issued, want 1", n)
		}
	})

	t.Run("ClearFaultsForgetsQueuedOnes", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t)
		srv.InjectFault(EndpointToken, Fault{Status: 502, Times: 5})
		srv.ClearFaults()
		if r := newClient(t, srv).getToken("k", "s"); r.status != http.StatusOK {
			t.Errorf("status %d after ClearFaults", r.status)
		}
	})
}
