package storage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The writes here amend a payment after its outcome: a receipt that came
// late, a failure M-Pesa later confirmed paid, conflicting callbacks, a chat
// that moved. They follow the rules at the top of write.go.

// maxReceipt bounds an M-Pesa receipt number (10 characters today).
const maxReceipt = 64

// validReceipt accepts 1 to maxReceipt ASCII letters and digits: what M-Pesa
// receipt numbers are made of, and nothing a message or a log could trip on.
func validReceipt(receipt string) bool {
	if receipt == "" || len(receipt) > maxReceipt {
		return false
	}
	for _, c := range []byte(receipt) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			return false
		}
	}
	return true
}

// AddReceipt stores the M-Pesa receipt of a succeeded payment that has none
// (settled "paid" by a query, which carries no receipt, before the callback
// that does) with a "receipt_added" event from source, and reports true. On
// any other payment (receipt already set, not succeeded) it changes nothing
// and reports false. Notified and FeedPosted stay: the outcome is the same.
//
// receipt must be 1 to 64 letters and digits and source non-empty
// (ErrInvalid); an unknown id is ErrNotFound.
func (s *Store) AddReceipt(id, receipt, source string) (Payment, bool, error) {
	switch {
	case !validReceipt(receipt):
		return Payment{}, false, fmt.Errorf("storage: add receipt %s: %w: receipt must be 1 to %d letters and digits", id, ErrInvalid, maxReceipt)
	case source == "":
		return Payment{}, false, fmt.Errorf("storage: add receipt %s: %w: source required", id, ErrInvalid)
	}
	cur, err := s.Get(id)
	if err != nil {
		return Payment{}, false, err
	}
	if cur.State != StateSucceeded || cur.Receipt != "" {
		return cur, false, nil
	}
	now := s.clock()
	return s.amend("add receipt "+id, id, func(_ *txBuckets, r *record) (*record, []Event) {
		if r.State != StateSucceeded || r.Receipt != "" {
			return nil, nil
		}
		next := r.clone()
		next.Receipt = receipt
		next.UpdatedAt = now
		return next, []Event{{At: now, Source: source, Type: "receipt_added", Detail: "receipt=" + receipt + " source=" + source}}
	})
}

// Correct moves a failed payment to succeeded when M-Pesa confirms, after the
// fact, that it was paid after all, and reports whether THIS call changed it.
// r.State must be StateSucceeded and r.Source set (ErrInvalid); r.Receipt,
// when given, is checked like AddReceipt's. r.CheckoutRequestID, when given,
// must match the recorded one (ErrConflict).
//
// The change sets the result fields, the receipt (when given), SettledBy and
// SettledAt, sets Corrected, clears Notified and FeedPosted so that the chat
// and the merchant feed are told again (ListUnnotified, ListUnposted), and
// appends a "corrected" event. Only failed moves: a second Correct finds the
// payment succeeded and changes nothing. A rejected payment never reached the
// phone, so it cannot have been paid, and an unknown one becomes succeeded
// through an ordinary Settle: neither is changed here (false, nil).
func (s *Store) Correct(id string, r Result) (Payment, bool, error) {
	switch {
	case r.State != StateSucceeded:
		return Payment{}, false, fmt.Errorf("storage: correct %s: %w: a correction is to succeeded, not %q", id, ErrInvalid, r.State)
	case r.Source == "":
		return Payment{}, false, fmt.Errorf("storage: correct %s: %w: result source required", id, ErrInvalid)
	case r.Receipt != "" && !validReceipt(r.Receipt):
		return Payment{}, false, fmt.Errorf("storage: correct %s: %w: receipt must be 1 to %d letters and digits", id, ErrInvalid, maxReceipt)
	case len(r.CheckoutRequestID) > maxKey:
		return Payment{}, false, fmt.Errorf("storage: correct %s: %w: checkout id longer than %d bytes", id, ErrInvalid, maxKey)
	}
	return s.transition("correct", id, r, func(from State) bool { return from == StateFailed },
		func(b *txBuckets, rec *record, now time.Time) (*record, Event, error) {
			next := rec.clone()
			next.State = StateSucceeded
			next.ResultCode = r.ResultCode
			next.ResultDesc = r.ResultDesc
			if r.Receipt != "" {
				next.Receipt = r.Receipt
			}
			if next.Receipt == "" && validReceipt(rec.VerifyReceipt) {
				next.Receipt = rec.VerifyReceipt
			}
			next.SettledBy = r.Source
			next.SettledAt = now
			next.NextQueryAt = time.Time{}
			next.Corrected = true
			next.VerifyDue = false
			next.VerifyReceipt = ""
			// M-Pesa's own query answered: the prompt is over.
			if err := b.releaseHold(next.Phone, next.ID); err != nil {
				return nil, Event{}, err
			}
			return next, Event{At: now, Source: r.Source, Type: "corrected", Detail: settleDetail(rec.State, r)}, nil
		})
}

// amend is the Batch skeleton of AddReceipt: change returns the new record
// and its events, or nil to change nothing; amend reports whether it wrote
// and the payment as stored.
func (s *Store) amend(op, id string, change func(*txBuckets, *record) (*record, []Event)) (Payment, bool, error) {
	var (
		out     Payment
		changed bool
		refused error
	)
	err := s.db.Batch(func(tx *bolt.Tx) error {
		out, changed, refused = Payment{}, false, nil
		b, r, err := loadForWrite(tx, id)
		if err != nil || r == nil {
			refused = notFound(id, r)
			return err
		}
		next, events := change(b, r)
		if next == nil {
			out, err = b.payment(r)
			return err
		}
		if err := b.change(r, next, events...); err != nil {
			return err
		}
		out, err = b.payment(next)
		changed = err == nil
		return err
	})
	if err != nil {
		return Payment{}, false, wrapDB(op, err)
	}
	if refused != nil {
		return Payment{}, false, fmt.Errorf("storage: %s: %w", op, refused)
	}
	return out, changed, nil
}

