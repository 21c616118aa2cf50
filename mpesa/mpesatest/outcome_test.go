package mpesatest

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestDefaultOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		phone string
		code  string
	}{
		{"PaysOn0", "254712345670", "0"},
		{"InsufficientOn1", "254712345671", "1"},
		{"CancelledOn2", "254712345672", "1032"},
		{"TimedOutOn3", "254712345673", "1037"},
		{"WrongPINOn4", "254712345674", "2001"},
		{"AnotherSessionOn5", "254712345675", "1001"},
		{"FailedOn6", "254712345676", "1025"},
		{"PaysOn8", "254712345678", "0"},
		{"PaysOn9", "254712345679", "0"},
		{"PaysTheSandboxNumber", "254708374149", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOutcome(tt.phone)
			if o.ResultCode != tt.code || o.Reject != nil || o.Manual || o.NoCallback {
				t.Errorf("DefaultOutcome(%s) = %+v, want result %s", tt.phone, o, tt.code)
			}
		})
	}
	t.Run("RefusesThePushOn7", func(t *testing.T) {
		o := DefaultOutcome("254712345677")
		if o.Reject == nil || o.Reject.Status != http.StatusBadRequest {
			t.Fatalf("DefaultOutcome(…7) = %+v, want a 400 Reject", o)
		}
		var e darajaErrorBody
		if err := json.Unmarshal([]byte(o.Reject.Body), &e); err != nil ||
			e.ErrorCode != "400.002.02" || e.ErrorMessage != "Bad Request - Invalid PhoneNumber" {
			t.Errorf("reject body = %s", o.Reject.Body)
		}
	})
}

