package storage

// State is where a payment is in its lifecycle.
type State string

// The states of a payment. initiating and pending are open (a PIN prompt may be
// on the customer's phone); succeeded, failed and rejected are final; unknown
// means the outcome is not known yet and may still become final.
const (
	// StateInitiating: stored before the STK Push is sent (write-ahead).
	StateInitiating State = "initiating"
	// StatePending: Daraja accepted the push; the customer has a PIN prompt.
	StatePending State = "pending"
	// StateSucceeded: paid.
	StateSucceeded State = "succeeded"
	// StateFailed: the customer was asked but did not pay (cancelled, timed out, wrong PIN, …).
	StateFailed State = "failed"
	// StateRejected: Daraja refused the push; it never reached the phone.
	StateRejected State = "rejected"
	// StateUnknown: the outcome is not known (push timed out, no result by the poll timeout).
	StateUnknown State = "unknown"
)

// Final reports whether s is an outcome that Settle never changes:
// succeeded, failed or rejected. (Correct alone moves failed to succeeded,
// when M-Pesa confirms a payment it had reported failed.)
func (s State) Final() bool {
	switch s {
	case StateSucceeded, StateFailed, StateRejected:
		return true
	}
	return false
}

// Open reports whether a PIN prompt may be open on the phone: initiating or pending.
// Open payments count against the per-user and per-phone limits.
func (s State) Open() bool {
	return s == StateInitiating || s == StatePending
}

// Valid reports whether s is one of the six states.
func (s State) Valid() bool {
	return s.Open() || s.Final() || s == StateUnknown
}

// CanSettle reports whether Settle moves a payment in state from to state to.
// A final state is never left, pending is never rejected (Daraja accepted the
// push) and no state "moves" to itself, so a duplicate result changes nothing.
func CanSettle(from, to State) bool {
	switch from {
	case StateInitiating:
		return to.Final() || to == StateUnknown
	case StatePending:
		return to == StateSucceeded || to == StateFailed || to == StateUnknown
	case StateUnknown:
		return to == StateSucceeded || to == StateFailed
	}
	return false
}

// validSettleTarget reports whether to may be asked of Settle at all.
func validSettleTarget(to State) bool {
	return to.Final() || to == StateUnknown
}
