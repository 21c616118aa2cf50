package storage

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Reads use read transactions, which run alongside writes and each other, and
// every returned Payment is decoded into fresh memory before the transaction
// ends (bbolt's values live in its memory map only until then).

// Get returns the payment with the given ID, or ErrNotFound.
func (s *Store) Get(id string) (Payment, error) {
	var out Payment
	err := s.view("get payment "+id, func(b *txBuckets) error {
		r, err := b.load([]byte(id))
		if err != nil {
			return err
		}
		if r == nil {
			return ErrNotFound
		}
		out, err = b.payment(r)
		return err
	})
	return out, err
}

// GetByCheckoutID returns the payment with that CheckoutRequestID, or ErrNotFound.
func (s *Store) GetByCheckoutID(checkoutID string) (Payment, error) {
	return s.getBy(idxCheckout, checkoutID, "checkout id "+checkoutID)
}

// GetByIdempotencyKey returns the payment created with that key, or ErrNotFound.
func (s *Store) GetByIdempotencyKey(key string) (Payment, error) {
	return s.getBy(idxIdempotency, key, "idempotency key "+key)
}

// GetBySecret returns the payment whose callback secret is secret, or
// ErrNotFound. It looks up the secret's SHA-256, never the secret: there is no
// comparison of secrets whose timing could leak one, and the error never
// contains it.
func (s *Store) GetBySecret(secret string) (Payment, error) {
	if secret == "" {
		return Payment{}, fmt.Errorf("storage: get by callback secret: %w", ErrNotFound)
	}
	return s.getBy(idxSecret, hashSecret(secret), "callback secret")
}

func (s *Store) getBy(i index, key, what string) (Payment, error) {
	var out Payment
	err := s.view("get by "+what, func(b *txBuckets) error {
		if key == "" {
			return ErrNotFound
		}
		r, err := b.lookup(i, []byte(key))
		if err != nil {
			return err
		}
		if r == nil {
			return ErrNotFound
		}
		out, err = b.payment(r)
		return err
	})
	return out, err
}

// ListByState returns the payments in any of the given states, oldest first,
// reading only the state index and those payments.
func (s *Store) ListByState(states ...State) ([]Payment, error) {
	for _, st := range states {
		if !st.Valid() {
			return nil, fmt.Errorf("storage: list by state: %w: state %q", ErrInvalid, st)
		}
	}
	var out []Payment
	err := s.view("list by state", func(b *txBuckets) error {
		out = nil
		seen := make(map[State]bool, len(states))
		for _, st := range states {
			if seen[st] {
				continue
			}
			seen[st] = true
			if err := b.collectPrefix(idxState, prefixKey(string(st)), &out); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortByCreation(out)
	return out, nil
}

// ListUnnotified returns the payments whose chat has not been told their
// current state, among those in a final state or unknown, oldest first: the
// start-up catch-up after a crash between Settle and the message.
func (s *Store) ListUnnotified() ([]Payment, error) {
	return s.listFlag(idxUnnotified, "list unnotified")
}

// ListUnposted returns the payments in a final state that the merchant feed
// has not got, oldest first.
func (s *Store) ListUnposted() ([]Payment, error) {
	return s.listFlag(idxUnposted, "list unposted")
}

func (s *Store) listFlag(i index, op string) ([]Payment, error) {
	var out []Payment
	err := s.view(op, func(b *txBuckets) error {
		out = nil
		return b.collectPrefix(i, nil, &out)
	})
	if err != nil {
		return nil, err
	}
	sortByCreation(out)
	return out, nil
}

// ListByUser returns the user's payments, newest first, at most limit of them
// (limit <= 0: all).
func (s *Store) ListByUser(userID int64, limit int) ([]Payment, error) {
	var out []Payment
	err := s.view("list by user", func(b *txBuckets) error {
		out = nil
		prefix := userPrefix(userID)
		c := b.idx[idxUser].Cursor()
		for k, v := lastWithPrefix(c, prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			if limit > 0 && len(out) >= limit {
				break
			}
			p, err := b.mustPayment(idxUser, v)
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// CountByState counts the payments in state from the state index, without
// reading them.
func (s *Store) CountByState(state State) (int, error) {
	if !state.Valid() {
		return 0, fmt.Errorf("storage: count by state: %w: state %q", ErrInvalid, state)
	}
	var n int
	err := s.view("count by state", func(b *txBuckets) error {
		n = countPrefix(b.idx[idxState], prefixKey(string(state)))
		return nil
	})
	return n, err
}

// CountOpenByUser counts the user's payments in an Open() state.
func (s *Store) CountOpenByUser(userID int64) (int, error) {
	var n int
	err := s.view("count open by user", func(b *txBuckets) error {
		n = countPrefix(b.idx[idxOpenUser], userPrefix(userID))
		return nil
	})
	return n, err
}

// OpenByPhone returns the oldest payment to phone in an Open() state, and
// whether there is one.
func (s *Store) OpenByPhone(phone string) (Payment, bool, error) {
	var (
		out   Payment
		found bool
	)
	err := s.view("open by phone", func(b *txBuckets) error {
		out, found = Payment{}, false
		if !validPhone(phone) {
			return nil // never stored, and a 0x00 in it would break the prefix
		}
		id := firstWithPrefix(b.idx[idxOpenPhone], prefixKey(phone))
		if id == nil {
			return nil
		}
		p, err := b.mustPayment(idxOpenPhone, id)
		if err != nil {
			return err
		}
		out, found = p, true
		return nil
	})
	return out, found, err
}

// view runs fn in a read transaction and wraps its error once.
func (s *Store) view(op string, fn func(*txBuckets) error) error {
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := bucketsOf(tx)
		if err != nil {
			return err
		}
		return fn(b)
	})
	if err != nil {
		return wrapDB(op, err)
	}
	return nil
}

// collectPrefix appends the payments of every entry of index i under prefix.
func (b *txBuckets) collectPrefix(i index, prefix []byte, out *[]Payment) error {
	c := b.idx[i].Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		p, err := b.mustPayment(i, v)
		if err != nil {
			return err
		}
		*out = append(*out, p)
	}
	return nil
}

// mustPayment reads a payment an index entry points to; its absence is
// corruption.
func (b *txBuckets) mustPayment(i index, id []byte) (Payment, error) {
	r, err := b.load(id)
	if err != nil {
		return Payment{}, err
	}
	if r == nil {
		return Payment{}, fmt.Errorf("%w: %s points to missing payment %s", ErrCorrupt, i.name(), id)
	}
	return b.payment(r)
}

// lastWithPrefix positions c on the last key starting with prefix (or on some
// key before it when there is none; the caller checks the prefix).
func lastWithPrefix(c *bolt.Cursor, prefix []byte) ([]byte, []byte) {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			end = end[:i+1]
			if k, _ := c.Seek(end); k != nil {
				return c.Prev()
			}
			return c.Last()
		}
	}
	return c.Last() // prefix is all 0xff: nothing sorts after its keys
}

func sortByCreation(ps []Payment) {
	slices.SortStableFunc(ps, func(a, b Payment) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}
