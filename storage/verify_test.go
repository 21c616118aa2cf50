package storage_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/storage"
)

// A failed result from a callback is marked as owing M-Pesa's confirmation in
// the same transaction, and the mark survives a restart until it is answered.
func TestCallbackFailureOwesACheckAcrossARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mpesa-bot.db")
	clock := newFakeClock()
	s := mustOpenAt(t, path, clock)
	p := pendingPayment(t, s, clock)
	got, changed, err := s.Settle(p.ID, storage.Result{State: storage.StateFailed, ResultCode: "1032", Source: "callback",
		Verify: true, HoldUntil: clock.Now().Add(3 * time.Minute)})
	if err != nil || !changed || !got.VerifyDue {
		t.Fatalf("Settle = %+v, %v, %v; want failed and owing a check", got, changed, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpenAt(t, path, clock)
	if due, err := s.ListVerifyDue(); err != nil || len(due) != 1 || due[0].ID != p.ID {
		t.Fatalf("ListVerifyDue after reopen = %v, %v; want the payment", ids(due), err)
	}
	if _, _, err := s.Create(onPhone(p.Phone), onePerPhone); !errors.Is(err, storage.ErrPhoneBusy) {
		t.Fatalf("Create while the check is owed = %v; want the phone held", err)
	}
	wrote, err := s.VerifyDone(p.ID, storage.Event{Source: "query", Type: "verified", Detail: "1032"}, true)
	if err != nil || !wrote {
		t.Fatalf("VerifyDone = %v, %v", wrote, err)
	}
	if due, err := s.ListVerifyDue(); err != nil || len(due) != 0 {
		t.Errorf("ListVerifyDue after the answer = %v, %v; want none", ids(due), err)
	}
	if _, created, err := s.Create(onPhone(p.Phone), onePerPhone); err != nil || !created {
		t.Errorf("Create after M-Pesa's final answer = %v, %v; want the hold lifted", created, err)
	}
	if again, err := s.VerifyDone(p.ID, storage.Event{Source: "query", Type: "verified"}, true); err != nil || again {
		t.Errorf("a second VerifyDone = %v, %v; want nothing written", again, err)
	}
	mustCheck(t, s)
}

// A contradicting "paid" asks for a check; the receipt it claims is used when
// M-Pesa confirms; a flood asks for at most limit checks.
func TestRequestVerifyIsBoundedAndCorrectUsesTheClaimedReceipt(t *testing.T) {
	s, clock := mustOpenStore(t)
	p := paymentIn(t, s, clock, storage.StateFailed)
	for range 10 {
		if _, _, err := s.RequestVerify(p.ID, "", "", "callback", 2); err != nil {
			t.Fatal(err)
		}
		if _, err := s.VerifyDone(p.ID, storage.Event{Source: "query", Type: "verified"}, false); err != nil {
			t.Fatal(err)
		}
	}
	if got := mustGet(t, s, p.ID); got.Verifications != 2 || got.VerifyDue || countEvents(got, "verify_requested") != 2 {
		t.Fatalf("after a flood: %d checks, due %v, %d requests; want 2, false, 2", got.Verifications, got.VerifyDue, countEvents(got, "verify_requested"))
	}

	q := paymentIn(t, s, clock, storage.StateFailed)
	if _, wrote, err := s.RequestVerify(q.ID, "", "", "callback", 3); err != nil || !wrote {
		t.Fatalf("RequestVerify = %v, %v", wrote, err)
	}
	if _, wrote, err := s.RequestVerify(q.ID, "", "RCPT0PAID1", "callback", 3); err != nil || !wrote {
		t.Fatalf("RequestVerify adding the receipt = %v, %v", wrote, err)
	}
	if _, wrote, err := s.RequestVerify(q.ID, "", "RCPT0PAID1", "callback", 3); err != nil || wrote {
		t.Fatalf("RequestVerify with the same receipt again = %v, %v; want nothing written", wrote, err)
	}
	got, changed, err := s.Correct(q.ID, storage.Result{State: storage.StateSucceeded, ResultCode: "0", Source: "query"})
	if err != nil || !changed || got.Receipt != "RCPT0PAID1" || got.VerifyDue || !got.Corrected {
		t.Fatalf("Correct = %+v, %v, %v; want succeeded with the claimed receipt, no check owed", got, changed, err)
	}
	if _, _, err := s.RequestVerify(q.ID, "", "", "callback", 3); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, q.ID); got.VerifyDue {
		t.Error("a succeeded payment was marked as owing a check")
	}
	if _, _, err := s.RequestVerify(q.ID, "", "RCPT-!", "callback", 3); !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("RequestVerify with a bad receipt = %v, want ErrInvalid", err)
	}
	mustCheck(t, s)
}

