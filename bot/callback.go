package bot

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

const (
	// maxCallbackBody is the largest callback accepted; a real one is under 1 KiB.
	maxCallbackBody = 64 << 10
	// acceptedBody is what Daraja expects back from a callback receiver.
	acceptedBody = `{"ResultCode":0,"ResultDesc":"Accepted"}`
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

// handleCallback receives Daraja's result for one payment at
// <path of CALLBACK_URL>/<secret>. Callbacks are not signed by Daraja, so a
// callback is believed only as far as it can be:
//
//   - the secret in the path names the payment; it is looked up by its
//     SHA-256 (nothing an attacker could time) and never logged; it stops
//     working secretLife after the payment's final result (404);
//   - the CheckoutRequestID must be the payment's, and a "paid" callback must
//     carry the payment's amount and phone; otherwise it is answered 400,
//     audited (boundedly) and the STK Query decides;
//   - a result for an open payment settles it once, like a query's would;
//   - a "not paid" result is told at once but, since it carries nothing to
//     match, keeps the phone held and is confirmed with M-Pesa's STK Query;
//   - a callback that contradicts a final result is audited and, when it
//     says "paid" for a payment told "failed", checked with the STK Query:
//     only Daraja's own "paid" corrects the result, and the chat is told once;
//   - a "paid" callback after a query settled the payment brings the receipt,
//     which is stored and shown by /status.
func (b *Bot) handleCallback(w http.ResponseWriter, r *http.Request) {
	p, err := b.store.GetBySecret(r.PathValue("secret"))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		b.metrics.callback("unknown_secret")
		http.NotFound(w, r)
		return
	case err != nil:
		b.log.Error("callback: reading the payment failed", slog.Any("error", err))
		http.Error(w, "storage error", http.StatusInternalServerError)
		return
	case secretExpired(p, time.Now()):
		b.metrics.callback("expired_secret")
		http.NotFound(w, r)
		return
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCallbackBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			b.metrics.callback("too_large")
			http.Error(w, "callback body over 64 KiB", http.StatusRequestEntityTooLarge)
			return
		}
		b.metrics.callback("read_error")
		http.Error(w, "reading the body failed", http.StatusBadRequest)
		return
	}
	cb, err := mpesa.ParseCallback(body)
	if err != nil {
		b.metrics.callback("malformed")
		b.log.Warn("callback: malformed body", slog.String("payment_id", p.ID), slog.Any("error", err))
		http.Error(w, "malformed callback", http.StatusBadRequest)
		return
	}
	if why := callbackMismatch(p, cb); why != "" {
		b.callbackMismatch(p, cb, why)
		http.Error(w, "callback does not match the payment: "+why, http.StatusBadRequest)
		return
	}

	outcome := cb.Outcome()
	if outcome == mpesa.OutcomePending {
		b.metrics.callback("pending")
		acceptCallback(w) // not a result: the watcher goes on
		return
	}
	switch err := b.applyCallback(p, cb); {
	case errors.Is(err, errNotThisPayment):
		b.callbackMismatch(p, cb, "CheckoutRequestID belongs to another payment")
		http.Error(w, "callback does not match the payment", http.StatusBadRequest)
		return
	case err != nil:
		// Not stored: Daraja is asked to try again rather than told
		// "Accepted" for a result that would be lost.
		b.metrics.callback("store_error")
		http.Error(w, "storage error", http.StatusInternalServerError)
		return
	}
	acceptCallback(w)
}

// errNotThisPayment is applyCallback's answer for a callback the store refused
// as another payment's.
var errNotThisPayment = errors.New("the callback is another payment's")

// secretExpired reports whether p's callback URL no longer works: a day after
// its final result, or, for a payment that never got one, a day after the
// watcher stopped reconciling it.
func secretExpired(p storage.Payment, now time.Time) bool {
	if p.State.Final() {
		return !p.SettledAt.IsZero() && now.Sub(p.SettledAt) > secretLife
	}
	since := p.PushedAt
	if since.IsZero() {
		since = p.CreatedAt
	}
	return now.Sub(since) > reconcileFor+secretLife
}

