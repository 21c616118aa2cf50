// Package failpoint marks the steps of a payment where a crash test kills the
// process. In a normal build Hit does nothing and compiles away; a binary
// built with `-tags failpoint` dies by SIGKILL at the step named by the
// MPESA_BOT_FAILPOINT environment variable, so a test can check what a
// restart makes of the state a real crash leaves on disk. The production code
// path is the same in both builds: only this package differs.
package failpoint

// The steps of a payment, in order.
const (
	AfterCreate      = "after_create"       // the payment is stored (write-ahead); push_sent not yet recorded
	BeforePush       = "before_push"        // push_sent is recorded; the STK Push has not left
	AfterPush        = "after_push"         // Daraja answered the push; the answer is not stored
	AfterPushStored  = "after_push_stored"  // the push answer is stored; the acknowledgement not sent
	AfterSettle      = "after_settle"       // the final result is stored; the chat not told
	AfterOutcomeSent = "after_outcome_sent" // Telegram accepted the outcome message; not yet marked notified
)
