package telegramtest

import (
	"strings"
	"testing"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// BenchmarkSendMessage is one sendMessage round trip through the library:
// the fake's cost per bot reply in the bot's tests and in the demo.
func BenchmarkSendMessage(b *testing.B) {
	srv := NewServer(b)
	u := User(1111111, "Test")
	srv.SendText(nil, u, "/start")
	api := newAPI(b, srv)
	msg := tgbotapi.NewMessage(u.ID, "<b>Payment successful</b>\nKES 100 from 2547•••••678, receipt <code>QKJ4XYZ123</code>")
	msg.ParseMode = tgbotapi.ModeHTML
	b.ReportAllocs()
	for b.Loop() {
		if _, err := api.Send(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetUpdates injects one update and fetches it, confirming the one
// before: the steady state of a bot's poll loop.
func BenchmarkGetUpdates(b *testing.B) {
	srv := NewServer(b)
	api := newAPI(b, srv)
	u := User(1111111, "Test")
	offset := 0
	b.ReportAllocs()
	for b.Loop() {
		srv.SendText(nil, u, "/status")
		ups, err := api.GetUpdates(tgbotapi.UpdateConfig{Offset: offset})
		if err != nil || len(ups) != 1 {
			b.Fatal(len(ups), err)
		}
		offset = ups[0].UpdateID + 1
	}
}

// BenchmarkParseHTML checks a typical 1 KiB reply.
func BenchmarkParseHTML(b *testing.B) {
	text := strings.Repeat("<b>Paid</b> KES 1,000 &amp; more — ref <code>INV-001</code>\n", 16)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseHTML(text); err != nil {
			b.Fatal(err)
		}
	}
}
