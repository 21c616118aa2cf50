package storage

import (
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"time"
)

// idAlphabet is base32hex in lower case: its characters sort in the same order
// as the values they encode, so IDs sort like the bytes behind them.
const idAlphabet = "0123456789abcdefghijklmnopqrstuv"

// validID accepts IDs a caller chooses: 1 to 64 URL-safe characters.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// newID returns an unused ID: 16 characters encoding the creation millisecond
// (48 bits) and the payments bucket's sequence (low 32 bits). The millisecond
// never goes below the last one used, so IDs sort by creation even when the
// clock steps back; the sequence makes them unique within the file, and the
// time part keeps them unique across files (a restored or a fresh database).
func (b *txBuckets) newID(now time.Time) (string, error) {
	ms := uint64(max(now.UnixMilli(), 0)) & (1<<48 - 1)
	if v := b.meta.Get([]byte(keyIDClock)); len(v) == 8 {
		ms = max(ms, binary.BigEndian.Uint64(v))
	}
	enc := base32.NewEncoding(idAlphabet).WithPadding(base32.NoPadding)
	for range 8 {
		seq, err := b.payments.NextSequence()
		if err != nil {
			return "", fmt.Errorf("next sequence: %w", err)
		}
		var raw [10]byte
		binary.BigEndian.PutUint64(raw[:8], ms<<16)
		binary.BigEndian.PutUint32(raw[6:], uint32(seq))
		id := enc.EncodeToString(raw[:])
		if b.payments.Get([]byte(id)) != nil {
			continue // only after 2^32 payments in one millisecond, or a caller-chosen ID
		}
		if err := b.meta.Put([]byte(keyIDClock), binary.BigEndian.AppendUint64(nil, ms)); err != nil {
			return "", fmt.Errorf("id clock: %w", err)
		}
		return id, nil
	}
	return "", fmt.Errorf("%w: no free payment id", ErrConflict)
}
