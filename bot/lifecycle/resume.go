package lifecycle

import (
	"log/slog"
	"time"

	"github.com/mpesa-bot/mpesa-bot/storage"
)

// Resumed is what Resume picked up.
type Resumed struct {
	Interrupted int // payments whose push answer was never stored, now settled
	Watched     int // payments queued for an STK Query
	Verify      int // failed results owing a check with M-Pesa
	Unnotified  int // outcomes the chats were still owed, queued again
	Unposted    int // feed lines still owed, queued again (with a feed)
}

// Resume picks up what a previous process left: payments whose push answer
// was never stored are settled (never pushed again), and pending and unknown
// payments and owed checks go back to the watcher, and the outcomes and feed
// lines the chats were never told go back to the outbox. It is called once,
// before or after Run starts (the outbox's queues wait for Run; what does
// not fit in them is found again by the rescan).
func (e *Engine) Resume() Resumed {
	now := time.Now()
	initiating, err := e.store.ListByState(storage.StateInitiating)
	if err != nil {
		e.log.Error("resume: listing initiating payments failed", slog.Any("error", err))
	}
	for _, p := range initiating {
		// The process stopped between storing the payment and storing
		// Daraja's answer. Never push again: a stale order must not surprise
		// the customer. If the push was on its way, it may have reached the
		// phone: say so (a callback can still settle it); if not, say it was
		// not sent.
		if !pushSentAt(p).IsZero() {
			e.settle(p.ID, storage.Result{State: storage.StateUnknown, Source: "startup", HoldUntil: e.promptExpiry(p),
				ResultDesc: ReasonAnswerLost, Detail: "push outcome unknown after restart"})
			continue
		}
		e.settle(p.ID, storage.Result{State: storage.StateRejected, Source: "startup", ResultCode: "restart",
			ResultDesc: ReasonRestart, Detail: "not sent: restart before the push"})
	}
	watched, err := e.store.ListByState(storage.StatePending, storage.StateUnknown)
	if err != nil {
		e.log.Error("resume: listing pending payments failed", slog.Any("error", err))
	}
	n := 0
	for _, p := range watched {
		if at, ok := e.nextQuery(p, now); ok {
			if at.Before(now) {
				at = now
			}
			e.watcher.schedule(p.ID, at)
			n++
		}
	}
	verify, err := e.store.ListVerifyDue()
	if err != nil {
		e.log.Error("resume: listing payments owing a check failed", slog.Any("error", err))
	}
	for _, p := range verify {
		e.watcher.schedule(p.ID, now)
	}
	unnotified, unposted := e.outbox.requeue()
	return Resumed{Interrupted: len(initiating), Watched: n, Verify: len(verify), Unnotified: unnotified, Unposted: unposted}
}
