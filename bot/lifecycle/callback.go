package lifecycle

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

const (
	// secretLife is how long after its final result a payment's callback URL
	// still works. Daraja retries a callback for minutes, not days; after
	// that only someone who copied the URL from a log would use it.
	secretLife = 24 * time.Hour
	// maxConflicts bounds the audit events that mismatched or contradicting
	// callbacks add to one payment: a forged flood cannot grow the database
	// without limit.
	maxConflicts = 20
	// maxVerifications bounds the checks with M-Pesa that contradicting
	// "paid" callbacks may ask for one payment, so a forger who knows
	// everything still cannot turn a flood into Daraja traffic. It is
	// counted apart from maxConflicts: mismatched callbacks, which anyone
	// with the URL can send, cannot use it up.
	maxVerifications = 3
)

// ErrNotThisPayment is ApplyCallback's answer for a callback the store
// refused as another payment's: the front-end answers it as a mismatch.
var ErrNotThisPayment = errors.New("the callback is another payment's")

// SecretExpired reports whether p's callback URL no longer works: a day after
// its final result, or, for a payment that never got one, a day after the
// watcher stopped reconciling it.
func SecretExpired(p storage.Payment, now time.Time) bool {
	if p.State.Final() {
		return !p.SettledAt.IsZero() && now.Sub(p.SettledAt) > secretLife
	}
	return now.Sub(pushedAt(p)) > reconcileFor+secretLife
}

// CallbackMismatch says why cb cannot be the payment's own result, or "".
// A "paid" callback carries the amount and the phone that paid (Daraja's
// metadata); both must be the payment's, the phone compared in full.
func CallbackMismatch(p storage.Payment, cb *mpesa.Callback) string {
	switch {
	case cb.CheckoutRequestID == "":
		return "no CheckoutRequestID"
	case p.CheckoutRequestID != "" && cb.CheckoutRequestID != p.CheckoutRequestID:
		return "CheckoutRequestID differs"
	case cb.Outcome() != mpesa.OutcomePaid:
		return ""
	case cb.Amount != p.Amount:
		return "amount differs"
	case cb.Phone != p.Phone:
		return "phone differs"
	}
	return ""
}

// RejectCallback answers for a callback that is not the payment's: it is
// audited (boundedly) and changes nothing else. The watcher's STK Query, on
// its usual schedule, decides the payment; a forger cannot make the bot call
// Daraja any sooner or more often.
func (e *Engine) RejectCallback(p storage.Payment, cb *mpesa.Callback, why string) {
	e.metrics.Callback("mismatch")
	recorded, err := e.store.AppendConflict(p.ID, storage.Event{Source: "callback", Type: "callback_mismatch",
		Detail: why + "; " + callbackDetail(cb)}, maxConflicts)
	if err != nil {
		e.log.Error("callback: recording the mismatch failed", slog.String("payment_id", p.ID), slog.Any("error", err))
	}
	level := slog.LevelWarn
	if !recorded {
		level = slog.LevelDebug // a flood: the first ones were logged and audited
	}
	e.log.Log(context.Background(), level, "callback does not match the payment; not believed", slog.String("payment_id", p.ID),
		slog.String("reason", why), slog.String("checkout_request_id", cb.CheckoutRequestID), slog.Int64("amount", cb.Amount),
		slog.String("phone", mpesa.MaskPhone(cb.Phone)))
}

// ApplyCallback stores what a final callback that CallbackMismatch accepted
// says:
//
//   - a result for an open payment settles it once, like a query's would;
//   - a "not paid" result is told at once but, since it carries nothing to
//     match, keeps the phone held and is confirmed with M-Pesa's STK Query;
//   - a callback that contradicts a final result is audited and, when it
//     says "paid" for a payment told "failed", checked with the STK Query:
//     only Daraja's own "paid" corrects the result, and the chat is told once;
//   - a "paid" callback after a query settled the payment brings the receipt.
//
// It returns ErrNotThisPayment, or another error only when the store failed
// (so Daraja is asked to try again).
func (e *Engine) ApplyCallback(p storage.Payment, cb *mpesa.Callback) error {
	detail := callbackDetail(cb)
	res := resultOf(cb.Outcome(), "callback", cb.ResultCode, cb.ResultDesc)
	res.Receipt = cb.Receipt
	res.CheckoutRequestID = cb.CheckoutRequestID
	res.Detail = detail
	if res.State == storage.StateFailed {
		// Anyone holding the URL could have sent this (a "not paid" carries
		// no amount or phone to match): the chat is told at once, but the
		// phone stays held and M-Pesa's own query confirms the result. Nor
		// may it name the payment's CheckoutRequestID when none is stored
		// yet: a forged one would lock out the real push answer and the
		// genuine callbacks.
		res.Verify = true
		res.HoldUntil = e.promptExpiry(p)
		if p.CheckoutRequestID == "" {
			res.CheckoutRequestID = ""
		}
	}
	settled, changed, err := e.settleOrFail(p.ID, res)
	switch {
	case errors.Is(err, storage.ErrConflict):
		// The CheckoutRequestID belongs to another payment, or the push
		// answer stored meanwhile has another one: not this payment's.
		return ErrNotThisPayment
	case err != nil:
		return err
	case changed:
		e.metrics.Callback("settled")
		if settled.VerifyDue {
			e.watcher.schedule(settled.ID, time.Now())
		}
		return nil
	case settled.ResultCode == cb.ResultCode && settled.State == res.State:
		if res.State == storage.StateSucceeded && settled.Receipt == "" && cb.Receipt != "" {
			return e.lateReceipt(settled, cb.Receipt)
		}
		e.metrics.Callback("duplicate") // Daraja retrying: nothing to record
		return nil
	case !settled.State.Final():
		// A "paid" can only come to a payment that is still open from a
		// settle; anything else here raced another result. The watcher
		// goes on and decides.
		e.metrics.Callback("duplicate")
		return nil
	}
	return e.callbackConflict(settled, cb, detail)
}

