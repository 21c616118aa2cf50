package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A hold keeps a phone closed to new payments (with Limits.OnePerPhone) until
// a given time. It exists for the payment whose STK Push outcome is unknown:
// nothing about it is open in the store any more, yet its PIN prompt may still
// be on the phone, and a second prompt on top of it is how a customer ends up
// paying twice. The holds bucket maps the phone to the time (8 bytes BE unix
// ns) and the ID of the payment that asked; it survives restarts, and Create
// reads it in the same transaction as the insert.
//
// A hold is lifted early only when M-Pesa's own STK Query gave the payment a
// final answer (Correct, VerifyDone): then the prompt is over. Any other
// result (a callback, which may be forged; a POLL_TIMEOUT) says nothing about
// the prompt, which may still be open until it times out on the phone, so the
// hold simply expires. Expired holds are ignored, deleted by the next Create
// for that phone, and pruned at Open.

func holdValue(until time.Time, id string) []byte {
	v := make([]byte, 0, 8+len(id))
	v = binary.BigEndian.AppendUint64(v, uint64(until.UnixNano()))
	return append(v, id...)
}

func parseHold(phone, v []byte) (time.Time, string, error) {
	if len(v) <= 8 {
		// The phone is not named: it is personal data.
		return time.Time{}, "", fmt.Errorf("%w: hold of %d bytes on phone %s", ErrCorrupt, len(v), MaskPhone(string(phone)))
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC(), string(v[8:]), nil
}

// hold holds phone for payment id until until, unless it is already held at
// least as long. It reports whether it wrote.
func (b *txBuckets) hold(phone, id string, until time.Time) (bool, error) {
	if v := b.holds.Get([]byte(phone)); v != nil {
		cur, _, err := parseHold([]byte(phone), v)
		if err != nil {
			return false, err
		}
		if !until.After(cur) {
			return false, nil
		}
	}
	if err := b.holds.Put([]byte(phone), holdValue(until, id)); err != nil {
		return false, fmt.Errorf("put hold: %w", err)
	}
	return true, nil
}

// checkHold returns the payment that holds phone at now, "" when none. An
// expired hold is deleted.
func (b *txBuckets) checkHold(phone string, now time.Time) (string, error) {
	v := b.holds.Get([]byte(phone))
	if v == nil {
		return "", nil
	}
	until, id, err := parseHold([]byte(phone), v)
	if err != nil {
		return "", err
	}
	if until.After(now) {
		return id, nil
	}
	if err := b.holds.Delete([]byte(phone)); err != nil {
		return "", fmt.Errorf("delete expired hold: %w", err)
	}
	return "", nil
}

// Hold keeps the phone of payment id closed to new payments (with
// Limits.OnePerPhone) until until, across restarts, with a "phone_held"
// event. It is for callers that learn only later that a PIN prompt may still
// be open; Settle to unknown with Result.HoldUntil does the same in one step.
//
// A phone stays held until the later of its holds: an earlier until than the
// current one, or one not after the store's clock, changes nothing. The hold
// stays when the payment becomes final (see the package documentation). A
// zero until is ErrInvalid; an unknown id is ErrNotFound.
func (s *Store) Hold(id string, until time.Time) error {
	if until.IsZero() {
		return fmt.Errorf("storage: hold %s: %w: zero time", id, ErrInvalid)
	}
	until = until.UTC()
	now := s.clock()
	cur, err := s.Get(id)
	if err != nil {
		return err
	}
	if held, _, err := s.PhoneHeldUntil(cur.Phone); err != nil || !until.After(now) || !until.After(held) {
		return err
	}
	return s.write("hold "+id, id, func(b *txBuckets, r *record) (*record, []Event, error) {
		wrote, err := b.hold(r.Phone, r.ID, until)
		if err != nil || !wrote {
			return nil, nil, err
		}
		return nil, []Event{{At: now, Source: "bot", Type: "phone_held", Detail: "until " + until.Format(time.RFC3339)}}, nil
	})
}

// PhoneHeldUntil reports until when phone is held and by which payment; a
// zero time and "" when it is not held, or its hold has expired by the
// store's clock. It only reads: Create checks holds itself.
func (s *Store) PhoneHeldUntil(phone string) (time.Time, string, error) {
	var (
		until time.Time
		id    string
	)
	now := s.clock()
	err := s.view("phone held until", func(b *txBuckets) error {
		until, id = time.Time{}, ""
		v := b.holds.Get([]byte(phone))
		if v == nil {
			return nil
		}
		u, holder, err := parseHold([]byte(phone), v)
		if err != nil || !u.After(now) {
			return err
		}
		until, id = u, holder
		return nil
	})
	return until, id, err
}

// releaseHold lifts the hold on phone if payment id is the one holding it: M-Pesa
// gave the payment a final answer, so its prompt is over.
func (b *txBuckets) releaseHold(phone, id string) error {
	v := b.holds.Get([]byte(phone))
	if v == nil {
		return nil
	}
	_, holder, err := parseHold([]byte(phone), v)
	if err != nil || holder != id {
		return err
	}
	if err := b.holds.Delete([]byte(phone)); err != nil {
		return fmt.Errorf("release hold: %w", err)
	}
	return nil
}

// pruneHolds deletes the holds that expired by now, so phones held once do not
// stay in the file for ever.
func pruneHolds(bk *bolt.Bucket, now time.Time) error {
	var expired [][]byte
	err := bk.ForEach(func(k, v []byte) error {
		until, _, err := parseHold(k, v)
		if err != nil {
			return err
		}
		if !until.After(now) {
			expired = append(expired, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range expired {
		if err := bk.Delete(k); err != nil {
			return fmt.Errorf("prune holds: %w", err)
		}
	}
	return nil
}
