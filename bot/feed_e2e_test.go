package bot_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/bot"
	"github.com/mpesa-bot/mpesa-bot/bot/telegramtest"
	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// withFeed sets MERCHANT_CHAT_ID to the shop's group.
func withFeed(c *bot.Config) { c.MerchantChatID = shopGroup.ID }

// feedLines returns the merchant feed's messages that mention ref.
func (w *world) feedLines(ref string) []telegramtest.Sent {
	var out []telegramtest.Sent
	for _, s := range w.tg.SentTo(shopGroup.ID) {
		if strings.Contains(s.Plain, ref) {
			out = append(out, s)
		}
	}
	return out
}

// With MERCHANT_CHAT_ID set, every settled payment is posted to the merchant
// chat exactly once — paid with amount, masked phone, reference and receipt;
// not paid with the reason — and one without a final result ("not
// confirmed") is not. A restart posts nothing again.
func TestMerchantFeedPostsEverySettledPaymentOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t, options{cfg: func(c *bot.Config) {
		withFeed(c)
		c.PollTimeout = 500 * time.Millisecond // FEED-PEND is soon "not confirmed": still not settled
	}})
	w.tg.AddChat(shopGroup)
	w.sim.SetPhoneOutcome("254712345670", mpesatest.Outcome{Manual: true, NoCallback: true})
	w.sim.SetPhoneOutcome("254712345671", mpesatest.Outcome{ResultCode: "1", NoCallback: true})

	paid := w.pay("/pay 0712345678 1500 FEED-PAID")
	cancelled := w.pay("/pay 0712345672 250 FEED-CANC")
	byQuery := w.pay("/pay 0712345671 75 FEED-POOR") // insufficient balance, found by a query
	open := w.pay("/pay 0712345670 30 FEED-PEND")
	refused := w.say(telegramtest.PrivateChat(customer), customer, "/pay 0712345677 40 FEED-REFD")

	tx, _ := w.sim.Transaction(paid.checkoutID)
	cases := []struct {
		ref   string
		words []string
	}{
		{"FEED-PAID", []string{"paid KES 1,500", "*********678", tx.Receipt}}, // not "Not paid: KES …"
		{"FEED-CANC", []string{"not paid", "KES 250", "*********672", "cancelled"}},
		{"FEED-POOR", []string{"not paid", "KES 75", "*********671", "insufficient"}},
		{"FEED-REFD", []string{"not paid", "KES 40", "not sent"}},
	}
	for _, c := range cases {
		w.await(shopGroup.ID, append([]string{c.ref}, c.words...)...)
	}
	// Their outcomes reached the payers too, so every settled payment is through the notifier.
	w.awaitOutcome(paid.chat.ID, paid.msg, paid.ack, "successful")
	w.awaitOutcome(cancelled.chat.ID, cancelled.msg, cancelled.ack, "cancelled")
	w.awaitOutcome(byQuery.chat.ID, byQuery.msg, byQuery.ack, "insufficient")
	w.awaitReply(customer.ID, refused, "not sent")
	w.awaitOutcome(open.chat.ID, open.msg, open.ack, "not confirmed")
	w.stop()

	check := func(t *testing.T) {
		t.Helper()
		for _, c := range cases {
			lines := w.feedLines(c.ref)
			if len(lines) != 1 {
				t.Errorf("%s: %d feed lines, want 1:%s", c.ref, len(lines), w.transcript())
				continue
			}
			if lines[0].ReplyToMessageID != 0 {
				t.Errorf("%s: the feed line replies to message %d of another chat", c.ref, lines[0].ReplyToMessageID)
			}
			for _, full := range []string{"254712345", "0712345"} {
				if strings.Contains(lines[0].Plain, full) {
					t.Errorf("%s: the feed line shows the full phone number: %q", c.ref, lines[0].Plain)
				}
			}
		}
		if lines := w.feedLines("FEED-PEND"); len(lines) != 0 {
			t.Errorf("a payment without a final result was posted to the feed: %q", lines[0].Plain)
		}
	}
	t.Run("OncePerSettledPayment", check)
	t.Run("NothingAgainAfterARestart", func(t *testing.T) {
		w.start()
		w.stop()
		check(t)
	})
}

