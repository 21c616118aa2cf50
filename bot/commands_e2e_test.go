package bot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/mpesa-bot/mpesa-bot/bot"
	"github.com/mpesa-bot/mpesa-bot/bot/telegramtest"
	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// Commands addressed to another bot, and edited messages, never start a
// payment. A /status sent after them is answered, proving they were handled.
func TestForeignAndEditedCommandsStartNothing(t *testing.T) {
	w := newWorld(t, options{})
	w.say(shopGroup, customer, "/pay@OtherBot 0712345678 100 X")
	chat := telegramtest.PrivateChat(customer)
	msg := w.say(chat, customer, "/help")
	w.awaitReply(chat.ID, msg, "/pay")
	w.tg.SendEdited(chat, customer, msg, "/pay 0712345678 150 INV-001")
	probe := w.say(shopGroup, customer, "/status@MpesaPayBot")
	w.awaitReply(shopGroup.ID, probe, "no payments")
	w.stop()
	if w.pushes() != 0 {
		t.Errorf("pushes = %d, want 0", w.pushes())
	}
	for _, s := range w.tg.SentTo(shopGroup.ID) {
		if s.ReplyToMessageID != probe {
			t.Errorf("unexpected message in the group: %q", s.Plain)
		}
	}
}

// /pay@OurBot is ours, in any letter case.
func TestPayAddressedToUsIsOurs(t *testing.T) {
	w := newWorld(t, options{})
	msg := w.say(shopGroup, customer, "/pay@mpesapaybot 0712345678 100 GRP-1")
	w.awaitReply(shopGroup.ID, msg, "sent")
	w.awaitReply(shopGroup.ID, msg, "successful")
}

// Refusals say what was wrong and how to do it right, for every rule of
// the chat contract, and never push.
func TestPayRefusals(t *testing.T) {
	cases := []struct {
		name, text string
		words      []string
	}{
		{"MissingAmount", "/pay 0712345678", []string{"usage", "/pay 0712345678 100"}},
		{"NoArguments", "/pay", []string{"usage"}},
		{"BadPhone", "/pay 0812345678 100", []string{"phone number", "0712345678"}},
		{"LettersInPhone", "/pay 07123abc78 100", []string{"phone number"}},
		{"DecimalAmount", "/pay 0712345678 10.50", []string{"amount", "whole number"}},
		{"ZeroAmount", "/pay 0712345678 0", []string{"amount"}},
		{"NegativeAmount", "/pay 0712345678 -5", []string{"amount"}},
		{"WordAmount", "/pay 0712345678 abc", []string{"amount"}},
		{"OverMaxAmount", "/pay 0712345678 250001", []string{"amount", "250,000"}},
		{"LongReference", "/pay 0712345678 100 ABCDEFGHIJKLM", []string{"reference", "12"}},
		{"ReferenceWithSymbols", "/pay 0712345678 100 INV_01!", []string{"reference"}},
	}
	w := newWorld(t, options{})
	chat := telegramtest.PrivateChat(customer)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := w.say(chat, customer, c.text)
			w.awaitReply(chat.ID, msg, c.words...)
		})
	}
	w.stop()
	if w.pushes() != 0 {
		t.Errorf("pushes = %d, want 0", w.pushes())
	}
}

// Every accepted phone form reaches Daraja as 2547…/2541….
func TestPayPhoneForms(t *testing.T) {
	cases := []struct{ typed, want string }{
		{"0712345678", "254712345678"},
		{"712345678", "254712345678"},
		{"+254712345678", "254712345678"},
		{"254712345678", "254712345678"},
		{"0112345678", "254112345678"},
		{"0712-345-678", "254712345678"},
		{"+254 712 345 678", "254712345678"},
	}
	w := newWorld(t, options{})
	chat := telegramtest.PrivateChat(customer)
	for i, c := range cases {
		msg := w.say(chat, customer, "/pay "+c.typed+" 100 FORM-"+string(rune('A'+i)))
		w.awaitReply(chat.ID, msg, "successful")
		reqs := w.sim.Requests(mpesatest.EndpointPush)
		var body struct{ PhoneNumber, PartyA json.Number }
		if err := json.Unmarshal(reqs[len(reqs)-1].Body, &body); err != nil {
			t.Fatal(err)
		}
		if string(body.PhoneNumber) != c.want || string(body.PartyA) != c.want {
			t.Errorf("%q pushed PhoneNumber=%s PartyA=%s, want %s", c.typed, body.PhoneNumber, body.PartyA, c.want)
		}
	}
}

