package telegramtest

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// rawUpdates returns the queued updates as JSON objects, to check their
// wire shape rather than what the library makes of it.
func rawUpdates(t *testing.T, srv *Server) []map[string]any {
	t.Helper()
	var out []map[string]any
	if err := json.Unmarshal(callOK(t, srv, "getUpdates", nil), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestInject_TextCommands(t *testing.T) {
	srv := NewServer(t)
	api := newAPI(t, srv)
	u := User(1111111, "Test")
	group := GroupChat(1234567890, "Shop Ops")
	if group.ID != -1001234567890 || group.Type != "supergroup" {
		t.Fatalf("GroupChat = %+v, want supergroup -1001234567890", group)
	}
	srv.SendText(nil, u, "/pay 254712345678 100 INV-001")
	srv.SendText(group, u, "/status@MpesaPayBot INV-001")
	srv.SendText(group, u, "/pay@OtherBot 254712345678 100")
	srv.SendText(nil, u, "hello /pay")
	srv.SendText(nil, u, "/")

	ups, err := api.GetUpdates(tgbotapi.UpdateConfig{})
	if err != nil || len(ups) != 5 {
		t.Fatalf("%v %v", ups, err)
	}
	tests := []struct {
		command, withAt, args string
		chat                  int64
	}{
		{"pay", "pay", "254712345678 100 INV-001", 1111111},
		{"status", "status@MpesaPayBot", "INV-001", -1001234567890},
		{"pay", "pay@OtherBot", "254712345678 100", -1001234567890},
		{"", "", "", 1111111},
		{"", "", "", 1111111},
	}
	for i, tt := range tests {
		m := ups[i].Message
		if m.Command() != tt.command || m.CommandWithAt() != tt.withAt || m.CommandArguments() != tt.args {
			t.Errorf("update %d %q: command %q, with @ %q, args %q; want %q %q %q",
				i, m.Text, m.Command(), m.CommandWithAt(), m.CommandArguments(), tt.command, tt.withAt, tt.args)
		}
		if m.Chat.ID != tt.chat || m.From.ID != u.ID || m.Date == 0 {
			t.Errorf("update %d: chat %d from %d date %d", i, m.Chat.ID, m.From.ID, m.Date)
		}
	}
	// Message IDs increase per chat: the private chat and the group count apart.
	if ups[0].Message.MessageID != 1 || ups[3].Message.MessageID != 2 || ups[4].Message.MessageID != 3 ||
		ups[1].Message.MessageID != 1 || ups[2].Message.MessageID != 2 {
		t.Errorf("message ids: %d %d %d %d %d", ups[0].Message.MessageID, ups[1].Message.MessageID,
			ups[2].Message.MessageID, ups[3].Message.MessageID, ups[4].Message.MessageID)
	}
}

func TestInject_WireShapes(t *testing.T) {
	srv := NewServer(t)
	u := User(1111111, "Test")
	u.UserName = "testuser"
	srv.SendText(nil, u, "/pay 254712345678 100 INV-001")
	ups := rawUpdates(t, srv)
	data, _ := json.Marshal(ups[0])
	// The reference capture, with this server's update id and date.
	want := `{"message":{"chat":{"first_name":"Test","id":1111111,"type":"private","username":"testuser"},` +
		`"date":DATE,"entities":[{"length":4,"offset":0,"type":"bot_command"}],` +
		`"from":{"first_name":"Test","id":1111111,"is_bot":false,"language_code":"en","username":"testuser"},` +
		`"message_id":1,"text":"/pay 254712345678 100 INV-001"},"update_id":100000001}`
	date, _ := json.Marshal(ups[0]["message"].(map[string]any)["date"])
	if got := string(data); got != strings.Replace(want, "DATE", string(date), 1) {
		t.Errorf("wire shape:\n got %s\nwant %s", got, want)
	}

	srv.SendEdited(nil, u, 1, "/pay 254712345678 150")
	srv.SendPhoto(nil, u, "/pay 254712345678 100")
	srv.SendSticker(nil, u)
	srv.SendCallbackQuery(nil, u, "status:ws_CO_1")
	srv.SendInlineCallbackQuery(u, "status:ws_CO_2")
	srv.SendBlocked(nil, u)
	all, err := json.Marshal(rawUpdates(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(all), "null") {
		t.Errorf("updates carry null fields, which Telegram omits: %s", all)
	}
}

func TestInject_EveryKindReadsRightInTheLibrary(t *testing.T) {
	srv := NewServer(t)
	api := newAPI(t, srv)
	u := User(1111111, "Test")
	_, mid := srv.SendText(nil, u, "/pay 254712345678 100")
	srv.SendEdited(nil, u, mid, "/pay 254712345678 150")
	srv.SendPhoto(nil, u, "/pay 254712345678 100")
	srv.SendSticker(GroupChat(7, "G"), u)
	srv.SendCallbackQuery(nil, u, "status:ws_CO_191220191020363925")
	srv.SendInlineCallbackQuery(u, "status:x")
	srv.SendBlocked(nil, u)
	raw := srv.AddRaw(json.RawMessage(`{"update_id":5,"channel_post":{"message_id":1,"date":1700000000,"chat":{"id":-1009,"type":"channel","title":"News"},"text":"hi"}}`))

	ups, err := api.GetUpdates(tgbotapi.UpdateConfig{})
	if err != nil || len(ups) != 8 {
		t.Fatalf("%d updates, %v", len(ups), err)
	}
	edited := ups[1].EditedMessage
	if ups[1].Message != nil || edited == nil || edited.MessageID != mid || edited.EditDate == 0 || edited.Command() != "pay" {
		t.Errorf("edited: %+v", ups[1])
	}
	photo := ups[2].Message
	if photo.Text != "" || photo.Caption != "/pay 254712345678 100" || len(photo.Photo) == 0 ||
		len(photo.CaptionEntities) != 1 || photo.IsCommand() {
		t.Errorf("photo: text %q caption %q entities %v IsCommand %v", photo.Text, photo.Caption, photo.CaptionEntities, photo.IsCommand())
	}
	if st := ups[3].Message; st.Sticker == nil || st.Text != "" || st.Chat.Type != "supergroup" {
		t.Errorf("sticker: %+v", st)
	}
	cq := ups[4].CallbackQuery
	if cq == nil || cq.Data != "status:ws_CO_191220191020363925" || cq.Message == nil || cq.Message.From.ID != srv.Bot().ID ||
		ups[4].FromChat().ID != u.ID || cq.ID == "" {
		t.Errorf("callback query: %+v", cq)
	}
	inline := ups[5]
	if inline.CallbackQuery.Message != nil || inline.CallbackQuery.InlineMessageID == "" {
		t.Errorf("inline callback query: %+v", inline.CallbackQuery)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("FromChat() did not panic on an inline callback query; the fake no longer shows the library's trap")
			}
		}()
		inline.FromChat()
	}()
	blocked := ups[6].MyChatMember
	if blocked == nil || blocked.NewChatMember.Status != "kicked" || blocked.OldChatMember.Status != "member" ||
		blocked.NewChatMember.User.ID != srv.Bot().ID || blocked.Chat.ID != u.ID {
		t.Errorf("blocked: %+v", blocked)
	}
	if ups[7].UpdateID != raw || ups[7].ChannelPost == nil || ups[7].ChannelPost.Text != "hi" {
		t.Errorf("raw: id %d (AddRaw said %d), %+v", ups[7].UpdateID, raw, ups[7])
	}
	// AddRaw's chat is known now: the bot may write to it.
	callOK(t, srv, "sendMessage", url.Values{"chat_id": {"-1009"}, "text": {"ok"}})
}

func TestInject_CallbackQueryOnBotsLatestMessage(t *testing.T) {
	srv := NewServer(t)
	api := newAPI(t, srv)
	u := User(1111111, "Test")
	srv.SendText(nil, u, "/pay 0712345678 100")
	msg := tgbotapi.NewMessage(u.ID, "KES 100 for INV-001")
	msg.ReplyMarkup = tgbotapi.NewInlineKeyboardMarkup(tgbotapi.NewInlineKeyboardRow(
		tgbotapi.NewInlineKeyboardButtonData("Status", "status:ws_CO_1")))
	sent, err := api.Send(msg)
	if err != nil {
		t.Fatal(err)
	}
	srv.SendCallbackQuery(nil, u, "status:ws_CO_1")
	ups, err := api.GetUpdates(tgbotapi.UpdateConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cq := ups[len(ups)-1].CallbackQuery
	if cq.Message.MessageID != sent.MessageID || cq.Message.ReplyMarkup == nil {
		t.Errorf("the press is on message %d with markup %v; want the bot's %d with its keyboard",
			cq.Message.MessageID, cq.Message.ReplyMarkup, sent.MessageID)
	}
	if _, err := api.Request(tgbotapi.NewCallback(cq.ID, "Checking…")); err != nil {
		t.Errorf("answerCallbackQuery: %v", err)
	}
	if _, err := api.Request(tgbotapi.NewCallback(cq.ID, "again")); err == nil ||
		err.Error() != "Bad Request: query is too old and response timeout expired or query ID is invalid" {
		t.Errorf("second answer: %v", err)
	}
}

func TestInject_AddRawPanicsOnNonObject(t *testing.T) {
	srv := NewServer(t)
	defer func() {
		if recover() == nil {
			t.Errorf("AddRaw accepted a JSON array")
		}
	}()
	srv.AddRaw(json.RawMessage(`[1]`))
}
