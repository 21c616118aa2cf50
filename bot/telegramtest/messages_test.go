package telegramtest

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// withChat returns a server on which user 1111111 has written to the bot,
// so the bot may write back.
func withChat(t *testing.T, opts ...Options) (*Server, *tgbotapi.BotAPI, tgbotapi.User, int) {
	t.Helper()
	srv := NewServer(t, opts...)
	u := User(1111111, "Test")
	_, mid := srv.SendText(nil, u, "/start")
	return srv, newAPI(t, srv), u, mid
}

func TestSendMessage_ReturnsTheMessage(t *testing.T) {
	srv, api, u, userMsg := withChat(t)
	msg := tgbotapi.NewMessage(u.ID, "<b>Paid</b> KES 100 &amp; thanks")
	msg.ParseMode = tgbotapi.ModeHTML
	msg.ReplyToMessageID = userMsg
	got, err := api.Send(msg)
	if err != nil {
		t.Fatal(err)
	}
	if got.MessageID != userMsg+1 || got.Chat.ID != u.ID || got.From.ID != srv.Bot().ID || got.Date == 0 {
		t.Errorf("message: id %d chat %d from %d date %d", got.MessageID, got.Chat.ID, got.From.ID, got.Date)
	}
	if got.Text != "Paid KES 100 & thanks" || len(got.Entities) != 1 || got.Entities[0].Type != "bold" ||
		got.Entities[0].Length != 4 {
		t.Errorf("text %q entities %+v: want the parsed text and one bold entity", got.Text, got.Entities)
	}
	if got.ReplyToMessage == nil || got.ReplyToMessage.MessageID != userMsg || got.ReplyToMessage.Text != "/start" {
		t.Errorf("reply_to_message = %+v", got.ReplyToMessage)
	}
	second, err := api.Send(tgbotapi.NewMessage(u.ID, "again"))
	if err != nil || second.MessageID != got.MessageID+1 {
		t.Errorf("next message id %d, %v", second.MessageID, err)
	}

	sent := srv.SentTo(u.ID)
	if len(sent) != 2 {
		t.Fatalf("SentTo = %+v", sent)
	}
	s := sent[0]
	if s.Method != "sendMessage" || s.ChatID != u.ID || s.MessageID != got.MessageID || s.Text != "<b>Paid</b> KES 100 &amp; thanks" ||
		s.Plain != "Paid KES 100 & thanks" || s.ParseMode != "HTML" || s.ReplyToMessageID != userMsg || s.At.IsZero() ||
		s.Params.Get("entities") != "null" {
		t.Errorf("Sent = %+v", s)
	}
	if len(srv.SentTo(42)) != 0 {
		t.Errorf("SentTo another chat is not empty")
	}
}

