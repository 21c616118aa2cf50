package bot

import (
	"context"
	"log/slog"
	"runtime/debug"
	"strings"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// handleUpdate routes one update. A panic in a handler is logged and the bot
// goes on: one odd update must not stop payments for everyone.
func (b *Bot) handleUpdate(ctx context.Context, u tgbotapi.Update) {
	defer func() {
		if r := recover(); r != nil {
			b.log.Error("handler panicked", slog.Int("update_id", u.UpdateID), slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
		}
	}()
	switch {
	case u.Message != nil:
		b.handleMessage(ctx, u.Message)
	case u.EditedMessage != nil:
		b.handleEdited(ctx, u.EditedMessage)
	case u.CallbackQuery != nil:
		b.handleCallbackQuery(ctx, u.CallbackQuery)
	case u.MyChatMember != nil:
		b.handleMembership(u.MyChatMember)
	}
}

// command is a parsed bot command: its name, the @bot it was addressed to (if
// any) and its whitespace-separated arguments.
type command struct {
	name string
	at   string
	args []string
}

// parseCommand reads a command from a message's text. It does not use the
// library's Command helpers: they drop "@OtherBot" unchecked and slice the
// text by entity lengths, which are UTF-16 units, not bytes.
func parseCommand(m *tgbotapi.Message) (command, bool) {
	if len(m.Entities) == 0 || m.Entities[0].Type != "bot_command" || m.Entities[0].Offset != 0 || !strings.HasPrefix(m.Text, "/") {
		return command{}, false
	}
	fields := strings.Fields(m.Text)
	head := strings.TrimPrefix(fields[0], "/")
	name, at, _ := strings.Cut(head, "@")
	return command{name: strings.ToLower(name), at: at, args: fields[1:]}, true
}

func (b *Bot) handleMessage(ctx context.Context, m *tgbotapi.Message) {
	if b.handleMigration(m) {
		return
	}
	if m.Chat == nil || m.From == nil || m.From.IsBot {
		return // channel posts and other bots: not customers
	}
	private := m.Chat.IsPrivate()
	cmd, ok := parseCommand(m)
	if !ok {
		// Stickers, photos (even with a /pay caption), plain text: never a
		// payment. A hint where it cannot annoy a group.
		if private {
			b.reply(ctx, m, nonTextHint)
		}
		return
	}
	if cmd.at != "" && !strings.EqualFold(cmd.at, b.tg.self().UserName) {
		return // addressed to another bot in the group
	}
	if m.ForwardDate != 0 || m.IsAutomaticForward {
		// A forwarded /pay is someone else's order seen again: acting on it
		// would put a second PIN prompt on the customer's phone.
		if private {
			b.reply(ctx, m, forwardedHint)
		}
		return
	}
	b.metrics.commandReceived(cmd.name)
	switch cmd.name {
	case "start", "help":
		text := helpText
		if b.isAdmin(m.From.ID) {
			text += adminHelpText
		}
		b.reply(ctx, m, text)
	case "pay":
		b.handlePay(ctx, m, cmd.args)
	case "status":
		b.handleStatus(ctx, m, cmd.args)
	case "envinfo":
		b.handleEnvInfo(ctx, m)
	default:
		if private {
			b.reply(ctx, m, unknownCommandText)
		}
	}
}

// handleEdited never starts a payment: the edit of a /pay would otherwise be a
// second order. In a private chat the user learns why nothing happened.
func (b *Bot) handleEdited(ctx context.Context, m *tgbotapi.Message) {
	if m.Chat == nil || !m.Chat.IsPrivate() {
		return
	}
	if cmd, ok := parseCommand(m); ok && cmd.name == "pay" && (cmd.at == "" || strings.EqualFold(cmd.at, b.tg.self().UserName)) {
		b.reply(ctx, m, editedHint)
	}
}

// handleCallbackQuery answers button presses so the client stops its spinner.
// The bot sends no buttons itself; an old or foreign one gets an empty answer.
func (b *Bot) handleCallbackQuery(ctx context.Context, q *tgbotapi.CallbackQuery) {
	if err := b.tg.request(ctx, "answerCallbackQuery", tgbotapi.NewCallback(q.ID, "")); err != nil {
		b.log.Warn("telegram answerCallbackQuery failed", slog.Any("error", err))
	}
}

// handleMembership tracks chats that blocked the bot (stop sending
// to them) and those that let it back in.
func (b *Bot) handleMembership(m *tgbotapi.ChatMemberUpdated) {
	switch m.NewChatMember.Status {
	case "kicked", "left":
		b.sender.block(m.Chat.ID)
		b.log.Info("chat removed the bot", slog.Int64("chat_id", m.Chat.ID), slog.String("status", m.NewChatMember.Status))
	case "member", "administrator":
		b.sender.unblock(m.Chat.ID)
	}
}

// reply answers a message in its chat, as a reply to it.
func (b *Bot) reply(ctx context.Context, m *tgbotapi.Message, text string) {
	if _, err := b.sender.send(ctx, replyTo(m.Chat.ID, m.MessageID, text)); err != nil {
		b.log.Warn("telegram reply failed", slog.Int64("chat_id", m.Chat.ID), slog.Any("error", err))
	}
}

// replyTo builds an HTML message that replies to messageID, and still goes out
// if that message was deleted meanwhile.
func replyTo(chatID int64, messageID int, text string) tgbotapi.MessageConfig {
	msg := tgbotapi.NewMessage(chatID, text)
	msg.ParseMode = tgbotapi.ModeHTML
	msg.DisableWebPagePreview = true
	if messageID != 0 {
		msg.ReplyToMessageID = messageID
		msg.AllowSendingWithoutReply = true
	}
	return msg
}
