// Package lifecycle runs every payment from its creation to its final
// result: it writes the payment ahead with the abuse limits, pushes it once,
// applies results from STK Queries and callbacks through one outcome → state
// table, watches open payments, and picks up at start what a previous process
// left; its Outbox delivers every message a payment owes its chat and
// the merchant feed. It knows nothing of Telegram or HTTP: the front-end
// (package bot) parses commands, words every reply and message, serves the
// callback URL and sends; the outbox hands it each owed message through
// Deliverer and acts on the Delivery it reports, and the lifecycle counts
// through Metrics.
//
// # Three paths
//
//	front-end /pay ─► Create (store.Create write-ahead; stored refusals,
//	          phone holds, the hourly window, one open payment per phone and
//	          MaxPendingPerUser in one transaction) ─► Push: push_sent event
//	          ─► Daraja STK Push ─► store.RecordPush (retried in the
//	          background if the store fails) ─► watcher: first query
//
//	front-end callback ─► CallbackMismatch / RejectCallback ─► ApplyCallback
//	          ─► settle (store.Settle once) ─► outbox; "not paid", or "paid"
//	          contradicting a failure ─► VerifyDue ─► watcher: STK Query
//	          ─► store.Correct ─► outbox, or store.VerifyDone
//
//	watcher ─► checkPayment ─► Daraja STK Query ─► final: settle; pending:
//	          next query (PollInterval, backoff); at PollTimeout unknown
//	          (phone held) ─► every 5 min up to 24 h after the push
//
//	outbox ─► outcome lane (NotifyWorkers) / feed lane (one worker, with
//	          Config.Feed) ─► store.Get: still owed? ─► Deliverer ─► sent:
//	          store.MarkNotified / MarkFeedPosted; flood wait: again after
//	          it; permanent: notify_failed event, again at the next start;
//	          otherwise again with a growing delay
//
// Nothing here knows English: a push that was not sent, or whose outcome is
// not known, is stored with a reason code (Reason…) in ResultDesc, and the
// front-end words it.
//
// # Where state lives
//
// What must survive a crash is in the store: the payment, its state and
// audit trail, the phone holds of pushes whose outcome is unknown, the checks
// owed (VerifyDue) and the refusals a request delivered again must get again.
// Whether a message is owed is in the store too: a final (or unknown)
// payment not yet marked Notified owes its outcome, a final one not yet
// marked FeedPosted its feed line, and the store's indexes list them
// (ListUnnotified, ListUnposted); the flags are set only once the Deliverer
// reports the message sent, so a crash between the two sends it again rather
// than never. In memory, rebuilt by Resume: the watcher's heap (from pending
// and unknown payments and those owing a check) and the outbox's queues of
// payment IDs (from what the store says is owed; what overflows a queue is
// found again by rescanning the store). In memory only, lost on restart by
// design: the hourly window per user, the Daraja rate limiter's tokens, and
// the acknowledgements in flight (Outbox.ExpectAck), which hold a payment's
// outcome back until its /pay was answered without a store write.
//
// # Shutdown
//
// The front-end first lets its handlers finish, then Outbox.Drain waits
// (bounded by its context) until nothing is queued or being delivered and
// takes nothing more; retries scheduled for later are left to the store and
// the next start. Run returns once its context ends, its watcher's workers
// finished their check (a query in flight is abandoned: the payment is
// resumed from the store) and the outbox's workers their delivery.
// Push runs under its caller's context: a push cancelled on its way is
// settled unknown with the phone held, never retried, so the front-end
// decides how long one may take to finish. Then StopBackground ends the jobs
// still storing a push answer, WaitBackground waits for them, and only then
// may the store close.
package lifecycle