func TestSendMessage_Refusals(t *testing.T) {
	srv, api, u, userMsg := withChat(t)
	group := GroupChat(55, "Shop")
	stranger := User(2222222, "Stranger")
	srv.SendText(group, stranger, "hi all") // seen in a group, never wrote to the bot
	long := strings.Repeat("a", 4096)
	emoji := strings.Repeat("😀", 2048) // 4096 UTF-16 code units, 2048 code points

	tests := []struct {
		name string
		msg  func() tgbotapi.MessageConfig
		want string // "" = accepted
	}{
		{"Longest", func() tgbotapi.MessageConfig { return tgbotapi.NewMessage(u.ID, long) }, ""},
		{"TooLong", func() tgbotapi.MessageConfig { return tgbotapi.NewMessage(u.ID, long+"a") }, "Bad Request: message is too long"},
		{"LongestInUTF16", func() tgbotapi.MessageConfig { return tgbotapi.NewMessage(u.ID, emoji) }, ""},
		{"TooLongInUTF16", func() tgbotapi.MessageConfig { return tgbotapi.NewMessage(u.ID, emoji+"😀") }, "Bad Request: message is too long"},
		{"TagsDoNotCount", func() tgbotapi.MessageConfig {
			m := tgbotapi.NewMessage(u.ID, "<b>"+long+"</b>")
			m.ParseMode = "HTML"
			return m
		}, ""},
		{"Empty", func() tgbotapi.MessageConfig { return tgbotapi.NewMessage(u.ID, "") }, "Bad Request: message text is empty"},
		{"Blank", func() tgbotapi.MessageConfig { return tgbotapi.NewMessage(u.ID, " \n ") }, "Bad Request: message text is empty"},
		{"EmptyAfterTags", func() tgbotapi.MessageConfig {
			m := tgbotapi.NewMessage(u.ID, "<b></b>")
			m.ParseMode = "HTML"
			return m
		}, "Bad Request: message text is empty"},
		{"BadHTML", func() tgbotapi.MessageConfig {
			m := tgbotapi.NewMessage(u.ID, "<foo>x</foo>")
			m.ParseMode = "HTML"
			return m
		}, `Bad Request: can't parse entities: Unsupported start tag "foo" at byte offset 0`},
		{"UnescapedUserText", func() tgbotapi.MessageConfig {
			m := tgbotapi.NewMessage(u.ID, "Ref: <INV-1>")
			m.ParseMode = "HTML"
			return m
		}, `Bad Request: can't parse entities: Unsupported start tag "inv-1" at byte offset 5`},
		{"HTMLNotCheckedWithoutParseMode", func() tgbotapi.MessageConfig { return tgbotapi.NewMessage(u.ID, "<foo> & co") }, ""},
		{"ReplyNotFound", func() tgbotapi.MessageConfig {
			m := tgbotapi.NewMessage(u.ID, "x")
			m.ReplyToMessageID = 999
			return m
		}, "Bad Request: message to reply not found"},
		{"ReplyNotFoundAllowed", func() tgbotapi.MessageConfig {
			m := tgbotapi.NewMessage(u.ID, "x")
			m.ReplyToMessageID, m.AllowSendingWithoutReply = 999, true
			return m
		}, ""},
		{"ReplyToAnotherChatsMessage", func() tgbotapi.MessageConfig {
			m := tgbotapi.NewMessage(group.ID, "x")
			m.ReplyToMessageID = userMsg + 5
			return m
		}, "Bad Request: message to reply not found"},
		{"UnknownChat", func() tgbotapi.MessageConfig { return tgbotapi.NewMessage(-100777, "x") }, "Bad Request: chat not found"},
		{"UserNeverStartedBot", func() tgbotapi.MessageConfig { return tgbotapi.NewMessage(stranger.ID, "x") }, "Forbidden: bot can't initiate conversation with a user"},
		{"NoChat", func() tgbotapi.MessageConfig { return tgbotapi.NewMessage(0, "x") }, "Bad Request: chat_id is empty"},
		{"CallbackDataTooLong", func() tgbotapi.MessageConfig {
			m := tgbotapi.NewMessage(u.ID, "x")
			m.ReplyMarkup = tgbotapi.NewInlineKeyboardMarkup(tgbotapi.NewInlineKeyboardRow(
				tgbotapi.NewInlineKeyboardButtonData("Status", "status:"+strings.Repeat("9", 58))))
			return m
		}, "Bad Request: BUTTON_DATA_INVALID"},
		{"CallbackData64Bytes", func() tgbotapi.MessageConfig {
			m := tgbotapi.NewMessage(u.ID, "x")
			m.ReplyMarkup = tgbotapi.NewInlineKeyboardMarkup(tgbotapi.NewInlineKeyboardRow(
				tgbotapi.NewInlineKeyboardButtonData("Status", "status:"+strings.Repeat("9", 57))))
			return m
		}, ""},
		{"UnknownParseMode", func() tgbotapi.MessageConfig {
			m := tgbotapi.NewMessage(u.ID, "x")
			m.ParseMode = "BBCode"
			return m
		}, "Bad Request: unsupported parse_mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.Sent())
			_, err := api.Send(tt.msg())
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			accepted := len(srv.Sent()) - before
			if (tt.want == "") != (accepted == 1) {
				t.Errorf("%d messages recorded as sent", accepted)
			}
		})
	}
	var apiErr *tgbotapi.Error
	_, err := api.Send(tgbotapi.NewMessage(-100777, "x"))
	if !errors.As(err, &apiErr) || apiErr.Code != 400 {
		t.Errorf("error code: %#v", err)
	}
}