// lateReceipt stores the receipt of a payment a query had already settled
// "paid" (a query has no receipt; the callback does).
func (e *Engine) lateReceipt(p storage.Payment, receipt string) error {
	_, added, err := e.store.AddReceipt(p.ID, receipt, "callback")
	if err != nil {
		e.log.Error("callback: storing the receipt failed", slog.String("payment_id", p.ID), slog.Any("error", err))
		return err
	}
	if added {
		e.metrics.Callback("receipt")
		e.log.Info("receipt added to a paid payment", slog.String("payment_id", p.ID), slog.String("receipt", receipt))
	} else {
		e.metrics.Callback("duplicate")
	}
	return nil
}

// callbackConflict handles a callback that contradicts a payment's final
// result. The result stays unless Daraja's own STK Query confirms "paid" for
// a payment that was told "failed": the contradiction is marked in the store
// as owing a check (RequestVerify), which the watcher runs, retries and
// resumes after a restart, and a correction goes through the outbox like any
// outcome, told once. A payment Daraja refused (never pushed) is never
// announced as paid. Conflicts are audited at most maxConflicts times per
// payment and checked at most maxVerifications times.
func (e *Engine) callbackConflict(p storage.Payment, cb *mpesa.Callback, detail string) error {
	e.metrics.Callback("conflict")
	recorded, err := e.store.AppendConflict(p.ID, storage.Event{Source: "callback", Type: "callback_conflict",
		Detail: detail + "; the payment stays " + string(p.State) + " unless M-Pesa confirms otherwise"}, maxConflicts)
	if err != nil {
		e.log.Error("callback: recording the conflict failed", slog.String("payment_id", p.ID), slog.Any("error", err))
		return err
	}
	if recorded {
		e.log.Warn("callback contradicts the payment's final result", slog.String("payment_id", p.ID),
			slog.String("state", string(p.State)), slog.String("result_code", p.ResultCode),
			slog.String("callback_result_code", cb.ResultCode), slog.String("receipt", cb.Receipt))
	}
	if cb.Outcome() != mpesa.OutcomePaid || p.State != storage.StateFailed {
		return nil
	}
	// The callback matched the payment's amount and phone: its
	// CheckoutRequestID may fill a missing one (a push answer that was
	// lost), so the check can ask M-Pesa about it.
	got, requested, err := e.store.RequestVerify(p.ID, cb.CheckoutRequestID, cb.Receipt, "callback", maxVerifications)
	if errors.Is(err, storage.ErrConflict) {
		return ErrNotThisPayment
	}
	if err != nil {
		e.log.Error("callback: asking for a check failed", slog.String("payment_id", p.ID), slog.Any("error", err))
		return err
	}
	if requested && got.VerifyDue {
		e.watcher.schedule(p.ID, time.Now())
	}
	return nil
}

// callbackDetail is a callback as the audit trail shows it: no secret, the
// phone masked.
func callbackDetail(cb *mpesa.Callback) string {
	detail := "ResultCode " + strconv.Quote(cb.ResultCode)
	if cb.Amount != 0 {
		detail += ", amount " + strconv.FormatInt(cb.Amount, 10)
	}
	if cb.Phone != "" {
		detail += ", phone " + mpesa.MaskPhone(cb.Phone)
	}
	if cb.Receipt != "" {
		detail += ", receipt " + cb.Receipt
	}
	return detail
}
