package mpesatest

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Transaction states.
const (
	StatePending   = "pending"
	StateCompleted = "completed"
)

// Errors of Complete.
var (
	ErrUnknownCheckout = errors.New("mpesatest: unknown CheckoutRequestID")
	ErrNotPending      = errors.New("mpesatest: transaction is not pending")
	ErrClosed          = errors.New("mpesatest: simulator is closed")
)

// Transaction is what the simulator knows of one accepted STK Push.
type Transaction struct {
	CheckoutRequestID string
	MerchantRequestID string
	Phone             string // PhoneNumber of the push, 2547XXXXXXXX
	Amount            int64
	AccountReference  string
	CallbackURL       string
	State             string // StatePending or StateCompleted
	ResultCode        string // set on completion
	ResultDesc        string // set on completion
	Receipt           string // M-Pesa receipt number, set when ResultCode is "0"
	CreatedAt         time.Time
	CompletedAt       time.Time
}

// txn is a transaction with its script and its result timer.
type txn struct {
	Transaction
	seq     uint64
	outcome Outcome
	timer   *time.Timer // nil when no result is scheduled
	gen     int         // bumped on every reschedule so a stale timer does nothing
	queries int         // STK Queries answered while pending
}

// createLocked stores a new pending transaction, locks its phone and schedules its
// result.
func (s *Simulator) createLocked(req pushRequest, outcome Outcome, now time.Time) *txn {
	var id string
	for {
		s.seq++
		id = "ws_CO_" + now.In(eat).Format("02012006150405") +
			fmt.Sprintf("%03d%09d", now.Nanosecond()/int(time.Millisecond), s.seq%1_000_000_000)
		if _, taken := s.txns[id]; !taken {
			break
		}
	}
	t := &txn{
		Transaction: Transaction{
			CheckoutRequestID: id,
			MerchantRequestID: newRequestID(),
			Phone:             req.phone,
			Amount:            req.amount,
			AccountReference:  req.accountReference,
			CallbackURL:       req.callbackURL,
			State:             StatePending,
			CreatedAt:         now,
		},
		seq:     s.seq,
		outcome: outcome,
	}
	s.txns[id] = t
	s.order = append(s.order, t)
	s.locks[t.Phone] = id
	s.scheduleLocked(t)
	s.changedLocked()
	return t
}

// scheduleLocked (re)arms the result timer of a pending transaction from its
// outcome. A Manual outcome has no timer: it waits for Complete.
func (s *Simulator) scheduleLocked(t *txn) {
	s.stopTimerLocked(t)
	t.gen++
	if t.outcome.Manual || s.closed {
		return
	}
	d := t.outcome.After
	if d <= 0 {
		d = s.cfg.resultDelay
	}
	id, gen := t.CheckoutRequestID, t.gen
	s.wg.Add(1)
	t.timer = time.AfterFunc(d, func() {
		defer s.wg.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		if t := s.txns[id]; t != nil && t.gen == gen && t.State == StatePending && !s.closed {
			s.completeLocked(t)
		}
	})
}

// stopTimerLocked disarms t's timer. A timer stopped before it fired never runs
// its function, so its share of the WaitGroup is released here; one that already
// fired releases it itself.
func (s *Simulator) stopTimerLocked(t *txn) {
	if t.timer != nil && t.timer.Stop() {
		s.wg.Done()
	}
	t.timer = nil
}

// completeLocked gives t its final result, releases the phone and starts the
// callback delivery.
func (s *Simulator) completeLocked(t *txn) {
	s.stopTimerLocked(t)
	now := s.now()
	code := cmp.Or(t.outcome.ResultCode, "0")
	t.State = StateCompleted
	t.ResultCode = code
	t.ResultDesc = cmp.Or(t.outcome.ResultDesc, ResultDescription(code))
	t.CompletedAt = now
	if code == "0" {
		t.Receipt = newReceipt()
	}
	if s.locks[t.Phone] == t.CheckoutRequestID {
		delete(s.locks, t.Phone)
	}
	s.changedLocked()
	s.cfg.logger.Info("transaction completed",
		"checkout_request_id", t.CheckoutRequestID, "result_code", code, "callback", !t.outcome.NoCallback)
	if t.outcome.NoCallback || s.closed {
		return
	}
	body := callbackBody(t, now)
	s.wg.Add(1)
	go s.deliver(t.CheckoutRequestID, t.CallbackURL, body)
}

// Complete resolves a pending transaction now, with its scripted outcome. It is
// how a Manual outcome ends; it also cuts short the delay of any other one.
func (s *Simulator) Complete(checkoutID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.txns[checkoutID]
	switch {
	case s.closed:
		return fmt.Errorf("complete %s: %w", checkoutID, ErrClosed)
	case t == nil:
		return fmt.Errorf("complete %s: %w", checkoutID, ErrUnknownCheckout)
	case t.State != StatePending:
		return fmt.Errorf("complete %s: %w", checkoutID, ErrNotPending)
	}
	s.completeLocked(t)
	return nil
}

// SetCheckoutOutcome changes the script of one pending transaction, overriding its
// phone's: its result is rescheduled from now (or waits for Complete if Manual).
// A completed or unknown transaction is left as it is. Reject has no effect here:
// the push already happened.
func (s *Simulator) SetCheckoutOutcome(checkoutID string, o Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.txns[checkoutID]; t != nil && t.State == StatePending {
		t.outcome = o
		s.scheduleLocked(t)
	}
}

// Transaction returns the transaction with that CheckoutRequestID.
func (s *Simulator) Transaction(checkoutID string) (Transaction, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.txns[checkoutID]
	if !ok {
		return Transaction{}, false
	}
	return t.Transaction, true
}

// Transactions returns every transaction, in the order the pushes were accepted.
func (s *Simulator) Transactions() []Transaction {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Transaction, len(s.order))
	for i, t := range s.order {
		out[i] = t.Transaction
	}
	return out
}

// eatDateTime is Daraja's TransactionDate: yyyymmddHHMMSS in Kenyan time, as a
// number.
func eatDateTime(t time.Time) int64 {
	n, _ := strconv.ParseInt(t.In(eat).Format("20060102150405"), 10, 64)
	return n
}
