package storage

import (
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Writes go through bbolt's DB.Batch so that payments handled at the same
// moment share one fsync. Batch runs several callers' functions in one
// transaction; when one of them returns an error, the transaction is rolled
// back and the others are run again. Hence every write function here:
//   - sets all of its results afresh at its start, so a re-run leaves no trace
//     of the rolled-back run;
//   - reports an expected refusal (not found, limit, conflict) through a result
//     variable and returns nil, having written nothing, so one refused call
//     does not roll back and re-run its neighbours;
//   - returns an error only for real failures, which then reach only its caller.
// Settle, RecordPush's callers and the simple updates answer the common
// "nothing to do" case (a duplicate callback) from a read transaction first,
// without a write or fsync; that answer is correct as of that read, and the
// write path re-checks everything. Create and MarkNotified do not: their one
// caller has just read the payment, and a second read per payment was a
// measurable share of the CPU; a duplicate there costs an empty commit.

// maxKey bounds caller-supplied keys (idempotency key, checkout ID) well below
// bbolt's key limit.
const maxKey = 512

// Create stores p, write-ahead, before the STK Push is sent: in StateInitiating,
// with a "created" event, and reports true.
//
// If a payment with p.IdempotencyKey exists, Create returns it and false and
// changes nothing (callers look the key up first: Create does not, to save a
// read per payment); limits are not checked, so a redelivered /pay is answered with
// its payment and never pushed twice. Otherwise the limits are checked in the
// same transaction as the insert: a refusal is a *LimitError matching
// ErrPhoneBusy or ErrTooManyOpen. With Limits.OnePerPhone, a phone is busy
// while it has an open payment or a hold that has not expired by the store's
// clock (see Hold); an expired hold is deleted on the way.
//
// Create keeps the request fields of p (ID, ChatID, UserID, MessageID,
// IdempotencyKey, Phone, Amount, Reference, Description, Source, InvoiceID,
// Language, CallbackSecret) and
// ignores the rest. It assigns an ID when p.ID is empty. The callback secret is
// stored only as its SHA-256, so the returned payment, like every payment read
// back, has an empty CallbackSecret.
func (s *Store) Create(p Payment, lim Limits) (Payment, bool, error) {
	if err := validateNew(p); err != nil {
		return Payment{}, false, fmt.Errorf("storage: create: %w", err)
	}

	now := s.clock()
	var secretHash string
	if p.CallbackSecret != "" {
		secretHash = hashSecret(p.CallbackSecret)
	}
	var (
		out     Payment
		created bool
		refused error
	)
	err := s.db.Batch(func(tx *bolt.Tx) error {
		out, created, refused = Payment{}, false, nil
		b, err := bucketsOf(tx)
		if err != nil {
			return err
		}
		if r, err := b.lookup(idxIdempotency, []byte(p.IdempotencyKey)); err != nil || r != nil {
			if r != nil {
				out, err = b.payment(r)
			}
			return err
		}
		if lim.OnePerPhone {
			if id := firstWithPrefix(b.idx[idxOpenPhone], prefixKey(p.Phone)); id != nil {
				refused = &LimitError{Err: ErrPhoneBusy, PaymentID: string(id)}
				return nil
			}
			holder, err := b.checkHold(p.Phone, now)
			if err != nil {
				return err
			}
			if holder != "" {
				refused = &LimitError{Err: ErrPhoneBusy, PaymentID: holder}
				return nil
			}
		}
		if lim.MaxOpenPerUser > 0 {
			if n := countPrefix(b.idx[idxOpenUser], userPrefix(p.UserID)); n >= lim.MaxOpenPerUser {
				refused = &LimitError{Err: ErrTooManyOpen, Open: n, Max: lim.MaxOpenPerUser}
				return nil
			}
		}
		if secretHash != "" && b.idx[idxSecret].Get([]byte(secretHash)) != nil {
			refused = fmt.Errorf("%w: callback secret already used by another payment", ErrConflict)
			return nil
		}
		id := p.ID
		if id == "" {
			if id, err = b.newID(now); err != nil {
				return err
			}
		} else if b.payments.Get([]byte(id)) != nil {
			refused = fmt.Errorf("%w: id %s already taken", ErrConflict, id)
			return nil
		}
		r := &record{
			ID:             id,
			ChatID:         p.ChatID,
			UserID:         p.UserID,
			MessageID:      p.MessageID,
			IdempotencyKey: p.IdempotencyKey,
			Phone:          p.Phone,
			Amount:         p.Amount,
			Reference:      p.Reference,
			Description:    p.Description,
			InvoiceID:      p.InvoiceID,
			Language:       p.Language,
			SecretHash:     secretHash,
			State:          StateInitiating,
			CreatedAt:      now,
			UpdatedAt:      now,
		}
		if p.Source != SourceSTK {
			r.Source = p.Source // "" stays "": it reads as SourceSTK
		}
		if err := b.put(nil, r); err != nil {
			return err
		}
		if err := b.appendEvents(id, Event{At: now, Source: "bot", Type: "created",
			Detail: fmt.Sprintf("amount=%d ref=%s", p.Amount, p.Reference)}); err != nil {
			return err
		}
		out, err = b.payment(r)
		created = err == nil
		return err
	})
	if err != nil {
		return Payment{}, false, wrapDB("create", err)
	}
	if refused != nil {
		var le *LimitError
		if errors.As(refused, &le) {
			return Payment{}, false, le
		}
		return Payment{}, false, fmt.Errorf("storage: create: %w", refused)
	}
	return out, created, nil
}

func validateNew(p Payment) error {
	switch {
	case p.ID != "" && !validID(p.ID):
		return fmt.Errorf("%w: id must be 1 to 64 letters, digits, '-' or '_'", ErrInvalid)
	case p.IdempotencyKey == "" || len(p.IdempotencyKey) > maxKey:
		return fmt.Errorf("%w: idempotency key must be 1 to %d bytes", ErrInvalid, maxKey)
	case !validPhone(p.Phone):
		return fmt.Errorf("%w: phone must be 9 to 15 digits", ErrInvalid)
	case p.Amount <= 0:
		return fmt.Errorf("%w: amount must be positive", ErrInvalid)
	case p.Source != "" && p.Source != SourceSTK && p.Source != SourceInvoice && p.Source != SourceC2B:
		return fmt.Errorf("%w: unknown source %q", ErrInvalid, p.Source)
	case (p.Source == SourceInvoice) != (p.InvoiceID != "") && p.Source != SourceC2B:
		return fmt.Errorf("%w: an invoice's payment names its invoice, and only it does", ErrInvalid)
	case len(p.InvoiceID) > maxKey || len(p.Language) > 8:
		return fmt.Errorf("%w: invoice id or language too long", ErrInvalid)
	}
	return nil
}

// validPhone keeps the phone index sound (a 0x00 would break its prefixes); the
// exact Kenyan forms are the mpesa package's business.
func validPhone(phone string) bool {
	if len(phone) < 9 || len(phone) > 15 {
		return false
	}
	for _, c := range []byte(phone) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// RecordPush stores Daraja's answer to the STK Push: the request IDs, PushedAt
// and NextQueryAt, and moves initiating → pending with a "push_answered" event.
//
// If the payment is already past initiating (a callback settled it before the
// answer was stored), its state and result are kept; only empty IDs, an empty
// PushedAt and, unless final, an unscheduled NextQueryAt are filled. When there
// is nothing to fill (the same answer recorded twice) nothing is written. A
// checkoutID that differs from the one recorded, or that belongs to another
// payment, is refused with ErrConflict.
func (s *Store) RecordPush(id, checkoutID, merchantID string, nextQueryAt time.Time) (Payment, error) {
	if checkoutID == "" || len(checkoutID) > maxKey || len(merchantID) > maxKey {
		return Payment{}, fmt.Errorf("storage: record push %s: %w: checkout id must be 1 to %d bytes", id, ErrInvalid, maxKey)
	}
	now := s.clock()
	nextQueryAt = utc(nextQueryAt)
	var (
		out     Payment
		refused error
	)
	err := s.db.Batch(func(tx *bolt.Tx) error {
		out, refused = Payment{}, nil
		b, r, err := loadForWrite(tx, id)
		if err != nil || r == nil {
			refused = notFound(id, r)
			return err
		}
		if r.CheckoutRequestID != "" && r.CheckoutRequestID != checkoutID {
			refused = fmt.Errorf("%w: payment has checkout id %s, push answer has %s", ErrConflict, r.CheckoutRequestID, checkoutID)
			return nil
		}
		if held := b.idx[idxCheckout].Get([]byte(checkoutID)); held != nil && string(held) != id {
			refused = fmt.Errorf("%w: checkout id %s belongs to payment %s", ErrConflict, checkoutID, held)
			return nil
		}
		next := r.clone()
		detail := "checkout_id=" + checkoutID
		if r.State == StateInitiating {
			next.State = StatePending
			next.Notified = false
			next.CheckoutRequestID = checkoutID
			next.MerchantRequestID = merchantID
			next.PushedAt = now
			next.NextQueryAt = nextQueryAt
		} else {
			fillEmpty(&next.CheckoutRequestID, checkoutID)
			fillEmpty(&next.MerchantRequestID, merchantID)
			if next.PushedAt.IsZero() {
				next.PushedAt = now
			}
			if !next.State.Final() && next.NextQueryAt.IsZero() {
				next.NextQueryAt = nextQueryAt
			}
			if next.CheckoutRequestID == r.CheckoutRequestID && next.MerchantRequestID == r.MerchantRequestID &&
				next.PushedAt.Equal(r.PushedAt) && next.NextQueryAt.Equal(r.NextQueryAt) {
				out, err = b.payment(r)
				return err
			}
			detail += " (already " + string(r.State) + ")"
		}
		next.UpdatedAt = now
		if err := b.change(r, next, Event{At: now, Source: "daraja", Type: "push_answered", Detail: detail}); err != nil {
			return err
		}
		out, err = b.payment(next)
		return err
	})
	if err != nil {
		return Payment{}, wrapDB("record push "+id, err)
	}
	if refused != nil {
		return Payment{}, fmt.Errorf("storage: record push %s: %w", id, refused)
	}
	return out, nil
}

// Settle applies a result in one transaction that checks the current state,
// and reports whether THIS call changed it. Only the caller that gets true
// should notify.
//
// Allowed moves: initiating → succeeded, failed, rejected or unknown;
// pending → succeeded, failed or unknown; unknown → succeeded or failed (see
// CanSettle). Anything else, including a duplicate of the result already
// applied, changes nothing, appends nothing and returns the stored payment and
// false: a final result is never overwritten, so a late query cannot undo a
// callback.
//
// A change sets the result fields and SettledBy, SettledAt for a final state,
// clears NextQueryAt for a final state (an unknown payment stays scheduled for
// slow reconciliation), resets Notified and FeedPosted, fills an empty
// CheckoutRequestID from r, and appends a "settled" event.
// r.CheckoutRequestID differing from the recorded one is refused with
// ErrConflict. An unknown id is ErrNotFound.
//
// A move to unknown or failed with r.HoldUntil set also holds the payment's
// phone until then, in the same transaction (see Hold); a move to failed with
// r.Verify marks it VerifyDue (see RequestVerify). The hold outlives a later final
// result: the prompt may still be open on the phone, and a second one on top
// of it is what the hold prevents.
func (s *Store) Settle(id string, r Result) (Payment, bool, error) {
	if err := validateResult(r); err != nil {
		return Payment{}, false, fmt.Errorf("storage: settle %s: %w", id, err)
	}
	return s.transition("settle", id, r, func(from State) bool { return CanSettle(from, r.State) },
		func(b *txBuckets, rec *record, now time.Time) (*record, Event, error) {
			next := rec.clone()
			next.State = r.State
			next.ResultCode = r.ResultCode
			next.ResultDesc = r.ResultDesc
			next.Receipt = r.Receipt
			next.SettledBy = r.Source
			if r.State.Final() {
				next.SettledAt = now
				next.NextQueryAt = time.Time{}
			}
			if r.State == StateFailed && r.Verify {
				next.VerifyDue = true
			}
			if (r.State == StateUnknown || r.State == StateFailed) && r.HoldUntil.After(now) {
				if _, err := b.hold(next.Phone, next.ID, r.HoldUntil); err != nil {
					return nil, Event{}, err
				}
			}
			return next, Event{At: now, Source: r.Source, Type: "settled", Detail: settleDetail(rec.State, r)}, nil
		})
}

// transition is the skeleton of Settle and Correct: a move from a state that
// allowed accepts, with r's CheckoutRequestID checked against the payment's,
// that reports whether THIS call made it. The common "nothing to do" (a
// duplicate result) is answered from a read transaction; the write
// transaction checks everything again. apply builds the next record and its
// event; transition fills an empty CheckoutRequestID from r, resets Notified
// and FeedPosted (the new state is owed to the chat and the feed) and writes.
func (s *Store) transition(op, id string, r Result, allowed func(State) bool,
	apply func(b *txBuckets, rec *record, now time.Time) (*record, Event, error)) (Payment, bool, error) {
	cur, err := s.Get(id)
	if err != nil {
		return Payment{}, false, err
	}
	if err := checkoutMatches(cur.CheckoutRequestID, r.CheckoutRequestID); err != nil {
		return Payment{}, false, fmt.Errorf("storage: %s %s: %w", op, id, err)
	}
	if !allowed(cur.State) {
		return cur, false, nil
	}
	now := s.clock()
	var (
		out     Payment
		changed bool
		refused error
	)
	err = s.db.Batch(func(tx *bolt.Tx) error {
		out, changed, refused = Payment{}, false, nil
		b, rec, err := loadForWrite(tx, id)
		if err != nil || rec == nil {
			refused = notFound(id, rec)
			return err
		}
		if refused = checkoutMatches(rec.CheckoutRequestID, r.CheckoutRequestID); refused != nil {
			return nil
		}
		if !allowed(rec.State) {
			out, err = b.payment(rec)
			return err
		}
		if r.CheckoutRequestID != "" && rec.CheckoutRequestID == "" {
			if held := b.idx[idxCheckout].Get([]byte(r.CheckoutRequestID)); held != nil {
				refused = fmt.Errorf("%w: checkout id %s belongs to payment %s", ErrConflict, r.CheckoutRequestID, held)
				return nil
			}
		}
		next, ev, err := apply(b, rec, now)
		if err != nil {
			return err
		}
		fillEmpty(&next.CheckoutRequestID, r.CheckoutRequestID)
		next.Notified = false
		next.FeedPosted = false
		next.UpdatedAt = now
		if err := b.change(rec, next, ev); err != nil {
			return err
		}
		out, err = b.payment(next)
		changed = err == nil
		return err
	})
	if err != nil {
		return Payment{}, false, wrapDB(op+" "+id, err)
	}
	if refused != nil {
		return Payment{}, false, fmt.Errorf("storage: %s %s: %w", op, id, refused)
	}
	return out, changed, nil
}

func validateResult(r Result) error {
	switch {
	case !validSettleTarget(r.State):
		return fmt.Errorf("%w: result state %q; want succeeded, failed, rejected or unknown", ErrInvalid, r.State)
	case r.Source == "":
		return fmt.Errorf("%w: result source required", ErrInvalid)
	case len(r.CheckoutRequestID) > maxKey:
		return fmt.Errorf("%w: checkout id longer than %d bytes", ErrInvalid, maxKey)
	}
	return nil
}

func checkoutMatches(stored, given string) error {
	if stored != "" && given != "" && stored != given {
		return fmt.Errorf("%w: payment has checkout id %s, result has %s", ErrConflict, stored, given)
	}
	return nil
}

func settleDetail(from State, r Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s→%s", from, r.State)
	if r.ResultCode != "" {
		fmt.Fprintf(&b, " code=%s", r.ResultCode)
	}
	if r.Receipt != "" {
		fmt.Fprintf(&b, " receipt=%s", r.Receipt)
	}
	if (r.State == StateUnknown || r.State == StateFailed) && !r.HoldUntil.IsZero() {
		fmt.Fprintf(&b, " hold_until=%s", r.HoldUntil.UTC().Format(time.RFC3339))
	}
	if r.Detail != "" {
		b.WriteString(": ")
		b.WriteString(r.Detail)
	}
	return b.String()
}

// MarkNotified records that the chat was told about state, and reports whether
// the payment is still in that state. It sets Notified (with a "notified"
// event) only if so; false means the state moved on meanwhile and the new state
// still needs its own message. Marking twice writes once and reports true both
// times. Call it only after Telegram accepted the message.
func (s *Store) MarkNotified(id string, state State) (bool, error) {
	now := s.clock()
	var (
		ok      bool
		refused error
	)
	err := s.db.Batch(func(tx *bolt.Tx) error {
		ok, refused = false, nil
		b, r, err := loadForWrite(tx, id)
		if err != nil || r == nil {
			refused = notFound(id, r)
			return err
		}
		if r.State != state {
			return nil
		}
		ok = true
		if r.Notified {
			return nil
		}
		next := r.clone()
		next.Notified = true
		next.UpdatedAt = now
		return b.change(r, next, Event{At: now, Source: "telegram", Type: "notified", Detail: "state=" + string(state)})
	})
	if err != nil {
		return false, wrapDB("mark notified "+id, err)
	}
	if refused != nil {
		return false, fmt.Errorf("storage: mark notified %s: %w", id, refused)
	}
	return ok, nil
}

// MarkFeedPosted records that the merchant feed got the payment's current
// state, with a "feed_posted" event. Marking twice writes once. A later change
// of state (unknown → final) clears the mark again.
func (s *Store) MarkFeedPosted(id string) error {
	cur, err := s.Get(id)
	if err != nil {
		return err
	}
	if cur.FeedPosted {
		return nil
	}
	now := s.clock()
	return s.write("mark feed posted "+id, id, func(_ *txBuckets, r *record) (*record, []Event, error) {
		if r.FeedPosted {
			return nil, nil, nil
		}
		next := r.clone()
		next.FeedPosted = true
		next.UpdatedAt = now
		return next, []Event{{At: now, Source: "telegram", Type: "feed_posted", Detail: "state=" + string(r.State)}}, nil
	})
}

// ScheduleQuery is the watcher's bookkeeping: the next STK Query time, the
// number of queries made, and optionally an event (a query answer) in the same
// transaction. A final payment is never rescheduled: its NextQueryAt stays zero
// even if a callback settled it while the watcher was querying, though the
// count and the event are still recorded. When the time and the count are
// those stored, only the event is written and UpdatedAt stays.
func (s *Store) ScheduleQuery(id string, next time.Time, queries int, ev *Event) error {
	if queries < 0 {
		return fmt.Errorf("storage: schedule query %s: %w: negative query count", id, ErrInvalid)
	}
	var event Event
	if ev != nil {
		var err error
		if event, err = s.normaliseEvent(*ev); err != nil {
			return fmt.Errorf("storage: schedule query %s: %w", id, err)
		}
	}
	now := s.clock()
	next = utc(next)
	return s.write("schedule query "+id, id, func(_ *txBuckets, r *record) (*record, []Event, error) {
		var events []Event
		if ev != nil {
			events = []Event{event}
		}
		n := r.clone()
		if !n.State.Final() {
			n.NextQueryAt = next
		}
		n.Queries = queries
		if n.NextQueryAt.Equal(r.NextQueryAt) && n.Queries == r.Queries {
			return nil, events, nil
		}
		n.UpdatedAt = now
		return n, events, nil
	})
}

// AppendEvent adds ev to the payment's audit trail. A zero ev.At is set to the
// store's clock; ev.Type is required; a Detail over 1 KiB is cut. Only the
// event is written: the payment's record, UpdatedAt included, stays as it
// was, and the cost does not grow with the events already recorded.
func (s *Store) AppendEvent(id string, ev Event) error {
	event, err := s.normaliseEvent(ev)
	if err != nil {
		return fmt.Errorf("storage: append event %s: %w", id, err)
	}
	return s.write("append event "+id, id, func(*txBuckets, *record) (*record, []Event, error) {
		return nil, []Event{event}, nil
	})
}

func (s *Store) normaliseEvent(ev Event) (Event, error) {
	if ev.Type == "" {
		return Event{}, fmt.Errorf("%w: event type required", ErrInvalid)
	}
	if ev.At.IsZero() {
		ev.At = s.clock()
	}
	return ev, nil
}

// write is the Batch skeleton shared by the simple updates: change returns the
// new record (nil to leave it) and the events to append (none to append
// nothing); it may write other buckets through b. It must not keep state
// between calls.
func (s *Store) write(op, id string, change func(*txBuckets, *record) (*record, []Event, error)) error {
	var refused error
	err := s.db.Batch(func(tx *bolt.Tx) error {
		refused = nil
		b, r, err := loadForWrite(tx, id)
		if err != nil || r == nil {
			refused = notFound(id, r)
			return err
		}
		next, events, err := change(b, r)
		if err != nil {
			return err
		}
		if next != nil {
			if err := b.put(r, next); err != nil {
				return err
			}
		}
		return b.appendEvents(id, events...)
	})
	if err != nil {
		return wrapDB(op, err)
	}
	if refused != nil {
		return fmt.Errorf("storage: %s: %w", op, refused)
	}
	return nil
}

// loadForWrite opens the buckets and reads the payment; r is nil (with a nil
// error) when there is no such payment.
func loadForWrite(tx *bolt.Tx, id string) (*txBuckets, *record, error) {
	b, err := bucketsOf(tx)
	if err != nil {
		return nil, nil, err
	}
	if id == "" {
		return b, nil, nil
	}
	r, err := b.load([]byte(id))
	return b, r, err
}

// notFound is the refusal for a missing record (r == nil), nil otherwise.
func notFound(id string, r *record) error {
	if r != nil {
		return nil
	}
	return fmt.Errorf("payment %s: %w", id, ErrNotFound)
}

func fillEmpty(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}
