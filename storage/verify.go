package storage

import (
	"fmt"
)

// A failed result that came from an unsigned source (a Daraja callback), or
// that a later callback contradicts with "paid", is checked with M-Pesa's own
// STK Query before it is trusted for good. The mark that a check is owed,
// VerifyDue, is written in the same transaction as the result (Settle with
// Result.Verify) or the contradiction (RequestVerify), indexed, and cleared
// only by the check's answer (VerifyDone) or a correction (Correct): a crash
// or a failed query in between leaves it owed, and ListVerifyDue finds it at
// start.

// conflictingReceipts is VerifyReceipt when callbacks claimed different
// receipts: none of them can be believed, so Correct stores none. It is not a
// valid receipt, so it can never be shown as one.
const conflictingReceipts = "-"

// RequestVerify marks a failed payment as owing a check with M-Pesa, because
// a callback that matched it (amount and phone) now says it was paid, and
// keeps the receipt that callback claimed for Correct. It reports whether it
// wrote. checkoutID fills an empty CheckoutRequestID (a push whose answer was
// lost): a matched "paid" callback is the only way to learn it, and the check
// needs it; one that belongs to another payment is ErrConflict.
//
// A payment already owing a check gains a missing receipt or ID; callbacks
// claiming different receipts leave none to show. Each request that sets the
// mark counts: at most limit are ever made for one payment, so a flood of
// forged callbacks cannot turn into a flood of queries (the check a "not
// paid" callback itself owes, Settle with Result.Verify, does not count).
// Other states change nothing. A non-empty receipt is checked like
// AddReceipt's (ErrInvalid).
func (s *Store) RequestVerify(id, checkoutID, receipt, source string, limit int) (Payment, bool, error) {
	switch {
	case receipt != "" && !validReceipt(receipt):
		return Payment{}, false, fmt.Errorf("storage: request verify %s: %w: receipt must be 1 to %d letters and digits", id, ErrInvalid, maxReceipt)
	case source == "" || limit < 1 || len(checkoutID) > maxKey:
		return Payment{}, false, fmt.Errorf("storage: request verify %s: %w: source, a positive limit and a checkout id of at most %d bytes required", id, ErrInvalid, maxKey)
	}
	now := s.clock()
	var refused error
	p, wrote, err := s.amend("request verify "+id, id, func(b *txBuckets, r *record) (*record, []Event) {
		refused = nil
		if r.State != StateFailed {
			return nil, nil
		}
		next := r.clone()
		if checkoutID != "" && r.CheckoutRequestID == "" {
			if held := b.idx[idxCheckout].Get([]byte(checkoutID)); held != nil {
				refused = fmt.Errorf("%w: checkout id %s belongs to payment %s", ErrConflict, checkoutID, held)
				return nil, nil
			}
			next.CheckoutRequestID = checkoutID
		}
		switch {
		case !r.VerifyDue && r.Verifications >= limit:
			return nil, nil
		case !r.VerifyDue:
			next.VerifyDue = true
			next.Verifications++
			next.VerifyReceipt = receipt
		case receipt == "" || receipt == r.VerifyReceipt || r.VerifyReceipt == conflictingReceipts:
		case r.VerifyReceipt == "":
			next.VerifyReceipt = receipt
		default:
			next.VerifyReceipt = conflictingReceipts
		}
		if *next == *r {
			return nil, nil
		}
		next.UpdatedAt = now
		detail := "a callback says paid"
		if receipt != "" {
			detail += ", receipt " + receipt
		}
		return next, []Event{{At: now, Source: source, Type: "verify_requested", Detail: detail}}
	})
	if err == nil && refused != nil {
		return Payment{}, false, fmt.Errorf("storage: request verify %s: %w", id, refused)
	}
	return p, wrote, err
}

// VerifyDone records the answer to a check a payment owed: it clears
// VerifyDue, counts the check, appends ev, and, when release is set (M-Pesa
// gave a final answer, so the prompt is over), lifts the hold the payment has
// on its phone. It reports whether it wrote; a payment owing no check changes
// nothing. A "paid" answer goes through Correct instead.
func (s *Store) VerifyDone(id string, ev Event, release bool) (bool, error) {
	event, err := s.normaliseEvent(ev)
	if err != nil {
		return false, fmt.Errorf("storage: verify done %s: %w", id, err)
	}
	now := s.clock()
	var wrote bool
	err = s.write("verify done "+id, id, func(b *txBuckets, r *record) (*record, []Event, error) {
		wrote = false
		if !r.VerifyDue {
			return nil, nil, nil
		}
		if release {
			if err := b.releaseHold(r.Phone, r.ID); err != nil {
				return nil, nil, err
			}
		}
		next := r.clone()
		next.VerifyDue = false
		next.VerifyReceipt = ""
		next.UpdatedAt = now
		wrote = true
		return next, []Event{event}, nil
	})
	return wrote, err
}

// ListVerifyDue returns the payments that owe a check with M-Pesa, oldest first.
func (s *Store) ListVerifyDue() ([]Payment, error) {
	return s.listFlag(idxVerify, "list verify due")
}
