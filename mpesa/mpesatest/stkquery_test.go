package mpesatest

import (
	"net/http"
	"testing"
	"time"
)

// wantPending500 asserts the HTTP 500 pending shape.
func wantPending500(t *testing.T, r reply, checkoutID string) {
	t.Helper()
	r.wantError(t, http.StatusInternalServerError, "500.001.1001", "The transaction is being processed")
	if got := r.str(t, "requestId"); got != checkoutID {
		t.Errorf("requestId = %q, want the CheckoutRequestID %q", got, checkoutID)
	}
}

// wantPending4999 asserts the HTTP 200 ResultCode "4999" pending shape.
func wantPending4999(t *testing.T, r reply) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, want 200: %s", r.status, r.body)
	}
	m := r.object(t)
	if m["ResultCode"] != "4999" || m["ResultDesc"] != "The transaction is still under processing" {
		t.Errorf("pending answer = %s, want ResultCode \"4999\"", r.body)
	}
}

// wantFinal asserts the final query shape with a string ResultCode.
func wantFinal(t *testing.T, r reply, checkoutID, code, desc string) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, want 200: %s", r.status, r.body)
	}
	m := r.object(t)
	if m["ResultCode"] != code || m["ResultDesc"] != desc {
		t.Errorf("result = %#v %#v, want the string %q and %q", m["ResultCode"], m["ResultDesc"], code, desc)
	}
	if m["ResponseCode"] != "0" || m["ResponseDescription"] != "The service request has been accepted successsfully" {
		t.Errorf("response = %#v %#v, want \"0\" and the misspelt description", m["ResponseCode"], m["ResponseDescription"])
	}
	if m["CheckoutRequestID"] != checkoutID {
		t.Errorf("CheckoutRequestID = %#v, want %s", m["CheckoutRequestID"], checkoutID)
	}
	if _, ok := m["MerchantRequestID"].(string); !ok {
		t.Errorf("MerchantRequestID missing: %s", r.body)
	}
}

func TestQuery(t *testing.T) {
	t.Parallel()

	t.Run("AlternatesPendingShapesThenAnswersFinal", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t)
		srv.SetPhoneOutcome("254712345678", Outcome{ResultCode: "1032", Manual: true})
		c := newClient(t, srv)
		c.login()
		id := c.mustPush("254712345678", "https://example.com/cb")

		wantPending500(t, c.query(id), id)
		wantPending4999(t, c.query(id))
		wantPending500(t, c.query(id), id)
		if err := srv.Complete(id); err != nil {
			t.Fatal(err)
		}
		wantFinal(t, c.query(id), id, "1032", "Request cancelled by user")
		wantFinal(t, c.query(id), id, "1032", "Request cancelled by user")
	})

	t.Run("Pending500Always", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, WithPendingShape(Pending500), WithResultDelay(time.Hour))
		c := newClient(t, srv)
		c.login()
		id := c.mustPush("254712345678", "https://example.com/cb")
		for range 3 {
			wantPending500(t, c.query(id), id)
		}
	})

	t.Run("Pending4999Always", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, WithPendingShape(Pending4999), WithResultDelay(time.Hour))
		c := newClient(t, srv)
		c.login()
		id := c.mustPush("254712345678", "https://example.com/cb")
		for range 3 {
			wantPending4999(t, c.query(id))
		}
	})

	t.Run("AnswersFinalAfterTheResultDelay", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, WithResultDelay(time.Millisecond))
		rc := newReceiver(t)
		c := newClient(t, srv)
		c.login()
		id := c.mustPush("254708374149", rc.URL)
		rc.next(t) // the result is there once its callback is
		wantFinal(t, c.query(id), id, "0", "The service request is processed successfully.")
	})

	t.Run("RefusesUnknownCheckoutID", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, NewServer(t))
		c.login()
		c.query("ws_CO_191220191020363925").
			wantError(t, http.StatusBadRequest, "400.002.02", "Bad Request - Invalid CheckoutRequestID")
	})

	t.Run("RefusesWrongPassword", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, WithResultDelay(time.Hour))
		c := newClient(t, srv)
		c.login()
		id := c.mustPush("254712345678", "https://example.com/cb")
		c.post(pathQuery, map[string]any{
			"BusinessShortCode": SandboxShortCode,
			"Password":          password(SandboxShortCode, "nope", testTimestamp),
			"Timestamp":         testTimestamp,
			"CheckoutRequestID": id,
		}).wantError(t, http.StatusInternalServerError, "500.001.1001", "Wrong credentials")
	})

	t.Run("RefusesMalformedJSON", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, NewServer(t))
		c.login()
		c.postRaw(pathQuery, `{"CheckoutRequestID":`).
			wantError(t, http.StatusBadRequest, "400.002.05", "Invalid Request Payload")
	})
}