// "1,000" is a thousand shillings.
func TestPayAmountWithThousandsSeparator(t *testing.T) {
	w := newWorld(t, options{})
	chat := telegramtest.PrivateChat(customer)
	msg := w.say(chat, customer, "/pay 0712345678 1,000")
	w.awaitReply(chat.ID, msg, "successful", "KES 1,000")
}

// Whatever a user typed is escaped: <, & and quotes come back as typed, and
// Telegram (the fake parses HTML like Telegram) accepts the message.
func TestUserTextIsEscaped(t *testing.T) {
	w := newWorld(t, options{})
	chat := telegramtest.PrivateChat(customer)
	typed := `07<b>&"x'`
	msg := w.say(chat, customer, "/pay "+typed+" 100")
	out := w.awaitReply(chat.ID, msg, "phone number")
	if !strings.Contains(out.Plain, typed) {
		t.Errorf("reply %q does not show %q as typed", out.Plain, typed)
	}
	for _, c := range w.tg.Calls("sendMessage") {
		if c.Status != 200 {
			t.Errorf("Telegram refused a message: status %d: %s", c.Status, c.Params.Get("text"))
		}
	}
}

// One open PIN prompt per phone: a second /pay to it, from anyone, is refused
// with "another"; once the first ends, the phone is free.
func TestOneOpenPromptPerPhone(t *testing.T) {
	w := newWorld(t, options{})
	w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{ResultCode: "0", Manual: true})
	chat := telegramtest.PrivateChat(customer)
	first := w.say(chat, customer, "/pay 0712345678 100 ONE")
	ack := w.awaitReply(chat.ID, first, "sent")

	other := telegramtest.PrivateChat(stranger)
	second := w.say(other, stranger, "/pay 0712345678 200 TWO")
	w.awaitReply(other.ID, second, "another", "*********678")

	if err := w.sim.Complete(checkoutID(t, ack.Plain)); err != nil {
		t.Fatal(err)
	}
	w.awaitReply(chat.ID, first, "successful")
	third := w.say(other, stranger, "/pay 0712345678 200 THREE")
	w.awaitReply(other.ID, third, "sent")
	w.stop()
	if w.pushes() != 2 {
		t.Errorf("pushes = %d, want 2", w.pushes())
	}
}

// MAX_PENDING_PER_USER and PAY_PER_USER_PER_HOUR are refused with a reply
// that says what to do.
func TestUserLimits(t *testing.T) {
	t.Run("PendingPerUser", func(t *testing.T) {
		w := newWorld(t, options{cfg: func(c *bot.Config) { c.MaxPendingPerUser = 2 }})
		chat := telegramtest.PrivateChat(customer)
		for i, phone := range []string{"0712345670", "0712345680"} {
			w.sim.SetPhoneOutcome("254"+phone[1:], mpesatest.Outcome{Manual: true})
			msg := w.say(chat, customer, "/pay "+phone+" 10 P"+string(rune('0'+i)))
			w.awaitReply(chat.ID, msg, "sent")
		}
		msg := w.say(chat, customer, "/pay 0712345690 10")
		w.awaitReply(chat.ID, msg, "2 payments waiting", "/status")
		w.stop()
		if w.pushes() != 2 {
			t.Errorf("pushes = %d, want 2", w.pushes())
		}
	})
	t.Run("PayPerHour", func(t *testing.T) {
		w := newWorld(t, options{cfg: func(c *bot.Config) { c.PayPerUserPerHour = 2 }})
		chat := telegramtest.PrivateChat(customer)
		for _, phone := range []string{"0712345670", "0712345680"} {
			msg := w.say(chat, customer, "/pay "+phone+" 10")
			w.awaitReply(chat.ID, msg, "sent")
		}
		msg := w.say(chat, customer, "/pay 0712345690 10")
		w.awaitReply(chat.ID, msg, "2 payment requests in the last hour", "try again")
		// Another user is not affected.
		other := telegramtest.PrivateChat(stranger)
		msg = w.say(other, stranger, "/pay 0712345690 10")
		w.awaitReply(other.ID, msg, "sent")
	})
}

