package lifecycle

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mpesa-bot/mpesa-bot/bot/internal/failpoint"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// Deliverer is the front-end's side of the outbox: it words a message and
// hands it to its chat, and says what came of it. The outbox decides what is
// owed, when to try and when to try again; the Deliverer knows nothing of
// that and must not mark anything in the store.
type Deliverer interface {
	// DeliverOutcome tells the payer's chat how p ended (or that its outcome
	// is not known).
	DeliverOutcome(ctx context.Context, p storage.Payment) Delivery
	// DeliverFeed posts p's line to the merchant feed (only with Config.Feed).
	DeliverFeed(ctx context.Context, p storage.Payment) Delivery
}

// Delivery is what came of one attempt to deliver a message, in the terms
// the outbox acts on: sent; not sent but try again after RetryAfter (a long
// flood wait: no worker sits it out); not sent and Permanent (the chat cannot
// be told this run: not tried again until the next start); otherwise a
// temporary failure, tried again with a growing delay.
type Delivery struct {
	Sent       bool          // the chat accepted the message: it is marked delivered
	RetryAfter time.Duration // not sent; try again after this (a flood wait)
	Permanent  bool          // not sent; the chat cannot be told this run
	Err        error         // why it was not sent, for the log and the audit trail
}

// Outbox delivers what the lifecycle owes the chats: every payment's outcome
// to its payer once it is final or unknown, and, with a merchant feed, every
// final payment's feed line. What is owed lives in the store (a payment not
// yet marked Notified, FeedPosted); the outbox holds only queues of payment
// IDs, rebuilt by Resume and by rescanning the store. It is safe for
// concurrent use.
//
// The two kinds go out in separate lanes, each with its own workers: the
// merchant chat has its own outbound limits (a group gets 20 messages a
// minute), and a feed line waiting for them must never hold back a payer's
// outcome.
type Outbox struct {
	store   *storage.Store
	deliver Deliverer
	metrics Metrics
	log     *slog.Logger
	rescan  time.Duration // how often a lane that overflowed rescans the store

	// The delay before a temporary failure is tried again: it grows with
	// how long the result has waited, from retryFirst up to retryMax.
	retryFirst time.Duration
	retryMax   time.Duration

	outcomes *lane
	feed     *lane // nil without a merchant feed

	// acks holds the payments whose acknowledgement is being sent, so an
	// outcome never overtakes its /pay's answer.
	acksMu sync.Mutex
	acks   map[string]bool // payment ID → an outcome waits for the ack
}

// feedWorkers is 1: feed lines go out in the order payments settled, and the
// merchant chat's rate limit is the bottleneck anyway.
const feedWorkers = 1

const (
	notifyRetryFirst = 5 * time.Second
	notifyRetryMax   = 10 * time.Minute
)

func newOutbox(cfg Config, store *storage.Store, deliver Deliverer, metrics Metrics, log *slog.Logger) *Outbox {
	o := &Outbox{store: store, deliver: deliver, metrics: metrics, log: log, rescan: cfg.NotifyRescan,
		retryFirst: notifyRetryFirst, retryMax: notifyRetryMax, acks: make(map[string]bool)}
	o.outcomes = newLane(o, cfg.NotifyWorkers, cfg.NotifyQueue, (*lane).tellDue, store.ListUnnotified)
	if cfg.Feed {
		o.feed = newLane(o, feedWorkers, cfg.NotifyQueue, (*lane).postDue, store.ListUnposted)
	}
	return o
}

func (o *Outbox) lanes() []*lane {
	if o.feed == nil {
		return []*lane{o.outcomes}
	}
	return []*lane{o.outcomes, o.feed}
}

// owed asks for id's outcome and feed line to be sent, where they are due.
// The lanes read the store to know what is due, so a call made twice is
// harmless. It does not block.
func (o *Outbox) owed(id string) {
	for _, l := range o.lanes() {
		l.enqueue(id)
	}
}

// run sends until ctx ends.
func (o *Outbox) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, l := range o.lanes() {
		wg.Add(1)
		go func() { defer wg.Done(); l.run(ctx) }()
	}
	wg.Wait()
}

// requeue queues what the store says is still owed (at start); it returns
// how many outcomes and feed lines that was.
func (o *Outbox) requeue() (unnotified, unposted int) {
	for _, l := range o.lanes() {
		owed, err := l.due()
		if err != nil {
			o.log.Error("resume: listing what the chats are owed failed", slog.Any("error", err))
		}
		for _, p := range owed {
			l.enqueue(p.ID)
		}
		if l == o.outcomes {
			unnotified = len(owed)
		} else {
			unposted = len(owed)
		}
	}
	return unnotified, unposted
}

// Drain waits until nothing is queued or being sent in either lane, or ctx
// ends; afterwards nothing more is queued. Retries scheduled for later are
// not waited for: the store remembers them, and the next start sends them.
func (o *Outbox) Drain(ctx context.Context) {
	for _, l := range o.lanes() {
		l.drain(ctx)
	}
}

