package storage

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// A payment's audit trail is a run of keys in the events bucket: its ID, 0x00
// and a sequence number (8 bytes BE) per event. IDs never contain 0x00, so one
// payment's run never mixes with another's, and big-endian numbers sort the
// run in the order the events were appended. Appending costs one cursor seek
// and one put however long the trail is; the record is not touched.

// eventPrefix is the common start of every events key of payment id.
func eventPrefix(id string) []byte {
	k := make([]byte, 0, len(id)+1+8)
	k = append(k, id...)
	return append(k, 0)
}

// eventKey is the events key of payment id's event number seq (from 1).
func eventKey(id string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(eventPrefix(id), seq)
}

// splitEventKey returns the payment ID and sequence number of an events key.
func splitEventKey(k []byte) (string, uint64, bool) {
	if len(k) < 1+1+8 || k[len(k)-9] != 0 {
		return "", 0, false
	}
	return string(k[:len(k)-9]), binary.BigEndian.Uint64(k[len(k)-8:]), true
}

// lastEventSeq is the sequence number of payment id's newest event, 0 when it
// has none.
func (b *txBuckets) lastEventSeq(id string) (uint64, error) {
	prefix := eventPrefix(id)
	k, _ := lastWithPrefix(b.events.Cursor(), prefix)
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return 0, nil
	}
	kid, seq, ok := splitEventKey(k)
	if !ok || kid != id {
		return 0, fmt.Errorf("%w: malformed events key of payment %s", ErrCorrupt, id)
	}
	return seq, nil
}

func (b *txBuckets) putEvent(id string, seq uint64, e Event) error {
	v, err := json.Marshal(newEventRecord(e))
	if err != nil {
		return fmt.Errorf("encode event of payment %s: %w", id, err)
	}
	if err := b.events.Put(eventKey(id, seq), v); err != nil {
		return fmt.Errorf("put event of payment %s: %w", id, err)
	}
	return nil
}

func newEventRecord(e Event) eventRecord {
	return eventRecord{
		At:     e.At.UTC(),
		Source: e.Source,
		Type:   e.Type,
		Detail: truncate(e.Detail, maxDetail),
	}
}

// history reads payment id's trail, oldest first; nil when it has none.
func (b *txBuckets) history(id string) ([]Event, error) {
	// The events are decoded as one JSON array: one Unmarshal call instead
	// of one per event, which is most of the cost of reading a payment. A
	// damaged value could then merge with its neighbour; the count catches
	// that, and Check reads every value on its own.
	var arr []byte
	n := 0
	prefix := eventPrefix(id)
	c := b.events.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		n++
		if arr == nil {
			arr = append(make([]byte, 0, 8*(len(v)+1)), '[')
		} else {
			arr = append(arr, ',')
		}
		arr = append(arr, v...)
	}
	if arr == nil {
		return nil, nil
	}
	var events []eventRecord
	if err := json.Unmarshal(append(arr, ']'), &events); err != nil {
		return nil, fmt.Errorf("events of payment %s: %w: %w", id, ErrCorrupt, err)
	}
	if len(events) != n {
		return nil, fmt.Errorf("events of payment %s: %w: %d values read as %d events", id, ErrCorrupt, n, len(events))
	}
	out := make([]Event, len(events))
	for i, e := range events {
		out[i] = Event(e)
	}
	return out, nil
}

// payment is r as callers see it, with its History.
func (b *txBuckets) payment(r *record) (Payment, error) {
	p := r.payment()
	var err error
	p.History, err = b.history(r.ID)
	return p, err
}

// appendEvents adds events to the trail of payment id, in order, with one
// seek. The caller has checked that the payment exists.
func (b *txBuckets) appendEvents(id string, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	seq, err := b.lastEventSeq(id)
	if err != nil {
		return err
	}
	for _, e := range events {
		seq++
		if err := b.putEvent(id, seq, e); err != nil {
			return err
		}
	}
	return nil
}

// change writes next over old (see put) and appends the events of the change.
func (b *txBuckets) change(old, next *record, events ...Event) error {
	if err := b.put(old, next); err != nil {
		return err
	}
	return b.appendEvents(next.ID, events...)
}

// checkOthers is Check's part for the events, holds and refusals buckets.
func (b *txBuckets) checkOthers() []error {
	var problems []error
	bad := func(format string, args ...any) {
		problems = append(problems, fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...))
	}
	// A payment's events are adjacent, so each missing payment is reported once.
	var lastID string
	c := b.events.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		id, _, ok := splitEventKey(k)
		if !ok {
			bad("malformed events key %q", k)
			continue
		}
		if id != lastID {
			lastID = id
			if b.payments.Get([]byte(id)) == nil {
				bad("events of missing payment %s", id)
			}
		}
		if err := json.Unmarshal(v, new(eventRecord)); err != nil {
			bad("event %x of payment %s: %v", k[len(k)-8:], id, err)
		}
	}
	c = b.holds.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		_, id, err := parseHold(k, v)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		r, err := b.load([]byte(id))
		switch {
		case err != nil:
			problems = append(problems, err)
		case r == nil:
			bad("hold on phone %s by missing payment %s", MaskPhone(string(k)), id)
		case r.Phone != string(k):
			bad("hold on phone %s by payment %s of another phone", MaskPhone(string(k)), id)
		}
	}
	c = b.refusals.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if _, err := decodeRefusal(v); err != nil {
			problems = append(problems, fmt.Errorf("refusal %q: %w", k, err))
		}
	}
	return problems
}