func TestSendMessage_BlockedChat(t *testing.T) {
	srv, api, u, _ := withChat(t)
	group := GroupChat(9, "Merchants")
	srv.AddChat(group)
	if _, err := api.Send(tgbotapi.NewMessage(group.ID, "feed")); err != nil {
		t.Fatalf("AddChat did not make the group known: %v", err)
	}
	srv.BlockChat(u.ID)
	srv.BlockChat(group.ID)
	_, err := api.Send(tgbotapi.NewMessage(u.ID, "x"))
	var apiErr *tgbotapi.Error
	if !errors.As(err, &apiErr) || apiErr.Code != 403 || apiErr.Message != "Forbidden: bot was blocked by the user" {
		t.Errorf("blocked private chat: %#v", err)
	}
	if _, err := api.Send(tgbotapi.NewMessage(group.ID, "x")); err == nil ||
		err.Error() != "Forbidden: bot was kicked from the supergroup chat" {
		t.Errorf("blocked group: %v", err)
	}
	if _, err := api.Request(tgbotapi.NewChatAction(u.ID, tgbotapi.ChatTyping)); err == nil {
		t.Errorf("chat action to a blocked chat accepted")
	}
	srv.UnblockChat(u.ID)
	if _, err := api.Send(tgbotapi.NewMessage(u.ID, "back")); err != nil {
		t.Errorf("after UnblockChat: %v", err)
	}

	// SendBlocked both tells the bot and blocks.
	v := User(3333333, "V")
	srv.SendText(nil, v, "/start")
	srv.SendBlocked(nil, v)
	if _, err := api.Send(tgbotapi.NewMessage(v.ID, "x")); err == nil || err.Error() != "Forbidden: bot was blocked by the user" {
		t.Errorf("after SendBlocked: %v", err)
	}
	if len(srv.SentTo(v.ID)) != 0 {
		t.Errorf("a refused message counts as sent")
	}
}

