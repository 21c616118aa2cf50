package lifecycle

import (
	"context"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

const (
	paidPhone      = "254708374149"
	cancelledPhone = "254712345672"
)

// A pushed payment whose callback is lost is settled by the watcher's STK
// Query, told once, and no longer watched.
func TestWatcherSettlesFromTheQuery(t *testing.T) {
	r := newRig(t)
	r.run()
	p := r.push(paidPhone, mpesatest.Outcome{NoCallback: true})
	got := r.waitFor(p.ID, "paid", func(p storage.Payment) bool { return p.State == storage.StateSucceeded })
	if got.Receipt != "" {
		t.Errorf("receipt %q from a query, which has none", got.Receipt)
	}
	r.waitTold(p.ID, 1)
	if n := r.e.Watched(); n != 0 {
		t.Errorf("%d payments still watched", n)
	}
}

// A matching "paid" callback settles the payment once; Daraja retrying it
// changes nothing, and a callback with another amount is not believed.
func TestApplyCallbackSettlesOnce(t *testing.T) {
	r := newRig(t)
	p := r.push(paidPhone, mpesatest.Outcome{Manual: true})
	cb := &mpesa.Callback{CheckoutRequestID: p.CheckoutRequestID, ResultCode: "0", Amount: p.Amount, Phone: p.Phone, Receipt: "RCP1"}

	forged := *cb
	forged.Amount++
	if why := CallbackMismatch(p, &forged); why != "amount differs" {
		t.Errorf("CallbackMismatch = %q, want the amount named", why)
	}
	r.e.RejectCallback(p, &forged, "amount differs")
	if got, _ := r.st.Get(p.ID); got.State != storage.StatePending || !hasEvent(got, "callback_mismatch") {
		t.Fatalf("after a mismatch: %s, audited %v; want pending and audited", got.State, hasEvent(got, "callback_mismatch"))
	}

	for range 2 {
		if why := CallbackMismatch(p, cb); why != "" {
			t.Fatalf("CallbackMismatch = %q for the payment's own callback", why)
		}
		if err := r.e.ApplyCallback(p, cb); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := r.st.Get(p.ID)
	if got.State != storage.StateSucceeded || got.Receipt != "RCP1" {
		t.Errorf("got %s receipt %q, want succeeded with RCP1", got.State, got.Receipt)
	}
	r.run()
	r.waitTold(p.ID, 1)
	r.waitFor(p.ID, "notified", func(p storage.Payment) bool { return p.Notified })
	if n := r.chats.count(p.ID); n != 1 {
		t.Errorf("told %d times, want 1", n)
	}
}

// A "not paid" callback is told at once but owes a check with M-Pesa; when
// M-Pesa's query says it was paid after all, the payment is corrected and
// told again.
func TestNotPaidCallbackIsCheckedAndCorrected(t *testing.T) {
	r := newRig(t)
	p := r.push(paidPhone, mpesatest.Outcome{Manual: true, NoCallback: true})
	cb := &mpesa.Callback{CheckoutRequestID: p.CheckoutRequestID, ResultCode: "1032"}
	if err := r.e.ApplyCallback(p, cb); err != nil {
		t.Fatal(err)
	}
	got, _ := r.st.Get(p.ID)
	if got.State != storage.StateFailed || !got.VerifyDue {
		t.Fatalf("got %s verify due %v, want failed and owing a check", got.State, got.VerifyDue)
	}
	if until, _, err := r.st.PhoneHeldUntil(p.Phone); err != nil || !until.After(time.Now()) {
		t.Errorf("phone held until %v (%v), want held while the check is owed", until, err)
	}
	if err := r.sim.Complete(p.CheckoutRequestID); err != nil {
		t.Fatal(err)
	}
	r.run()
	r.waitFor(p.ID, "corrected to paid", func(p storage.Payment) bool { return p.State == storage.StateSucceeded && !p.VerifyDue })
	r.waitTold(p.ID, 2) // the failure, then the correction
	if states := r.chats.states(p.ID); states[1] != storage.StateSucceeded {
		t.Errorf("told %v, want the correction last", states)
	}
}

// At start, a payment the last process left before its push is rejected, one
// left while its push was on the way is unknown with its phone held, and a
// pending one is watched again; none is pushed again.
func TestResumeAfterACrash(t *testing.T) {
	r := newRig(t)
	notSent := r.create("254712345670", mpesatest.Outcome{})
	maybeSent := r.create("254712345680", mpesatest.Outcome{})
	if err := r.st.AppendEvent(maybeSent.ID, storage.Event{At: time.Now(), Source: "bot", Type: EventPushSent}); err != nil {
		t.Fatal(err)
	}
	pending := r.push(cancelledPhone, mpesatest.Outcome{ResultCode: "1032", NoCallback: true})
	pushes := len(r.sim.Transactions())
	r.close()

	r.open()
	res := r.e.Resume()
	if res.Interrupted != 2 || res.Watched != 1 {
		t.Errorf("Resume = %+v, want 2 interrupted and 1 watched", res)
	}
	if got, _ := r.st.Get(notSent.ID); got.State != storage.StateRejected || got.ResultCode != "restart" {
		t.Errorf("not sent: %s %q, want rejected (restart)", got.State, got.ResultCode)
	}
	if got, _ := r.st.Get(maybeSent.ID); got.State != storage.StateUnknown {
		t.Errorf("maybe sent: %s, want unknown", got.State)
	}
	if until, _, err := r.st.PhoneHeldUntil(maybeSent.Phone); err != nil || !until.After(time.Now()) {
		t.Errorf("maybe sent: phone held until %v (%v), want held", until, err)
	}
	r.run()
	r.waitFor(pending.ID, "failed", func(p storage.Payment) bool { return p.State == storage.StateFailed })
	if n := len(r.sim.Transactions()); n != pushes {
		t.Errorf("%d pushes after the restart, want none", n-pushes)
	}
	for _, id := range []string{notSent.ID, maybeSent.ID, pending.ID} {
		r.waitTold(id, 1)
	}
	if d := r.e.Outbox(); !waitIdle(d) {
		t.Error("the outbox is not idle")
	}
	for _, id := range []string{notSent.ID, maybeSent.ID, pending.ID} {
		if n := r.chats.count(id); n != 1 {
			t.Errorf("payment %s: told %d times, want 1", id, n)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r.e.StopBackground()
	r.e.WaitBackground(ctx)
}
