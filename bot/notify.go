package bot

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/mpesa-bot/mpesa-bot/storage"
)

// notifier tells chats how their payments ended, and posts the merchant feed.
// It works from the store, not from what the caller saw: a queued payment is
// read again, and only what is not yet marked Notified (FeedPosted) is sent,
// so a payment queued twice is still told once. The flags are set only after
// Telegram accepted the message; a message that could not go out is tried
// again later, and at the next start (DESIGN §4.3).
type notifier struct {
	b       *Bot
	workers int
	queue   chan string

	mu      sync.Mutex
	state   map[string]entryState // payments queued or being sent
	emptied chan struct{}         // closed when state becomes empty
	stopped bool
}

// entryState is where a payment is in the notifier. A payment enqueued while
// it is being sent is sent again afterwards: its state may have changed
// meanwhile (pending → unknown → succeeded), and only a fresh read tells.
type entryState uint8

const (
	entryQueued entryState = iota + 1
	entrySending
	entrySendingAgain
)

const (
	notifyQueue      = 4096
	notifyRetryFirst = 5 * time.Second
	notifyRetryMax   = 10 * time.Minute
)

func newNotifier(b *Bot, workers int) *notifier {
	return &notifier{b: b, workers: workers, queue: make(chan string, notifyQueue), state: make(map[string]entryState),
		emptied: make(chan struct{})}
}

// enqueue asks for id's outcome (and feed line) to be sent if it is due.
func (n *notifier) enqueue(id string) {
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

func (n *notifier) push(id string) {
	select {
	case n.queue <- id:
	default:
		// The queue is full (a long Telegram outage with thousands of
		// results). The payment stays unnotified in the store and is sent
		// at the next start.
		n.mu.Lock()
		n.removeLocked(id)
		n.mu.Unlock()
		n.b.log.Warn("notify: queue full; the message will be sent later", slog.String("payment_id", id))
	}
}

func (n *notifier) run(ctx context.Context) {
	var wg sync.WaitGroup
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
func (n *notifier) done(id string) {
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

func (n *notifier) removeLocked(id string) {
	delete(n.state, id)
	if len(n.state) == 0 {
		close(n.emptied)
		n.emptied = make(chan struct{})
	}
}

// drain waits until the queue is empty and nothing is being sent, or ctx ends.
// Retries scheduled for later are not waited for: the store remembers them.
func (n *notifier) drain(ctx context.Context) {
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
func (n *notifier) idle() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.state) == 0
}

// process sends what is due for one payment; on a temporary failure it tries
// again later with a growing delay.
func (n *notifier) process(ctx context.Context, id string) {
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

// notify returns how long to wait before trying again, or 0 when done.
func (n *notifier) notify(ctx context.Context, id string) time.Duration {
	b := n.b
	p, err := b.store.Get(id)
	if err != nil {
		b.log.Error("notify: reading the payment failed", slog.String("payment_id", id), slog.Any("error", err))
		return 0
	}
	if ack := b.ackPending(id); ack != nil {
		select {
		case <-ack:
		case <-ctx.Done():
			return 0
		}
		if p, err = b.store.Get(id); err != nil {
			return 0
		}
	}
	var retry time.Duration
	if !p.Notified && (p.State.Final() || p.State == storage.StateUnknown) {
		retry = n.tell(ctx, p)
	}
	if b.cfg.MerchantChatID != 0 && !p.FeedPosted && p.State.Final() {
		retry = max(retry, n.post(ctx, p))
	}
	return retry
}

// tell sends the outcome to the payer's chat, as a reply to the /pay.
func (n *notifier) tell(ctx context.Context, p storage.Payment) time.Duration {
	b := n.b
	_, err := b.sender.send(ctx, replyTo(p.ChatID, p.MessageID, outcomeText(p)))
	if err != nil {
		b.metrics.notification("failed")
		if errors.Is(err, ErrChatBlocked) || telegramCodeOf(err) == 400 {
			// Permanent for this run; recorded once, not at every retry.
			_ = b.store.AppendEvent(p.ID, storage.Event{At: time.Now(), Source: "telegram", Type: "notify_failed", Detail: err.Error()})
			b.log.Warn("notify: the chat cannot be told", slog.String("payment_id", p.ID), slog.Int64("chat_id", p.ChatID), slog.Any("error", err))
			return 0 // kept unnotified: tried again at the next start
		}
		b.log.Warn("notify: sending the outcome failed; will retry", slog.String("payment_id", p.ID), slog.Any("error", err))
		return n.backoff(p)
	}
	b.metrics.notification("sent")
	if _, err := b.store.MarkNotified(p.ID, p.State); err != nil {
		b.log.Error("notify: marking the payment notified failed", slog.String("payment_id", p.ID), slog.Any("error", err))
	}
	return 0
}

// post sends the merchant feed's line for a settled payment.
func (n *notifier) post(ctx context.Context, p storage.Payment) time.Duration {
	b := n.b
	_, err := b.sender.send(ctx, replyTo(b.cfg.MerchantChatID, 0, feedText(p)))
	if err != nil {
		b.metrics.notification("feed_failed")
		if errors.Is(err, ErrChatBlocked) || telegramCodeOf(err) == 400 {
			b.log.Warn("notify: the merchant chat cannot be posted to", slog.Int64("chat_id", b.cfg.MerchantChatID), slog.Any("error", err))
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
func (n *notifier) backoff(p storage.Payment) time.Duration {
	since := time.Since(p.SettledAt)
	if p.SettledAt.IsZero() {
		since = time.Since(p.UpdatedAt)
	}
	return min(max(notifyRetryFirst, since/2), notifyRetryMax)
}
