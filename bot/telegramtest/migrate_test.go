package telegramtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

const (
	oldGroupID      = -4012345678
	supergroupID    = -1001234567890
	upgradedMessage = "Bad Request: group chat was upgraded to a supergroup chat"
)

// withGroup returns a server on which user 1111111 has written in the basic
// group "Shop Ops", so the bot may write there.
func withGroup(t *testing.T) (*Server, *tgbotapi.BotAPI, tgbotapi.User, *tgbotapi.Chat) {
	t.Helper()
	srv := NewServer(t)
	u := User(1111111, "Test")
	group := BasicGroupChat(oldGroupID, "Shop Ops")
	srv.SendText(group, u, "/start")
	return srv, newAPI(t, srv), u, group
}

func TestBasicGroupChat(t *testing.T) {
	tests := []struct {
		name   string
		id     int64
		wantID int64
	}{
		{"PositiveIsNegated", 42, -42},
		{"NegativeIsKept", -4012345678, -4012345678},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := BasicGroupChat(tt.id, "Shop Ops")
			if c.ID != tt.wantID || c.Type != "group" || c.Title != "Shop Ops" {
				t.Errorf("BasicGroupChat(%d) = %+v, want group %d titled Shop Ops", tt.id, c, tt.wantID)
			}
		})
	}
}

