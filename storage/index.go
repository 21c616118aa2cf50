package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Bucket names. Every index lives in the same file and is changed in the same
// transaction as the record it points to, so a crash never leaves an index that
// disagrees with a record.
const (
	bucketMeta     = "meta"
	bucketPayments = "payments" // id → record JSON, without its events
	bucketEvents   = "events"   // id + 0x00 + seq (8 bytes BE) → event JSON
	bucketHolds    = "holds"    // phone → until (8 bytes BE unix ns) + id
	bucketRefusals = "refusals" // idempotency key → refusal JSON

	keySchema  = "schema_version"
	keyIDClock = "id_clock" // last millisecond used in an ID: IDs stay sorted if the clock steps back
)

// index numbers one of the index buckets. Every index maps a key derived from
// a record to the record's ID, and a record has at most one key in each index.
type index int

const (
	idxIdempotency index = iota // idempotency key → id (unique)
	idxCheckout                 // CheckoutRequestID → id (unique)
	idxSecret                   // hex SHA-256 of the callback secret → id (unique)
	idxUser                     // userID (8 bytes BE) + CreatedAt (8 bytes BE ns) + id → id
	idxState                    // state + 0x00 + id → id
	idxOpenPhone                // phone + 0x00 + id → id, while State.Open()
	idxOpenUser                 // userID (8 bytes BE) + id → id, while State.Open()
	idxUnnotified               // id → id, while final or unknown and not Notified
	idxUnposted                 // id → id, while final and not FeedPosted
	idxVerify                   // id → id, while failed and VerifyDue
	numIndexes
)

func (i index) name() []byte {
	switch i {
	case idxIdempotency:
		return []byte("idx_idempotency")
	case idxCheckout:
		return []byte("idx_checkout")
	case idxSecret:
		return []byte("idx_secret")
	case idxUser:
		return []byte("idx_user")
	case idxState:
		return []byte("idx_state")
	case idxOpenPhone:
		return []byte("idx_open_phone")
	case idxOpenUser:
		return []byte("idx_open_user")
	case idxUnnotified:
		return []byte("idx_unnotified")
	case idxUnposted:
		return []byte("idx_unposted")
	case idxVerify:
		return []byte("idx_verify")
	}
	panic(fmt.Sprintf("storage: unknown index %d", int(i)))
}

func (i index) unique() bool {
	return i == idxIdempotency || i == idxCheckout || i == idxSecret
}

// indexKeys returns r's key in every index, nil where r has none. Keys are
// freshly allocated: bbolt keeps a value (here, the ID) by reference until the
// transaction commits, and we never reuse a buffer within a transaction.
func (r *record) indexKeys() [numIndexes][]byte {
	var k [numIndexes][]byte
	if r.IdempotencyKey != "" {
		k[idxIdempotency] = []byte(r.IdempotencyKey)
	}
	if r.CheckoutRequestID != "" {
		k[idxCheckout] = []byte(r.CheckoutRequestID)
	}
	if r.SecretHash != "" {
		k[idxSecret] = []byte(r.SecretHash)
	}
	k[idxUser] = userKey(r.UserID, r.CreatedAt.UnixNano(), r.ID)
	k[idxState] = joinKey(string(r.State), r.ID)
	if r.State.Open() {
		k[idxOpenPhone] = joinKey(r.Phone, r.ID)
		k[idxOpenUser] = append(userPrefix(r.UserID), r.ID...)
	}
	if (r.State.Final() || r.State == StateUnknown) && !r.Notified {
		k[idxUnnotified] = []byte(r.ID)
	}
	if r.State.Final() && !r.FeedPosted {
		k[idxUnposted] = []byte(r.ID)
	}
	if r.State == StateFailed && r.VerifyDue {
		k[idxVerify] = []byte(r.ID)
	}
	return k
}

func userPrefix(userID int64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(userID))
}

func userKey(userID, createdNano int64, id string) []byte {
	k := make([]byte, 0, 16+len(id))
	k = binary.BigEndian.AppendUint64(k, uint64(userID))
	k = binary.BigEndian.AppendUint64(k, uint64(createdNano))
	return append(k, id...)
}