// Idle reports whether nothing is queued or being sent.
func (o *Outbox) Idle() bool {
	for _, l := range o.lanes() {
		if !l.idle() {
			return false
		}
	}
	return true
}

// ExpectAck registers that the front-end is sending id's acknowledgement
// (the answer to its /pay); the returned func marks it sent, or given up. An
// outcome due meanwhile is deferred, without holding a worker, and queued
// again by the returned func: an outcome never overtakes its acknowledgement.
// It is all in memory: an acknowledgement costs no store write.
func (o *Outbox) ExpectAck(id string) (done func()) {
	o.acksMu.Lock()
	o.acks[id] = false
	o.acksMu.Unlock()
	return func() {
		o.acksMu.Lock()
		deferred := o.acks[id]
		delete(o.acks, id)
		o.acksMu.Unlock()
		if deferred {
			o.outcomes.enqueue(id)
		}
	}
}

// deferOutcome reports whether id's acknowledgement is still on its way; if
// so the outcome is sent when it is out, and the worker moves on instead of
// waiting (an acknowledgement can sit out a flood wait).
func (o *Outbox) deferOutcome(id string) bool {
	o.acksMu.Lock()
	defer o.acksMu.Unlock()
	if _, pending := o.acks[id]; !pending {
		return false
	}
	o.acks[id] = true
	return true
}

// lane sends one kind of message (outcomes or feed lines) for payments it is
// given. It works from the store, not from what the caller saw: a queued
// payment is read again, and only what is not yet marked Notified
// (FeedPosted) is sent, so a payment queued twice is still told once. The
// flags are set only after the Deliverer reports the message sent; a message
// that could not go out is tried again later, and at the next start.
type lane struct {
	o        *Outbox
	workers  int
	send     func(*lane, context.Context, storage.Payment) time.Duration // sends what is due; returns the retry delay or 0
	due      func() ([]storage.Payment, error)                           // what the store says is still owed
	queue    chan string
	overflow atomic.Bool // the queue was full: the store is rescanned for what was dropped

	mu      sync.Mutex
	state   map[string]entryState // payments queued or being sent
	emptied chan struct{}         // closed when state becomes empty
	stopped bool
}

// entryState is where a payment is in a lane. A payment enqueued while
// it is being sent is sent again afterwards: its state may have changed
// meanwhile (pending → unknown → succeeded), and only a fresh read tells.
type entryState uint8

const (
	entryQueued entryState = iota + 1
	entrySending
	entrySendingAgain
)

func newLane(o *Outbox, workers, queue int, send func(*lane, context.Context, storage.Payment) time.Duration,
	due func() ([]storage.Payment, error)) *lane {
	return &lane{o: o, workers: workers, send: send, due: due, queue: make(chan string, queue),
		state: make(map[string]entryState), emptied: make(chan struct{})}
}

// enqueue asks for id's message to be sent if it is due.
func (n *lane) enqueue(id string) {
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return
	}
	switch n.state[id] {
	case entryQueued, entrySendingAgain:
		n.mu.Unlock()
		return
	case entrySending:
		n.state[id] = entrySendingAgain
		n.mu.Unlock()
		return
	}
	n.state[id] = entryQueued
	n.mu.Unlock()
	n.push(id)
}

func (n *lane) push(id string) {
	select {
	case n.queue <- id:
	default:
		// The queue is full (a long outage of the chats with thousands of
		// results, or thousands owed at start). The payment stays owed in
		// the store; the rescan picks it up once there is room.
		n.mu.Lock()
		n.removeLocked(id)
		n.mu.Unlock()
		if !n.overflow.Swap(true) {
			n.o.log.Warn("notify: queue full; the rest is sent as the queue empties", slog.String("payment_id", id))
		}
	}
}

// rescan queues what the store says is still owed, after an overflow. What
// does not fit overflows again and waits for the next rescan.
func (n *lane) rescan() {
	if !n.overflow.Swap(false) {
		return
	}
	owed, err := n.due()
	if err != nil {
		n.overflow.Store(true)
		n.o.log.Error("notify: reading what is owed failed", slog.Any("error", err))
		return
	}
	for _, p := range owed {
		n.enqueue(p.ID)
	}
}

func (n *lane) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(n.o.rescan)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				n.rescan()
			case <-ctx.Done():
				return
			}
		}
	}()
	for range n.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case id := <-n.queue:
					n.mu.Lock()
					n.state[id] = entrySending
					n.mu.Unlock()
					n.process(ctx, id)
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	wg.Wait()
}

// done ends a send of id; if it was enqueued meanwhile, it is queued again.
func (n *lane) done(id string) {
	n.mu.Lock()
	if n.state[id] == entrySendingAgain {
		n.state[id] = entryQueued
		n.mu.Unlock()
		n.push(id)
		return
	}
	n.removeLocked(id)
	n.mu.Unlock()
}

func (n *lane) removeLocked(id string) {
	delete(n.state, id)
	if len(n.state) == 0 {
		close(n.emptied)
		n.emptied = make(chan struct{})
	}
}

