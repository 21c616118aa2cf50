package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mpesa-bot/mpesa-bot/bot/lifecycle"
	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// Daraja is what the bot needs of the M-Pesa client; *mpesa.Client has it.
// The lifecycle pushes and queries; the bot itself only checks the token
// (readiness) and names the environment (/envinfo).
type Daraja interface {
	lifecycle.Daraja
	Token(ctx context.Context) (string, error)
	EnvironmentInfo() mpesa.EnvironmentInfo
}

// Config is everything the bot is told. The settings an operator makes
// (the environment's variables) have no defaults here: the caller passes
// every one, and New refuses a missing one, so the configuration's table of
// defaults is the only one. For the limits and rates, 0 means "no limit",
// as in the environment. The tuning knobs below them are not configuration;
// their zero values take the defaults shown in brackets.
type Config struct {
	Token      string       // Bot API token; never logged
	Endpoint   string       // Bot API endpoint format ("https://api.telegram.org/bot%s/%s"); required
	HTTPClient *http.Client // for Telegram; nil → a plain client (every call carries its own timeout)

	Admins         []int64 // /envinfo, and everything merchants may do
	Merchants      []int64 // may see every payment
	MerchantChatID int64   // 0 = no merchant feed

	// CallbackURL is the base of every payment's CallBackURL: the bot appends
	// "/<secret>". CallbacksEnabled says whether results arrive there (an HTTP
	// server runs).
	CallbackURL      string
	CallbacksEnabled bool
	// CallbackAllowedIPs, when not empty, are the only senders whose
	// callbacks are read; others get 403. TrustedProxies are the reverse
	// proxies whose X-Forwarded-For names the sender.
	CallbackAllowedIPs []netip.Prefix
	TrustedProxies     []netip.Prefix

	TransactionDesc   string        // TransactionDesc sent to Daraja; required
	MaxAmount         int64         // largest /pay amount; required
	MaxPendingPerUser int           // open payments per user; 0 = no limit
	PayPerUserPerHour int           // /pay per user in any 60 minutes; 0 = no limit
	PollInitialDelay  time.Duration // first STK Query after a push; required
	PollInterval      time.Duration // between queries, grows with backoff up to a minute; required
	PollTimeout       time.Duration // then "not confirmed"; required
	SendRateGlobal    float64       // messages/s to Telegram overall; 0 = no limit
	SendRatePerChat   float64       // messages/s per chat (and 20 a minute per group); 0 = no limit
	MpesaRate         float64       // Daraja calls/s; 0 = no limit

	PromptLife       time.Duration // how long a phone stays held after a push whose outcome is unknown [3m]
	LongPoll         time.Duration // getUpdates timeout [50s]
	RequestTimeout   time.Duration // one Telegram call [15s]
	PushTimeout      time.Duration // one STK Push, token included [45s]
	QueryTimeout     time.Duration // one STK Query, retries included [60s]
	MaxHandlers      int           // handlers running at once [64]
	MaxQueued        int           // updates accepted but unfinished [1024]
	MaxQueuedPerChat int           // updates waiting in one chat; more are dropped [32]
	QueryWorkers     int           // STK Queries in flight at once [16]; MpesaRate paces them
	NotifyWorkers    int           // outcome messages in flight at once [64]; Telegram's rates pace them
	NotifyQueue      int           // messages queued per lane; beyond it the store is rescanned [4096]
	NotifyRescan     time.Duration // how often an overflowed lane rescans the store [30s]
	ShutdownTimeout  time.Duration // how long Run waits for in-flight work after ctx ends [20s]

	Version string
	Logger  *slog.Logger
	Metrics *Metrics // nil = not measured
}

// check names the configured settings that are missing; every setting an
// operator makes comes from the configuration, with its defaults.
func (c *Config) check() error {
	var missing []string
	for name, ok := range map[string]bool{
		"Endpoint":         c.Endpoint != "",
		"TransactionDesc":  c.TransactionDesc != "",
		"MaxAmount":        c.MaxAmount > 0,
		"PollInitialDelay": c.PollInitialDelay > 0,
		"PollInterval":     c.PollInterval > 0,
		"PollTimeout":      c.PollTimeout > 0,
	} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("bot: missing settings: %s", strings.Join(missing, ", "))
	}
	return nil
}

