// Package storage is the bbolt store of payments: write-ahead records, state
// transitions that happen once, the audit trail, idempotency keys and the
// indexes the bot needs. It knows nothing of Telegram, HTTP or Daraja.
//
// # Lifecycle
//
// Create stores a payment in StateInitiating before the STK Push is sent;
// RecordPush stores the push answer (initiating → pending); Settle applies a
// result from a callback, a query, the push itself or the watcher. Settle is
// the only way to a final state and checks the current state in the same
// transaction, so exactly one caller learns that it changed the payment (see
// CanSettle for the allowed moves). A final state is never left. MarkNotified
// and MarkFeedPosted record that a message went out; ListUnnotified and
// ListUnposted find what still has to go out after a crash.
//
// Every change appends an Event to the payment's History in the same
// transaction. The store appends these itself: "created" (Create),
// "push_answered" (RecordPush), "settled" (Settle), "notified" (MarkNotified)
// and "feed_posted" (MarkFeedPosted); callers add the rest (push sent, query
// answers, failures) with AppendEvent or ScheduleQuery. Calls that change
// nothing (a duplicate callback, a second Create with the same idempotency key)
// append nothing, so duplicates cannot grow a history.
//
// # Durability
//
// bbolt syncs every commit. Writes use DB.Batch, so payments handled at the
// same moment share one fsync; a lone write waits Options.BatchDelay (10ms)
// for company. A write that returned without error is on disk; one that
// returned an error did not happen. Writes after Close fail with ErrClosed.
// Only one process can open the file; a second one gets ErrLocked after
// Options.Timeout. WriteTo and BackupFile make consistent copies while the
// store is in use; Check verifies the file and every index.
//
// # Format
//
// One bbolt file. The "meta" bucket holds the schema version (Open refuses
// another one with ErrSchema). "payments" maps a payment ID to its record as
// JSON, with its own field names (not Payment's). The callback secret is stored
// only as a SHA-256. Index buckets map derived keys to IDs and are rewritten in
// the same transaction as the record: idempotency key, CheckoutRequestID,
// secret hash, user (user ID + creation time), state, open payments by phone
// and by user, and two flag indexes (not yet notified, not yet posted to the
// feed) so the start-up catch-up reads only what it needs however many payments
// the file holds.
//
// IDs are 16 characters of lower-case base32hex: the creation millisecond and
// a per-file sequence. They are URL-safe, unique, and sort by creation.
package storage
