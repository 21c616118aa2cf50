// Package lifecycle runs every payment from its creation to its final
// result: it writes the payment ahead with the abuse limits, pushes it once,
// applies results from STK Queries and callbacks through one outcome → state
// table, watches open payments, and picks up at start what a previous process
// left. It knows nothing of Telegram or HTTP: the front-end (package bot)
// parses commands, words every reply, serves the callback URL and delivers
// messages; the lifecycle tells it through Notifier that a message is owed
// for a payment, and counts through Metrics.
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
//	          ─► settle (store.Settle once) ─► Notifier.Owed; "not paid", or
//	          "paid" contradicting a failure ─► VerifyDue ─► watcher: STK Query
//	          ─► store.Correct ─► Notifier.Owed, or store.VerifyDone
//
//	watcher ─► checkPayment ─► Daraja STK Query ─► final: settle; pending:
//	          next query (PollInterval, backoff); at PollTimeout unknown
//	          (phone held) ─► every 5 min up to 24 h after the push
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
// In memory, rebuilt by Resume: the watcher's heap (from pending and unknown
// payments and those owing a check). In memory only, lost on restart by
// design: the hourly window per user and the Daraja rate limiter's tokens.
// Whether a chat was told is the front-end's to track (in the store).
//
// # Shutdown
//
// Run returns once its context ends and its workers finished their check (a
// query in flight is abandoned: the payment is resumed from the store).
// Push runs under its caller's context: a push cancelled on its way is
// settled unknown with the phone held, never retried, so the front-end
// decides how long one may take to finish. Then StopBackground ends the jobs
// still storing a push answer, WaitBackground waits for them, and only then
// may the store close.
package lifecycle
