package bot_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/mpesa-bot/mpesa-bot/bot"
	"github.com/mpesa-bot/mpesa-bot/bot/telegramtest"
	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
	"github.com/mpesa-bot/mpesa-bot/mpesa/testkit"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// The people of the tests.
var (
	customer  = telegramtest.User(1111111, "Customer")
	stranger  = telegramtest.User(2222222, "Stranger")
	merchant  = telegramtest.User(3333333, "Merchant")
	admin     = telegramtest.User(4444444, "Admin")
	shopGroup = telegramtest.GroupChat(-1001234567890, "Shop Ops")
)

// waitLimit bounds every wait for something the bot should do. It is a
// deadlock detector, not a timing assertion: on a loaded machine things take
// a while, and no test relies on them being fast.
const waitLimit = 20 * time.Second

// world is one bot wired to a fake Telegram, the Daraja simulator, a real
// bbolt file and a callback server on loopback, with its log captured.
type world struct {
	t        testing.TB
	tg       *telegramtest.Server
	sim      *mpesatest.Server
	daraja   bot.Daraja
	dbPath   string
	logs     *testkit.SyncBuffer
	logLevel slog.Level
	onSend   atomic.Pointer[func(telegramtest.Sent)] // watches every accepted message
	cfg      bot.Config
	http     bot.HTTPOptions

	store  *storage.Store
	bot    *bot.Bot
	cb     *httptest.Server // serves b.Handler: callbacks at /daraja/cb/{secret}, /healthz, /readyz, ...
	cancel context.CancelFunc
	done   chan error
}

// options tune a world before it starts.
type options struct {
	cfg      func(*bot.Config)
	simOpts  []mpesatest.Option
	wrap     func(bot.Daraja) bot.Daraja
	http     bot.HTTPOptions // what the callback server offers besides callbacks
	logLevel *slog.Level     // [DEBUG]
	noStart  bool
}

func newWorld(t testing.TB, o options) *world {
	t.Helper()
	w := &world{t: t, logs: &testkit.SyncBuffer{}, dbPath: filepath.Join(t.TempDir(), "bot.db"), http: o.http, logLevel: slog.LevelDebug}
	if o.logLevel != nil {
		w.logLevel = *o.logLevel
	}
	w.tg = telegramtest.NewServer(t, telegramtest.Options{OnSend: func(s telegramtest.Sent) {
		if f := w.onSend.Load(); f != nil {
			(*f)(s)
		}
	}})
	simOpts := append([]mpesatest.Option{mpesatest.WithResultDelay(20 * time.Millisecond), mpesatest.WithCallbackRetries(2, 10*time.Millisecond)}, o.simOpts...)
	w.sim = mpesatest.NewServer(t, simOpts...)
	client, err := mpesa.New(mpesa.Config{
		Environment:    mpesa.Simulator,
		BaseURL:        w.sim.URL,
		ConsumerKey:    "key",
		ConsumerSecret: "consumer-secret-do-not-log",
		ShortCode:      mpesa.SandboxShortCode,
		Passkey:        mpesa.SandboxPasskey,
		Logger:         w.logger(),
		RetryWaitMin:   time.Millisecond,
		RetryWaitMax:   5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.daraja = client
	if o.wrap != nil {
		w.daraja = o.wrap(client)
	}
	w.cfg = bot.Config{
		Token:            w.tg.Token(),
		Endpoint:         w.tg.Endpoint(),
		Admins:           []int64{admin.ID},
		Merchants:        []int64{merchant.ID},
		CallbacksEnabled: true,
		PollInitialDelay: 200 * time.Millisecond,
		PollInterval:     50 * time.Millisecond,
		PollTimeout:      5 * time.Second,
		TransactionDesc:  "Payment",
		MaxAmount:        250000,
		LongPoll:         2 * time.Second,
		ShutdownTimeout:  5 * time.Second,
		Version:          "test",
	}
	if o.cfg != nil {
		o.cfg(&w.cfg)
	}
	if !o.noStart {
		w.start()
	}
	return w
}

func (w *world) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: w.logLevel}))
}

