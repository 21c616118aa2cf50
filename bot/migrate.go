package bot

import (
	"log/slog"
	"sync"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// chatMoves follows groups that Telegram upgraded to supergroups. The old
// chat ID stops working for good: sends to it are refused with the new ID
// (migrate_to_chat_id), and both chats get a service message. Whichever the
// bot sees first, it moves the old chat's stored payments to the new ID, so
// their outcomes, corrections and /status go where the people now are.
type chatMoves struct {
	mu    sync.Mutex
	moved map[int64]int64 // old → new, this run
}

// chatMoved records that from became to: once per pair and run, the store
// moves the chat's payments; the merchant feed follows in memory, and the
// operator is told the ID to put in the configuration.
func (b *Bot) chatMoved(from, to int64) {
	if from == 0 || to == 0 || from == to {
		return
	}
	b.moves.mu.Lock()
	if b.moves.moved[from] == to {
		b.moves.mu.Unlock()
		return
	}
	b.moves.moved[from] = to
	b.moves.mu.Unlock()

	n, err := b.store.MoveChat(from, to)
	if err != nil {
		// Outcomes still reach the new chat: every send to the old ID is
		// redirected by the sender. Only this run remembers, though.
		b.log.Error("chat moved: moving its payments failed", slog.Int64("chat_id", from), slog.Int64("new_chat_id", to), slog.Any("error", err))
	} else {
		b.log.Info("chat moved to a supergroup; its payments follow", slog.Int64("chat_id", from), slog.Int64("new_chat_id", to), slog.Int("payments", n))
	}
	if b.merchantChat.CompareAndSwap(from, to) {
		b.log.Warn("the merchant chat became a supergroup: the feed now goes to the new chat; set MERCHANT_CHAT_ID to the new ID",
			slog.Int64("chat_id", from), slog.Int64("new_chat_id", to))
	}
}

// handleMigration reads the service messages of a group upgrade. It reports
// whether m was one.
func (b *Bot) handleMigration(m *tgbotapi.Message) bool {
	switch {
	case m.Chat == nil:
		return false
	case m.MigrateToChatID != 0:
		b.chatMoved(m.Chat.ID, m.MigrateToChatID)
	case m.MigrateFromChatID != 0:
		b.chatMoved(m.MigrateFromChatID, m.Chat.ID)
	default:
		return false
	}
	return true
}