// joinKey separates a variable-length prefix from the ID with 0x00, which
// neither states nor (validated) phones contain, so one prefix never matches
// another's keys.
func joinKey(prefix, id string) []byte {
	k := make([]byte, 0, len(prefix)+1+len(id))
	k = append(k, prefix...)
	k = append(k, 0)
	return append(k, id...)
}

func prefixKey(prefix string) []byte { return joinKey(prefix, "") }

// txBuckets are the buckets of one transaction.
type txBuckets struct {
	tx       *bolt.Tx
	meta     *bolt.Bucket
	payments *bolt.Bucket
	events   *bolt.Bucket
	holds    *bolt.Bucket
	refusals *bolt.Bucket
	idx      [numIndexes]*bolt.Bucket
}

func bucketsOf(tx *bolt.Tx) (*txBuckets, error) {
	b := &txBuckets{
		tx:       tx,
		meta:     tx.Bucket([]byte(bucketMeta)),
		payments: tx.Bucket([]byte(bucketPayments)),
		events:   tx.Bucket([]byte(bucketEvents)),
		holds:    tx.Bucket([]byte(bucketHolds)),
		refusals: tx.Bucket([]byte(bucketRefusals)),
	}
	if b.meta == nil || b.payments == nil || b.events == nil || b.holds == nil || b.refusals == nil {
		return nil, fmt.Errorf("%w: bucket missing", ErrCorrupt)
	}
	for i := range numIndexes {
		if b.idx[i] = tx.Bucket(i.name()); b.idx[i] == nil {
			return nil, fmt.Errorf("%w: bucket %s missing", ErrCorrupt, i.name())
		}
	}
	return b, nil
}

// load reads the payment with the given ID; nil, nil when there is none.
func (b *txBuckets) load(id []byte) (*record, error) {
	v := b.payments.Get(id)
	if v == nil {
		return nil, nil
	}
	return decodeRecord(id, v)
}

// lookup follows a unique index to its record; nil, nil when the key is absent.
func (b *txBuckets) lookup(i index, key []byte) (*record, error) {
	id := b.idx[i].Get(key)
	if id == nil {
		return nil, nil
	}
	r, err := b.load(id)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("%w: %s points to missing payment %s", ErrCorrupt, i.name(), id)
	}
	return r, nil
}

// put writes next and moves its index entries from where old had them. old is
// nil for a new record. A unique key held by another payment is a conflict:
// callers check for it first, so this is the last line of defence.
func (b *txBuckets) put(old, next *record) error {
	v, err := next.encode()
	if err != nil {
		return fmt.Errorf("encode payment %s: %w", next.ID, err)
	}
	id := []byte(next.ID)
	var oldKeys [numIndexes][]byte
	if old != nil {
		oldKeys = old.indexKeys()
	}
	newKeys := next.indexKeys()
	for i := range numIndexes {
		if bytes.Equal(oldKeys[i], newKeys[i]) {
			continue
		}
		bk := b.idx[i]
		if oldKeys[i] != nil {
			if err := bk.Delete(oldKeys[i]); err != nil {
				return fmt.Errorf("%s: %w", i.name(), err)
			}
		}
		if newKeys[i] == nil {
			continue
		}
		if i.unique() {
			if held := bk.Get(newKeys[i]); held != nil && !bytes.Equal(held, id) {
				return fmt.Errorf("%w: %s already points to payment %s", ErrConflict, i.name(), held)
			}
		}
		if err := bk.Put(newKeys[i], id); err != nil {
			return fmt.Errorf("%s: %w", i.name(), err)
		}
	}
	if err := b.payments.Put(id, v); err != nil {
		return fmt.Errorf("put payment %s: %w", next.ID, err)
	}
	return nil
}

// firstWithPrefix returns the value of the first key starting with prefix.
func firstWithPrefix(bk *bolt.Bucket, prefix []byte) []byte {
	k, v := bk.Cursor().Seek(prefix)
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return nil
	}
	return v
}

func countPrefix(bk *bolt.Bucket, prefix []byte) int {
	n := 0
	c := bk.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		n++
	}
	return n
}
