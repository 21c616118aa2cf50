package bot_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// A query said the payment timed out and the chat was told so; then M-Pesa
// calls back "paid" with a receipt: the customer was charged. The result
// stays (final is final) but nothing is dropped: the callback is in the audit
// trail and the chat is warned with the receipt, so nobody asks for the
// money twice.
func TestPaidCallbackAfterFailedResultWarnsTheChat(t *testing.T) {
	w := newWorld(t, options{})
	w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{ResultCode: "1037", NoCallback: true})
	p := w.pay("/pay 0712345678 100 INV001")
	w.awaitOutcome(p.chat.ID, p.msg, p.ack, "timed out")
	w.awaitNotified(p.checkoutID)

	a := w.post(w.callbackPath(p.checkoutID), callbackBody(p.checkoutID, "0", "RCPT0PAID1", 100))
	if a.status != http.StatusOK {
		t.Fatalf("answer = %d %q, want 200", a.status, a.body)
	}
	warn := w.awaitReply(p.chat.ID, p.msg, "correction", "PAID", "RCPT0PAID1", "timed out")
	if strings.Contains(strings.ToLower(warn.Plain), "successful") {
		t.Errorf("the warning %q uses the outcome key word 'successful'", warn.Plain)
	}
	got, err := w.store.GetByCheckoutID(p.checkoutID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != storage.StateFailed || got.ResultCode != "1037" {
		t.Errorf("payment %s %s, want the final result kept (failed 1037)", got.State, got.ResultCode)
	}
	last := got.History[len(got.History)-1]
	if last.Type != "callback_conflict" || !strings.Contains(last.Detail, "RCPT0PAID1") {
		t.Errorf("last audit event = %+v, want the conflicting callback with its receipt", last)
	}
}

// A callback whose result cannot be stored is not answered "Accepted":
// Daraja is asked to try again (500) instead of the result being lost.
func TestCallbackNotStoredIsNotAccepted(t *testing.T) {
	w := newWorld(t, options{cfg: longCallbackWait})
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
