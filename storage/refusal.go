package storage

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A /pay refused for a limit (phone busy, too many open, rate limited) is
// remembered under its idempotency key, so that the same message delivered
// again after a crash is refused again rather than pushed: the chat was told
// "no". Telegram keeps an undelivered update for 24 hours, so a refusal is
// kept for refusalTTL and then pruned: at Open, and by RecordRefusal at most
// once per refusalPruneEvery. Pruning scans the refusals bucket, which only
// ever holds two days of refusals; no call scans it otherwise.
const (
	refusalTTL        = 48 * time.Hour
	refusalPruneEvery = time.Hour
)

// refusalRecord is the JSON stored under an idempotency key in the refusals
// bucket.
type refusalRecord struct {
	Code string    `json:"code"`
	At   time.Time `json:"at"`
}

func decodeRefusal(v []byte) (refusalRecord, error) {
	var r refusalRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return refusalRecord{}, fmt.Errorf("%w: refusal: %w", ErrCorrupt, err)
	}
	return r, nil
}

// RecordRefusal remembers that the /pay with idempotency key key
// ("<chatID>:<messageID>") was refused for reason code (a short code such as
// "phone_busy"), for 48 hours. The first refusal of a key is kept: recording
// it again writes nothing. key and code must be 1 to 512 bytes (ErrInvalid).
//
// Create does not read refusals: the caller asks Refusal before it.
func (s *Store) RecordRefusal(key, code string) error {
	switch {
	case key == "" || len(key) > maxKey:
		return fmt.Errorf("storage: record refusal: %w: key must be 1 to %d bytes", ErrInvalid, maxKey)
	case code == "" || len(code) > maxKey:
		return fmt.Errorf("storage: record refusal: %w: code must be 1 to %d bytes", ErrInvalid, maxKey)
	}
	if _, ok, err := s.Refusal(key); err != nil || ok {
		return err
	}
	now := s.clock()
	v, err := json.Marshal(refusalRecord{Code: code, At: now})
	if err != nil {
		return fmt.Errorf("storage: record refusal: %w", err)
	}
	// One caller an hour wins the prune; if its write fails, the next may.
	last := s.refusalsPruned.Load()
	prune := now.Sub(time.Unix(0, last)) >= refusalPruneEvery && s.refusalsPruned.CompareAndSwap(last, now.UnixNano())
	err = s.db.Batch(func(tx *bolt.Tx) error {
		b, err := bucketsOf(tx)
		if err != nil {
			return err
		}
		if prune {
			if err := pruneRefusals(b.refusals, now); err != nil {
				return err
			}
		}
		if old := b.refusals.Get([]byte(key)); old != nil {
			if r, err := decodeRefusal(old); err == nil && now.Sub(r.At) < refusalTTL {
				return nil
			}
		}
		return b.refusals.Put([]byte(key), v)
	})
	if err != nil {
		if prune {
			s.refusalsPruned.CompareAndSwap(now.UnixNano(), last)
		}
		return wrapDB("record refusal", err)
	}
	return nil
}

// Refusal returns the reason code recorded by RecordRefusal for key, and
// whether there is one. A refusal older than 48 hours is gone, whether or not
// it was pruned yet.
func (s *Store) Refusal(key string) (code string, ok bool, err error) {
	now := s.clock()
	err = s.view("refusal", func(b *txBuckets) error {
		code, ok = "", false
		if key == "" {
			return nil
		}
		v := b.refusals.Get([]byte(key))
		if v == nil {
			return nil
		}
		r, err := decodeRefusal(v)
		if err != nil {
			return err
		}
		if now.Sub(r.At) < refusalTTL {
			code, ok = r.Code, true
		}
		return nil
	})
	return code, ok, err
}

// pruneRefusals deletes the refusals recorded refusalTTL or more before now.
// An unreadable entry is left for Check to report.
func pruneRefusals(bk *bolt.Bucket, now time.Time) error {
	var old [][]byte
	err := bk.ForEach(func(k, v []byte) error {
		if r, err := decodeRefusal(v); err == nil && now.Sub(r.At) >= refusalTTL {
			old = append(old, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range old {
		if err := bk.Delete(k); err != nil {
			return fmt.Errorf("prune refusals: %w", err)
		}
	}
	return nil
}

// Precheck is what decides a new payment before it is written, read in one
// transaction: the payment already stored under its idempotency key, a
// refusal remembered for that key, and the hold on its phone. Create checks
// holds and keys again in its own transaction; this read lets the caller
// answer the common cases without a write, at the cost of one read.
type Precheck struct {
	Existing  *Payment  // the payment stored under the key; nil when none
	Refusal   string    // the code of a refusal remembered for the key; "" when none
	HeldUntil time.Time // when the phone's hold ends; zero when it is not held
}

// Precheck reads what decides a new payment for key and phone.
func (s *Store) Precheck(key, phone string) (Precheck, error) {
	now := s.clock()
	var pc Precheck
	err := s.view("precheck", func(b *txBuckets) error {
		pc = Precheck{}
		if r, err := b.lookup(idxIdempotency, []byte(key)); err != nil || r != nil {
			if r != nil {
				p, err := b.payment(r)
				if err != nil {
					return err
				}
				pc.Existing = &p
			}
			return err
		}
		if v := b.refusals.Get([]byte(key)); v != nil {
			r, err := decodeRefusal(v)
			if err != nil {
				return err
			}
			if now.Sub(r.At) < refusalTTL {
				pc.Refusal = r.Code
			}
		}
		if v := b.holds.Get([]byte(phone)); v != nil {
			until, _, err := parseHold([]byte(phone), v)
			if err != nil {
				return err
			}
			if until.After(now) {
				pc.HeldUntil = until
			}
		}
		return nil
	})
	return pc, err
}
