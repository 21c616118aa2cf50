package lifecycle

import (
	"container/heap"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// watcher runs a check for each payment when it is due. It holds one entry
// per watched payment in a min-heap ordered by due time and sleeps on a single
// timer set to the earliest: with nothing due it spends no CPU, and 10,000
// watched payments cost a few hundred kilobytes. A due payment is checked by
// one of a fixed number of workers; the check reschedules it or not.
type watcher struct {
	check   func(ctx context.Context, id string)
	workers int

	mu    sync.Mutex
	queue dueHeap
	index map[string]*dueItem
	wake  chan struct{}
}

type dueItem struct {
	id       string
	at       time.Time
	pos      int  // in the heap; -1 while out of it
	checking bool // a worker is checking it right now
	again    bool // scheduled during its check: back in the heap at `at` when the check is done
}

type dueHeap []*dueItem

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].pos = i
	h[j].pos = j
}
func (h *dueHeap) Push(x any) {
	it := x.(*dueItem)
	it.pos = len(*h)
	*h = append(*h, it)
}
func (h *dueHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	it.pos = -1
	return it
}

func newWatcher(check func(context.Context, string), workers int) *watcher {
	return &watcher{check: check, workers: workers, index: make(map[string]*dueItem), wake: make(chan struct{}, 1)}
}

// schedule sets when id is next checked; of two times asked for before the
// next check, the earlier wins. A payment being checked is not handed to
// another worker meanwhile: it goes back in the queue when its check is done,
// so one payment never has two checks (two queries) at once.
func (w *watcher) schedule(id string, at time.Time) {
	w.mu.Lock()
	if it, ok := w.index[id]; ok {
		switch {
		case it.checking && !it.again:
			it.at, it.again = at, true
		case it.checking:
			it.at = earlier(it.at, at)
		default:
			it.at = earlier(it.at, at)
			heap.Fix(&w.queue, it.pos)
		}
	} else {
		it := &dueItem{id: id, at: at}
		w.index[id] = it
		heap.Push(&w.queue, it)
	}
	w.mu.Unlock()
	w.poke()
}

// remove stops watching id.
func (w *watcher) remove(id string) {
	w.mu.Lock()
	if it, ok := w.index[id]; ok {
		if it.pos >= 0 {
			heap.Remove(&w.queue, it.pos)
		}
		delete(w.index, id)
	}
	w.mu.Unlock()
}

// len is how many payments are watched.
func (w *watcher) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.index)
}

func (w *watcher) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run dispatches due payments until ctx ends.
func (w *watcher) run(ctx context.Context) {
	due := make(chan string)
	var wg sync.WaitGroup
	for range w.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range due {
				w.check(ctx, id)
				w.done(id)
			}
		}()
	}
	defer func() {
		close(due)
		wg.Wait()
	}()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		id, wait := w.next(time.Now())
		if id != "" {
			select {
			case due <- id:
				continue
			case <-ctx.Done():
				return
			}
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-w.wake:
		case <-ctx.Done():
			return
		}
	}
}

// next pops a due payment, or says how long until one is due. A popped entry
// stays in the index, marked as being checked, so a schedule during its check
// re-queues it once the check is done.
func (w *watcher) next(now time.Time) (string, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		return "", time.Hour
	}
	if d := w.queue[0].at.Sub(now); d > 0 {
		return "", d
	}
	it := heap.Pop(&w.queue).(*dueItem)
	it.checking = true
	return it.id, 0
}