// start opens the store and runs a bot on it; the callback server is
// (re)started too, on a new port.
func (w *world) start() {
	w.t.Helper()
	st, err := storage.Open(w.dbPath, storage.Options{Timeout: time.Second})
	if err != nil {
		w.t.Fatal(err)
	}
	w.store = st
	cfg := w.cfg
	cfg.Logger = w.logger()
	w.cb = httptest.NewUnstartedServer(nil)
	if cfg.CallbackURL == "" {
		cfg.CallbackURL = "http://" + w.cb.Listener.Addr().String() + "/daraja/cb"
	}
	b, err := bot.New(cfg, st, w.daraja)
	if err != nil {
		w.t.Fatal(err)
	}
	h, err := b.Handler(w.http)
	if err != nil {
		w.t.Fatal(err)
	}
	w.cb.Config.Handler = h
	w.cb.Start()
	w.bot = b
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.done = make(chan error, 1)
	go func() { w.done <- b.Run(ctx) }()
	select {
	case <-b.Started():
	case err := <-w.done:
		w.t.Fatalf("bot stopped at start: %v", err)
	case <-time.After(waitLimit):
		w.t.Fatal("bot did not start")
	}
	w.t.Cleanup(w.stop)
}

// startExpectingStop runs a bot that must stop by itself with want.
func (w *world) startExpectingStop(want error) {
	w.t.Helper()
	st, err := storage.Open(w.dbPath, storage.Options{Timeout: time.Second})
	if err != nil {
		w.t.Fatal(err)
	}
	defer st.Close()
	cfg := w.cfg
	cfg.Logger = w.logger()
	cfg.CallbackURL = "http://127.0.0.1:1/daraja/cb"
	b, err := bot.New(cfg, st, w.daraja)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := b.Run(ctx); !errors.Is(err, want) {
		w.t.Fatalf("Run = %v, want %v", err, want)
	}
}

// eventually waits until cond holds, checking every few milliseconds, for
// state that no message signals (a refused send, a stored flag).
func (w *world) eventually(what string, cond func() bool) {
	w.t.Helper()
	if !testkit.Poll(waitLimit, cond) {
		w.t.Fatalf("gave up waiting: %s\nmessages: %s\nlog:\n%s", what, w.transcript(), w.logs.String())
	}
}

// stop stops the bot (as SIGTERM would) and closes the store; it is safe to
// call twice.
func (w *world) stop() {
	if w.cancel == nil {
		return
	}
	w.cancel()
	select {
	case err := <-w.done:
		if err != nil {
			w.t.Errorf("bot.Run: %v", err)
		}
	case <-time.After(waitLimit):
		w.t.Error("bot did not stop")
	}
	w.cb.Close()
	if err := w.store.Close(); err != nil {
		w.t.Errorf("closing the store: %v", err)
	}
	w.cancel = nil
}

// say sends text from user in chat and returns the message's ID.
func (w *world) say(chat *tgbotapi.Chat, from tgbotapi.User, text string) int {
	_, id := w.tg.SendText(chat, from, text)
	return id
}

// await returns the first message to chatID whose plain text contains every
// one of words (case-insensitive).
func (w *world) await(chatID int64, words ...string) telegramtest.Sent {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	m, err := w.tg.WaitSent(ctx, func(s telegramtest.Sent) bool {
		return s.ChatID == chatID && containsAll(s.Plain, words...)
	})
	if err != nil {
		w.t.Fatalf("no message to chat %d containing %q: %v\nmessages: %s\nlog:\n%s", chatID, words, err, w.transcript(), w.logs.String())
	}
	return m
}

