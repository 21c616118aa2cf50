package bot

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/mpesa-bot/mpesa-bot/bot/lifecycle"
	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

const (
	// maxCallbackBody is the largest callback accepted; a real one is under 1 KiB.
	maxCallbackBody = 64 << 10
	// acceptedBody is what Daraja expects back from a callback receiver.
	acceptedBody = `{"ResultCode":0,"ResultDesc":"Accepted"}`
)

// handleCallback receives Daraja's result for one payment at
// <path of CALLBACK_URL>/<secret>. Callbacks are not signed by Daraja, so a
// callback is believed only as far as it can be:
//
//   - the secret in the path names the payment; it is looked up by its
//     SHA-256 (nothing an attacker could time) and never logged; it stops
//     working a day after the payment's final result (404);
//   - the CheckoutRequestID must be the payment's, and a "paid" callback must
//     carry the payment's amount and phone; otherwise it is answered 400,
//     audited (boundedly) and the STK Query decides;
//   - what a matching final result does to the payment is the lifecycle's
//     ApplyCallback: it settles, confirms, corrects or adds a receipt.
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
	case lifecycle.SecretExpired(p, time.Now()):
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
	if why := lifecycle.CallbackMismatch(p, cb); why != "" {
		b.life.RejectCallback(p, cb, why)
		http.Error(w, "callback does not match the payment: "+why, http.StatusBadRequest)
		return
	}

	outcome := cb.Outcome()
	if outcome == mpesa.OutcomePending {
		b.metrics.callback("pending")
		acceptCallback(w) // not a result: the watcher goes on
		return
	}
	switch err := b.life.ApplyCallback(p, cb); {
	case errors.Is(err, lifecycle.ErrNotThisPayment):
		b.life.RejectCallback(p, cb, "CheckoutRequestID belongs to another payment")
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

func acceptCallback(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, acceptedBody)
}