func TestSendToMigratedGroupAnswers400WithMigrateToChatID(t *testing.T) {
	srv, api, _, group := withGroup(t)
	srv.MigrateChat(group.ID, supergroupID)

	_, err := api.Send(tgbotapi.NewMessage(group.ID, "KES 100 paid"))
	var te *tgbotapi.Error
	if !errors.As(err, &te) || te.Code != 400 || te.Message != upgradedMessage || te.MigrateToChatID != supergroupID {
		t.Fatalf("got %#v, want a 400 %q with MigrateToChatID %d", err, upgradedMessage, supergroupID)
	}
	if sent := srv.Sent(); len(sent) != 0 {
		t.Errorf("the refused message was recorded as sent: %+v", sent)
	}

	// The exact body, as Telegram writes it.
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	form := url.Values{"chat_id": {fmt.Sprint(group.ID)}, "text": {"x"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		fmt.Sprintf(srv.Endpoint(), srv.Token(), "sendMessage"), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `{"ok":false,"error_code":400,"description":"` + upgradedMessage +
		`","parameters":{"migrate_to_chat_id":-1001234567890}}`
	if resp.StatusCode != 400 || string(body) != want {
		t.Errorf("got %d %s\nwant 400 %s", resp.StatusCode, body, want)
	}
}

// mustMigrated fails unless the answer is the upgrade error pointing at
// supergroupID.
func mustMigrated(t *testing.T, status int, r apiResponse) {
	t.Helper()
	mustFail(t, status, r, 400, upgradedMessage)
	if r.Parameters == nil || r.Parameters.MigrateToChatID != supergroupID {
		t.Fatalf("parameters %+v, want migrate_to_chat_id %d", r.Parameters, supergroupID)
	}
}

func TestMigratedGroupRefusesEveryWrite(t *testing.T) {
	tests := []struct {
		name   string
		method string
		params func(group int64, botMsg int) url.Values
	}{
		{"SendMessage", "sendMessage", func(g int64, _ int) url.Values {
			return url.Values{"chat_id": {fmt.Sprint(g)}, "text": {"hi"}}
		}},
		{"SendMessageWithBadText", "sendMessage", func(g int64, _ int) url.Values {
			return url.Values{"chat_id": {fmt.Sprint(g)}, "text": {" "}}
		}},
		{"EditMessageText", "editMessageText", func(g int64, m int) url.Values {
			return url.Values{"chat_id": {fmt.Sprint(g)}, "message_id": {fmt.Sprint(m)}, "text": {"edited"}}
		}},
		{"SendChatAction", "sendChatAction", func(g int64, _ int) url.Values {
			return url.Values{"chat_id": {fmt.Sprint(g)}, "action": {"typing"}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, api, _, group := withGroup(t)
			before, err := api.Send(tgbotapi.NewMessage(group.ID, "KES 100 for INV-001"))
			if err != nil {
				t.Fatal(err)
			}
			srv.MigrateChat(group.ID, supergroupID)

			status, r := call(t, srv, tt.method, tt.params(group.ID, before.MessageID))
			mustMigrated(t, status, r)
			if sent := srv.Sent(); len(sent) != 1 {
				t.Errorf("sent %d messages, want only the one before the upgrade", len(sent))
			}
		})
	}
}

func TestMigrateChatRefusesAGroupTheServerNeverSaw(t *testing.T) {
	srv := NewServer(t)
	srv.MigrateChat(-77, supergroupID)
	// The upgrade error, not "chat not found".
	status, r := call(t, srv, "sendMessage", url.Values{"chat_id": {"-77"}, "text": {"hi"}})
	mustMigrated(t, status, r)
}

func TestSendAfterMigrationReachesTheSupergroup(t *testing.T) {
	srv, api, _, group := withGroup(t)
	srv.MigrateChat(group.ID, supergroupID)

	// The retry a bot does on MigrateToChatID.
	msg := tgbotapi.NewMessage(group.ID, "KES 100 paid")
	_, err := api.Send(msg)
	var te *tgbotapi.Error
	if !errors.As(err, &te) || te.MigrateToChatID == 0 {
		t.Fatalf("first send: %v, want the upgrade error", err)
	}
	msg.ChatID = te.MigrateToChatID
	got, err := api.Send(msg)
	if err != nil {
		t.Fatalf("send to the supergroup: %v", err)
	}
	if got.Chat.ID != supergroupID || got.Chat.Type != "supergroup" || got.Chat.Title != "Shop Ops" || got.MessageID != 1 {
		t.Errorf("chat %+v message %d, want supergroup %d titled Shop Ops, message 1", got.Chat, got.MessageID, supergroupID)
	}
	if sent := srv.SentTo(supergroupID); len(sent) != 1 || sent[0].Plain != "KES 100 paid" {
		t.Errorf("SentTo(supergroup) = %+v", sent)
	}
}

func TestMigrateChatKeepsAKnownSupergroup(t *testing.T) {
	srv, api, u, group := withGroup(t)
	srv.SendText(GroupChat(supergroupID, "Shop Ops (new)"), u, "hello")
	srv.MigrateChat(group.ID, supergroupID)
	got, err := api.Send(tgbotapi.NewMessage(supergroupID, "x"))
	if err != nil || got.Chat.Title != "Shop Ops (new)" || got.MessageID != 2 {
		t.Errorf("got chat %+v message %d, %v; want the supergroup as it was, message 2", got.Chat, got.MessageID, err)
	}
}

func TestSendMigrationDeliversBothServiceMessages(t *testing.T) {
	srv, api, _, group := withGroup(t)
	admin := User(2222222, "Admin")
	fromUpdate, toUpdate := srv.SendMigration(group, supergroupID, admin)

	ups, err := api.GetUpdates(tgbotapi.UpdateConfig{})
	if err != nil || len(ups) != 3 {
		t.Fatalf("%d updates, %v; want the /start and two service messages", len(ups), err)
	}
	left, arrived := ups[1], ups[2]
	if left.UpdateID != fromUpdate || arrived.UpdateID != toUpdate {
		t.Errorf("update ids %d %d, SendMigration said %d %d", left.UpdateID, arrived.UpdateID, fromUpdate, toUpdate)
	}
	tests := []struct {
		name                   string
		m                      *tgbotapi.Message
		chatID                 int64
		chatType               string
		messageID              int
		migrateTo, migrateFrom int64
	}{
		{"InTheOldGroup", left.Message, group.ID, "group", 2, supergroupID, 0},
		{"InTheSupergroup", arrived.Message, supergroupID, "supergroup", 1, 0, group.ID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.m
			if m == nil {
				t.Fatal("not a message update")
			}
			if m.Chat.ID != tt.chatID || m.Chat.Type != tt.chatType || m.Chat.Title != "Shop Ops" || m.MessageID != tt.messageID {
				t.Errorf("chat %+v message %d, want %s %d titled Shop Ops, message %d",
					m.Chat, m.MessageID, tt.chatType, tt.chatID, tt.messageID)
			}
			if m.MigrateToChatID != tt.migrateTo || m.MigrateFromChatID != tt.migrateFrom {
				t.Errorf("MigrateToChatID %d MigrateFromChatID %d, want %d %d",
					m.MigrateToChatID, m.MigrateFromChatID, tt.migrateTo, tt.migrateFrom)
			}
			if m.From == nil || m.From.ID != admin.ID || m.Text != "" || m.IsCommand() || m.Date == 0 {
				t.Errorf("from %+v text %q date %d, want from the admin, no text", m.From, m.Text, m.Date)
			}
		})
	}

	// SendMigration upgrades the chat too: the old ID is dead, the new one live.
	if _, err := api.Send(tgbotapi.NewMessage(group.ID, "x")); err == nil {
		t.Errorf("send to the old group succeeded after SendMigration")
	}
	if _, err := api.Send(tgbotapi.NewMessage(supergroupID, "x")); err != nil {
		t.Errorf("send to the supergroup: %v", err)
	}
}

func TestSendMigrationWireShape(t *testing.T) {
	srv := NewServer(t)
	admin := User(2222222, "Admin")
	srv.SendMigration(BasicGroupChat(oldGroupID, "Shop Ops"), supergroupID, admin)
	ups := rawUpdates(t, srv)
	if len(ups) != 2 {
		t.Fatalf("%d updates, want 2", len(ups))
	}
	date, _ := json.Marshal(ups[0]["message"].(map[string]any)["date"])
	from := `"from":{"first_name":"Admin","id":2222222,"is_bot":false,"language_code":"en"}`
	want := []string{
		`{"message":{"chat":{"id":-4012345678,"title":"Shop Ops","type":"group"},"date":DATE,` + from +
			`,"message_id":1,"migrate_to_chat_id":-1001234567890},"update_id":100000001}`,
		`{"message":{"chat":{"id":-1001234567890,"title":"Shop Ops","type":"supergroup"},"date":DATE,` + from +
			`,"message_id":1,"migrate_from_chat_id":-4012345678},"update_id":100000002}`,
	}
	for i, w := range want {
		got, _ := json.Marshal(ups[i])
		if w = strings.ReplaceAll(w, "DATE", string(date)); string(got) != w {
			t.Errorf("update %d:\n got %s\nwant %s", i, got, w)
		}
	}
}

func TestSendMigrationPanicsAndChangesNothing(t *testing.T) {
	u := User(1111111, "Test")
	tests := []struct {
		name  string
		setup func(srv *Server)
		group *tgbotapi.Chat
		to    int64
	}{
		{"OnASupergroup", nil, GroupChat(55, "Shop"), supergroupID},
		{"OnAGroupKnownAsASupergroup", func(srv *Server) { srv.AddChat(GroupChat(oldGroupID, "Shop")) },
			BasicGroupChat(oldGroupID, "Shop"), supergroupID},
		{"ToItself", nil, BasicGroupChat(oldGroupID, "Shop"), oldGroupID},
		{"ToAPrivateChat", func(srv *Server) { srv.SendText(nil, u, "hi") }, BasicGroupChat(oldGroupID, "Shop"), u.ID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := NewServer(t)
			if tt.setup != nil {
				tt.setup(srv)
			}
			queued := srv.Unconfirmed()
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("SendMigration did not panic")
					}
				}()
				srv.SendMigration(tt.group, tt.to, u)
			}()
			if srv.Unconfirmed() != queued {
				t.Errorf("the panicking SendMigration queued updates")
			}
			srv.mu.Lock()
			migrated := len(srv.migrated)
			srv.mu.Unlock()
			if migrated != 0 {
				t.Errorf("the panicking SendMigration migrated a chat")
			}
		})
	}
}

func TestMigrateChatPanicsOnItself(t *testing.T) {
	srv := NewServer(t)
	defer func() {
		if recover() == nil {
			t.Errorf("MigrateChat(x, x) did not panic")
		}
	}()
	srv.MigrateChat(oldGroupID, oldGroupID)
}
