package bot

import (
	"context"
	"log/slog"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// setCommands publishes the command menu: everyone sees /pay, /status and
// /help; each admin's private chat also lists /envinfo.
func (b *Bot) setCommands(ctx context.Context) {
	public := []tgbotapi.BotCommand{
		{Command: "pay", Description: "Request an M-Pesa payment: /pay phone amount [ref]"},
		{Command: "status", Description: "Your recent payments, or one by CheckoutRequestID"},
		{Command: "help", Description: "How to use this bot"},
	}
	if err := b.tg.request(ctx, "setMyCommands", tgbotapi.NewSetMyCommands(public...)); err != nil {
		b.log.Warn("telegram setMyCommands failed", slog.Any("error", err))
	}
	admin := append(public[:len(public):len(public)], tgbotapi.BotCommand{Command: "envinfo", Description: "M-Pesa environment (admins)"})
	for id := range b.admins {
		cfg := tgbotapi.NewSetMyCommandsWithScope(tgbotapi.NewBotCommandScopeChat(id), admin...)
		if err := b.tg.request(ctx, "setMyCommands", cfg); err != nil {
			// Telegram knows no private chat with an admin who never wrote
			// to the bot: "chat not found". They still can use /envinfo.
			b.log.Warn("telegram setMyCommands for an admin failed", slog.Int64("user_id", id), slog.Any("error", err))
		}
	}
}
