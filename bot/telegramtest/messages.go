package telegramtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxText is the Bot API's limit on a message's text, counted after parsing
// in UTF-16 code units (the stricter of code units and code points, so a
// reply the fake accepts is one Telegram accepts).
const maxText = 4096

// Sent is one outbound message the server accepted.
type Sent struct {
	Method           string // "sendMessage" or "editMessageText"
	ChatID           int64
	MessageID        int    // the new message's ID, or the edited one's
	Text             string // the text parameter as sent (with HTML tags, when parse_mode=HTML)
	Plain            string // what the chat shows: tags removed, entities decoded
	ParseMode        string
	ReplyToMessageID int // as requested; 0 when none
	Params           url.Values
	At               time.Time
}

// Sent returns every accepted outbound message, in order.
func (s *Server) Sent() []Sent { return s.sentWhere(func(Sent) bool { return true }) }

// SentTo returns the accepted outbound messages to one chat, in order.
func (s *Server) SentTo(chatID int64) []Sent {
	return s.sentWhere(func(m Sent) bool { return m.ChatID == chatID })
}

func (s *Server) sentWhere(keep func(Sent) bool) []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Sent
	for _, m := range s.sent {
		if keep(m) {
			m.Params = cloneValues(m.Params)
			out = append(out, m)
		}
	}
	return out
}

