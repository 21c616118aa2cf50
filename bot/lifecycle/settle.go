package lifecycle

import (
	"log/slog"

	"github.com/mpesa-bot/mpesa-bot/bot/internal/failpoint"
	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// settle moves a payment to a result and, when this call changed it, has
// the outbox deliver what is owed. It is the one way to a final state, for
// pushes, queries and callbacks alike.
func (e *Engine) settle(id string, r storage.Result) (storage.Payment, bool) {
	p, changed, _ := e.settleOrFail(id, r)
	return p, changed
}

// settleOrFail is settle for callers that must answer for a store failure
// (the callback receiver answers 500, so Daraja tries again).
func (e *Engine) settleOrFail(id string, r storage.Result) (storage.Payment, bool, error) {
	p, changed, err := e.store.Settle(id, r)
	if err != nil {
		e.log.Error("settling the payment failed", slog.String("payment_id", id), slog.String("source", r.Source), slog.Any("error", err))
		return p, false, err
	}
	if !changed {
		return p, false, nil
	}
	if p.State.Final() {
		failpoint.Hit(failpoint.AfterSettle)
		e.watcher.remove(id)
		e.metrics.PaymentSettled(p, r.Source)
	}
	if p.State == storage.StateFailed {
		switch rc := mpesa.LookupResult(p.ResultCode); {
		case rc.Outcome == mpesa.OutcomeUnknown:
			e.log.Warn("unknown M-Pesa result code", slog.String("payment_id", id), slog.String("result_code", p.ResultCode))
		case rc.Hint != "":
			// Codes that mean the bot is set up wrong: the operator must act.
			e.log.Warn("M-Pesa result code points to a configuration problem", slog.String("payment_id", id),
				slog.String("result_code", p.ResultCode), slog.String("hint", rc.Hint))
		}
	}
	e.log.Info("payment settled", slog.String("payment_id", id), slog.String("state", string(p.State)),
		slog.String("result_code", p.ResultCode), slog.String("source", r.Source))
	e.outbox.owed(id)
	return p, true, nil
}

// resultOf is the one outcome → state table, for callbacks and queries alike:
// only Daraja's "paid" is a success; every other final code is a failure
// (an unknown code included: it is never taken for paid).
func resultOf(o mpesa.Outcome, source, code, desc string) storage.Result {
	state := storage.StateFailed
	if o == mpesa.OutcomePaid {
		state = storage.StateSucceeded
	}
	return storage.Result{State: state, Source: source, ResultCode: code, ResultDesc: desc}
}
