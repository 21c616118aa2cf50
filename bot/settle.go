package bot

import (
	"log/slog"

	"github.com/mpesa-bot/mpesa-bot/bot/internal/failpoint"
	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// settle moves a payment to a result and, when this call changed it, queues
// the message that tells the chat. It is the one way to a final state, for
// pushes, queries and callbacks alike.
func (b *Bot) settle(id string, r storage.Result) (storage.Payment, bool) {
	p, changed, _ := b.settleOrFail(id, r)
	return p, changed
}

// settleOrFail is settle for callers that must answer for a store failure
// (the callback receiver answers 500, so Daraja tries again).
func (b *Bot) settleOrFail(id string, r storage.Result) (storage.Payment, bool, error) {
	p, changed, err := b.store.Settle(id, r)
	if err != nil {
		b.log.Error("settling the payment failed", slog.String("payment_id", id), slog.String("source", r.Source), slog.Any("error", err))
		return p, false, err
	}
	if !changed {
		return p, false, nil
	}
	if p.State.Final() {
		failpoint.Hit(failpoint.AfterSettle)
	}
	if p.State.Final() {
		b.watcher.remove(id)
		b.metrics.paymentSettled(p, r.Source)
	}
	if p.State == storage.StateFailed {
		switch rc := mpesa.LookupResult(p.ResultCode); {
		case rc.Outcome == mpesa.OutcomeUnknown:
			b.log.Warn("unknown M-Pesa result code", slog.String("payment_id", id), slog.String("result_code", p.ResultCode))
		case rc.Hint != "":
			// Codes that mean the bot is set up wrong: the operator must act.
			b.log.Warn("M-Pesa result code points to a configuration problem", slog.String("payment_id", id),
				slog.String("result_code", p.ResultCode), slog.String("hint", rc.Hint))
		}
	}
	b.log.Info("payment settled", slog.String("payment_id", id), slog.String("state", string(p.State)),
		slog.String("result_code", p.ResultCode), slog.String("source", r.Source))
	b.notifier.enqueue(id)
	return p, true, nil
}

// expectAck registers that the /pay answer for id is on its way; the returned
// func marks it sent (or given up). An outcome that comes first is deferred
// (see deferOutcome) and queued again from here.
func (b *Bot) expectAck(id string) func() {
	b.acksMu.Lock()
	b.acks[id] = false
	b.acksMu.Unlock()
	return func() {
		b.acksMu.Lock()
		deferred := b.acks[id]
		delete(b.acks, id)
		b.acksMu.Unlock()
		if deferred {
			b.notifier.outcomes.enqueue(id)
		}
	}
}

// deferOutcome reports whether id's acknowledgement is still on its way; if
// so the outcome is sent when it is out, and the notifier worker moves on
// instead of waiting (an acknowledgement can sit out a flood wait).
func (b *Bot) deferOutcome(id string) bool {
	b.acksMu.Lock()
	defer b.acksMu.Unlock()
	if _, pending := b.acks[id]; !pending {
		return false
	}
	b.acks[id] = true
	return true
}
