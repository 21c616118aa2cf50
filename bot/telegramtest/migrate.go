package telegramtest

import (
	"fmt"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// MigrateChat upgrades the group from to the supergroup to. From then on
// every method that writes to from (sendMessage, editMessageText,
// sendChatAction) answers 400 "Bad Request: group chat was upgraded to a
// supergroup chat" with parameters.migrate_to_chat_id set to to, and
// accepts nothing, whether or not the server knew from. The supergroup
// becomes known, type "supergroup" with from's title, so the bot may write
// to it at once; a chat to that the server already knows is kept as it is.
//
// MigrateChat injects no update: SendMigration also delivers the service
// messages, as Telegram does. It panics when from == to.
func (s *Server) MigrateChat(from, to int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if from == to {
		panic(fmt.Sprintf("telegramtest: MigrateChat(%d, %d): a chat cannot migrate to itself", from, to))
	}
	s.migrateLocked(from, to)
}

// migrateLocked deactivates from and returns the supergroup's state.
func (s *Server) migrateLocked(from, to int64) *chatState {
	s.migrated[from] = to
	if cs := s.chats[to]; cs != nil {
		return cs
	}
	title := ""
	if old := s.chats[from]; old != nil {
		title = old.chat.Title
	}
	return s.chatLocked(&tgbotapi.Chat{ID: to, Type: "supergroup", Title: title})
}

// SendMigration injects what Telegram delivers when user by upgrades the
// basic group to the supergroup to, and migrates the chat as MigrateChat
// does: first, in the group, a service message with migrate_to_chat_id;
// then, as the supergroup's first message, one with migrate_from_chat_id.
// Neither has text. It returns the two update IDs in that order.
//
// It panics when group is not a basic group (type "group": GroupChat builds
// supergroups, use BasicGroupChat), when the server knows to as anything but
// a supergroup, or when to is group's own ID.
func (s *Server) SendMigration(group *tgbotapi.Chat, to int64, by tgbotapi.User) (fromUpdate, toUpdate int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Checked before anything changes, so a panic leaves the server as it was.
	kind := group.Type
	if cs := s.chats[group.ID]; cs != nil {
		kind = cs.chat.Type
	}
	switch {
	case kind != "group":
		panic(fmt.Sprintf("telegramtest: SendMigration: chat %d is a %q; only a basic group (\"group\") migrates", group.ID, kind))
	case to == group.ID:
		panic(fmt.Sprintf("telegramtest: SendMigration: chat %d cannot migrate to itself", to))
	case s.chats[to] != nil && s.chats[to].chat.Type != "supergroup":
		panic(fmt.Sprintf("telegramtest: SendMigration: chat %d is a %q, not a supergroup", to, s.chats[to].chat.Type))
	}
	old := s.chatLocked(group)
	s.users[by.ID] = true
	sup := s.migrateLocked(group.ID, to)

	now := time.Now().Unix()
	u := toWireUser(by)
	left := &wireMessage{MessageID: old.nextID(), From: &u, Chat: old.chat, Date: now, MigrateToChatID: to}
	old.messages[left.MessageID] = left
	arrived := &wireMessage{MessageID: sup.nextID(), From: &u, Chat: sup.chat, Date: now, MigrateFromChatID: group.ID}
	sup.messages[arrived.MessageID] = arrived
	return s.enqueueLocked(&wireUpdate{Message: left}), s.enqueueLocked(&wireUpdate{Message: arrived})
}
