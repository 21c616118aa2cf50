package lifecycle

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/mpesa-bot/mpesa-bot/bot/internal/failpoint"
	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// EventPushSent is the audit event written just before the STK Push leaves.
const EventPushSent = "push_sent"

// Push sends p's STK Push once (p as Create returned it, with its
// CallbackSecret) and records what came of it. It reports whether the
// payment is now pending or final with the push answered (the front-end's
// acknowledgement is due); otherwise the payment was settled as rejected or
// unknown and its outcome is owed to the chat (the outbox delivers it).
func (e *Engine) Push(ctx context.Context, p storage.Payment) (storage.Payment, bool) {
	secret := p.CallbackSecret
	p.CallbackSecret = ""
	err := e.waitDaraja(ctx)
	if err == nil {
		err = ctx.Err() // no rate limit to wait for, but the process may be stopping all the same
	}
	if err != nil {
		// Nothing left the building: the process is stopping.
		e.settle(p.ID, storage.Result{State: storage.StateRejected, Source: "push", ResultCode: "shutdown",
			ResultDesc: ReasonShutdown, Detail: "not sent: " + err.Error()})
		return p, false
	}
	// Recorded before the request: after a crash it tells "maybe sent"
	// (unknown) from "never sent" (rejected).
	start := time.Now()
	if err := e.store.AppendEvent(p.ID, storage.Event{At: start, Source: "bot", Type: EventPushSent,
		Detail: "STK Push to " + mpesa.MaskPhone(p.Phone)}); err != nil {
		e.log.Error("pay: recording the push failed; not sending it", slog.String("payment_id", p.ID), slog.Any("error", err))
		e.settle(p.ID, storage.Result{State: storage.StateRejected, Source: "push", ResultCode: "storage",
			ResultDesc: ReasonStorage, Detail: "not sent: " + err.Error()})
		return p, false
	}
	failpoint.Hit(failpoint.BeforePush)
	pctx, cancel := context.WithTimeout(ctx, e.cfg.PushTimeout)
	defer cancel()
	resp, err := e.daraja.Push(pctx, mpesa.PushRequest{
		Phone:            p.Phone,
		Amount:           p.Amount,
		AccountReference: p.Reference,
		TransactionDesc:  p.Description,
		CallbackURL:      strings.TrimRight(e.cfg.CallbackURL, "/") + "/" + secret,
	})
	if err != nil {
		e.pushFailed(p, err)
		return p, false
	}
	failpoint.Hit(failpoint.AfterPush)

	next := start.Add(e.cfg.PollInitialDelay)
	var rerr error
	for _, wait := range []time.Duration{0, 100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second} {
		time.Sleep(wait) // a store that failed once may recover (a full disk freed); the answer is worth waiting for
		var rec storage.Payment
		if rec, rerr = e.store.RecordPush(p.ID, resp.CheckoutRequestID, resp.MerchantRequestID, next); rerr == nil {
			p = rec
			break
		}
	}
	if rerr != nil {
		// The prompt is on the phone but the store failed. A callback still
		// finds the payment by its secret; meanwhile the answer is stored
		// as soon as the store takes it, so the watcher can query it. The
		// IDs are in the log for an operator in case it never does.
		e.log.Error("pay: storing the push answer failed; retrying in the background", slog.String("payment_id", p.ID),
			slog.String("checkout_request_id", resp.CheckoutRequestID), slog.Any("error", rerr))
		e.recordPushLater(p.ID, resp.CheckoutRequestID, resp.MerchantRequestID, next)
		p.CheckoutRequestID = resp.CheckoutRequestID
		p.State = storage.StatePending
	}
	failpoint.Hit(failpoint.AfterPushStored)
	e.log.Info("payment pushed", slog.String("payment_id", p.ID), slog.String("checkout_request_id", p.CheckoutRequestID))
	if p.State == storage.StatePending {
		e.watcher.schedule(p.ID, next)
	}
	return p, p.State == storage.StatePending || p.State.Final()
}

// recordPushLater keeps trying to store a push answer the store refused,
// for up to recordPushPatience, and has the watcher query the payment once it
// is stored. A restart gives up: the payment is then resumed as a push whose
// answer was lost.
func (e *Engine) recordPushLater(id, checkoutID, merchantID string, next time.Time) {
	e.background(func(ctx context.Context) {
		for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
			if !Sleep(ctx, wait) {
				return
			}
			p, err := e.store.RecordPush(id, checkoutID, merchantID, next)
			if err == nil {
				e.log.Info("pay: push answer stored after all", slog.String("payment_id", id))
				if p.State == storage.StatePending {
					e.watcher.schedule(id, next)
				}
				return
			}
			if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
				e.log.Error("pay: the push answer cannot be stored", slog.String("payment_id", id), slog.Any("error", err))
				return
			}
		}
	}, recordPushPatience)
}

// recordPushPatience bounds recordPushLater.
const recordPushPatience = 10 * time.Minute

// pushFailed settles a payment whose push did not go through: rejected when
// Daraja said no (or the request never left), unknown when it may have
// reached the phone (say so honestly, never retry).
func (e *Engine) pushFailed(p storage.Payment, err error) {
	var perr *mpesa.PaymentError
	if errors.As(err, &perr) && perr.OutcomeUnknown() {
		e.log.Error("pay: push outcome unknown", slog.String("payment_id", p.ID), slog.Any("error", err))
		// The prompt may be on the phone right now: no new payment to it
		// until it has surely expired, whatever restarts come between.
		e.settle(p.ID, storage.Result{State: storage.StateUnknown, Source: "push", HoldUntil: time.Now().Add(e.cfg.PromptLife),
			ResultDesc: ReasonNoAnswer, Detail: "push outcome unknown: " + err.Error()})
		return
	}
	code, reason := refusalOf(err)
	e.log.Error("pay: push refused", slog.String("payment_id", p.ID), slog.String("code", code), slog.Any("error", err))
	e.settle(p.ID, storage.Result{State: storage.StateRejected, Source: "push", ResultCode: code, ResultDesc: reason,
		Detail: "push refused: " + err.Error()})
}

// pushSentAt is when the payment's push was on its way (its audit trail has
// the event written just before the request), or zero if it never was.
func pushSentAt(p storage.Payment) time.Time {
	for _, ev := range p.History {
		if ev.Type == EventPushSent {
			return ev.At
		}
	}
	return time.Time{}
}
