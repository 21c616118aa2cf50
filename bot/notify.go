package bot

import (
	"context"
	"errors"
	"time"

	"github.com/mpesa-bot/mpesa-bot/bot/lifecycle"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// notifyPatience is the longest flood wait delivering an outcome sits out:
// a longer one is handed back to the lifecycle's outbox, which tries again
// later and lets the worker go to other chats meanwhile.
const notifyPatience = 5 * time.Second

// deliverer is the lifecycle outbox's way to the chats: it words the outcome
// or the feed line, sends it, and sorts Telegram's answer into what the
// outbox acts on. What is owed, retries and marking the store are the
// outbox's.
type deliverer struct{ b *Bot }

// DeliverOutcome sends p's outcome to the payer's chat, as a reply to the /pay.
func (d deliverer) DeliverOutcome(ctx context.Context, p storage.Payment) lifecycle.Delivery {
	b := d.b
	_, err := b.sender.deliver(ctx, replyTo(p.ChatID, p.MessageID, outcomeText(p, b.cfg.CallbacksEnabled)), notifyPatience)
	return deliveryOf(err, true)
}

// DeliverFeed posts p's line to the merchant chat, wherever it moved.
func (d deliverer) DeliverFeed(ctx context.Context, p storage.Payment) lifecycle.Delivery {
	b := d.b
	// send sits out flood waits up to maxRetryAfter: the feed's single
	// worker holds back no payer, and its lines go out in order.
	_, err := b.sender.send(ctx, replyTo(b.merchantChat.Load(), 0, feedText(p)))
	return deliveryOf(err, false)
}

// deliveryOf sorts a send's error: a flood wait handed back (only when the
// caller takes it: floodWait), a chat that cannot be told this run (blocked,
// or a 400: sending again sends the same bad request), or a failure that may
// pass.
func deliveryOf(err error, floodWait bool) lifecycle.Delivery {
	if err == nil {
		return lifecycle.Delivery{Sent: true}
	}
	var apiErr *APIError
	switch {
	case floodWait && errors.As(err, &apiErr) && apiErr.RetryAfter > 0:
		return lifecycle.Delivery{RetryAfter: apiErr.RetryAfter, Err: err}
	case errors.Is(err, ErrChatBlocked) || telegramCodeOf(err) == 400:
		return lifecycle.Delivery{Permanent: true, Err: err}
	}
	return lifecycle.Delivery{Err: err}
}