// A payment settled (and told) before the bot stopped, but whose feed line
// never went out, is posted at the next start; a pending one is not, and the
// payer is not told twice.
func TestMerchantFeedCatchesUpAtStart(t *testing.T) {
	t.Parallel()
	w := newWorld(t, options{noStart: true, cfg: withFeed})
	st, err := storage.Open(w.dbPath, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	create := func(n int, ref, phone string) storage.Payment {
		t.Helper()
		p, _, err := st.Create(storage.Payment{ChatID: customer.ID, UserID: customer.ID, MessageID: n,
			IdempotencyKey: "1111111:" + ref, Phone: phone, Amount: 900, Reference: ref,
			Description: "Payment", CallbackSecret: "secret-of-" + ref + "-0123456789abcdef"}, storage.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.RecordPush(p.ID, "ws_CO_"+strings.ReplaceAll(ref, "-", ""), "m-"+ref, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		return p
	}
	settled := create(41, "CATCH-PAID", "254712345678")
	if _, _, err := st.Settle(settled.ID, storage.Result{State: storage.StateSucceeded, ResultCode: "0", Receipt: "NLJ7RT61SV", Source: "callback"}); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.MarkNotified(settled.ID, storage.StateSucceeded); err != nil || !ok {
		t.Fatalf("MarkNotified = %v, %v", ok, err)
	}
	create(42, "CATCH-PEND", "254712345670")
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	w.tg.AddChat(shopGroup)
	w.tg.AddChat(telegramtest.PrivateChat(customer))
	w.start()
	w.await(shopGroup.ID, "CATCH-PAID", "paid", "KES 900", "NLJ7RT61SV", "*********678")
	w.eventually("the feed line to be recorded", func() bool {
		p, err := w.store.Get(settled.ID)
		return err == nil && p.FeedPosted
	})
	w.stop()
	if n := len(w.feedLines("CATCH-PAID")); n != 1 {
		t.Errorf("%d feed lines for the settled payment, want 1:%s", n, w.transcript())
	}
	if n := len(w.feedLines("CATCH-PEND")); n != 0 {
		t.Errorf("%d feed lines for the pending payment, want 0", n)
	}
	if n := len(w.tg.SentTo(customer.ID)); n != 0 {
		t.Errorf("the payer was told again (%d messages):%s", n, w.transcript())
	}
}

// holdChat is the bot's way to Telegram, except that every request to one
// chat is held until released: a merchant chat whose messages cannot go out
// yet (its rate limit, a slow or flooded chat).
type holdChat struct {
	chatID  int64
	next    http.RoundTripper
	held    chan struct{} // one value per request held
	release chan struct{}
}

func (h *holdChat) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil {
		return h.next.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	if form, err := url.ParseQuery(string(body)); err == nil && form.Get("chat_id") == strconv.FormatInt(h.chatID, 10) {
		h.held <- struct{}{}
		select {
		case <-h.release:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	return h.next.RoundTrip(out)
}

// The merchant feed goes to another chat, with that chat's limits (a group
// may only get 20 messages a minute). Feed lines that cannot go out yet must
// never hold back the payers' own outcome messages.
func TestMerchantFeedNeverHoldsBackPayersOutcomes(t *testing.T) {
	t.Parallel()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	hold := &holdChat{chatID: shopGroup.ID, next: transport, held: make(chan struct{}, 1024), release: make(chan struct{})}
	w := newWorld(t, options{cfg: func(c *bot.Config) {
		withFeed(c)
		c.PollInitialDelay = 10 * time.Second
		c.HTTPClient = &http.Client{Transport: hold}
	}})
	release := sync.OnceFunc(func() { close(hold.release) })
	t.Cleanup(release) // runs before the world stops
	w.tg.AddChat(shopGroup)

	const payers = 8 // twice the outcome workers
	type payerPayment struct {
		payment
		phone int64
	}
	var pays []payerPayment
	for i := range payers {
		user := telegramtest.User(int64(5_000_000+i), "Payer")
		chat := telegramtest.PrivateChat(user)
		phone := fmt.Sprintf("2547123456%d0", i)
		w.sim.SetPhoneOutcome(phone, mpesatest.Outcome{Manual: true, NoCallback: true})
		msg := w.say(chat, user, fmt.Sprintf("/pay 0%s 100 BUSY-%d", phone[3:], i))
		ack := w.awaitReply(chat.ID, msg, "sent", "ws_CO_")
		n, _ := strconv.ParseInt(phone, 10, 64)
		pays = append(pays, payerPayment{payment{chat: chat, msg: msg, ack: ack, checkoutID: checkoutID(t, ack.Plain)}, n})
	}
	// Every customer pays at the same moment.
	var wg sync.WaitGroup
	for _, p := range pays {
		wg.Add(1)
		go func() {
			defer wg.Done()
			doRequestNoFatal(w.cb.URL+w.callbackPath(p.checkoutID), callbackBodyFrom(p.phone, p.checkoutID, "0", "NLJ7RT61SV", 100))
		}()
	}
	wg.Wait()
	for _, p := range pays {
		w.awaitOutcome(p.chat.ID, p.msg, p.ack, "successful")
	}
	if len(hold.held) == 0 {
		t.Fatal("no feed line was held: the test proves nothing")
	}
	if n := len(w.tg.SentTo(shopGroup.ID)); n != 0 {
		t.Fatalf("%d feed lines went out while the merchant chat was held", n)
	}

	// The feed catches up once its chat takes messages again.
	release()
	for i := range pays {
		w.await(shopGroup.ID, "paid", fmt.Sprintf("BUSY-%d", i))
	}
	w.stop()
	if n := len(w.tg.SentTo(shopGroup.ID)); n != payers {
		t.Errorf("%d feed lines, want %d:%s", n, payers, w.transcript())
	}
}
