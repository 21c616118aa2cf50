package bot

import (
	"context"
	"errors"
	"log/slog"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/mpesa-bot/mpesa-bot/storage"
)

// recentLimit is how many payments /status without an ID lists.
const recentLimit = 5

// handleStatus is /status [CheckoutRequestID]. A payment is shown to the user
// who made it, and to merchants and admins; anyone else gets the same answer
// as for an ID that does not exist, so IDs cannot be probed.
func (b *Bot) handleStatus(ctx context.Context, m *tgbotapi.Message, args []string) {
	if len(args) == 0 {
		ps, err := b.store.ListByUser(m.From.ID, recentLimit)
		if err != nil {
			b.log.Error("status: listing payments failed", slog.Any("error", err))
			b.reply(ctx, m, internalErrorText)
			return
		}
		b.reply(ctx, m, recentText(ps))
		return
	}
	p, err := b.store.GetByCheckoutID(args[0])
	if errors.Is(err, storage.ErrNotFound) {
		// A payment whose push was never answered has no CheckoutRequestID;
		// its own ID finds it.
		p, err = b.store.Get(args[0])
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		b.reply(ctx, m, statusNotFoundText)
		return
	case err != nil:
		b.log.Error("status: reading the payment failed", slog.Any("error", err))
		b.reply(ctx, m, internalErrorText)
		return
	}
	own, seeAll := p.UserID == m.From.ID, b.canSeeAll(m.From.ID)
	if !own && !seeAll {
		b.reply(ctx, m, statusNotFoundText)
		return
	}
	// A group is read by everyone in it: a merchant asking there gets the
	// summary of someone else's payment, not its receipt or audit trail.
	d := withReceipt
	switch {
	case seeAll && m.Chat.IsPrivate():
		d = withHistory
	case !own:
		d = summaryOnly
	}
	b.reply(ctx, m, paymentSummary(p, d))
}

// handleEnvInfo is /envinfo: admins only, private chats only (it names the
// shortcode and URLs; nothing secret is in it).
func (b *Bot) handleEnvInfo(ctx context.Context, m *tgbotapi.Message) {
	if !b.isAdmin(m.From.ID) {
		b.reply(ctx, m, adminOnlyText)
		return
	}
	if !m.Chat.IsPrivate() {
		b.reply(ctx, m, privateOnlyText)
		return
	}
	pending, err := b.store.CountByState(storage.StatePending)
	if err != nil {
		b.log.Error("envinfo: counting pending payments failed", slog.Any("error", err))
	}
	b.reply(ctx, m, envInfoText(b.daraja.EnvironmentInfo(), b.cfg.CallbacksEnabled, pending, b.cfg.Version))
}
