package bot_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// A query said the payment timed out and the chat was told so; then a
// callback says "paid". It is checked with one STK Query before anything is
// told: M-Pesa still says timed out, so the result stays, nobody is told,
// and the audit trail keeps both the callback and the check.
func TestPaidCallbackAfterFailedResultIsCheckedFirst(t *testing.T) {
	w := newWorld(t, options{})
	w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{ResultCode: "1037", NoCallback: true})
	p := w.pay("/pay 0712345678 100 INV001")
	w.awaitOutcome(p.chat.ID, p.msg, p.ack, "timed out")
	w.awaitNotified(p.checkoutID)
	queries := len(w.sim.Requests(mpesatest.EndpointQuery))

	a := w.post(w.callbackPath(p.checkoutID), callbackBody(p.checkoutID, "0", "RCPT0PAID1", 100))
	if a.status != http.StatusOK {
		t.Fatalf("answer = %d %q, want 200", a.status, a.body)
	}
	w.eventually("the contradiction checked with M-Pesa", func() bool {
		got, err := w.store.GetByCheckoutID(p.checkoutID)
		return err == nil && historyCount(got, "verified") == 1
	})
	w.stop()
	if q := len(w.sim.Requests(mpesatest.EndpointQuery)) - queries; q != 1 {
		t.Errorf("STK Queries after the callback = %d, want 1", q)
	}
	for _, word := range []string{"correction", "successful", "RCPT0PAID1"} {
		if n := w.count(p.chat.ID, word); n != 0 {
			t.Errorf("%d messages say %q:%s", n, word, w.transcript())
		}
	}
	got := w.storedAfterStop(p.checkoutID)
	if got.State != storage.StateFailed || got.ResultCode != "1037" {
		t.Errorf("payment %s %s, want the final result kept (failed 1037)", got.State, got.ResultCode)
	}
	if n := historyCount(got, "callback_conflict"); n != 1 {
		t.Errorf("%d callback_conflict events, want 1", n)
	}
}

// A callback whose result cannot be stored is not answered "Accepted":
// Daraja is asked to try again (500) instead of the result being lost.
func TestCallbackNotStoredIsNotAccepted(t *testing.T) {
	w := newWorld(t, options{cfg: longInitialDelay})
	w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{ResultCode: "0", NoCallback: true})
	p := w.pay("/pay 0712345678 100 INV001")
	path := w.callbackPath(p.checkoutID)
	if err := w.store.Close(); err != nil {
		t.Fatal(err)
	}
	a := w.post(path, callbackBody(p.checkoutID, "0", "RCPT1", 100))
	if a.status != http.StatusInternalServerError || strings.Contains(a.body, "Accepted") {
		t.Errorf("answer = %d %q, want 500 without Accepted", a.status, a.body)
	}
}