// AppendConflict appends ev (like AppendEvent) to the trail of a payment that
// is getting results contradicting the one it has, and reports whether it
// did. A payment records at most limit of them, counted in its record in the
// same transaction: the one that reaches limit is followed by a single
// "conflicts_capped" event, and every later call writes nothing and reports
// false. A flood of forged callbacks therefore adds at most limit+1 events.
// limit must be positive (ErrInvalid).
//
// UpdatedAt stays: the payment itself did not change.
func (s *Store) AppendConflict(id string, ev Event, limit int) (bool, error) {
	if limit <= 0 {
		return false, fmt.Errorf("storage: append conflict %s: %w: limit must be positive", id, ErrInvalid)
	}
	event, err := s.normaliseEvent(ev)
	if err != nil {
		return false, fmt.Errorf("storage: append conflict %s: %w", id, err)
	}
	// The flood is the case to make cheap: it is answered by a read.
	var full bool
	err = s.view("append conflict "+id, func(b *txBuckets) error {
		r, err := b.load([]byte(id))
		if err != nil || r == nil {
			return err // a missing payment is reported by the write below
		}
		full = r.Conflicts >= limit
		return nil
	})
	if err != nil || full {
		return false, err
	}
	now := s.clock()
	var (
		recorded bool
		refused  error
	)
	err = s.db.Batch(func(tx *bolt.Tx) error {
		recorded, refused = false, nil
		b, r, err := loadForWrite(tx, id)
		if err != nil || r == nil {
			refused = notFound(id, r)
			return err
		}
		if r.Conflicts >= limit {
			return nil
		}
		next := r.clone()
		next.Conflicts++
		events := []Event{event}
		if next.Conflicts == limit {
			events = append(events, Event{At: now, Source: "bot", Type: "conflicts_capped",
				Detail: "further conflicting callbacks are not recorded"})
		}
		if err := b.change(r, next, events...); err != nil {
			return err
		}
		recorded = true
		return nil
	})
	if err != nil {
		return false, wrapDB("append conflict "+id, err)
	}
	if refused != nil {
		return false, fmt.Errorf("storage: append conflict %s: %w", id, refused)
	}
	return recorded, nil
}

// moveChatChunk is how many payments MoveChat reads per transaction, so that
// moving a chat never holds one huge transaction (and its batch) open.
const moveChatChunk = 1000

// MoveChat gives every payment of chat from the chat to instead, with a
// "chat_moved" event each, and returns how many it moved: Telegram upgraded a
// group to a supergroup, and the old chat ID no longer reaches anyone. There
// is no index by chat, since this happens about once in a chat's life: it
// reads the whole payments bucket, 1,000 payments per transaction. Each
// transaction is complete on its own; after an error, calling it again moves
// the rest. A payment created in chat from while it runs may be missed; the
// next call moves it. Moving again finds nothing to move.
func (s *Store) MoveChat(from, to int64) (int, error) {
	return s.moveChat(from, to, moveChatChunk)
}

// moveChat is MoveChat reading chunk payments per transaction.
func (s *Store) moveChat(from, to int64, chunk int) (int, error) {
	if from == to {
		return 0, nil
	}
	now := s.clock()
	ev := Event{At: now, Source: "telegram", Type: "chat_moved", Detail: fmt.Sprintf("chat %d → %d", from, to)}
	total := 0
	var after []byte // the last payment ID read by the previous transaction
	for {
		var (
			moved int
			last  []byte
			done  bool
		)
		err := s.db.Batch(func(tx *bolt.Tx) error {
			moved, last, done = 0, nil, false
			b, err := bucketsOf(tx)
			if err != nil {
				return err
			}
			var ids [][]byte
			c := b.payments.Cursor()
			k, v := c.First()
			if after != nil {
				if k, v = c.Seek(after); bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for n := 0; k != nil && n < chunk; k, v = c.Next() {
				n++
				last = bytes.Clone(k)
				var chat struct {
					ChatID int64 `json:"chat_id"`
				}
				if err := json.Unmarshal(v, &chat); err != nil {
					return fmt.Errorf("payment %s: %w: %w", k, ErrCorrupt, err)
				}
				if chat.ChatID == from {
					ids = append(ids, bytes.Clone(k))
				}
			}
			done = k == nil
			// Written after the scan: a bbolt cursor must not run over
			// keys that change under it.
			for _, id := range ids {
				r, err := b.load(id)
				if err != nil {
					return err
				}
				next := r.clone()
				next.ChatID = to
				// Message IDs are per chat: the /pay's ID names nothing, or
				// someone else's message, in the supergroup.
				next.MessageID = 0
				next.UpdatedAt = now
				if err := b.change(r, next, ev); err != nil {
					return err
				}
				moved++
			}
			return nil
		})
		if err != nil {
			return total, wrapDB(fmt.Sprintf("move chat %d", from), err)
		}
		total += moved
		if done {
			return total, nil
		}
		after = last
	}
}
