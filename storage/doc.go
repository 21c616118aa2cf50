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
// CanSettle for the allowed moves). A final state is never left, but for one
// move outside Settle: Correct, from failed to succeeded. MarkNotified
// and MarkFeedPosted record that a message went out; ListUnnotified and
// ListUnposted find what still has to go out after a crash.
//
// Every change appends an Event to the payment's History in the same
// transaction. The store appends these itself: "created" (Create),
// "push_answered" (RecordPush), "settled" (Settle), "notified" (MarkNotified),
// "feed_posted" (MarkFeedPosted), "phone_held" (Hold), "receipt_added"
// (AddReceipt), "corrected" (Correct), "conflicts_capped" (AppendConflict) and
// "chat_moved" (MoveChat); callers add the rest (push sent, query answers,
// failures) with AppendEvent, AppendConflict or ScheduleQuery. Calls that
// change nothing (a duplicate callback, a second Create with the same
// idempotency key) append nothing, so duplicates cannot grow a history, and
// AppendConflict stops recording a payment's conflicts at a limit. Every
// Payment read back carries its whole History, oldest first. An event alone
// does not change UpdatedAt.
//
// After the outcome, AddReceipt fills the receipt of a payment a query settled
// "paid", and Correct turns a failure that M-Pesa later confirmed paid into a
// success (Payment.Corrected), to be told again. A failure that still awaits
// M-Pesa's confirmation is marked VerifyDue, in the same transaction as the
// result (Settle with Result.Verify) or as the callback that contradicts it
// (RequestVerify, at most a given number of times); VerifyDone or Correct
// clears the mark, and ListVerifyDue finds what is still owed after a crash.
//
// # Holds and refusals
//
// A phone whose STK Push outcome is unknown may still show a PIN prompt, so
// Settle to unknown (or to failed on an unconfirmed result) with
// Result.HoldUntil, or Hold, keeps it closed to new payments
// (Limits.OnePerPhone) until then, across restarts. A hold stays when its
// payment becomes final, since the result says nothing about the prompt, and
// ends when it expires, or when M-Pesa's own query gave the payment a final
// answer (Correct, VerifyDone with release). PhoneHeldUntil reads it.
//
// RecordRefusal remembers for 48 hours that a /pay was refused for a limit,
// and Refusal answers for it, so that Telegram delivering the message again
// after a crash gets the same answer instead of a push.
//
// # Durability
//
// bbolt syncs every commit. Writes use DB.Batch, so payments handled at the
// same moment share one fsync; a lone write waits Options.BatchDelay (2ms)
// for company. A write that returned without error is on disk; one that
// returned an error did not happen. Writes after Close fail with ErrClosed.
// Only one process can open the file; a second one gets ErrLocked after
// Options.Timeout. WriteTo and BackupFile make consistent copies while the
// store is in use; Check verifies the file and every index.
//
// # Format
//
// One bbolt file, schema version 2, with these buckets:
//
//   - "meta": the schema version ("schema_version", decimal) and the last
//     millisecond used in an ID.
//   - "payments": payment ID → record as JSON, with its own field names (not
//     Payment's) and without the events. The callback secret is stored only as
//     a SHA-256.
//   - "events": payment ID + 0x00 + sequence number (8 bytes big-endian, from
//     1 per payment) → event as JSON ("at", "source", "type", "detail"). A
//     payment's events are adjacent and in the order appended, so appending
//     one is a seek and a put, whatever the length of the trail.
//   - "holds": phone → until (unix nanoseconds, 8 bytes big-endian) followed
//     by the ID of the payment that holds it; expired ones are pruned at Open.
//   - "refusals": idempotency key → JSON {"code", "at"}; pruned after 48
//     hours, at Open and at most hourly by RecordRefusal.
//   - Index buckets, mapping derived keys to IDs and rewritten in the same
//     transaction as the record: "idx_idempotency", "idx_checkout" and
//     "idx_secret" (unique), "idx_user" (user ID + creation time),
//     "idx_state", "idx_open_phone" and "idx_open_user" (open payments), and
//     three flag indexes, "idx_unnotified", "idx_unposted" and "idx_verify"
//     (failed results owing M-Pesa's confirmation), so that the start-up
//     catch-up reads only what it needs however many payments the file holds.
//
// Open refuses a file of a newer or unknown schema version with ErrSchema and
// leaves it as it was. A file of version 1, where each record carried its
// events under "history" and every event rewrote the whole record, is migrated
// by Open in one transaction: each history moves to the events bucket in its
// order, each record is rewritten without it, the buckets new in version 2 are
// created, and the file is stamped version 2. A crash during the migration
// leaves version 1 to migrate at the next Open; a migrated file cannot be
// opened by a build that knows only version 1.
//
// IDs are 16 characters of lower-case base32hex: the creation millisecond and
// a per-file sequence. They are URL-safe, unique, and sort by creation.
package storage
