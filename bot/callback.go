package bot

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// maxCallbackBody is the largest callback accepted; a real one is under 1 KiB.
const maxCallbackBody = 64 << 10

// acceptedBody is what Daraja expects back from a callback receiver.
const acceptedBody = `{"ResultCode":0,"ResultDesc":"Accepted"}`

// handleCallback receives Daraja's result for one payment at
// <path of CALLBACK_URL>/<secret> (DESIGN §4.5). The secret in the path is
// the only thing that makes an unsigned callback trustworthy: it is looked up
// by its SHA-256 (no byte-by-byte comparison an attacker could time) and
// never logged. The result settles the payment through the same
// one-transaction settle as the watcher, so a duplicate, a late callback or
// one racing a query changes nothing twice.
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
	if cb.CheckoutRequestID == "" || (p.CheckoutRequestID != "" && cb.CheckoutRequestID != p.CheckoutRequestID) {
		b.metrics.callback("mismatch")
		b.log.Warn("callback: CheckoutRequestID does not match the payment", slog.String("payment_id", p.ID),
			slog.String("checkout_request_id", cb.CheckoutRequestID))
		http.Error(w, "CheckoutRequestID does not match", http.StatusBadRequest)
		return
	}

	outcome := cb.Outcome()
	if outcome == mpesa.OutcomePending {
		b.metrics.callback("pending")
		acceptCallback(w) // not a result: the watcher goes on
		return
	}
	state := storage.StateFailed
	if outcome == mpesa.OutcomePaid {
		state = storage.StateSucceeded
		if cb.Amount != 0 && cb.Amount != p.Amount {
			b.log.Warn("callback: paid amount differs from the requested amount", slog.String("payment_id", p.ID),
				slog.Int64("requested", p.Amount), slog.Int64("paid", cb.Amount))
		}
	}
	detail := "ResultCode " + strconv.Quote(cb.ResultCode)
	if cb.Amount != 0 {
		detail += ", amount " + strconv.FormatInt(cb.Amount, 10)
	}
	if cb.Receipt != "" {
		detail += ", receipt " + cb.Receipt
	}
	settled, changed, err := b.settleOrFail(p.ID, storage.Result{State: state, Source: "callback", ResultCode: cb.ResultCode,
		ResultDesc: cb.ResultDesc, Receipt: cb.Receipt, CheckoutRequestID: cb.CheckoutRequestID, Detail: detail})
	switch {
	case err != nil:
		// Not stored: Daraja is asked to try again rather than told
		// "Accepted" for a result that would be lost.
		b.metrics.callback("store_error")
		http.Error(w, "storage error", http.StatusInternalServerError)
		return
	case changed:
		b.metrics.callback("settled")
	case settled.ResultCode == cb.ResultCode:
		b.metrics.callback("duplicate") // Daraja retrying: nothing to record
	default:
		b.callbackConflict(settled, cb, detail)
	}
	acceptCallback(w)
}

// callbackConflict handles a callback that contradicts a payment's final
// result. The result stays (DESIGN §4: final is final), but nothing is
// silently dropped: the callback goes into the audit trail and the log, and
// when M-Pesa now says "paid" for a payment the chat was told had failed,
// the chat and the merchant feed are warned, so nobody asks the customer to
// pay twice.
func (b *Bot) callbackConflict(p storage.Payment, cb *mpesa.Callback, detail string) {
	b.metrics.callback("conflict")
	b.log.Error("callback contradicts the payment's final result; the result stays",
		slog.String("payment_id", p.ID), slog.String("state", string(p.State)), slog.String("result_code", p.ResultCode),
		slog.String("callback_result_code", cb.ResultCode), slog.String("receipt", cb.Receipt))
	if err := b.store.AppendEvent(p.ID, storage.Event{Source: "callback", Type: "callback_conflict",
		Detail: detail + "; the payment stays " + string(p.State)}); err != nil {
		b.log.Error("callback: recording the conflict failed", slog.String("payment_id", p.ID), slog.Any("error", err))
	}
	if cb.Outcome() != mpesa.OutcomePaid || p.State == storage.StateSucceeded {
		return
	}
	text := paidAfterAllText(p, cb.Receipt)
	b.background(func(ctx context.Context) {
		if _, err := b.sender.send(ctx, replyTo(p.ChatID, p.MessageID, text)); err != nil {
			b.log.Error("callback: warning the chat failed", slog.String("payment_id", p.ID), slog.Any("error", err))
		}
		if b.cfg.MerchantChatID != 0 {
			if _, err := b.sender.send(ctx, replyTo(b.cfg.MerchantChatID, 0, text)); err != nil {
				b.log.Error("callback: warning the merchant chat failed", slog.String("payment_id", p.ID), slog.Any("error", err))
			}
		}
	})
}

func acceptCallback(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, acceptedBody)
}