// /status shows a payment to its payer, merchants and admins (with its
// history), and to nobody else; without an ID it lists the caller's own.
func TestStatusVisibility(t *testing.T) {
	w := newWorld(t, options{})
	chat := telegramtest.PrivateChat(customer)
	msg := w.say(chat, customer, "/pay 0712345678 321 VIS-1")
	ack := w.awaitReply(chat.ID, msg, "sent")
	w.awaitReply(chat.ID, msg, "successful")
	id := checkoutID(t, ack.Plain)

	for _, c := range []struct {
		name    string
		user    tgbotapi.User
		words   []string
		history bool
	}{
		{"Payer", customer, []string{"KES 321", "VIS-1", "successful"}, false},
		{"Merchant", merchant, []string{"KES 321", "History", "settled"}, true},
		{"Admin", admin, []string{"KES 321", "History"}, true},
		{"Stranger", stranger, []string{"no payment with that ID"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			pc := telegramtest.PrivateChat(c.user)
			m := w.say(pc, c.user, "/status "+id)
			out := w.awaitReply(pc.ID, m, c.words...)
			if !c.history && strings.Contains(out.Plain, "History") {
				t.Errorf("%s sees the audit trail: %q", c.name, out.Plain)
			}
			if strings.Contains(out.Plain, "254712345678") {
				t.Errorf("%s sees the full phone number: %q", c.name, out.Plain)
			}
		})
	}
	t.Run("OwnRecent", func(t *testing.T) {
		m := w.say(chat, customer, "/status")
		w.awaitReply(chat.ID, m, "recent payments", "VIS-1")
		sc := telegramtest.PrivateChat(stranger)
		m = w.say(sc, stranger, "/status")
		w.awaitReply(sc.ID, m, "no payments yet")
	})
}

// /envinfo is for admins, in private chats, and never shows a secret.
func TestEnvInfo(t *testing.T) {
	w := newWorld(t, options{})
	pc := telegramtest.PrivateChat(stranger)
	m := w.say(pc, stranger, "/envinfo")
	w.awaitReply(pc.ID, m, "admins")

	g := w.say(shopGroup, admin, "/envinfo")
	w.awaitReply(shopGroup.ID, g, "private chat")

	ac := telegramtest.PrivateChat(admin)
	m = w.say(ac, admin, "/envinfo")
	out := w.awaitReply(ac.ID, m, "simulator", "174379", "CustomerPayBillOnline", "stkpush", "Callbacks", "Pending payments")
	for _, secret := range []string{"consumer-secret-do-not-log", "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919", w.tg.Token()} {
		if strings.Contains(out.Text, secret) {
			t.Errorf("/envinfo shows a secret: %q", out.Plain)
		}
	}
}

// /start and /help explain usage with examples; the admin's help lists
// /envinfo, a customer's does not.
func TestHelp(t *testing.T) {
	w := newWorld(t, options{})
	pc := telegramtest.PrivateChat(customer)
	m := w.say(pc, customer, "/start")
	out := w.awaitReply(pc.ID, m, "/pay 0712345678 100 INV001", "/status")
	if strings.Contains(out.Plain, "/envinfo") {
		t.Errorf("a customer's help lists /envinfo")
	}
	ac := telegramtest.PrivateChat(admin)
	m = w.say(ac, admin, "/help")
	w.awaitReply(ac.ID, m, "/envinfo")
}

// At start the command menu is published: /pay, /status, /help for all, and
// /envinfo only in each admin's private chat.
func TestCommandMenus(t *testing.T) {
	w := newWorld(t, options{})
	var public, adminMenu []string
	for _, c := range w.tg.MyCommands() {
		var names []string
		for _, bc := range c.Commands {
			names = append(names, bc.Command)
		}
		var scope struct {
			Type   string `json:"type"`
			ChatID int64  `json:"chat_id"`
		}
		if len(c.Scope) > 0 {
			_ = json.Unmarshal(c.Scope, &scope)
		}
		switch {
		case scope.Type == "" || scope.Type == "default":
			public = names
		case scope.Type == "chat" && scope.ChatID == admin.ID:
			adminMenu = names
		}
	}
	if strings.Join(public, ",") != "pay,status,help" {
		t.Errorf("public commands = %v", public)
	}
	if strings.Join(adminMenu, ",") != "pay,status,help,envinfo" {
		t.Errorf("admin commands = %v", adminMenu)
	}
}

