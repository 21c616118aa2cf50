// Package bot is the application: the Telegram long-poll loop, command
// parsing and access rules, the replies, the watcher that settles pending
// payments, the notifier that tells chats how they ended, and the HTTP side
// (Daraja's callbacks, health, metrics, backup). It talks to Daraja through
// the mpesa package and keeps every payment in the storage package.
//
// # Three paths
//
// A payment starts with /pay and ends through a callback or the watcher:
//
//	/pay ─► poll.go ─► dispatch.go (per-chat order) ─► pay.go handlePay
//	          store.Create (write-ahead; limits, holds, refusals in one transaction)
//	          store.AppendEvent push_sent ─► Daraja STK Push ─► store.RecordPush
//	          watcher.schedule(first query) ─► sender: acknowledgement
//
//	Daraja ─► POST <callback path>/<secret> ─► allowlist.go ─► callback.go
//	          match (CheckoutRequestID; for "paid" amount and phone) ─► settle.go
//	          store.Settle (once) ─► notifier ─► sender: outcome (and feed line)
//	          "not paid", or "paid" contradicting a failure ─► VerifyDue (store)
//	          ─► watcher: STK Query ─► store.Correct ─► notifier, or VerifyDone
//
//	watcher tick ─► watcher.go checkPayment ─► Daraja STK Query
//	          final ─► settle.go ─► notifier ─► sender: outcome
//	          pending ─► next query (POLL_INTERVAL, backoff); at POLL_TIMEOUT
//	          unknown ("not confirmed", phone held) ─► every 5 min up to 24 h
//
// # Where state lives
//
// Everything that must survive a crash is in the store: the payment and its
// state, its audit trail, whether the chat and the feed were told (Notified,
// FeedPosted), the phone holds of pushes whose outcome is unknown, failed
// results still to be confirmed with M-Pesa (VerifyDue), and /pay refusals
// Telegram may deliver again. In memory, rebuilt at start by resume:
// the watcher's queue (from pending and unknown payments and those owing a
// check), the notifier's
// queues (from what the store says is still owed). In memory only, and lost
// on restart by design: the hourly /pay window per user, Telegram's outbound
// rate limiters, chats that blocked the bot, acknowledgements in flight
// (acks), and chat moves already applied this run.
//
// # Shutdown
//
// Run stops polling at once when its context ends, then: handlers in flight
// finish (a push already on its way is answered and stored) within
// ShutdownTimeout; the notifier drains what is queued; the handled updates
// are confirmed to Telegram; the watcher and notifier stop; late handlers get
// five more seconds to record what they did; background jobs (a push answer
// still being stored) end. The caller then stops the HTTP server and closes the store.
package bot
