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

// RequestVerify marks a failed payment as owing a check with M-Pesa, because
// a callback now says it was paid, and keeps the receipt that callback
// claimed (used by Correct when M-Pesa confirms). It reports whether it wrote.
// A payment already owing a check only gains a missing receipt. At most limit
// checks are ever asked for one payment, so a flood of forged callbacks
// cannot turn into a flood of queries; other states change nothing. receipt
// may be empty; a non-empty one is checked like AddReceipt's (ErrInvalid).
func (s *Store) RequestVerify(id, receipt, source string, limit int) (Payment, bool, error) {
	switch {
	case receipt != "" && !validReceipt(receipt):
		return Payment{}, false, fmt.Errorf("storage: request verify %s: %w: receipt must be 1 to %d letters and digits", id, ErrInvalid, maxReceipt)
	case source == "" || limit < 1:
		return Payment{}, false, fmt.Errorf("storage: request verify %s: %w: source and a positive limit required", id, ErrInvalid)
	}
	now := s.clock()
	return s.amend("request verify "+id, id, func(r *record) (*record, []Event) {
		if r.State != StateFailed {
			return nil, nil
		}
		next := r.clone()
		switch {
		case r.VerifyDue && (receipt == "" || r.VerifyReceipt != ""):
			return nil, nil
		case r.VerifyDue:
			next.VerifyReceipt = receipt
		case r.Verifications >= limit:
			return nil, nil
		default:
			next.VerifyDue = true
			next.VerifyReceipt = receipt
		}
		next.UpdatedAt = now
		detail := "a callback says paid"
		if receipt != "" {
			detail += ", receipt " + receipt
		}
		return next, []Event{{At: now, Source: source, Type: "verify_requested", Detail: detail}}
	})
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
		next.Verifications++
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
