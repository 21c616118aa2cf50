package telegramtest

import (
	"encoding/json"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// The wire types below write JSON the way the Bot API does. The library's own
// types cannot: they emit "my_chat_member":null, "photo":null and the like,
// and drop "is_bot":false, which the real server always sends.

type wireUser struct {
	ID           int64  `json:"id"`
	IsBot        bool   `json:"is_bot"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name,omitempty"`
	UserName     string `json:"username,omitempty"`
	LanguageCode string `json:"language_code,omitempty"`
}

// wireMe is getMe's answer, which alone carries the bot's capabilities.
type wireMe struct {
	ID                      int64  `json:"id"`
	IsBot                   bool   `json:"is_bot"`
	FirstName               string `json:"first_name"`
	UserName                string `json:"username"`
	CanJoinGroups           bool   `json:"can_join_groups"`
	CanReadAllGroupMessages bool   `json:"can_read_all_group_messages"`
	SupportsInlineQueries   bool   `json:"supports_inline_queries"`
}

type wireChat struct {
	ID        int64  `json:"id"`
	Title     string `json:"title,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	UserName  string `json:"username,omitempty"`
	Type      string `json:"type"`
}

type wireEntity struct {
	Offset int    `json:"offset"`
	Length int    `json:"length"`
	Type   string `json:"type"`
	URL    string `json:"url,omitempty"`
}

type wirePhotoSize struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	FileSize     int    `json:"file_size"`
}

type wireSticker struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	Type         string `json:"type"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	IsAnimated   bool   `json:"is_animated"`
	IsVideo      bool   `json:"is_video"`
	Emoji        string `json:"emoji"`
	SetName      string `json:"set_name"`
	FileSize     int    `json:"file_size"`
}

type wireMessage struct {
	MessageID       int             `json:"message_id"`
	From            *wireUser       `json:"from,omitempty"`
	Chat            wireChat        `json:"chat"`
	Date            int64           `json:"date"`
	EditDate        int64           `json:"edit_date,omitempty"`
	ReplyToMessage  *wireMessage    `json:"reply_to_message,omitempty"`
	Text            string          `json:"text,omitempty"`
	Entities        []wireEntity    `json:"entities,omitempty"`
	Photo           []wirePhotoSize `json:"photo,omitempty"`
	Sticker         *wireSticker    `json:"sticker,omitempty"`
	Caption         string          `json:"caption,omitempty"`
	CaptionEntities []wireEntity    `json:"caption_entities,omitempty"`
	ReplyMarkup     json.RawMessage `json:"reply_markup,omitempty"`
	// Service messages of a group's upgrade to a supergroup.
	MigrateToChatID   int64 `json:"migrate_to_chat_id,omitempty"`
	MigrateFromChatID int64 `json:"migrate_from_chat_id,omitempty"`
}

type wireCallbackQuery struct {
	ID              string       `json:"id"`
	From            wireUser     `json:"from"`
	Message         *wireMessage `json:"message,omitempty"`
	InlineMessageID string       `json:"inline_message_id,omitempty"`
	ChatInstance    string       `json:"chat_instance"`
	Data            string       `json:"data,omitempty"`
}

type wireChatMember struct {
	User      wireUser `json:"user"`
	Status    string   `json:"status"`
	UntilDate *int64   `json:"until_date,omitempty"`
}

type wireChatMemberUpdated struct {
	Chat          wireChat       `json:"chat"`
	From          wireUser       `json:"from"`
	Date          int64          `json:"date"`
	OldChatMember wireChatMember `json:"old_chat_member"`
	NewChatMember wireChatMember `json:"new_chat_member"`
}

type wireUpdate struct {
	UpdateID      int                    `json:"update_id"`
	Message       *wireMessage           `json:"message,omitempty"`
	EditedMessage *wireMessage           `json:"edited_message,omitempty"`
	CallbackQuery *wireCallbackQuery     `json:"callback_query,omitempty"`
	MyChatMember  *wireChatMemberUpdated `json:"my_chat_member,omitempty"`
}

func toWireUser(u tgbotapi.User) wireUser {
	return wireUser{
		ID: u.ID, IsBot: u.IsBot, FirstName: u.FirstName, LastName: u.LastName,
		UserName: u.UserName, LanguageCode: u.LanguageCode,
	}
}

func toWireChat(c *tgbotapi.Chat) wireChat {
	return wireChat{
		ID: c.ID, Title: c.Title, FirstName: c.FirstName, LastName: c.LastName,
		UserName: c.UserName, Type: c.Type,
	}
}

func toLibEntities(es []wireEntity) []tgbotapi.MessageEntity {
	if len(es) == 0 {
		return nil
	}
	out := make([]tgbotapi.MessageEntity, len(es))
	for i, e := range es {
		out[i] = tgbotapi.MessageEntity{Type: e.Type, Offset: e.Offset, Length: e.Length, URL: e.URL}
	}
	return out
}

// User builds a Telegram user for injected updates. Real users need not
// have a username; set UserName on the result when a test needs one.
func User(id int64, firstName string) tgbotapi.User {
	return tgbotapi.User{ID: id, FirstName: firstName, LanguageCode: "en"}
}

// PrivateChat is the one-to-one chat between u and the bot; its ID is the
// user's, as on Telegram.
func PrivateChat(u tgbotapi.User) *tgbotapi.Chat {
	return &tgbotapi.Chat{ID: u.ID, Type: "private", FirstName: u.FirstName, LastName: u.LastName, UserName: u.UserName}
}

// GroupChat builds a supergroup, the kind of group most bots meet (for a
// basic group, see BasicGroupChat). Supergroup IDs are negative, -100
// followed by the group's number: a positive id is turned into that form
// (42 → -1000000000042); a negative one is kept.
func GroupChat(id int64, title string) *tgbotapi.Chat {
	if id > 0 {
		id = -1_000_000_000_000 - id
	}
	return &tgbotapi.Chat{ID: id, Type: "supergroup", Title: title}
}

// BasicGroupChat builds a basic group ("group"), what a small group starts
// as and the only kind that can be upgraded (see SendMigration). Its ID is
// negative without the -100 prefix: a positive id is negated (42 → -42); a
// negative one is kept.
func BasicGroupChat(id int64, title string) *tgbotapi.Chat {
	if id > 0 {
		id = -id
	}
	return &tgbotapi.Chat{ID: id, Type: "group", Title: title}
}
