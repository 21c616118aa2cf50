package storage

import (
	"bytes"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// migrateV1 brings a version-1 file to version 2 inside Open's transaction,
// after every bucket of version 2 exists. Version 1 kept each payment's events
// in its record, under "history", so every event rewrote the whole record;
// version 2 keeps them in the events bucket. Each history moves there, in its
// order, and each record is rewritten without it. No index key depends on the
// history, so the indexes stay as they are.
//
// It reads every payment and holds the whole move in one transaction: a
// crash leaves the file at version 1, and the next Open starts over.
func migrateV1(tx *bolt.Tx) error {
	payments := tx.Bucket([]byte(bucketPayments))
	events := tx.Bucket([]byte(bucketEvents))
	if k, _ := events.Cursor().First(); k != nil {
		return fmt.Errorf("%w: a version-1 file with events of its own: it was not written by mpesa-bot", ErrSchema)
	}
	// Keys are collected first: bbolt cursors must not run over a bucket
	// that is being written.
	var ids [][]byte
	err := payments.ForEach(func(k, _ []byte) error {
		ids = append(ids, bytes.Clone(k))
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		v := payments.Get(id)
		var old struct {
			History []eventRecord `json:"history"`
		}
		if err := json.Unmarshal(v, &old); err != nil {
			return fmt.Errorf("payment %s: %w: %w", id, ErrCorrupt, err)
		}
		r, err := decodeRecord(id, v)
		if err != nil {
			return err
		}
		nv, err := r.encode()
		if err != nil {
			return fmt.Errorf("encode payment %s: %w", id, err)
		}
		if err := payments.Put(id, nv); err != nil {
			return fmt.Errorf("put payment %s: %w", id, err)
		}
		for i, e := range old.History {
			ev, err := json.Marshal(e)
			if err != nil {
				return fmt.Errorf("encode event of payment %s: %w", id, err)
			}
			if err := events.Put(eventKey(r.ID, uint64(i+1)), ev); err != nil {
				return fmt.Errorf("put event of payment %s: %w", id, err)
			}
		}
	}
	return nil
}