// tune gives the tuning knobs their defaults.
func (c *Config) tune() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.LongPoll, 50*time.Second)
	def(&c.RequestTimeout, 15*time.Second)
	def(&c.ShutdownTimeout, 20*time.Second)
	if c.MaxHandlers <= 0 {
		c.MaxHandlers = 64
	}
	if c.MaxQueued <= 0 {
		c.MaxQueued = 1024
	}
	if c.MaxQueuedPerChat <= 0 {
		c.MaxQueuedPerChat = 32
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Version == "" {
		c.Version = "dev"
	}
}

// Bot is the running application: it polls Telegram, handles commands, pushes
// payments, watches them until they settle and tells the chat how they ended.
type Bot struct {
	cfg     Config
	log     *slog.Logger
	store   *storage.Store
	daraja  Daraja
	tg      *telegram
	sender  *sender
	life    *lifecycle.Engine
	outbox  *lifecycle.Outbox // life's: what the chats are owed, and in which order
	health  *health
	metrics *Metrics

	admins       map[int64]bool
	merchants    map[int64]bool
	merchantChat atomic.Int64 // MerchantChatID, following a move to a supergroup; 0 = no feed
	moves        chatMoves

	ready chan struct{}              // closed when Run has started polling
	disp  atomic.Pointer[dispatcher] // set by Run
}

// New builds a bot. It makes no network call: Run does.
func New(cfg Config, store *storage.Store, daraja Daraja) (*Bot, error) {
	if cfg.Token == "" {
		return nil, errors.New("bot: a Telegram token is required")
	}
	if store == nil || daraja == nil {
		return nil, errors.New("bot: a store and a Daraja client are required")
	}
	if cfg.CallbackURL == "" {
		return nil, errors.New("bot: a callback URL is required")
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg.tune()
	b := &Bot{
		cfg:       cfg,
		log:       cfg.Logger,
		store:     store,
		daraja:    daraja,
		health:    newHealth(),
		metrics:   cfg.Metrics,
		admins:    idSet(cfg.Admins),
		merchants: idSet(cfg.Merchants),
		ready:     make(chan struct{}),
	}
	b.tg = newTelegram(cfg.Token, cfg.Endpoint, cfg.HTTPClient, cfg.RequestTimeout, b.metrics.observeTelegram)
	b.sender = newSender(b.tg, cfg.SendRateGlobal, cfg.SendRatePerChat, b.log)
	b.sender.migrated = b.chatMoved
	b.merchantChat.Store(cfg.MerchantChatID)
	b.moves.moved = make(map[int64]int64)
	life, err := lifecycle.New(lifecycle.Config{
		CallbackURL:       cfg.CallbackURL,
		TransactionDesc:   cfg.TransactionDesc,
		MaxPendingPerUser: cfg.MaxPendingPerUser,
		PayPerUserPerHour: cfg.PayPerUserPerHour,
		MpesaRate:         cfg.MpesaRate,
		PollInitialDelay:  cfg.PollInitialDelay,
		PollInterval:      cfg.PollInterval,
		PollTimeout:       cfg.PollTimeout,
		PromptLife:        cfg.PromptLife,
		PushTimeout:       cfg.PushTimeout,
		QueryTimeout:      cfg.QueryTimeout,
		QueryWorkers:      cfg.QueryWorkers,
		Feed:              cfg.MerchantChatID != 0,
		NotifyWorkers:     cfg.NotifyWorkers,
		NotifyQueue:       cfg.NotifyQueue,
		NotifyRescan:      cfg.NotifyRescan,
	}, store, daraja, deliverer{b}, hooks{b}, b.log)
	if err != nil {
		return nil, err
	}
	b.life = life
	b.outbox = life.Outbox()
	return b, nil
}

func idSet(ids []int64) map[int64]bool {
	m := make(map[int64]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func (b *Bot) isAdmin(userID int64) bool { return b.admins[userID] }

// canSeeAll reports whether userID may see every payment: merchants and admins.
func (b *Bot) canSeeAll(userID int64) bool { return b.admins[userID] || b.merchants[userID] }

// ErrUnauthorized means Telegram refused the token: running on is pointless.
var ErrUnauthorized = errors.New("telegram refused the bot token (401 Unauthorized): check TELEGRAM_BOT_TOKEN")

// Run starts the bot and blocks until ctx ends (nil error) or the bot cannot
// go on (ErrUnauthorized). On the way out it stops polling, lets in-flight
// handlers and notifications finish (bounded by ShutdownTimeout) and confirms
// handled updates to Telegram. It does not close the store.
func (b *Bot) Run(ctx context.Context) error {
	if err := b.start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	// Handlers get their own context: a SIGTERM stops polling at once, but a
	// /pay whose push is already on its way is allowed to finish.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	disp := newDispatcher(workCtx, b.cfg.MaxHandlers, b.cfg.MaxQueued, b.cfg.MaxQueuedPerChat, b.handleUpdate)
	b.disp.Store(disp)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); b.life.Run(workCtx) }()
	b.resume()
	close(b.ready)
	b.log.Info("bot started", slog.String("username", b.tg.self().UserName), slog.String("version", b.cfg.Version))

	offset, err := b.poll(ctx, disp)

	b.log.Info("bot stopping: finishing in-flight work", slog.Duration("limit", b.cfg.ShutdownTimeout))
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.ShutdownTimeout)
	defer cancel()
	if werr := disp.Wait(drainCtx); werr != nil {
		b.log.Warn("bot stopping: handlers still running at the deadline")
	}
	b.outbox.Drain(drainCtx)
	b.confirm(drainCtx, offset)
	stopWork()
	b.life.StopBackground()
	wg.Wait()
	// Handlers past the deadline now see their context cancelled; give them
	// a moment to record that (a cancelled push is settled as unknown)
	// before the caller closes the store.
	lastCtx, cancelLast := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancelLast()
	if werr := disp.Wait(lastCtx); werr != nil {
		b.log.Error("bot stopping: handlers did not finish; their payments are resumed at the next start")
	}
	b.life.WaitBackground(lastCtx)
	b.log.Info("bot stopped")
	return err
}

