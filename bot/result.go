package bot

import (
	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

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