// WaitSent returns the first accepted message, already sent or still to
// come, that match accepts. It returns ctx's error (wrapped) when ctx ends
// first and ErrClosed when the server closes. match runs without locks held.
func (s *Server) WaitSent(ctx context.Context, match func(Sent) bool) (Sent, error) {
	seen := 0
	for {
		s.mu.Lock()
		fresh := make([]Sent, len(s.sent)-seen)
		copy(fresh, s.sent[seen:])
		seen = len(s.sent)
		changed := s.sentChanged
		s.mu.Unlock()
		for _, m := range fresh {
			m.Params = cloneValues(m.Params)
			if match(m) {
				return m, nil
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return Sent{}, fmt.Errorf("telegramtest: no matching message among %d sent: %w", seen, ctx.Err())
		case <-s.closed:
			return Sent{}, ErrClosed
		}
	}
}

// targetLocked checks that the bot may write to the chat named by chat_id.
func (s *Server) targetLocked(p url.Values) (*chatState, *apiError) {
	raw := strings.TrimSpace(p.Get("chat_id"))
	if raw == "" {
		return nil, badRequest("chat_id is empty")
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return nil, badRequest("chat not found") // an @username the fake does not know
	}
	// Checked first: Telegram deactivates the old group, so it answers this
	// whether or not the bot ever saw the group, and whatever else is wrong.
	if to, ok := s.migrated[id]; ok {
		e := badRequest("group chat was upgraded to a supergroup chat")
		e.migrateTo = to
		return nil, e
	}
	cs := s.chats[id]
	if cs == nil {
		if id > 0 && s.users[id] {
			return nil, forbidden("bot can't initiate conversation with a user")
		}
		return nil, badRequest("chat not found")
	}
	if s.blocked[id] {
		if cs.chat.Type == "private" {
			return nil, forbidden("bot was blocked by the user")
		}
		return nil, forbidden("bot was kicked from the " + cs.chat.Type + " chat")
	}
	return cs, nil
}

// formatted is a text checked the way sendMessage checks it.
type formatted struct {
	plain    string
	entities []wireEntity
}

func checkText(p url.Values, param string) (formatted, *apiError) {
	text := p.Get(param)
	if !utf8.ValidString(text) {
		return formatted{}, badRequest("text must be encoded in UTF-8")
	}
	f := formatted{plain: text}
	_, hasEntities := jsonParam(p, "entities")
	switch mode := strings.ToLower(p.Get("parse_mode")); {
	case hasEntities || mode == "":
	case mode == "html":
		plain, entities, err := ParseHTML(text)
		if err != nil {
			return formatted{}, badRequest("can't parse entities: " + err.Error())
		}
		f.plain = plain
		for _, e := range entities {
			f.entities = append(f.entities, wireEntity{Offset: e.Offset, Length: e.Length, Type: e.Type, URL: e.URL})
		}
	case mode == "markdown" || mode == "markdownv2":
		// Accepted unchecked: the bot uses HTML.
	default:
		return formatted{}, badRequest("unsupported parse_mode")
	}
	if strings.TrimSpace(f.plain) == "" {
		return formatted{}, badRequest("message text is empty")
	}
	if utf16Len(f.plain) > maxText {
		return formatted{}, badRequest("message is too long")
	}
	return f, nil
}

// checkMarkup validates reply_markup and returns the inline keyboard to
// show on the message, if any.
func checkMarkup(p url.Values) (json.RawMessage, *apiError) {
	raw, ok := jsonParam(p, "reply_markup")
	if !ok {
		return nil, nil
	}
	var markup struct {
		InlineKeyboard [][]map[string]json.RawMessage `json:"inline_keyboard"`
	}
	if json.Unmarshal([]byte(raw), &markup) != nil {
		return nil, badRequest("can't parse reply keyboard markup JSON object")
	}
	if markup.InlineKeyboard == nil {
		return nil, nil // a reply keyboard, or its removal: not shown on the message
	}
	for _, row := range markup.InlineKeyboard {
		for _, button := range row {
			var text string
			if json.Unmarshal(button["text"], &text) != nil {
				return nil, badRequest(`can't parse inline keyboard button: Field "text" must be of type String`)
			}
			if data, ok := button["callback_data"]; ok {
				var d string
				if json.Unmarshal(data, &d) != nil || len(d) < 1 || len(d) > 64 {
					return nil, badRequest("BUTTON_DATA_INVALID")
				}
				continue
			}
			if _, ok := button["url"]; !ok && len(button) <= 1 {
				return nil, badRequest("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
			}
		}
	}
	out, _ := json.Marshal(map[string]any{"inline_keyboard": markup.InlineKeyboard})
	return out, nil
}

func (s *Server) sendMessage(_ *http.Request, p url.Values) (any, *apiError) {
	text, apiErr := checkText(p, "text")
	markup, markupErr := checkMarkup(p)
	replyTo, replyErr := intParam(p, "reply_to_message_id")

	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.mu.Lock()
	cs, chatErr := s.targetLocked(p)
	for _, e := range []*apiError{chatErr, apiErr, markupErr, replyErr} {
		if e != nil {
			s.mu.Unlock()
			return nil, e
		}
	}
	var reply *wireMessage
	if replyTo != 0 {
		if orig := cs.messages[int(replyTo)]; orig != nil {
			shown := *orig
			shown.ReplyToMessage = nil // Telegram nests one level only
			reply = &shown
		} else if !boolParam(p, "allow_sending_without_reply") {
			s.mu.Unlock()
			return nil, badRequest("message to reply not found")
		}
	}
	bot := toWireUser(s.bot)
	m := &wireMessage{
		MessageID: cs.nextID(), From: &bot, Chat: cs.chat, Date: time.Now().Unix(), ReplyToMessage: reply,
		Text: text.plain, Entities: text.entities, ReplyMarkup: markup,
	}
	cs.messages[m.MessageID] = m
	cs.lastBot = m.MessageID
	sent := s.acceptLocked("sendMessage", cs.chat.ID, m.MessageID, text.plain, p)
	s.mu.Unlock()
	s.notify(sent)
	return m, nil
}

func (s *Server) editMessageText(_ *http.Request, p url.Values) (any, *apiError) {
	text, apiErr := checkText(p, "text")
	markup, markupErr := checkMarkup(p)
	if p.Get("inline_message_id") != "" {
		for _, e := range []*apiError{apiErr, markupErr} {
			if e != nil {
				return nil, e
			}
		}
		return true, nil // the fake keeps no inline messages
	}
	id, idErr := intParam(p, "message_id")

	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.mu.Lock()
	cs, chatErr := s.targetLocked(p)
	for _, e := range []*apiError{chatErr, idErr, apiErr, markupErr} {
		if e != nil {
			s.mu.Unlock()
			return nil, e
		}
	}
	orig := cs.messages[int(id)]
	switch {
	case id == 0:
		s.mu.Unlock()
		return nil, badRequest("message identifier is not specified")
	case orig == nil:
		s.mu.Unlock()
		return nil, badRequest("message to edit not found")
	case orig.From == nil || orig.From.ID != s.bot.ID:
		s.mu.Unlock()
		return nil, badRequest("message can't be edited")
	case orig.Text == text.plain && string(orig.ReplyMarkup) == string(markup) &&
		entitiesEqual(orig.Entities, text.entities):
		s.mu.Unlock()
		return nil, badRequest("message is not modified: specified new message content and reply markup are " +
			"exactly the same as a current content and reply markup of the message")
	}
	edited := *orig
	edited.Text, edited.Entities, edited.ReplyMarkup, edited.EditDate = text.plain, text.entities, markup, time.Now().Unix()
	cs.messages[edited.MessageID] = &edited
	sent := s.acceptLocked("editMessageText", cs.chat.ID, edited.MessageID, text.plain, p)
	s.mu.Unlock()
	s.notify(sent)
	return &edited, nil
}

func entitiesEqual(a, b []wireEntity) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// acceptLocked records an accepted message and wakes WaitSent.
func (s *Server) acceptLocked(method string, chatID int64, messageID int, plain string, p url.Values) Sent {
	replyTo, _ := strconv.Atoi(strings.TrimSpace(p.Get("reply_to_message_id")))
	m := Sent{
		Method: method, ChatID: chatID, MessageID: messageID, Text: p.Get("text"), Plain: plain,
		ParseMode: p.Get("parse_mode"), ReplyToMessageID: replyTo, Params: cloneValues(p), At: time.Now(),
	}
	s.sent = append(s.sent, m)
	close(s.sentChanged)
	s.sentChanged = make(chan struct{})
	return m
}

// notify calls OnSend; the caller holds sendMu, not mu.
func (s *Server) notify(m Sent) {
	if s.opts.OnSend != nil {
		m.Params = cloneValues(m.Params)
		s.opts.OnSend(m)
	}
}

func isChatAction(action string) bool {
	switch action {
	case "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
		"upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note":
		return true
	}
	return false
}

func (s *Server) sendChatAction(_ *http.Request, p url.Values) (any, *apiError) {
	s.mu.Lock()
	_, err := s.targetLocked(p)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if !isChatAction(p.Get("action")) {
		return nil, badRequest("wrong parameter action in request")
	}
	return true, nil
}

func (s *Server) answerCallbackQuery(_ *http.Request, p url.Values) (any, *apiError) {
	if utf16Len(p.Get("text")) > 200 {
		return nil, badRequest("MESSAGE_TOO_LONG")
	}
	id := p.Get("callback_query_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	answered, known := s.callbacks[id]
	if !known || answered {
		return nil, badRequest("query is too old and response timeout expired or query ID is invalid")
	}
	s.callbacks[id] = true
	return true, nil
}