func TestEditMessageText(t *testing.T) {
	srv, api, u, userMsg := withChat(t)
	m, err := api.Send(tgbotapi.NewMessage(u.ID, "⏳ Waiting for PIN"))
	if err != nil {
		t.Fatal(err)
	}
	edit := tgbotapi.NewEditMessageText(u.ID, m.MessageID, "<b>Paid</b>")
	edit.ParseMode = "HTML"
	edited, err := api.Send(edit)
	if err != nil || edited.MessageID != m.MessageID || edited.Text != "Paid" || edited.EditDate == 0 {
		t.Fatalf("edit: %+v, %v", edited, err)
	}
	tests := []struct {
		name string
		edit tgbotapi.EditMessageTextConfig
		want string
	}{
		{"Unchanged", edit, "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"},
		{"Missing", tgbotapi.NewEditMessageText(u.ID, 999, "x"), "Bad Request: message to edit not found"},
		{"UsersMessage", tgbotapi.NewEditMessageText(u.ID, userMsg, "x"), "Bad Request: message can't be edited"},
		{"Empty", tgbotapi.NewEditMessageText(u.ID, m.MessageID, ""), "Bad Request: message text is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := api.Send(tt.edit); err == nil || err.Error() != tt.want {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
	sent := srv.Sent()
	if len(sent) != 2 || sent[1].Method != "editMessageText" || sent[1].MessageID != m.MessageID || sent[1].Plain != "Paid" {
		t.Errorf("Sent = %+v", sent)
	}
}

func TestSendChatActionAndCallbackAnswers(t *testing.T) {
	srv, api, u, _ := withChat(t)
	if _, err := api.Request(tgbotapi.NewChatAction(u.ID, tgbotapi.ChatTyping)); err != nil {
		t.Errorf("typing: %v", err)
	}
	if _, err := api.Request(tgbotapi.NewChatAction(u.ID, "dancing")); err == nil {
		t.Errorf("unknown action accepted")
	}
	srv.SendCallbackQuery(nil, u, "status:1")
	ups, _ := api.GetUpdates(tgbotapi.UpdateConfig{})
	id := ups[len(ups)-1].CallbackQuery.ID
	if _, err := api.Request(tgbotapi.NewCallback(id, strings.Repeat("x", 201))); err == nil || err.Error() != "Bad Request: MESSAGE_TOO_LONG" {
		t.Errorf("201-character answer: %v", err)
	}
	if _, err := api.Request(tgbotapi.NewCallback(id, strings.Repeat("x", 200))); err != nil {
		t.Errorf("200-character answer: %v", err)
	}
	if _, err := api.Request(tgbotapi.NewCallback("12345", "")); err == nil {
		t.Errorf("unknown query id accepted")
	}
	if len(srv.Sent()) != 0 {
		t.Errorf("actions and answers are not messages: %+v", srv.Sent())
	}
	if got := len(srv.Calls("sendChatAction", "ANSWERCALLBACKQUERY")); got != 5 {
		t.Errorf("Calls(sendChatAction, answerCallbackQuery) = %d, want 5", got)
	}
}

func TestWaitSent(t *testing.T) {
	srv, api, u, _ := withChat(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := api.Send(tgbotapi.NewMessage(u.ID, "first")); err != nil {
		t.Fatal(err)
	}
	got, err := srv.WaitSent(ctx, func(m Sent) bool { return m.Plain == "first" })
	if err != nil || got.Plain != "first" {
		t.Fatalf("already sent: %+v, %v", got, err)
	}

	future := make(chan Sent, 1)
	go func() {
		m, _ := srv.WaitSent(ctx, func(m Sent) bool { return strings.Contains(m.Plain, "successful") })
		future <- m
	}()
	for _, text := range []string{"working", "Payment successful: KES 100"} {
		if _, err := api.Send(tgbotapi.NewMessage(u.ID, text)); err != nil {
			t.Fatal(err)
		}
	}
	if m := <-future; m.Plain != "Payment successful: KES 100" {
		t.Errorf("future match = %+v", m)
	}

	short, cancelShort := context.WithCancel(context.Background())
	cancelShort()
	if _, err := srv.WaitSent(short, func(Sent) bool { return false }); !errors.Is(err, context.Canceled) {
		t.Errorf("ended context: %v", err)
	}

	closed := make(chan error, 1)
	go func() {
		_, err := srv.WaitSent(ctx, func(Sent) bool { return false })
		closed <- err
	}()
	srv.Close()
	if err := <-closed; !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

func TestOnSend_OrderedAndOutsideLocks(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	var srv *Server
	srv, api, u, _ := withChat(t, Options{OnSend: func(m Sent) {
		_ = srv.Sent() // calling back into the server must not deadlock
		mu.Lock()
		seen = append(seen, m.Plain)
		mu.Unlock()
	}})
	const senders, each = 4, 10
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := api.Send(tgbotapi.NewMessage(u.ID, "m")); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	sent := srv.Sent()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != senders*each || len(sent) != senders*each {
		t.Fatalf("OnSend saw %d, Sent has %d, want %d", len(seen), len(sent), senders*each)
	}
	for i := 1; i < len(sent); i++ {
		if sent[i].MessageID <= sent[i-1].MessageID {
			t.Fatalf("Sent out of order at %d: %d after %d", i, sent[i].MessageID, sent[i-1].MessageID)
		}
	}
}

func TestSendMessage_JSONResultShape(t *testing.T) {
	srv, _, u, _ := withChat(t)
	raw := callOK(t, srv, "sendMessage", url.Values{"chat_id": {"1111111"}, "text": {"hi"}})
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"message_id", "from", "chat", "date", "text"} {
		if _, ok := m[key]; !ok {
			t.Errorf("result lacks %q: %s", key, raw)
		}
	}
	if strings.Contains(string(raw), "null") {
		t.Errorf("result has null fields: %s", raw)
	}
	_ = u
}
