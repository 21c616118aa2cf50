package bot

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/mpesa-bot/mpesa-bot/bot/lifecycle"
)

// backoff yields exponentially growing waits with full jitter, so many bots
// (or many retries) coming back after an outage do not arrive in step.
type backoff struct {
	base, max time.Duration
	n         int
}

func newBackoff(base, max time.Duration) *backoff { return &backoff{base: base, max: max} }

func (b *backoff) next() time.Duration {
	d := b.base << min(b.n, 16)
	if d > b.max || d <= 0 {
		d = b.max
	}
	b.n++
	// Half fixed, half random: never zero, never above d.
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.n = 0 }

// minEmptyPoll is the least time an empty getUpdates may take before the
// next one is sent.
const minEmptyPoll = 250 * time.Millisecond

// conflictWait is how long the poll loop waits after a 409: another instance
// holds the long poll (or a webhook was set again), and hammering does not help.
const conflictWait = 30 * time.Second

// poll is the long-poll loop. It advances the offset past an
// update only once the dispatcher owns it, and returns the offset to confirm
// when ctx ends. Only a refused token (401) stops it early.
func (b *Bot) poll(ctx context.Context, disp *dispatcher) (int, error) {
	offset := 0
	bo := newBackoff(time.Second, time.Minute)
	for ctx.Err() == nil {
		start := time.Now()
		updates, skipped, err := b.tg.getUpdates(ctx, offset, b.cfg.LongPoll)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			wait, fatal := b.pollFailed(ctx, err, bo)
			if fatal != nil {
				return offset, fatal
			}
			lifecycle.Sleep(ctx, wait)
			continue
		}
		bo.reset()
		b.health.telegramOK(time.Now())
		if len(updates) == 0 && time.Since(start) < minEmptyPoll {
			// Telegram holds an empty long poll for its whole timeout; a
			// server that answers at once (a proxy, a test double) would
			// otherwise be polled in a tight loop.
			lifecycle.Sleep(ctx, minEmptyPoll)
		}
		for _, id := range skipped {
			b.log.Warn("telegram: skipping an update that cannot be decoded", slog.Int("update_id", id))
		}
		for _, u := range updates {
			if u.UpdateID < offset {
				continue // already handed off: Telegram sent it again before our confirmation
			}
			switch err := disp.Submit(ctx, chatKey(u), u); {
			case errors.Is(err, ErrChatBacklog):
				b.metrics.updateDropped()
				b.log.Warn("dropping an update: its chat has too many waiting", slog.Int64("chat_id", chatKey(u)), slog.Int("update_id", u.UpdateID))
			case err != nil:
				return offset, nil // ctx ended: this update stays with Telegram
			}
			offset = u.UpdateID + 1
			b.metrics.updateReceived()
		}
	}
	return offset, nil
}

// pollFailed logs a failed getUpdates and says how long to wait; a non-nil
// error means stop for good.
func (b *Bot) pollFailed(ctx context.Context, err error, bo *backoff) (time.Duration, error) {
	b.health.telegramFailed(err)
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		wait := bo.next()
		b.log.Warn("telegram getUpdates failed; retrying", slog.Any("error", err), slog.Duration("wait", wait))
		return wait, nil
	}
	switch {
	case apiErr.Code == http.StatusUnauthorized:
		b.log.Error("telegram refused the bot token; stopping", slog.Int("code", apiErr.Code))
		return 0, ErrUnauthorized
	case apiErr.Code == http.StatusConflict:
		if strings.Contains(apiErr.Description, "webhook") {
			b.log.Warn("telegram getUpdates conflict: a webhook is set; deleting it", slog.String("description", apiErr.Description))
			if err := b.deleteWebhook(ctx); err != nil {
				b.log.Warn("telegram deleteWebhook failed", slog.Any("error", err))
			}
			return bo.next(), nil
		}
		b.log.Warn("telegram getUpdates conflict: another instance of this bot is polling with the same token",
			slog.String("description", apiErr.Description), slog.Duration("wait", conflictWait))
		return conflictWait, nil
	case apiErr.RetryAfter > 0:
		b.log.Warn("telegram getUpdates rate limited", slog.Duration("retry_after", apiErr.RetryAfter))
		return apiErr.RetryAfter, nil
	default:
		wait := bo.next()
		b.log.Warn("telegram getUpdates failed; retrying", slog.Any("error", err), slog.Duration("wait", wait))
		return wait, nil
	}
}

// confirm tells Telegram that every update below offset was handled, so a
// restart does not receive them again. A zero-timeout getUpdates does that;
// any update it returns stays unconfirmed for the next run.
func (b *Bot) confirm(ctx context.Context, offset int) {
	if offset == 0 {
		return
	}
	cfg := tgbotapi.UpdateConfig{Offset: offset, Limit: 1, Timeout: 0}
	if err := b.tg.call(ctx, b.cfg.RequestTimeout, "getUpdates", requestOf(cfg), nil); err != nil {
		b.log.Warn("telegram: confirming handled updates failed; they may be delivered again", slog.Any("error", err))
	}
}

func (b *Bot) deleteWebhook(ctx context.Context) error {
	return b.tg.request(ctx, "deleteWebhook", tgbotapi.DeleteWebhookConfig{DropPendingUpdates: false})
}

// chatKey orders updates: those of one chat are handled one after another.
// Updates without a chat (an inline button's callback) are keyed by user.
func chatKey(u tgbotapi.Update) int64 {
	switch {
	case u.Message != nil && u.Message.Chat != nil:
		return u.Message.Chat.ID
	case u.EditedMessage != nil && u.EditedMessage.Chat != nil:
		return u.EditedMessage.Chat.ID
	case u.CallbackQuery != nil && u.CallbackQuery.Message != nil && u.CallbackQuery.Message.Chat != nil:
		return u.CallbackQuery.Message.Chat.ID
	case u.MyChatMember != nil:
		return u.MyChatMember.Chat.ID
	}
	if from := u.SentFrom(); from != nil {
		return from.ID
	}
	return 0
}