func TestOutcomes(t *testing.T) {
	t.Parallel()

	t.Run("DefaultByLastDigitEndToEnd", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, WithResultDelay(time.Millisecond))
		rc := newReceiver(t)
		c := newClient(t, srv)
		c.login()
		want := map[string]string{}
		for d := range 10 {
			phone := "25471234567" + string(rune('0'+d))
			if d == 7 {
				c.push(pushFields(phone, rc.URL)).
					wantError(t, http.StatusBadRequest, "400.002.02", "Bad Request - Invalid PhoneNumber")
				continue
			}
			want[c.mustPush(phone, rc.URL)] = DefaultOutcome(phone).ResultCode
		}
		for range want {
			cb := stkCallbackOf(t, rc.next(t))
			id, _ := cb["CheckoutRequestID"].(string)
			if got := string(cb["ResultCode"].(json.Number)); got != want[id] {
				t.Errorf("callback of %s: ResultCode %s, want %s", id, got, want[id])
			}
			if cb["ResultDesc"] != ResultDescription(want[id]) {
				t.Errorf("callback of %s: ResultDesc %q, want %q", id, cb["ResultDesc"], ResultDescription(want[id]))
			}
		}
		if n := len(srv.Transactions()); n != 9 {
			t.Errorf("%d transactions, want 9 (the refused push makes none)", n)
		}
	})

	t.Run("PhoneScriptReplacesDefault", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, WithResultDelay(time.Millisecond))
		srv.SetPhoneOutcome("254708374149", Outcome{ResultCode: "1037", ResultDesc: "No response from user."})
		rc := newReceiver(t)
		c := newClient(t, srv)
		c.login()
		id := c.mustPush("254708374149", rc.URL)
		cb := stkCallbackOf(t, rc.next(t))
		if cb["ResultCode"] != json.Number("1037") || cb["ResultDesc"] != "No response from user." {
			t.Errorf("callback = %v, want 1037 with the scripted description", cb)
		}
		wantFinal(t, c.query(id), id, "1037", "No response from user.")
	})

	t.Run("CheckoutScriptChangesAnInFlightTransaction", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t)
		srv.SetPhoneOutcome("254708374149", Outcome{Manual: true}) // would be paid, by hand
		rc := newReceiver(t)
		c := newClient(t, srv)
		c.login()
		id := c.mustPush("254708374149", rc.URL)
		srv.SetCheckoutOutcome(id, Outcome{ResultCode: "2001", After: time.Millisecond})
		cb := stkCallbackOf(t, rc.next(t))
		if cb["ResultCode"] != json.Number("2001") {
			t.Errorf("ResultCode = %v, want the checkout script's 2001", cb["ResultCode"])
		}
	})

	t.Run("CheckoutScriptCanMakeItManual", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, WithResultDelay(time.Millisecond))
		srv.SetPhoneOutcome("254708374149", Outcome{After: time.Hour})
		c := newClient(t, srv)
		c.login()
		id := c.mustPush("254708374149", "https://example.com/cb")
		srv.SetCheckoutOutcome(id, Outcome{ResultCode: "1", Manual: true, NoCallback: true})
		wantPending500(t, c.query(id), id)
		if err := srv.Complete(id); err != nil {
			t.Fatal(err)
		}
		wantFinal(t, c.query(id), id, "1", "The balance is insufficient for the transaction")
	})

	t.Run("ManualStaysPendingUntilComplete", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, WithResultDelay(time.Millisecond))
		srv.SetPhoneOutcome("254708374149", Outcome{Manual: true, NoCallback: true})
		c := newClient(t, srv)
		c.login()
		id := c.mustPush("254708374149", "https://example.com/cb")
		// The default delay is 1ms; a manual one still answers pending long after.
		for range 5 {
			if r := c.query(id); r.status == http.StatusOK && r.object(t)["ResultCode"] != "4999" {
				t.Fatalf("manual transaction answered %s before Complete", r.body)
			}
		}
		if tx, _ := srv.Transaction(id); tx.State != StatePending {
			t.Fatalf("state = %s, want pending", tx.State)
		}
		if err := srv.Complete(id); err != nil {
			t.Fatal(err)
		}
		tx, _ := srv.Transaction(id)
		if tx.State != StateCompleted || tx.ResultCode != "0" || len(tx.Receipt) != 10 {
			t.Errorf("after Complete: %+v", tx)
		}
	})

	t.Run("CompleteRefusesUnknownAndFinished", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t)
		srv.SetPhoneOutcome("254708374149", Outcome{Manual: true, NoCallback: true})
		c := newClient(t, srv)
		c.login()
		id := c.mustPush("254708374149", "https://example.com/cb")
		if err := srv.Complete("ws_CO_nope"); !errors.Is(err, ErrUnknownCheckout) {
			t.Errorf("Complete(unknown) = %v, want ErrUnknownCheckout", err)
		}
		if err := srv.Complete(id); err != nil {
			t.Fatal(err)
		}
		if err := srv.Complete(id); !errors.Is(err, ErrNotPending) {
			t.Errorf("second Complete = %v, want ErrNotPending", err)
		}
	})

	t.Run("RejectScriptAnswersTheFaultAndCreatesNothing", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t)
		f := HTMLFault(http.StatusBadGateway)
		srv.SetPhoneOutcome("254708374149", Outcome{Reject: &f})
		c := newClient(t, srv)
		c.login()
		r := c.push(pushFields("254708374149", "https://example.com/cb"))
		if r.status != http.StatusBadGateway || r.header.Get("Content-Type") != "text/html" {
			t.Errorf("push = %d %s, want the 502 page", r.status, r.header.Get("Content-Type"))
		}
		if n := len(srv.Transactions()); n != 0 {
			t.Errorf("%d transactions, want 0", n)
		}
	})

	t.Run("CompletionReleasesThePhone", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, WithResultDelay(time.Millisecond))
		rc := newReceiver(t)
		c := newClient(t, srv)
		c.login()
		c.mustPush("254708374149", rc.URL)
		rc.next(t)
		c.mustPush("254708374149", rc.URL)
	})
}
