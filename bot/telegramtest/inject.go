package telegramtest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// queued is one update as getUpdates will return it.
type queued struct {
	id   int
	kind string // "message", "callback_query", …: the update's one field
	raw  json.RawMessage
}

// chatLocked returns the chat's state, registering the chat on first sight.
func (s *Server) chatLocked(c *tgbotapi.Chat) *chatState {
	cs := s.chats[c.ID]
	if cs == nil {
		cs = &chatState{chat: toWireChat(c), messages: map[int]*wireMessage{}}
		s.chats[c.ID] = cs
	}
	return cs
}

// nextID gives the chat's next message ID: IDs increase per chat and are
// shared by the users' messages and the bot's.
func (cs *chatState) nextID() int {
	cs.lastID++
	return cs.lastID
}

func (s *Server) enqueueLocked(u *wireUpdate) int {
	u.UpdateID = s.nextUpdateID
	s.nextUpdateID++
	kind := ""
	switch {
	case u.Message != nil:
		kind = "message"
	case u.EditedMessage != nil:
		kind = "edited_message"
	case u.CallbackQuery != nil:
		kind = "callback_query"
	case u.MyChatMember != nil:
		kind = "my_chat_member"
	}
	raw, err := json.Marshal(u)
	if err != nil {
		panic("telegramtest: marshal update: " + err.Error()) // only the fake's own types: a bug
	}
	s.pushLocked(queued{id: u.UpdateID, kind: kind, raw: raw})
	return u.UpdateID
}

// pushLocked adds an update to the queue, in update_id order, and wakes
// held long polls.
func (s *Server) pushLocked(q queued) {
	i := sort.Search(len(s.queue), func(i int) bool { return s.queue[i].id >= q.id })
	if i < len(s.queue) && s.queue[i].id == q.id {
		return // still unconfirmed: nothing to put back
	}
	s.queue = append(s.queue, queued{})
	copy(s.queue[i+1:], s.queue[i:])
	s.queue[i] = q
	s.history[q.id] = q
	close(s.updatesChanged)
	s.updatesChanged = make(chan struct{})
}

// commandEntities marks a leading /command (or /command@bot) as Telegram
// does; without the entity the library's IsCommand is false.
func commandEntities(text string) []wireEntity {
	if len(text) < 2 || text[0] != '/' {
		return nil
	}
	isWord := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
	}
	i := 1
	for i < len(text) && i <= 64 && isWord(text[i]) {
		i++
	}
	if i == 1 {
		return nil
	}
	if i < len(text) && text[i] == '@' {
		j := i + 1
		for j < len(text) && isWord(text[j]) {
			j++
		}
		if n := j - i - 1; n >= 3 && n <= 32 {
			i = j
		}
	}
	return []wireEntity{{Offset: 0, Length: i, Type: "bot_command"}}
}

// newMessageLocked records a message from a user in the chat (nil: the
// user's private chat).
func (s *Server) newMessageLocked(chat *tgbotapi.Chat, from tgbotapi.User) (*chatState, *wireMessage) {
	if chat == nil {
		chat = PrivateChat(from)
	}
	cs := s.chatLocked(chat)
	s.users[from.ID] = true
	u := toWireUser(from)
	m := &wireMessage{MessageID: cs.nextID(), From: &u, Chat: cs.chat, Date: time.Now().Unix()}
	cs.messages[m.MessageID] = m
	return cs, m
}

// SendText injects a text message from a user, as Telegram would deliver
// it: a leading /command gets its bot_command entity. A nil chat is the
// user's private chat. It returns the update's and the message's IDs.
func (s *Server) SendText(chat *tgbotapi.Chat, from tgbotapi.User, text string) (updateID, messageID int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, m := s.newMessageLocked(chat, from)
	m.Text, m.Entities = text, commandEntities(text)
	return s.enqueueLocked(&wireUpdate{Message: m}), m.MessageID
}

// SendEdited injects an edited_message: the user changed message messageID
// to text. It returns the update ID.
func (s *Server) SendEdited(chat *tgbotapi.Chat, from tgbotapi.User, messageID int, text string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if chat == nil {
		chat = PrivateChat(from)
	}
	cs := s.chatLocked(chat)
	s.users[from.ID] = true
	now := time.Now().Unix()
	u := toWireUser(from)
	m := &wireMessage{MessageID: messageID, From: &u, Chat: cs.chat, Date: now}
	if orig := cs.messages[messageID]; orig != nil {
		edited := *orig
		m = &edited
	}
	m.EditDate, m.Text, m.Entities = now, text, commandEntities(text)
	cs.messages[messageID] = m
	return s.enqueueLocked(&wireUpdate{EditedMessage: m})
}

// SendPhoto injects a photo with a caption: the caption gets the entities, and
// the message has no text, so a bot reading only Text sees nothing.
func (s *Server) SendPhoto(chat *tgbotapi.Chat, from tgbotapi.User, caption string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, m := s.newMessageLocked(chat, from)
	n := strconv.Itoa(m.MessageID)
	m.Photo = []wirePhotoSize{
		{FileID: "AgACAgQAAxkBAAI-fake-small-" + n, FileUniqueID: "AQADs" + n, Width: 90, Height: 67, FileSize: 1234},
		{FileID: "AgACAgQAAxkBAAI-fake-large-" + n, FileUniqueID: "AQADl" + n, Width: 1280, Height: 960, FileSize: 98765},
	}
	m.Caption, m.CaptionEntities = caption, commandEntities(caption)
	return s.enqueueLocked(&wireUpdate{Message: m})
}