// Stickers, photos (even with a /pay caption) and plain text: a hint in a
// private chat, silence in a group, never a payment.
func TestMessagesWithoutCommands(t *testing.T) {
	w := newWorld(t, options{})
	pc := telegramtest.PrivateChat(customer)
	w.tg.SendPhoto(pc, customer, "/pay 0712345678 100")
	w.await(pc.ID, "only understand text commands")
	w.tg.SendSticker(shopGroup, customer)
	w.tg.SendPhoto(shopGroup, customer, "/pay 0712345678 100")
	w.say(shopGroup, customer, "hello everyone")
	w.tg.SendCallbackQuery(pc, customer, "status:x")
	w.tg.SendInlineCallbackQuery(customer, "status:x")
	probe := w.say(shopGroup, customer, "/help")
	w.awaitReply(shopGroup.ID, probe, "/pay")
	w.stop()
	if w.pushes() != 0 {
		t.Errorf("pushes = %d, want 0", w.pushes())
	}
	if got := len(w.tg.SentTo(shopGroup.ID)); got != 1 {
		t.Errorf("%d messages in the group, want only the /help answer:%s", got, w.transcript())
	}
	if got := len(w.tg.Calls("answerCallbackQuery")); got != 2 {
		t.Errorf("answerCallbackQuery calls = %d, want 2 (buttons stop spinning)", got)
	}
}

// Updates of one chat are answered in the order they came.
func TestOneChatInOrder(t *testing.T) {
	w := newWorld(t, options{})
	pc := telegramtest.PrivateChat(customer)
	var ids []int
	for _, text := range []string{"/pay 0712345678 abc", "/help", "/pay 0812", "/status", "/pay 0712345678 0"} {
		ids = append(ids, w.say(pc, customer, text))
	}
	w.awaitReply(pc.ID, ids[len(ids)-1], "amount")
	var order []int
	for _, s := range w.tg.SentTo(pc.ID) {
		order = append(order, s.ReplyToMessageID)
	}
	if !slices.Equal(order[:min(len(order), len(ids))], ids) { // what follows the replies is not this test's concern
		t.Fatalf("replies answer %v, want %v", order, ids)
	}
}

// A slow Daraja call for one user never delays another user's reply.
func TestSlowPushDoesNotDelayOtherChats(t *testing.T) {
	gate := make(chan struct{})
	w := newWorld(t, options{wrap: func(d bot.Daraja) bot.Daraja { return &gatedDaraja{Daraja: d, phone: "254712345678", gate: gate} }})
	defer close(gate)
	slow := telegramtest.PrivateChat(customer)
	w.say(slow, customer, "/pay 0712345678 100")
	fast := telegramtest.PrivateChat(stranger)
	m := w.say(fast, stranger, "/help")
	w.awaitReply(fast.ID, m, "/pay")
	m = w.say(fast, stranger, "/pay 0712345670 100")
	w.awaitReply(fast.ID, m, "sent")
	if n := len(w.tg.SentTo(slow.ID)); n != 0 {
		t.Errorf("the slow chat got %d messages before its push answered", n)
	}
}

// gatedDaraja holds pushes to one phone until gate is closed; entered (if
// set) is signalled when such a push starts waiting.
type gatedDaraja struct {
	bot.Daraja
	phone   string
	gate    chan struct{}
	entered chan struct{}
}

func (g *gatedDaraja) Push(ctx context.Context, req mpesa.PushRequest) (*mpesa.PushResponse, error) {
	if req.Phone == g.phone {
		if g.entered != nil {
			g.entered <- struct{}{}
		}
		select {
		case <-g.gate:
		case <-ctx.Done():
		}
	}
	return g.Daraja.Push(ctx, req)
}

// 429 on send is retried after retry_after; the reply arrives once.
func TestSendRetriesAfter429(t *testing.T) {
	w := newWorld(t, options{})
	w.tg.FailNext("sendMessage", telegramtest.Fault{Status: 429, RetryAfter: 1})
	pc := telegramtest.PrivateChat(customer)
	m := w.say(pc, customer, "/help")
	out := w.awaitReply(pc.ID, m, "/pay")
	// The fake records a call just after the message is visible.
	w.eventually("both sendMessage calls recorded", func() bool { return len(w.tg.Calls("sendMessage")) >= 2 })
	calls := w.tg.Calls("sendMessage")
	if len(calls) < 2 || calls[0].Status != 429 {
		t.Fatalf("sendMessage calls = %+v, want a 429 then a success", calls)
	}
	if gap := out.At.Sub(calls[0].At); gap < time.Second {
		t.Errorf("retried after %s, want at least retry_after = 1s", gap)
	}
	if n := w.count(pc.ID, "/pay"); n != 1 {
		t.Errorf("%d replies, want 1", n)
	}
}

