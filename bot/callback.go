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
	// callbacks add to one payment, and so the verifying queries they cause:
	// a forged flood cannot grow the database or Daraja traffic without limit.
	maxConflicts = 20
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
//   - a callback that contradicts a final result is audited and, when it
//     says "paid" for a payment told "failed", checked with one STK Query:
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
	case p.State.Final() && !p.SettledAt.IsZero() && time.Since(p.SettledAt) > secretLife:
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
	if err := b.applyCallback(p, cb); err != nil {
		// Not stored: Daraja is asked to try again rather than told
		// "Accepted" for a result that would be lost.
		b.metrics.callback("store_error")
		http.Error(w, "storage error", http.StatusInternalServerError)
		return
	}
	acceptCallback(w)
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
	b.log.Warn("callback does not match the payment; not believed", slog.String("payment_id", p.ID), slog.String("reason", why),
		slog.String("checkout_request_id", cb.CheckoutRequestID), slog.Int64("amount", cb.Amount),
		slog.String("phone", mpesa.MaskPhone(cb.Phone)))
	if _, err := b.store.AppendConflict(p.ID, storage.Event{Source: "callback", Type: "callback_mismatch",
		Detail: why + "; " + callbackDetail(cb)}, maxConflicts); err != nil {
		b.log.Error("callback: recording the mismatch failed", slog.String("payment_id", p.ID), slog.Any("error", err))
	}
}

// applyCallback stores what a matching callback says. It returns an error
// only when the store failed, so Daraja tries again.
func (b *Bot) applyCallback(p storage.Payment, cb *mpesa.Callback) error {
	detail := callbackDetail(cb)
	res := resultOf(cb.Outcome(), "callback", cb.ResultCode, cb.ResultDesc)
	res.Receipt = cb.Receipt
	res.CheckoutRequestID = cb.CheckoutRequestID
	res.Detail = detail
	settled, changed, err := b.settleOrFail(p.ID, res)
	switch {
	case err != nil:
		return err
	case changed:
		b.metrics.callback("settled")
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
// a payment that was told "failed": that one correction goes through the
// outbox like any outcome, so it is told once and survives a crash. A
// payment Daraja refused (never pushed) is never announced as paid. Conflicts
// are audited and verified at most maxConflicts times per payment.
func (b *Bot) callbackConflict(p storage.Payment, cb *mpesa.Callback, detail string) error {
	b.metrics.callback("conflict")
	b.log.Warn("callback contradicts the payment's final result", slog.String("payment_id", p.ID),
		slog.String("state", string(p.State)), slog.String("result_code", p.ResultCode),
		slog.String("callback_result_code", cb.ResultCode), slog.String("receipt", cb.Receipt))
	recorded, err := b.store.AppendConflict(p.ID, storage.Event{Source: "callback", Type: "callback_conflict",
		Detail: detail + "; the payment stays " + string(p.State) + " unless M-Pesa confirms otherwise"}, maxConflicts)
	if err != nil {
		b.log.Error("callback: recording the conflict failed", slog.String("payment_id", p.ID), slog.Any("error", err))
		return err
	}
	if !recorded || cb.Outcome() != mpesa.OutcomePaid || p.State != storage.StateFailed || p.CheckoutRequestID == "" {
		return nil
	}
	b.verifyPaid(p.ID, p.CheckoutRequestID, cb.Receipt)
	return nil
}

// verifyPaid asks Daraja, once, whether a payment told "failed" was paid
// after all, and corrects it only if Daraja says so. One verification per
// payment runs at a time; it runs outside the HTTP handler so Daraja's
// callback is answered at once.
func (b *Bot) verifyPaid(id, checkoutID, receipt string) {
	b.verifyMu.Lock()
	if b.verifying[id] {
		b.verifyMu.Unlock()
		return
	}
	b.verifying[id] = true
	b.verifyMu.Unlock()
	b.background(func(ctx context.Context) {
		defer func() {
			b.verifyMu.Lock()
			delete(b.verifying, id)
			b.verifyMu.Unlock()
		}()
		if err := b.waitDaraja(ctx); err != nil {
			return
		}
		qctx, cancel := context.WithTimeout(ctx, b.cfg.QueryTimeout)
		res, err := b.daraja.Query(qctx, checkoutID)
		cancel()
		if err != nil || res.Pending || res.Outcome() != mpesa.OutcomePaid {
			what := "not confirmed: "
			switch {
			case err != nil:
				what += err.Error()
			case res.Pending:
				what += "M-Pesa says it is still being processed"
			default:
				what += "STK Query ResultCode " + strconv.Quote(res.ResultCode)
			}
			b.log.Warn("callback: M-Pesa did not confirm the contradicting 'paid'; the result stays", slog.String("payment_id", id))
			if _, err := b.store.AppendConflict(id, storage.Event{Source: "query", Type: "conflict_checked", Detail: what}, maxConflicts); err != nil {
				b.log.Error("callback: recording the check failed", slog.String("payment_id", id), slog.Any("error", err))
			}
			return
		}
		p, changed, err := b.store.Correct(id, storage.Result{State: storage.StateSucceeded, Source: "query",
			ResultCode: res.ResultCode, ResultDesc: res.ResultDesc, Receipt: receipt,
			Detail: "a callback said paid and the STK Query confirmed it"})
		if err != nil {
			b.log.Error("callback: storing the correction failed", slog.String("payment_id", id), slog.Any("error", err))
			return
		}
		if !changed {
			return
		}
		b.metrics.paymentCorrected(p)
		b.log.Warn("payment corrected to paid: M-Pesa confirmed it after reporting a failure", slog.String("payment_id", id),
			slog.String("receipt", p.Receipt))
		b.notifier.enqueue(id)
	})
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
