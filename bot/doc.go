// Package bot is the application's front-end: the Telegram long-poll loop,
// command parsing and access rules, the replies and the words of every
// message, sending to Telegram, and the HTTP side (Daraja's callbacks,
// health, metrics, backup). The payment itself — create, push, settle, the
// watcher, resume, the limits — and what its chat and the merchant feed are
// owed are package lifecycle's: the bot holds a *lifecycle.Engine, whose
// outbox hands it each owed outcome and feed line through a Deliverer
// (notify.go: words them, sends them, sorts Telegram's answer), and counts
// through the metrics. The merchant chat's ID, and its move to a
// supergroup, stay here.
//
// # Three paths
//
// A payment starts with /pay and ends through a callback or the watcher:
//
//	/pay ─► poll.go ─► dispatch.go (per-chat order) ─► pay.go handlePay
//	          parsePay ─► lifecycle Create (write-ahead; limits, holds,
//	          refusals; the refusal worded here) ─► lifecycle Push
//	          (push_sent ─► Daraja STK Push ─► RecordPush ─► watcher)
//	          ─► sender: acknowledgement (outbox.ExpectAck holds the outcome
//	          back until it is out)
//
//	Daraja ─► POST <callback path>/<secret> ─► allowlist.go ─► callback.go
//	          lifecycle CallbackMismatch (CheckoutRequestID; for "paid"
//	          amount and phone) ─► lifecycle ApplyCallback ─► store.Settle
//	          (once) ─► lifecycle outbox ─► deliverer ─► sender: outcome (and
//	          feed line)
//	          "not paid", or "paid" contradicting a failure ─► VerifyDue
//	          ─► lifecycle watcher: STK Query ─► store.Correct ─► outbox
//
//	lifecycle watcher ─► STK Query ─► final: settle ─► outbox ─► sender
//	          pending ─► next query (POLL_INTERVAL, backoff); at POLL_TIMEOUT
//	          unknown ("not confirmed", phone held) ─► every 5 min up to 24 h
//
// # Where state lives
//
// Everything that must survive a crash is in the store: the payment and its
// state, its audit trail, whether the chat and the feed were told (Notified,
// FeedPosted), the phone holds of pushes whose outcome is unknown, failed
// results still to be confirmed with M-Pesa (VerifyDue), and /pay refusals
// Telegram may deliver again. In memory, rebuilt at start by the lifecycle's
// Resume: its watcher queue (from pending and unknown payments and those
// owing a check) and its outbox's queues (from what the store says is still
// owed). In memory only, and lost on restart by design: the hourly /pay
// window per user and the acknowledgements in flight (in the lifecycle),
// Telegram's outbound rate limiters, chats that blocked the bot, and chat
// moves already applied this run.
//
// # Shutdown
//
// Run stops polling at once when its context ends, then: handlers in flight
// finish (a push already on its way is answered and stored) within
// ShutdownTimeout; the lifecycle's outbox drains what is queued; the handled
// updates are confirmed to Telegram; the lifecycle's watcher and outbox stop,
// and so do the lifecycle's background jobs (a push answer still being
// stored); late handlers get five more seconds to record what they did, and
// the background jobs as long to end. The caller then stops the HTTP server
// and closes the store.
package bot