// Started is closed once Run has started polling.
func (b *Bot) Started() <-chan struct{} { return b.ready }

// Idle reports whether no update is being handled and no message is waiting
// to be sent. The demo uses it to know when a conversation has played out.
func (b *Bot) Idle() bool {
	d := b.disp.Load()
	return d != nil && d.idle() && b.outbox.Idle()
}

// start identifies the bot (getMe), removes any webhook and sets the command
// menus. Telegram may be down: getMe is retried until ctx ends; only a refused
// token stops the bot.
func (b *Bot) start(ctx context.Context) error {
	bo := newBackoff(time.Second, time.Minute)
	for {
		_, err := b.tg.getMe(ctx)
		if err == nil {
			break
		}
		if telegramCodeOf(err) == http.StatusUnauthorized {
			return ErrUnauthorized
		}
		b.log.Warn("telegram getMe failed; retrying", slog.Any("error", err))
		if !lifecycle.Sleep(ctx, bo.next()) {
			return ctx.Err()
		}
	}
	b.health.telegramOK(time.Now())
	if err := b.deleteWebhook(ctx); err != nil {
		b.log.Warn("telegram deleteWebhook failed", slog.Any("error", err))
	}
	b.setCommands(ctx)
	return nil
}

// resume picks up what a previous run left: the lifecycle's payments
// (interrupted pushes, payments to watch, owed checks) and the outcomes and
// feed lines the chats were never told.
func (b *Bot) resume() {
	r := b.life.Resume()
	b.log.Info("resumed payments", slog.Int("watched", r.Watched), slog.Int("unnotified", r.Unnotified), slog.Int("interrupted", r.Interrupted))
}

// hooks is how the lifecycle counts through the bot's metrics without
// importing it.
type hooks struct{ b *Bot }

func (h hooks) PaymentStarted()            { h.b.metrics.paymentStarted() }
func (h hooks) PaymentRefused(code string) { h.b.metrics.payRefused(code) }
func (h hooks) PaymentSettled(p storage.Payment, source string) {
	h.b.metrics.paymentSettled(p, source)
}
func (h hooks) PaymentCorrected(p storage.Payment) { h.b.metrics.paymentCorrected(p) }
func (h hooks) Callback(result string)             { h.b.metrics.callback(result) }
func (h hooks) Notification(result string)         { h.b.metrics.notification(result) }