// drain waits until the queue is empty and nothing is being sent, or ctx ends.
func (n *lane) drain(ctx context.Context) {
	for {
		n.mu.Lock()
		if len(n.state) == 0 {
			n.stopped = true
			n.mu.Unlock()
			return
		}
		emptied := n.emptied
		n.mu.Unlock()
		select {
		case <-emptied:
		case <-ctx.Done():
			return
		}
	}
}

// idle reports whether nothing is queued or being sent.
func (n *lane) idle() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.state) == 0
}

// process sends what is due for one payment; on a failure that may pass it
// tries again later, without holding the worker meanwhile.
func (n *lane) process(ctx context.Context, id string) {
	retry := n.notify(ctx, id)
	n.done(id)
	if retry > 0 && ctx.Err() == nil {
		time.AfterFunc(retry, func() {
			if ctx.Err() == nil {
				n.enqueue(id)
			}
		})
	}
}

// notify reads the payment again and sends what this lane owes it; it
// returns how long to wait before trying again, or 0 when done.
func (n *lane) notify(ctx context.Context, id string) time.Duration {
	p, err := n.o.store.Get(id)
	if err != nil {
		n.o.log.Error("notify: reading the payment failed", slog.String("payment_id", id), slog.Any("error", err))
		return 0
	}
	return n.send(n, ctx, p)
}

// tellDue sends the outcome to the payer once the /pay's acknowledgement is
// out, so an outcome never overtakes it; until then it is deferred, without
// holding the worker.
func (n *lane) tellDue(ctx context.Context, p storage.Payment) time.Duration {
	if n.o.deferOutcome(p.ID) {
		return 0 // queued again once the acknowledgement is out
	}
	if p.Notified || !(p.State.Final() || p.State == storage.StateUnknown) {
		return 0
	}
	return n.tell(ctx, p)
}

// postDue posts a settled payment's feed line.
func (n *lane) postDue(ctx context.Context, p storage.Payment) time.Duration {
	if p.FeedPosted || !p.State.Final() {
		return 0
	}
	return n.post(ctx, p)
}

// tell has the outcome delivered to the payer and marks it told.
func (n *lane) tell(ctx context.Context, p storage.Payment) time.Duration {
	o := n.o
	d := o.deliver.DeliverOutcome(ctx, p)
	if !d.Sent {
		o.metrics.Notification("failed")
		switch {
		case d.RetryAfter > 0:
			// A long flood wait for this chat: let the worker go to others.
			o.log.Warn("notify: rate limited; will retry", slog.String("payment_id", p.ID), slog.Duration("retry_after", d.RetryAfter))
			return d.RetryAfter
		case d.Permanent:
			// Permanent for this run; recorded once, not at every retry.
			_ = o.store.AppendEvent(p.ID, storage.Event{At: time.Now(), Source: "telegram", Type: "notify_failed", Detail: errText(d.Err)})
			o.log.Warn("notify: the chat cannot be told", slog.String("payment_id", p.ID), slog.Int64("chat_id", p.ChatID), slog.Any("error", d.Err))
			return 0 // kept unnotified: tried again at the next start
		}
		o.log.Warn("notify: sending the outcome failed; will retry", slog.String("payment_id", p.ID), slog.Any("error", d.Err))
		return o.backoff(p)
	}
	// A crash here sends the outcome again at the next start: told twice
	// beats never told.
	failpoint.Hit(failpoint.AfterOutcomeSent)
	o.metrics.Notification("sent")
	if _, err := o.store.MarkNotified(p.ID, p.State); err != nil {
		o.log.Error("notify: marking the payment notified failed", slog.String("payment_id", p.ID), slog.Any("error", err))
	}
	return 0
}

// post has a settled payment's feed line delivered and marks it posted.
func (n *lane) post(ctx context.Context, p storage.Payment) time.Duration {
	o := n.o
	d := o.deliver.DeliverFeed(ctx, p)
	if !d.Sent {
		o.metrics.Notification("feed_failed")
		switch {
		case d.RetryAfter > 0:
			return d.RetryAfter
		case d.Permanent:
			o.log.Warn("notify: the merchant chat cannot be posted to", slog.String("payment_id", p.ID), slog.Any("error", d.Err))
			return 0
		}
		return o.backoff(p)
	}
	o.metrics.Notification("feed_sent")
	if err := o.store.MarkFeedPosted(p.ID); err != nil {
		o.log.Error("notify: marking the feed posted failed", slog.String("payment_id", p.ID), slog.Any("error", err))
	}
	return 0
}

// backoff grows the retry delay with the time the result has been waiting.
func (o *Outbox) backoff(p storage.Payment) time.Duration {
	since := time.Since(p.SettledAt)
	if p.SettledAt.IsZero() {
		since = time.Since(p.UpdatedAt)
	}
	return min(max(o.retryFirst, since/2), o.retryMax)
}

func errText(err error) string {
	if err == nil {
		return "not delivered"
	}
	return err.Error()
}
