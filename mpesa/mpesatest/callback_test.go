package mpesatest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// items maps callback metadata by name; a Balance without Value maps to nil.
func items(t *testing.T, cb map[string]any) map[string]any {
	t.Helper()
	md, ok := cb["CallbackMetadata"].(map[string]any)
	if !ok {
		t.Fatalf("no CallbackMetadata in %v", cb)
	}
	list, _ := md["Item"].([]any)
	out := map[string]any{}
	for _, it := range list {
		m := it.(map[string]any)
		out[m["Name"].(string)] = m["Value"]
		if _, has := m["Value"]; !has {
			out[m["Name"].(string)] = nil
		}
	}
	return out
}

func TestCallback(t *testing.T) {
	t.Parallel()

	t.Run("PaidCarriesTheRealShape", func(t *testing.T) {
		t.Parallel()
		clock := &fakeClock{now: time.Date(2024, 6, 7, 9, 30, 45, 0, time.UTC)}
		srv := NewServer(t, WithClock(clock.Now))
		srv.SetPhoneOutcome("254708374149", Outcome{Manual: true})
		rc := newReceiver(t)
		c := newClient(t, srv)
		c.login()
		id := c.mustPush("254708374149", rc.URL)
		if err := srv.Complete(id); err != nil {
			t.Fatal(err)
		}
		body := rc.next(t)
		cb := stkCallbackOf(t, body)
		tx, _ := srv.Transaction(id)
		if cb["ResultCode"] != json.Number("0") {
			t.Errorf("ResultCode = %#v, want the number 0", cb["ResultCode"])
		}
		if cb["ResultDesc"] != "The service request is processed successfully." ||
			cb["CheckoutRequestID"] != id || cb["MerchantRequestID"] != tx.MerchantRequestID {
			t.Errorf("callback = %s", body)
		}
		it := items(t, cb)
		if amount, _ := it["Amount"].(json.Number).Float64(); amount != 100 {
			t.Errorf("Amount = %v, want 100", it["Amount"])
		}
		receipt, _ := it["MpesaReceiptNumber"].(string)
		if !regexp.MustCompile(`^[A-Z][A-Z0-9]{9}$`).MatchString(receipt) || receipt != tx.Receipt {
			t.Errorf("MpesaReceiptNumber = %q, want 10 characters equal to the transaction's %q", receipt, tx.Receipt)
		}
		if v, ok := it["Balance"]; !ok || v != nil {
			t.Errorf("Balance = %#v, present %v; want present without Value", v, ok)
		}
		if it["TransactionDate"] != json.Number("20240607123045") { // 09:30:45 UTC is 12:30:45 in Nairobi
			t.Errorf("TransactionDate = %#v, want the number 20240607123045", it["TransactionDate"])
		}
		if it["PhoneNumber"] != json.Number("254708374149") {
			t.Errorf("PhoneNumber = %#v, want the number 254708374149", it["PhoneNumber"])
		}
		if !bytes.Contains(body, []byte(`{"Name":"Balance"}`)) {
			t.Errorf("Balance carries a Value: %s", body)
		}
	})

	t.Run("NotPaidHasNoMetadata", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, WithResultDelay(time.Millisecond))
		rc := newReceiver(t)
		c := newClient(t, srv)
		c.login()
		c.mustPush("254712345672", rc.URL) // 2: cancelled
		cb := stkCallbackOf(t, rc.next(t))
		if cb["ResultCode"] != json.Number("1032") || cb["ResultDesc"] != "Request cancelled by user" {
			t.Errorf("callback = %v", cb)
		}
		if _, ok := cb["CallbackMetadata"]; ok {
			t.Errorf("a cancelled payment carries CallbackMetadata: %v", cb)
		}
	})

	t.Run("NonNumericCodeIsAString", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, WithResultDelay(time.Millisecond))
		srv.SetPhoneOutcome("254708374149", Outcome{ResultCode: "SFC_IC0003"})
		rc := newReceiver(t)
		c := newClient(t, srv)
		c.login()
		c.mustPush("254708374149", rc.URL)
		cb := stkCallbackOf(t, rc.next(t))
		if cb["ResultCode"] != "SFC_IC0003" || cb["ResultDesc"] != "The operator does not exist." {
			t.Errorf("callback = %v, want the string SFC_IC0003", cb)
		}
	})

	t.Run("AmountComesBothAsIntegerAndFloat", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, WithResultDelay(time.Millisecond))
		rc := newReceiver(t)
		c := newClient(t, srv)
		c.login()
		c.mustPush("254708374149", rc.URL)
		c.mustPush("254708374140", rc.URL)
		forms := map[string]bool{}
		for range 2 {
			forms[string(items(t, stkCallbackOf(t, rc.next(t)))["Amount"].(json.Number))] = true
		}
		if !forms["100"] || !forms["100.0"] {
			t.Errorf("Amount forms = %v, want both 100 and 100.0", forms)
		}
	})

	t.Run("RetriesAfterA500", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, WithResultDelay(time.Millisecond), WithCallbackRetries(3, time.Millisecond))
		rc := newReceiver(t, http.StatusInternalServerError)
		c := newClient(t, srv)
		c.login()
		id := c.mustPush("254708374149", rc.URL)
		first, second := rc.next(t), rc.next(t)
		if !bytes.Equal(first, second) {
			t.Errorf("the retry sent another body:\n%s\n%s", first, second)
		}
		waitFor(t, srv.Simulator, "two recorded attempts", func() bool { return len(srv.Callbacks()) == 2 })
		got := srv.Callbacks()
		if got[0].Attempt != 1 || got[0].Status != 500 || got[1].Attempt != 2 || got[1].Status != 200 {
			t.Errorf("attempts = %+v", got)
		}
		if got[1].CheckoutRequestID != id || got[1].URL != rc.URL || got[1].Err != nil {
			t.Errorf("attempt 2 = %+v", got[1])
		}
	})

	t.Run("GivesUpAfterTheRetries", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, WithResultDelay(time.Millisecond), WithCallbackRetries(2, time.Millisecond))
		rc := newReceiver(t, 500, 502, 503, 504)
		c := newClient(t, srv)
		c.login()
		c.mustPush("254708374149", rc.URL)
		srv.wg.Wait() // nothing else is scheduled: this waits for the delivery to give up
		if n := len(srv.Callbacks()); n != 3 {
			t.Errorf("%d attempts, want 1 + 2 retries", n)
		}
		if len(rc.got) != 3 {
			t.Errorf("receiver got %d posts, want 3", len(rc.got))
		}
	})

	t.Run("RetriesATransportError", func(t *testing.T) {
		t.Parallel()
		dead := httptest.NewServer(http.NotFoundHandler())
		deadURL := dead.URL + "/cb/secret"
		dead.Close()
		srv := NewServer(t, WithResultDelay(time.Millisecond), WithCallbackRetries(1, time.Millisecond))
		c := newClient(t, srv)
		c.login()
		c.mustPush("254708374149", deadURL)
		waitFor(t, srv.Simulator, "two failed attempts", func() bool { return len(srv.Callbacks()) == 2 })
		for _, a := range srv.Callbacks() {
			if a.Err == nil || a.Status != 0 {
				t.Errorf("attempt %d = status %d err %v, want a transport error", a.Attempt, a.Status, a.Err)
			}
		}
	})

	t.Run("NoCallbackLeavesOnlyTheQuery", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t)
		srv.SetPhoneOutcome("254708374149", Outcome{Manual: true, NoCallback: true})
		srv.SetPhoneOutcome("254708374140", Outcome{Manual: true})
		rc := newReceiver(t)
		c := newClient(t, srv)
		c.login()
		lost := c.mustPush("254708374149", rc.URL)
		kept := c.mustPush("254708374140", rc.URL)
		if err := srv.Complete(lost); err != nil {
			t.Fatal(err)
		}
		if err := srv.Complete(kept); err != nil {
			t.Fatal(err)
		}
		if got := stkCallbackOf(t, rc.next(t))["CheckoutRequestID"]; got != kept {
			t.Fatalf("callback for %v, want only %s", got, kept)
		}
		wantFinal(t, c.query(lost), lost, "0", "The service request is processed successfully.")
		srv.wg.Wait() // both are manual: only deliveries can still run
		if n := len(srv.Callbacks()); n != 1 || len(rc.got) != 0 {
			t.Errorf("%d attempts and %d extra posts, want only the kept one", n, len(rc.got))
		}
	})

	t.Run("QuerySeesTheResultBeforeADelayedCallback", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, WithCallbackDelay(time.Hour))
		srv.SetPhoneOutcome("254708374149", Outcome{Manual: true})
		rc := newReceiver(t)
		c := newClient(t, srv)
		c.login()
		id := c.mustPush("254708374149", rc.URL)
		if err := srv.Complete(id); err != nil {
			t.Fatal(err)
		}
		wantFinal(t, c.query(id), id, "0", "The service request is processed successfully.")
		srv.Close() // cancels the waiting delivery
		if n := len(srv.Callbacks()); n != 0 || len(rc.got) != 0 {
			t.Errorf("%d attempts and %d posts, want none before the callback delay", n, len(rc.got))
		}
	})

	t.Run("SlowReceiverNeverBlocksTheAPI", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		arrived := make(chan struct{}, 1)
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.ReadAll(r.Body) // only then does the server notice a client leaving
			arrived <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(slow.Close)
		t.Cleanup(func() { close(release) })
		srv := NewServer(t)
		srv.SetPhoneOutcome("254708374149", Outcome{Manual: true})
		c := newClient(t, srv)
		c.login()
		id := c.mustPush("254708374149", slow.URL+"/cb")
		if err := srv.Complete(id); err != nil {
			t.Fatal(err)
		}
		<-arrived // the delivery is now stuck in the receiver
		wantFinal(t, c.query(id), id, "0", "The service request is processed successfully.")
		c.mustPush("254708374140", slow.URL+"/cb")
	})

	t.Run("GoesToTheClientGiven", func(t *testing.T) {
		t.Parallel()
		got := make(chan *http.Request, 1)
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			got <- r
			return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
		})
		srv := NewServer(t, WithCallbackClient(&http.Client{Transport: rt}))
		srv.SetPhoneOutcome("254708374149", Outcome{Manual: true})
		c := newClient(t, srv)
		c.login()
		id := c.mustPush("254708374149", "https://bot.example/cb/secret")
		if err := srv.Complete(id); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-got:
			if r.Method != http.MethodPost || r.URL.String() != "https://bot.example/cb/secret" ||
				!strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
				t.Errorf("callback request = %s %s %q", r.Method, r.URL, r.Header.Get("Content-Type"))
			}
		case <-time.After(waitLimit):
			t.Fatal("the given client was not used")
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
