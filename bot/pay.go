package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/mpesa-bot/mpesa-bot/bot/lifecycle"
	"github.com/mpesa-bot/mpesa-bot/mpesa"
)

// payArgs is a /pay command read and validated.
type payArgs struct {
	phone     string // normalised
	amount    int64
	reference string // "" → derived from the payment
}

// parsePay reads "/pay <phone> <amount> [ref]". A phone typed in groups
// ("+254 712 345 678") spans several fields, so the amount and reference are
// taken from the end: with a reference first, then without. The valid phone
// lengths make at most one reading valid. The returned text is the refusal.
func parsePay(args []string, maxAmount int64) (payArgs, string) {
	if len(args) < 2 {
		return payArgs{}, payUsage(maxAmount)
	}
	type reading struct{ phone, amount, ref string }
	var readings []reading
	if len(args) >= 3 {
		readings = append(readings, reading{strings.Join(args[:len(args)-2], ""), args[len(args)-2], args[len(args)-1]})
	}
	readings = append(readings, reading{strings.Join(args[:len(args)-1], ""), args[len(args)-1], ""})

	for _, r := range readings {
		phone, err := mpesa.NormalizePhone(r.phone)
		if err != nil {
			continue
		}
		amount, err := mpesa.ParseAmount(r.amount, maxAmount)
		if err != nil {
			return payArgs{}, badAmountText(r.amount, maxAmount)
		}
		if r.ref != "" {
			if err := mpesa.ValidateAccountReference(r.ref); err != nil {
				return payArgs{}, badReferenceText(r.ref)
			}
		}
		return payArgs{phone: phone, amount: amount, reference: r.ref}, ""
	}
	// No reading has a valid phone: show the most likely one (the first field).
	return payArgs{}, badPhoneText(args[0])
}

// handlePay is /pay: validate, have the lifecycle write the payment ahead
// (limits, holds, refusals) and push it once, and acknowledge. The outcome
// comes later, from the watcher or a callback, through the lifecycle's outbox.
func (b *Bot) handlePay(ctx context.Context, m *tgbotapi.Message, args []string) {
	// The same message always reads the same way, so a /pay Telegram
	// delivers again is parsed like the first time; the lifecycle then
	// answers it with the payment it already has.
	key := fmt.Sprintf("%d:%d", m.Chat.ID, m.MessageID)
	pa, refusal := parsePay(args, b.cfg.MaxAmount)
	if refusal != "" {
		b.metrics.payRefused("invalid")
		b.reply(ctx, m, refusal)
		return
	}
	p, err := b.life.Create(lifecycle.Order{ChatID: m.Chat.ID, UserID: m.From.ID, MessageID: m.MessageID,
		Key: key, Phone: pa.phone, Amount: pa.amount, Reference: pa.reference})
	var refused *lifecycle.RefusedError
	switch {
	case errors.As(err, &refused):
		b.reply(ctx, m, b.refusalText(refused.Code, pa.phone, refused.RetryAfter))
		return
	case errors.Is(err, lifecycle.ErrDuplicate):
		b.reply(ctx, m, duplicateText(p))
		return
	case err != nil:
		b.reply(ctx, m, internalErrorText) // logged by the lifecycle
		return
	}

	done := b.outbox.ExpectAck(p.ID)
	defer done()
	p, ok := b.life.Push(ctx, p)
	if !ok {
		return // settled as rejected or unknown: the outbox tells the chat
	}
	if _, err := b.sender.send(ctx, replyTo(p.ChatID, p.MessageID, ackText(p))); err != nil {
		b.log.Warn("telegram: sending the acknowledgement failed", slog.String("payment_id", p.ID), slog.Any("error", err))
	}
}

// refusalText words a limit refusal; retry is how long until the hourly
// limit has room (0 when unknown).
func (b *Bot) refusalText(code, phone string, retry time.Duration) string {
	switch code {
	case lifecycle.RefusedPhoneBusy:
		return phoneBusyText(phone)
	case lifecycle.RefusedTooManyOpen:
		return tooManyOpenText(b.cfg.MaxPendingPerUser)
	}
	return rateLimitedText(b.cfg.PayPerUserPerHour, retry)
}