// A chat that blocked the bot (403) is not retried; the payment is kept and
// the chat is told once it lets the bot back in and the bot restarts.
func TestBlockedChatIsNotRetried(t *testing.T) {
	w := newWorld(t, options{})
	w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{ResultCode: "0", Manual: true})
	pc := telegramtest.PrivateChat(customer)
	m := w.say(pc, customer, "/pay 0712345678 100")
	ack := w.awaitReply(pc.ID, m, "sent")
	w.tg.BlockChat(pc.ID)
	if err := w.sim.Complete(checkoutID(t, ack.Plain)); err != nil {
		t.Fatal(err)
	}
	w.eventually("the outcome was attempted", func() bool { return w.refusedSends(403) > 0 })
	w.stop()
	if blocked := w.refusedSends(403); blocked != 1 {
		t.Errorf("%d sends to the blocked chat, want 1", blocked)
	}
	w.tg.UnblockChat(pc.ID)
	w.start()
	w.awaitReply(pc.ID, m, "successful")
}

// Telegram down at start: the bot keeps trying and starts when it is back.
func TestTelegramDownAtStart(t *testing.T) {
	w := newWorld(t, options{noStart: true})
	w.tg.FailNext("getMe", telegramtest.Fault{Status: 502, HTML: true, Times: 2})
	w.start()
	pc := telegramtest.PrivateChat(customer)
	m := w.say(pc, customer, "/help")
	w.awaitReply(pc.ID, m, "/pay")
}

// A refused token (401) stops the bot with ErrUnauthorized.
func TestUnauthorizedTokenStops(t *testing.T) {
	w := newWorld(t, options{noStart: true})
	w.tg.FailNext("getUpdates", telegramtest.Fault{Status: 401})
	w.startExpectingStop(bot.ErrUnauthorized)
}

// A long flood wait (429 retry_after beyond a few seconds) for one chat's
// outcome does not hold a notifier worker: another chat's outcome goes out
// meanwhile, and the first is sent after its wait.
func TestLongFloodWaitDoesNotHoldOtherOutcomes(t *testing.T) {
	w := newWorld(t, options{cfg: func(c *bot.Config) { c.NotifyWorkers = 1 }})
	for _, phone := range []string{"254712345678", "254712345670"} {
		w.sim.SetPhoneOutcome(phone, mpesatest.Outcome{ResultCode: "0", Manual: true})
	}
	a, b := telegramtest.PrivateChat(customer), telegramtest.PrivateChat(stranger)
	ma := w.say(a, customer, "/pay 0712345678 100 A")
	acka := w.awaitReply(a.ID, ma, "sent")
	mb := w.say(b, stranger, "/pay 0712345670 100 B")
	ackb := w.awaitReply(b.ID, mb, "sent")

	w.tg.FailNext("sendMessage", telegramtest.Fault{Status: 429, RetryAfter: 6})
	if err := w.sim.Complete(checkoutID(t, acka.Plain)); err != nil {
		t.Fatal(err)
	}
	w.eventually("the outcome for A was refused with a flood wait", func() bool { return w.refusedSends(429) > 0 })
	if err := w.sim.Complete(checkoutID(t, ackb.Plain)); err != nil {
		t.Fatal(err)
	}
	outB := w.awaitOutcome(b.ID, mb, ackb, "successful")
	outA := w.awaitOutcome(a.ID, ma, acka, "successful")
	if !outB.At.Before(outA.At) {
		t.Errorf("B's outcome (%s) waited for A's flood wait (%s)", outB.At, outA.At)
	}
}