// awaitReply returns the first message that replies to messageID.
func (w *world) awaitReply(chatID int64, messageID int, words ...string) telegramtest.Sent {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	m, err := w.tg.WaitSent(ctx, func(s telegramtest.Sent) bool {
		return s.ChatID == chatID && s.ReplyToMessageID == messageID && containsAll(s.Plain, words...)
	})
	if err != nil {
		w.t.Fatalf("no reply to message %d containing %q: %v\nmessages: %s\nlog:\n%s", messageID, words, err, w.transcript(), w.logs.String())
	}
	return m
}

// awaitOutcome returns the first reply to messageID, other than the
// acknowledgement ack, that contains every one of words.
func (w *world) awaitOutcome(chatID int64, messageID int, ack telegramtest.Sent, words ...string) telegramtest.Sent {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	m, err := w.tg.WaitSent(ctx, func(s telegramtest.Sent) bool {
		return s.ChatID == chatID && s.ReplyToMessageID == messageID && s.MessageID != ack.MessageID && containsAll(s.Plain, words...)
	})
	if err != nil {
		w.t.Fatalf("no outcome for message %d containing %q: %v\nmessages: %s\nlog:\n%s", messageID, words, err, w.transcript(), w.logs.String())
	}
	return m
}

// count is how many messages to chatID contain every one of words.
func (w *world) count(chatID int64, words ...string) int {
	n := 0
	for _, s := range w.tg.SentTo(chatID) {
		if containsAll(s.Plain, words...) {
			n++
		}
	}
	return n
}

// countExcept is count without the message numbered except (an
// acknowledgement that mentions the PIN prompt, say).
func (w *world) countExcept(chatID int64, except int, words ...string) int {
	n := 0
	for _, s := range w.tg.SentTo(chatID) {
		if s.MessageID != except && containsAll(s.Plain, words...) {
			n++
		}
	}
	return n
}

// stopWantOneOutcome stops the bot, so that nothing is still on its way to
// the chat, then checks that the payment acknowledged by ack was told exactly
// once: one message to chatID besides ack contains every one of words.
func (w *world) stopWantOneOutcome(chatID int64, ack telegramtest.Sent, words ...string) {
	w.t.Helper()
	w.stop()
	if n := w.countExcept(chatID, ack.MessageID, words...); n != 1 {
		w.t.Errorf("%d outcome messages contain %q, want 1:%s", n, words, w.transcript())
	}
}

func (w *world) transcript() string {
	var b strings.Builder
	for _, s := range w.tg.Sent() {
		b.WriteString("\n  [")
		b.WriteString(s.Method)
		b.WriteString("] ")
		b.WriteString(s.Plain)
	}
	return b.String()
}

// seedPayment writes a payment of customer's, as a /pay with message ID msg
// would have, straight into st: the state a previous run left behind.
func seedPayment(t testing.TB, st *storage.Store, msg int, phone string, amount int64) storage.Payment {
	t.Helper()
	key := strconv.FormatInt(customer.ID, 10) + ":" + strconv.Itoa(msg)
	p, _, err := st.Create(storage.Payment{ChatID: customer.ID, UserID: customer.ID, MessageID: msg, IdempotencyKey: key,
		Phone: phone, Amount: amount, Reference: "SEED-" + strconv.Itoa(msg), Description: "Payment",
		CallbackSecret: "seed-secret-" + key + "-0123456789"}, storage.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// refusedSends is how many sendMessage calls Telegram answered with status.
func (w *world) refusedSends(status int) int {
	n := 0
	for _, c := range w.tg.Calls("sendMessage") {
		if c.Status == status {
			n++
		}
	}
	return n
}

// pushes is how many STK Push requests reached Daraja.
func (w *world) pushes() int { return len(w.sim.Requests(mpesatest.EndpointPush)) }

func containsAll(s string, words ...string) bool {
	ls := strings.ToLower(s)
	for _, word := range words {
		if !strings.Contains(ls, strings.ToLower(word)) {
			return false
		}
	}
	return true
}
