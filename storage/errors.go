package storage

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the store returns wraps at most one of these;
// branch with errors.Is.
var (
	// ErrNotFound: no payment has that ID, checkout ID, idempotency key or secret.
	ErrNotFound = errors.New("payment not found")
	// ErrLocked: another process holds the database file (bbolt's file lock).
	ErrLocked = errors.New("database locked")
	// ErrSchema: the file was written by a newer or unknown version of the store.
	ErrSchema = errors.New("unsupported database schema")
	// ErrPhoneBusy: the phone already has an open payment (see *LimitError).
	ErrPhoneBusy = errors.New("phone already has an open payment")
	// ErrTooManyOpen: the user already has Limits.MaxOpenPerUser open payments (see *LimitError).
	ErrTooManyOpen = errors.New("too many open payments")
	// ErrInvalid: an argument the store refuses to write (empty key, bad ID, …).
	ErrInvalid = errors.New("invalid argument")
	// ErrConflict: the write contradicts what is stored (a checkout ID or
	// callback secret that belongs to another payment, a CheckoutRequestID
	// that differs from the one recorded, an ID already taken).
	ErrConflict = errors.New("conflicts with stored payment")
	// ErrCorrupt: a record or an index entry cannot be read back as written.
	ErrCorrupt = errors.New("database corrupt")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
)

// LimitError is returned by Create when a Limits check refuses a payment. It
// matches ErrPhoneBusy or ErrTooManyOpen with errors.Is and carries what a reply
// to the user needs.
type LimitError struct {
	Err       error  // ErrPhoneBusy or ErrTooManyOpen
	PaymentID string // ErrPhoneBusy: the open payment that holds the phone
	Open      int    // ErrTooManyOpen: the user's open payments
	Max       int    // ErrTooManyOpen: Limits.MaxOpenPerUser
}

// Error describes the refusal without the phone number.
func (e *LimitError) Error() string {
	if errors.Is(e.Err, ErrTooManyOpen) {
		return fmt.Sprintf("storage: %v (%d open, limit %d)", e.Err, e.Open, e.Max)
	}
	return fmt.Sprintf("storage: %v (payment %s)", e.Err, e.PaymentID)
}

// Unwrap returns ErrPhoneBusy or ErrTooManyOpen.
func (e *LimitError) Unwrap() error { return e.Err }
