package bot

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mpesa-bot/mpesa-bot/bot/internal/failpoint"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// notifier tells chats how their payments ended, and posts the merchant feed.
// The two go out in separate lanes, each with its own workers: the merchant
// chat has its own outbound limits (a group gets 20 messages a minute), and a
// feed line waiting for them must never hold back a payer's outcome.
type notifier struct {
	outcomes *lane
	feed     *lane // nil without a merchant chat
}

// feedWorkers is 1: feed lines go out in the order payments settled, and the
// merchant chat's rate limit is the bottleneck anyway.
const feedWorkers = 1

func newNotifier(b *Bot, workers int) *notifier {
	n := &notifier{outcomes: newLane(b, workers, (*lane).tellDue, b.store.ListUnnotified)}
	if b.merchantChat.Load() != 0 {
		n.feed = newLane(b, feedWorkers, (*lane).postDue, b.store.ListUnposted)
	}
	return n
}

func (n *notifier) lanes() []*lane {
	if n.feed == nil {
		return []*lane{n.outcomes}
	}
	return []*lane{n.outcomes, n.feed}
}

// enqueue asks for id's outcome and feed line to be sent, where they are due.
func (n *notifier) enqueue(id string) {
	for _, l := range n.lanes() {
		l.enqueue(id)
	}
}

// run sends until ctx ends.
func (n *notifier) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, l := range n.lanes() {
		wg.Add(1)
		go func() { defer wg.Done(); l.run(ctx) }()
	}
	wg.Wait()
}

// drain waits until nothing is queued or being sent in either lane, or ctx
// ends; afterwards nothing more is queued.
func (n *notifier) drain(ctx context.Context) {
	for _, l := range n.lanes() {
		l.drain(ctx)
	}
}

// idle reports whether nothing is queued or being sent.
func (n *notifier) idle() bool {
	for _, l := range n.lanes() {
		if !l.idle() {
			return false
		}
	}
	return true
}

// lane sends one kind of message (outcomes or feed lines) for payments it is
// given. It works from the store, not from what the caller saw: a queued
// payment is read again, and only what is not yet marked Notified
// (FeedPosted) is sent, so a payment queued twice is still told once. The
// flags are set only after Telegram accepted the message; a message that could
// not go out is tried again later, and at the next start.
type lane struct {
	b        *Bot
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

const (
	notifyRetryFirst = 5 * time.Second
	notifyRetryMax   = 10 * time.Minute
	notifyPatience   = 5 * time.Second // longest flood wait a worker sits out
)

func newLane(b *Bot, workers int, send func(*lane, context.Context, storage.Payment) time.Duration,
	due func() ([]storage.Payment, error)) *lane {
	return &lane{b: b, workers: workers, send: send, due: due, queue: make(chan string, b.cfg.NotifyQueue),
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
		// The queue is full (a long Telegram outage with thousands of
		// results, or thousands owed at start). The payment stays owed in
		// the store; the rescan picks it up once there is room.
		n.mu.Lock()
		n.removeLocked(id)
		n.mu.Unlock()
		if !n.overflow.Swap(true) {
			n.b.log.Warn("notify: queue full; the rest is sent as the queue empties", slog.String("payment_id", id))
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
		n.b.log.Error("notify: reading what is owed failed", slog.Any("error", err))
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
		tick := time.NewTicker(n.b.cfg.NotifyRescan)
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
// Retries scheduled for later are not waited for: the store remembers them.
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

// process sends what is due for one payment; on a temporary failure it tries
// again later with a growing delay.
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
	b := n.b
	p, err := b.store.Get(id)
	if err != nil {
		b.log.Error("notify: reading the payment failed", slog.String("payment_id", id), slog.Any("error", err))
		return 0
	}
	return n.send(n, ctx, p)
}

// tellDue sends the outcome to the payer once the /pay's acknowledgement is
// out, so an outcome never overtakes it; until then it is deferred, without
// holding the worker.
func (n *lane) tellDue(ctx context.Context, p storage.Payment) time.Duration {
	if n.b.deferOutcome(p.ID) {
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

// tell sends the outcome to the payer's chat, as a reply to the /pay.
func (n *lane) tell(ctx context.Context, p storage.Payment) time.Duration {
	b := n.b
	_, err := b.sender.deliver(ctx, replyTo(p.ChatID, p.MessageID, outcomeText(p, b.cfg.CallbacksEnabled)), notifyPatience)
	if err != nil {
		b.metrics.notification("failed")
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
			// A long flood wait for this chat: let the worker go to others.
			b.log.Warn("notify: rate limited; will retry", slog.String("payment_id", p.ID), slog.Duration("retry_after", apiErr.RetryAfter))
			return apiErr.RetryAfter
		}
		if errors.Is(err, ErrChatBlocked) || telegramCodeOf(err) == 400 {
			// Permanent for this run; recorded once, not at every retry.
			_ = b.store.AppendEvent(p.ID, storage.Event{At: time.Now(), Source: "telegram", Type: "notify_failed", Detail: err.Error()})
			b.log.Warn("notify: the chat cannot be told", slog.String("payment_id", p.ID), slog.Int64("chat_id", p.ChatID), slog.Any("error", err))
			return 0 // kept unnotified: tried again at the next start
		}
		b.log.Warn("notify: sending the outcome failed; will retry", slog.String("payment_id", p.ID), slog.Any("error", err))
		return n.backoff(p)
	}
	failpoint.Hit(failpoint.AfterOutcomeSent)
	b.metrics.notification("sent")
	if _, err := b.store.MarkNotified(p.ID, p.State); err != nil {
		b.log.Error("notify: marking the payment notified failed", slog.String("payment_id", p.ID), slog.Any("error", err))
	}
	return 0
}

// post sends the merchant feed's line for a settled payment.
func (n *lane) post(ctx context.Context, p storage.Payment) time.Duration {
	b := n.b
	chat := b.merchantChat.Load()
	_, err := b.sender.send(ctx, replyTo(chat, 0, feedText(p)))
	if err != nil {
		b.metrics.notification("feed_failed")
		if errors.Is(err, ErrChatBlocked) || telegramCodeOf(err) == 400 {
			b.log.Warn("notify: the merchant chat cannot be posted to", slog.Int64("chat_id", chat), slog.Any("error", err))
			return 0
		}
		return n.backoff(p)
	}
	b.metrics.notification("feed_sent")
	if err := b.store.MarkFeedPosted(p.ID); err != nil {
		b.log.Error("notify: marking the feed posted failed", slog.String("payment_id", p.ID), slog.Any("error", err))
	}
	return 0
}

// backoff grows the retry delay with the time the result has been waiting.
func (n *lane) backoff(p storage.Payment) time.Duration {
	since := time.Since(p.SettledAt)
	if p.SettledAt.IsZero() {
		since = time.Since(p.UpdatedAt)
	}
	return min(max(notifyRetryFirst, since/2), notifyRetryMax)
}