// A payment moved to a supergroup loses its message ID: message IDs are per
// chat, so a reply to it would land on someone else's message.
func TestMoveChatForgetsTheMessageID(t *testing.T) {
	s, _ := mustOpenStore(t)
	p := mustCreate(t, s, newPayment())
	if _, err := s.MoveChat(p.ChatID, -1_000_000_000_001); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, p.ID); got.ChatID != -1_000_000_000_001 || got.MessageID != 0 {
		t.Errorf("moved payment: chat %d message %d; want the new chat and no message", got.ChatID, got.MessageID)
	}
}

// Expired holds do not stay in the file for ever: Open prunes them.
func TestOpenPrunesExpiredHolds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mpesa-bot.db")
	clock := newFakeClock()
	s := mustOpenAt(t, path, clock)
	held := unknownWithHold(t, s, clock, time.Minute)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	s = mustOpenAt(t, path, clock)
	mustCheck(t, s)
	clock.Advance(-2 * time.Minute) // had it survived, the hold would count again
	if until, _, err := s.PhoneHeldUntil(held.Phone); err != nil || !until.IsZero() {
		t.Errorf("PhoneHeldUntil = %v, %v; want the expired hold pruned at Open", until, err)
	}
}

// Callbacks that claim different receipts for the same payment cannot all be
// right: the correction shows none of them.
func TestCorrectShowsNoReceiptWhenCallbacksDisagree(t *testing.T) {
	s, clock := mustOpenStore(t)
	p := paymentIn(t, s, clock, storage.StateFailed)
	for _, receipt := range []string{"FORGED0001", "GENUINE001", "THIRD00001"} {
		if _, _, err := s.RequestVerify(p.ID, "", receipt, "callback", 3); err != nil {
			t.Fatal(err)
		}
	}
	got, changed, err := s.Correct(p.ID, storage.Result{State: storage.StateSucceeded, ResultCode: "0", Source: "query"})
	if err != nil || !changed || got.Receipt != "" {
		t.Fatalf("Correct = receipt %q, %v, %v; want corrected with no receipt", got.Receipt, changed, err)
	}
	if _, added, err := s.AddReceipt(p.ID, "GENUINE001", "callback"); err != nil || !added {
		t.Errorf("AddReceipt after the correction = %v, %v; want the next matching callback to fill it", added, err)
	}
}

// A matched "paid" callback supplies the CheckoutRequestID of a payment whose
// push answer was lost, so the check can ask M-Pesa; one held by another
// payment is refused.
func TestRequestVerifyFillsAMissingCheckoutID(t *testing.T) {
	s, clock := mustOpenStore(t)
	lost := mustCreate(t, s, newPayment())
	settle(t, s, lost.ID, storage.StateFailed, "1032")
	other := pendingPayment(t, s, clock)
	if _, _, err := s.RequestVerify(lost.ID, other.CheckoutRequestID, "", "callback", 3); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("RequestVerify with another payment's checkout id = %v, want ErrConflict", err)
	}
	got, wrote, err := s.RequestVerify(lost.ID, "ws_CO_found", "", "callback", 3)
	if err != nil || !wrote || got.CheckoutRequestID != "ws_CO_found" || !got.VerifyDue {
		t.Fatalf("RequestVerify = %q due %v, %v, %v; want the id filled and a check owed", got.CheckoutRequestID, got.VerifyDue, wrote, err)
	}
	if byID, err := s.GetByCheckoutID("ws_CO_found"); err != nil || byID.ID != lost.ID {
		t.Errorf("GetByCheckoutID = %v, %v; want the payment indexed by its new id", byID.ID, err)
	}
	mustCheck(t, s)
}