// A forwarded /pay (old-style forward_date, or Bot API 7's forward_origin)
// is someone's earlier order seen again: it never starts a payment. In a
// private chat the user learns why.
func TestForwardedPayStartsNothing(t *testing.T) {
	forward := func(chat *tgbotapi.Chat, style string) string {
		mark := fmt.Sprintf(`"forward_origin":{"type":"user","date":%d,"sender_user":{"id":%d,"is_bot":false,"first_name":"Customer"}}`,
			time.Now().Add(-time.Hour).Unix(), customer.ID)
		if style == "forward_date" {
			mark = fmt.Sprintf(`"forward_from":{"id":%d,"is_bot":false,"first_name":"Customer"},"forward_date":%d`, customer.ID, time.Now().Add(-time.Hour).Unix())
		}
		chatJSON, _ := json.Marshal(chat)
		return fmt.Sprintf(`{"message":{"message_id":%d,"from":{"id":%d,"is_bot":false,"first_name":"Merchant"},"chat":%s,"date":%d,%s,
			"text":"/pay 0712345678 100 INV001","entities":[{"offset":0,"length":4,"type":"bot_command"}]}}`,
			9000+len(style), merchant.ID, chatJSON, time.Now().Unix(), mark)
	}
	for _, style := range []string{"forward_origin", "forward_date"} {
		t.Run(style, func(t *testing.T) {
			w := newWorld(t, options{})
			w.tg.AddChat(shopGroup)
			w.tg.AddRaw(json.RawMessage(forward(shopGroup, style)))
			pc := telegramtest.PrivateChat(merchant)
			w.tg.AddChat(pc)
			w.tg.AddRaw(json.RawMessage(forward(pc, style)))
			w.await(pc.ID, "forwarded commands are not acted on")
			probe := w.say(shopGroup, customer, "/help")
			w.awaitReply(shopGroup.ID, probe, "/pay")
			w.stop()
			if w.pushes() != 0 {
				t.Errorf("a forwarded /pay sent %d pushes", w.pushes())
			}
			if n := len(w.tg.SentTo(shopGroup.ID)); n != 1 {
				t.Errorf("%d messages in the group, want only the /help answer:%s", n, w.transcript())
			}
		})
	}
}

// An update the library cannot decode is skipped; the updates after it are
// handled.
func TestUndecodableUpdateIsSkipped(t *testing.T) {
	w := newWorld(t, options{})
	w.tg.AddRaw(json.RawMessage(`{"message":{"message_id":1,"chat":{"id":42,"type":"private"},"date":1,"text":"hi","entities":{"bad":"shape"}}}`))
	pc := telegramtest.PrivateChat(customer)
	m := w.say(pc, customer, "/help")
	w.awaitReply(pc.ID, m, "/pay")
	if !strings.Contains(w.logs.String(), "skipping an update that cannot be decoded") {
		t.Error("the skipped update was not logged")
	}
}

// An outcome that arrives while its acknowledgement sits out a flood wait is
// deferred, not waited for in a notifier worker: another chat's outcome
// goes out meanwhile.
func TestFloodWaitedAckDoesNotHoldOtherOutcomes(t *testing.T) {
	w := newWorld(t, options{cfg: func(c *bot.Config) { c.NotifyWorkers = 1 }})
	w.tg.FailNext("sendMessage", telegramtest.Fault{Status: 429, RetryAfter: 2})
	a, b := telegramtest.PrivateChat(customer), telegramtest.PrivateChat(stranger)
	ma := w.say(a, customer, "/pay 0712345678 100 A") // its ack gets the 429; its result comes at once
	w.eventually("A's acknowledgement was refused with a flood wait", func() bool { return w.refusedSends(429) > 0 })
	w.eventually("A's outcome is due", func() bool {
		p, err := w.store.GetByIdempotencyKey(fmt.Sprintf("%d:%d", a.ID, ma))
		return err == nil && p.State == storage.StateSucceeded
	})
	mb := w.say(b, stranger, "/pay 0712345670 100 B")
	ackb := w.awaitReply(b.ID, mb, "sent")
	outB := w.awaitOutcome(b.ID, mb, ackb, "successful")
	acka := w.awaitReply(a.ID, ma, "sent")
	outA := w.awaitOutcome(a.ID, ma, acka, "successful")
	if !outB.At.Before(acka.At) {
		t.Errorf("B's outcome (%s) waited for A's flood-waited acknowledgement (%s)", outB.At.Format(time.StampMilli), acka.At.Format(time.StampMilli))
	}
	if outA.MessageID < acka.MessageID {
		t.Error("A's outcome overtook its acknowledgement")
	}
}

// A push whose answer was lost (it reached Daraja; the connection dropped)
// is "not confirmed", and the phone stays closed to a new /pay for a few
// minutes: the first prompt may be on it right now.
func TestUnknownPushHoldsThePhone(t *testing.T) {
	w := newWorld(t, options{})
	w.sim.InjectFault(mpesatest.EndpointPush, mpesatest.Fault{Drop: true, Processed: true})
	pc := telegramtest.PrivateChat(customer)
	first := w.say(pc, customer, "/pay 0712345678 100 ONE")
	w.awaitReply(pc.ID, first, "not confirmed")

	other := telegramtest.PrivateChat(stranger)
	second := w.say(other, stranger, "/pay 0712345678 100 TWO")
	w.awaitReply(other.ID, second, "another")
	w.stop()
	if w.pushes() != 1 {
		t.Errorf("pushes = %d, want 1", w.pushes())
	}
}