// callbackMismatch says why cb cannot be the payment's own result, or "".
// A "paid" callback carries the amount and the phone that paid (Daraja's
// metadata); both must be the payment's, the phone compared in full.
func callbackMismatch(p storage.Payment, cb *mpesa.Callback) string {
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

// callbackMismatch answers for a callback that is not the payment's: it is
// audited (boundedly) and changes nothing else. The watcher's STK Query, on
// its usual schedule, decides the payment; a forger cannot make the bot call
// Daraja any sooner or more often.
func (b *Bot) callbackMismatch(p storage.Payment, cb *mpesa.Callback, why string) {
	b.metrics.callback("mismatch")
	recorded, err := b.store.AppendConflict(p.ID, storage.Event{Source: "callback", Type: "callback_mismatch",
		Detail: why + "; " + callbackDetail(cb)}, maxConflicts)
	if err != nil {
		b.log.Error("callback: recording the mismatch failed", slog.String("payment_id", p.ID), slog.Any("error", err))
	}
	level := slog.LevelWarn
	if !recorded {
		level = slog.LevelDebug // a flood: the first ones were logged and audited
	}
	b.log.Log(context.Background(), level, "callback does not match the payment; not believed", slog.String("payment_id", p.ID),
		slog.String("reason", why), slog.String("checkout_request_id", cb.CheckoutRequestID), slog.Int64("amount", cb.Amount),
		slog.String("phone", mpesa.MaskPhone(cb.Phone)))
}

// applyCallback stores what a matching callback says. It returns an error
// only when the store failed, so Daraja tries again.
func (b *Bot) applyCallback(p storage.Payment, cb *mpesa.Callback) error {
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
		res.HoldUntil = b.promptExpiry(p)
		if p.CheckoutRequestID == "" {
			res.CheckoutRequestID = ""
		}
	}
	settled, changed, err := b.settleOrFail(p.ID, res)
	switch {
	case errors.Is(err, storage.ErrConflict):
		// The CheckoutRequestID belongs to another payment, or the push
		// answer stored meanwhile has another one: not this payment's.
		return errNotThisPayment
	case err != nil:
		return err
	case changed:
		b.metrics.callback("settled")
		if settled.VerifyDue {
			b.watcher.schedule(settled.ID, time.Now())
		}
		return nil
	case settled.ResultCode == cb.ResultCode && settled.State == res.State:
		if res.State == storage.StateSucceeded && settled.Receipt == "" && cb.Receipt != "" {
			return b.lateReceipt(settled, cb.Receipt)
		}
		b.metrics.callback("duplicate") // Daraja retrying: nothing to record
		return nil
	case !settled.State.Final():
		// A "paid" can only come to a payment that is still open from a
		// settle; anything else here raced another result. The watcher
		// goes on and decides.
		b.metrics.callback("duplicate")
		return nil
	}
	return b.callbackConflict(settled, cb, detail)
}

// lateReceipt stores the receipt of a payment a query had already settled
// "paid" (a query has no receipt; the callback does).
func (b *Bot) lateReceipt(p storage.Payment, receipt string) error {
	_, added, err := b.store.AddReceipt(p.ID, receipt, "callback")
	if err != nil {
		b.log.Error("callback: storing the receipt failed", slog.String("payment_id", p.ID), slog.Any("error", err))
		return err
	}
	if added {
		b.metrics.callback("receipt")
		b.log.Info("receipt added to a paid payment", slog.String("payment_id", p.ID), slog.String("receipt", receipt))
	} else {
		b.metrics.callback("duplicate")
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
func (b *Bot) callbackConflict(p storage.Payment, cb *mpesa.Callback, detail string) error {
	b.metrics.callback("conflict")
	recorded, err := b.store.AppendConflict(p.ID, storage.Event{Source: "callback", Type: "callback_conflict",
		Detail: detail + "; the payment stays " + string(p.State) + " unless M-Pesa confirms otherwise"}, maxConflicts)
	if err != nil {
		b.log.Error("callback: recording the conflict failed", slog.String("payment_id", p.ID), slog.Any("error", err))
		return err
	}
	if recorded {
		b.log.Warn("callback contradicts the payment's final result", slog.String("payment_id", p.ID),
			slog.String("state", string(p.State)), slog.String("result_code", p.ResultCode),
			slog.String("callback_result_code", cb.ResultCode), slog.String("receipt", cb.Receipt))
	}
	if cb.Outcome() != mpesa.OutcomePaid || p.State != storage.StateFailed {
		return nil
	}
	// The callback matched the payment's amount and phone: its
	// CheckoutRequestID may fill a missing one (a push answer that was
	// lost), so the check can ask M-Pesa about it.
	got, requested, err := b.store.RequestVerify(p.ID, cb.CheckoutRequestID, cb.Receipt, "callback", maxVerifications)
	if errors.Is(err, storage.ErrConflict) {
		return errNotThisPayment
	}
	if err != nil {
		b.log.Error("callback: asking for a check failed", slog.String("payment_id", p.ID), slog.Any("error", err))
		return err
	}
	if requested && got.VerifyDue {
		b.watcher.schedule(p.ID, time.Now())
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

func acceptCallback(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, acceptedBody)
}