// SendSticker injects a sticker: a message with neither text nor caption.
func (s *Server) SendSticker(chat *tgbotapi.Chat, from tgbotapi.User) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, m := s.newMessageLocked(chat, from)
	m.Sticker = &wireSticker{
		FileID: "CAACAgIAAxkBAAI-fake-sticker", FileUniqueID: "AgADsticker", Type: "regular",
		Width: 512, Height: 512, Emoji: "👍", SetName: "FakeStickers", FileSize: 23456,
	}
	return s.enqueueLocked(&wireUpdate{Message: m})
}

func (s *Server) newCallbackIDLocked() string {
	s.nextCallback++
	id := strconv.FormatUint(4382000000000000000+uint64(s.nextCallback), 10)
	s.callbacks[id] = false
	return id
}

// SendCallbackQuery injects a press of an inline button carrying data, on
// the bot's latest message in the chat (a stand-in bot message when it sent
// none). answerCallbackQuery accepts the query's ID once.
func (s *Server) SendCallbackQuery(chat *tgbotapi.Chat, from tgbotapi.User, data string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if chat == nil {
		chat = PrivateChat(from)
	}
	cs := s.chatLocked(chat)
	s.users[from.ID] = true
	msg := cs.messages[cs.lastBot]
	if msg == nil {
		bot := toWireUser(s.bot)
		msg = &wireMessage{MessageID: cs.nextID(), From: &bot, Chat: cs.chat, Date: time.Now().Unix(), Text: "…"}
		cs.messages[msg.MessageID] = msg
		cs.lastBot = msg.MessageID
	}
	shown := *msg
	shown.ReplyToMessage = nil
	return s.enqueueLocked(&wireUpdate{CallbackQuery: &wireCallbackQuery{
		ID: s.newCallbackIDLocked(), From: toWireUser(from), Message: &shown,
		ChatInstance: strconv.FormatInt(-5193848306760861775+chat.ID, 10), Data: data,
	}})
}

// SendInlineCallbackQuery injects a button press on a message sent in inline
// mode: it has inline_message_id and no message, so FromChat() of
// go-telegram-bot-api v5.5.1 panics on it.
func (s *Server) SendInlineCallbackQuery(from tgbotapi.User, data string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[from.ID] = true
	id := s.newCallbackIDLocked()
	return s.enqueueLocked(&wireUpdate{CallbackQuery: &wireCallbackQuery{
		ID: id, From: toWireUser(from), InlineMessageID: "AgAAAFakeInlineMessage" + id,
		ChatInstance: "-5193848306760861775", Data: data,
	}})
}

// SendBlocked injects the my_chat_member update Telegram sends when the user
// blocks the bot (or a group removes it) and blocks the chat: from then on
// sending to it answers 403.
func (s *Server) SendBlocked(chat *tgbotapi.Chat, from tgbotapi.User) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if chat == nil {
		chat = PrivateChat(from)
	}
	cs := s.chatLocked(chat)
	s.users[from.ID] = true
	s.blocked[chat.ID] = true
	bot := toWireUser(s.bot)
	var never int64
	return s.enqueueLocked(&wireUpdate{MyChatMember: &wireChatMemberUpdated{
		Chat: cs.chat, From: toWireUser(from), Date: time.Now().Unix(),
		OldChatMember: wireChatMember{User: bot, Status: "member"},
		NewChatMember: wireChatMember{User: bot, Status: "kicked", UntilDate: &never},
	}})
}

// Redeliver puts an update that getUpdates already confirmed back in the
// queue, with its original update_id, as Telegram does when a bot crashed
// before confirming. Like Telegram, a getUpdates whose offset is above the
// update's ID confirms it again unseen: drive the redelivery with a poller
// that starts afresh (no offset), and check Delivered. It panics on an ID the
// server never issued.
func (s *Server) Redeliver(updateID int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.history[updateID]
	if !ok {
		panic(fmt.Sprintf("telegramtest: Redeliver(%d): no such update", updateID))
	}
	s.pushLocked(q)
}

// AddRaw injects any update, given as JSON; its update_id is set to the next
// one. Chats in it become known. It panics when update is not a JSON object.
func (s *Server) AddRaw(update json.RawMessage) int {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(update, &fields); err != nil || fields == nil {
		panic(fmt.Sprintf("telegramtest: AddRaw: not a JSON object: %s", update))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextUpdateID
	s.nextUpdateID++
	fields["update_id"] = json.RawMessage(strconv.Itoa(id))
	kind := ""
	for k := range fields {
		if k != "update_id" && (kind == "" || k < kind) {
			kind = k
		}
	}
	raw, err := json.Marshal(fields)
	if err != nil {
		panic(fmt.Sprintf("telegramtest: AddRaw: %v", err))
	}
	var u tgbotapi.Update
	if json.Unmarshal(raw, &u) == nil {
		for _, m := range []*tgbotapi.Message{u.Message, u.EditedMessage, u.ChannelPost, u.EditedChannelPost} {
			if m != nil && m.Chat != nil {
				s.chatLocked(m.Chat)
			}
		}
		if u.CallbackQuery != nil && u.CallbackQuery.Message != nil && u.CallbackQuery.Message.Chat != nil {
			s.chatLocked(u.CallbackQuery.Message.Chat)
		}
		if u.CallbackQuery != nil && u.CallbackQuery.ID != "" {
			s.callbacks[u.CallbackQuery.ID] = false
		}
		if u.MyChatMember != nil {
			s.chatLocked(&u.MyChatMember.Chat)
		}
		if from := u.SentFrom(); from != nil {
			s.users[from.ID] = true
		}
	}
	s.pushLocked(queued{id: id, kind: kind, raw: raw})
	return id
}