// done forgets a checked payment unless it was scheduled again meanwhile.
func (w *watcher) done(id string) {
	w.mu.Lock()
	if it, ok := w.index[id]; ok && it.checking {
		it.checking = false
		if it.again {
			it.again = false
			heap.Push(&w.queue, it)
		} else {
			delete(w.index, id)
		}
	}
	w.mu.Unlock()
	w.poke()
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// nextQuery is the query schedule of one payment: the first query at
// its stored NextQueryAt, then POLL_INTERVAL growing by half each time up to a
// minute, never past the POLL_TIMEOUT mark (the "not confirmed" message is
// due then), then every five minutes until 24 hours after the push. It
// reports false when the payment is no longer watched.
func (e *Engine) nextQuery(p storage.Payment, now time.Time) (time.Time, bool) {
	if p.CheckoutRequestID == "" || p.State.Final() || p.State == storage.StateInitiating {
		return time.Time{}, false
	}
	pushed := pushedAt(p)
	end := pushed.Add(reconcileFor)
	if !now.Before(end) {
		return time.Time{}, false
	}
	if p.Queries == 0 && !p.NextQueryAt.IsZero() {
		return p.NextQueryAt, true
	}
	var at time.Time
	if p.State == storage.StateUnknown {
		at = now.Add(jitter(reconcileInterval))
	} else {
		interval := e.cfg.PollInterval
		for i := 1; i < p.Queries && interval < maxPollInterval; i++ {
			interval += interval / 2
		}
		interval = min(interval, maxPollInterval)
		at = now.Add(jitter(interval))
		if deadline := pushed.Add(e.cfg.PollTimeout); p.State == storage.StatePending && at.After(deadline) {
			at = deadline
		}
	}
	if at.After(end) {
		return time.Time{}, false
	}
	return at, true
}

// jitter spreads queries that were scheduled together: up to a tenth later.
func jitter(d time.Duration) time.Duration {
	return d + rand.N(d/10+1)
}

// checkPayment is the watcher's work for one due payment: query Daraja,
// settle on a final answer, declare "not confirmed" at POLL_TIMEOUT, and
// schedule the next check.
func (e *Engine) checkPayment(ctx context.Context, id string) {
	p, err := e.store.Get(id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return
	case err != nil:
		// A store that failed once may answer next time: the payment stays
		// watched rather than forgotten until the next restart.
		e.log.Error("watch: reading the payment failed; will retry", slog.String("payment_id", id), slog.Any("error", err))
		e.watcher.schedule(id, time.Now().Add(jitter(e.cfg.PollInterval)))
		return
	}
	if p.State == storage.StateFailed && p.VerifyDue {
		e.verify(ctx, p)
		return
	}
	if _, watched := e.nextQuery(p, time.Now()); !watched {
		return
	}
	if err := e.waitDaraja(ctx); err != nil {
		return // stopping
	}
	qctx, cancel := context.WithTimeout(ctx, e.cfg.QueryTimeout)
	res, err := e.daraja.Query(qctx, p.CheckoutRequestID)
	cancel()
	if ctx.Err() != nil {
		return // stopping: the payment is resumed from the store at the next start
	}
	queries := p.Queries + 1
	event := &storage.Event{At: time.Now(), Source: "query"}
	switch {
	case err != nil && mpesa.IsCheckoutUnknown(err) && time.Since(p.PushedAt) > forgetAfter:
		// Daraja no longer knows the request (or never did: an in-process
		// simulator restarted). Asking again will not change that; a
		// callback can still settle it.
		e.log.Warn("watch: Daraja does not know the CheckoutRequestID; no more queries",
			slog.String("payment_id", id), slog.Any("error", err))
		if p.State == storage.StatePending {
			e.settle(id, storage.Result{State: storage.StateUnknown, Source: "watcher", HoldUntil: e.promptExpiry(p),
				ResultDesc: ReasonUnknownToDaraja, Detail: "query refused: " + err.Error()})
		}
		if serr := e.store.ScheduleQuery(id, time.Time{}, queries, &storage.Event{At: time.Now(), Source: "query",
			Type: "query_refused", Detail: err.Error()}); serr != nil {
			e.log.Error("watch: storing the schedule failed", slog.String("payment_id", id), slog.Any("error", serr))
		}
		return
	case err != nil:
		event.Type, event.Detail = "query_failed", err.Error()
		e.log.Warn("watch: STK Query failed", slog.String("payment_id", id), slog.Any("error", err))
	case res.Pending:
		event.Type, event.Detail = "query_answered", "pending"
	default:
		if err := e.settleFromQuery(p, res); err != nil {
			// Daraja's answer is not stored: ask again rather than forget
			// the payment until the next restart.
			e.watcher.schedule(id, time.Now().Add(jitter(e.cfg.PollInterval)))
		}
		return
	}

	now := time.Now()
	if p.State == storage.StatePending && !now.Before(p.PushedAt.Add(e.cfg.PollTimeout)) {
		// The prompt may still be on the phone (POLL_TIMEOUT can be shorter
		// than its life): the phone stays closed until it surely expired.
		e.settle(id, storage.Result{State: storage.StateUnknown, Source: "watcher", HoldUntil: e.promptExpiry(p),
			ResultDesc: ReasonPollTimeout, Detail: "not confirmed after " + e.cfg.PollTimeout.String()})
		p.State = storage.StateUnknown
	}
	p.Queries = queries
	next, ok := e.nextQuery(p, now)
	if err := e.store.ScheduleQuery(id, next, queries, event); err != nil {
		e.log.Error("watch: storing the schedule failed", slog.String("payment_id", id), slog.Any("error", err))
	}
	if ok {
		e.watcher.schedule(id, next)
		return
	}
	_ = e.store.AppendEvent(id, storage.Event{At: now, Source: "watcher", Type: "watch_ended",
		Detail: "no final result within 24 hours of the push; no more queries"})
	e.log.Warn("watch: giving up on a payment", slog.String("payment_id", id))
}

// forgetAfter is how long after the push an "Invalid CheckoutRequestID"
// answer is believed: right after the push, Daraja may not have the request
// everywhere yet.
const forgetAfter = 2 * time.Minute

// settleFromQuery settles a payment on a final STK Query answer. A query
// never has a receipt number: the callback carries it. The error is the
// store's: the answer was not recorded.
func (e *Engine) settleFromQuery(p storage.Payment, res *mpesa.QueryResult) error {
	r := resultOf(res.Outcome(), "query", res.ResultCode, res.ResultDesc)
	r.Detail = "STK Query ResultCode " + strconv.Quote(res.ResultCode)
	_, _, err := e.settleOrFail(p.ID, r)
	return err
}

// verify asks M-Pesa to confirm a failed result that owes a check (a callback
// said "not paid", or a later one said "paid"). A final answer ends the check:
// "paid" corrects the payment, anything else confirms the failure and lifts
// the phone's hold. No answer yet (an error, "still processing") asks again
// later, with the watcher's backoff, until the payment leaves reconciliation.
func (e *Engine) verify(ctx context.Context, p storage.Payment) {
	now := time.Now()
	if p.CheckoutRequestID == "" {
		// Nothing to ask about until the push answer is stored (or a
		// matched callback names the request).
		if !now.Before(pushedAt(p).Add(reconcileFor)) {
			e.verifyDone(p, now, "verify_gave_up", "no CheckoutRequestID to ask M-Pesa about; the result stays", false)
			return
		}
		e.watcher.schedule(p.ID, now.Add(jitter(e.verifyInterval(p, now))))
		return
	}
	if err := e.waitDaraja(ctx); err != nil {
		return // stopping: resumed from the store at the next start
	}
	qctx, cancel := context.WithTimeout(ctx, e.cfg.QueryTimeout)
	res, err := e.daraja.Query(qctx, p.CheckoutRequestID)
	cancel()
	if ctx.Err() != nil {
		return
	}
	now = time.Now()
	switch {
	case err == nil && !res.Pending && res.Outcome() == mpesa.OutcomePaid:
		got, changed, cerr := e.store.Correct(p.ID, storage.Result{State: storage.StateSucceeded, Source: "query",
			ResultCode: res.ResultCode, ResultDesc: res.ResultDesc, Detail: "M-Pesa's STK Query confirms it was paid"})
		switch {
		case cerr != nil:
			e.log.Error("verify: storing the correction failed; will retry", slog.String("payment_id", p.ID), slog.Any("error", cerr))
			e.watcher.schedule(p.ID, now.Add(jitter(e.cfg.PollInterval)))
		case changed:
			e.metrics.PaymentCorrected(got)
			e.log.Warn("payment corrected to paid: M-Pesa confirmed it after a failure was reported", slog.String("payment_id", p.ID),
				slog.String("receipt", got.Receipt))
			e.outbox.owed(p.ID)
		}
		return
	case err == nil && !res.Pending:
		e.verifyDone(p, now, "verified", "M-Pesa's STK Query confirms ResultCode "+strconv.Quote(res.ResultCode)+"; the result stays", true)
		return
	case err != nil && mpesa.IsCheckoutUnknown(err) && now.Sub(pushedAt(p)) > forgetAfter,
		!now.Before(pushedAt(p).Add(reconcileFor)):
		e.verifyDone(p, now, "verify_gave_up", "M-Pesa gave no final answer to confirm the result; it stays", false)
		return
	}
	detail := "still being processed"
	if err != nil {
		detail = err.Error()
		e.log.Warn("verify: STK Query failed; will retry", slog.String("payment_id", p.ID), slog.Any("error", err))
	}
	queries := p.Queries + 1
	if serr := e.store.ScheduleQuery(p.ID, time.Time{}, queries, &storage.Event{At: now, Source: "query",
		Type: "verify_pending", Detail: detail}); serr != nil {
		e.log.Error("verify: storing the attempt failed", slog.String("payment_id", p.ID), slog.Any("error", serr))
	}
	p.Queries = queries
	e.watcher.schedule(p.ID, now.Add(jitter(e.verifyInterval(p, now))))
}

// verifyInterval is how long until a check is tried again: POLL_INTERVAL
// growing to a minute while the PIN prompt may still be answered (a
// POLL_TIMEOUT after the push), then the slow reconciliation pace, so an
// outage does not turn owed checks into a flood of queries.
func (e *Engine) verifyInterval(p storage.Payment, now time.Time) time.Duration {
	if now.After(pushedAt(p).Add(e.cfg.PollTimeout)) {
		return reconcileInterval
	}
	interval := e.cfg.PollInterval
	for i := 1; i < p.Queries && interval < maxPollInterval; i++ {
		interval += interval / 2
	}
	return min(interval, maxPollInterval)
}

// pushedAt is when p's push went out (its answer, else its push_sent event),
// or when p was created if it never did.
func pushedAt(p storage.Payment) time.Time {
	if !p.PushedAt.IsZero() {
		return p.PushedAt
	}
	if at := pushSentAt(p); !at.IsZero() {
		return at // the push left, but its answer was never stored
	}
	return p.CreatedAt
}

// verifyDone records the end of a check; a store failure leaves it owed, and
// it is asked again.
func (e *Engine) verifyDone(p storage.Payment, now time.Time, typ, detail string, release bool) {
	if _, err := e.store.VerifyDone(p.ID, storage.Event{At: now, Source: "query", Type: typ, Detail: detail}, release); err != nil {
		e.log.Error("verify: storing the answer failed; will retry", slog.String("payment_id", p.ID), slog.Any("error", err))
		e.watcher.schedule(p.ID, now.Add(jitter(e.cfg.PollInterval)))
	}
}
