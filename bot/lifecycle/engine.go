package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// Daraja is what the lifecycle needs of the M-Pesa client; *mpesa.Client has it.
type Daraja interface {
	Push(ctx context.Context, req mpesa.PushRequest) (*mpesa.PushResponse, error)
	Query(ctx context.Context, checkoutRequestID string) (*mpesa.QueryResult, error)
}

// Metrics is what the lifecycle counts; the front-end decides how. Its
// methods must not block.
type Metrics interface {
	// PaymentStarted counts a payment written ahead of its push.
	PaymentStarted()
	// PaymentRefused counts a /pay refused for a limit (a RefusedError's Code).
	PaymentRefused(code string)
	// PaymentSettled counts a payment that reached a final state; source is
	// the Result's ("push", "query", "callback", "watcher", "startup").
	PaymentSettled(p storage.Payment, source string)
	// PaymentCorrected counts a failed payment M-Pesa confirmed paid after all.
	PaymentCorrected(p storage.Payment)
	// Callback counts what came of one matching or mismatched callback.
	Callback(result string)
	// Notification counts one attempt to deliver a message: "sent" or
	// "failed" for an outcome, "feed_sent" or "feed_failed" for a feed line.
	Notification(result string)
}

// Config is what the lifecycle is told. Zero tuning values take the defaults
// in brackets; the poll settings and the callback URL are required.
type Config struct {
	CallbackURL       string        // base of every CallBackURL; "/<secret>" is appended
	TransactionDesc   string        // TransactionDesc sent to Daraja
	MaxPendingPerUser int           // open payments per user; 0 = no limit
	PayPerUserPerHour int           // payments started per user in any 60 minutes; 0 = no limit
	MpesaRate         float64       // Daraja calls/s; 0 = no limit
	PollInitialDelay  time.Duration // first STK Query after a push
	PollInterval      time.Duration // between queries, grows with backoff up to a minute
	PollTimeout       time.Duration // then "not confirmed"
	PromptLife        time.Duration // how long a phone stays held after a push whose outcome is unknown [3m]
	PushTimeout       time.Duration // one STK Push, token included [45s]
	QueryTimeout      time.Duration // one STK Query, retries included [60s]
	QueryWorkers      int           // STK Queries in flight at once [16]

	// Feed says whether there is a merchant feed: only then are feed lines
	// owed. Which chat it is (and its move to a supergroup) is the
	// front-end's.
	Feed          bool
	NotifyWorkers int           // outcomes being delivered at once [64]; the front-end's rates pace them
	NotifyQueue   int           // messages queued per lane; beyond it the store is rescanned [4096]
	NotifyRescan  time.Duration // how often a lane that overflowed rescans the store [30s]
}

const (
	// DefaultPromptLife is how long a phone stays closed to new payments
	// after a push whose outcome is unknown: an M-Pesa PIN prompt expires in
	// about a minute and a half, and the chat was told not to send it again
	// for a few minutes.
	DefaultPromptLife = 3 * time.Minute

	maxPollInterval   = time.Minute
	reconcileInterval = 5 * time.Minute
	reconcileFor      = 24 * time.Hour
)

// Engine runs every payment from its creation to its final result. It is
// safe for concurrent use.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	store   *storage.Store
	daraja  Daraja
	outbox  *Outbox
	metrics Metrics
	users   *userLimits
	rate    *rate.Limiter // nil = no limit
	watcher *watcher

	bg        sync.WaitGroup // jobs started by background
	bgCtx     context.Context
	bgCancel  context.CancelFunc
	bgMu      sync.Mutex
	bgStopped bool // no more background jobs: WaitBackground is waiting for the last ones
}

// New builds an engine; deliver is how its outbox reaches the chats. It
// makes no network call and starts nothing: Run watches and delivers, Resume
// picks up what a previous process left.
func New(cfg Config, store *storage.Store, daraja Daraja, deliver Deliverer, metrics Metrics, log *slog.Logger) (*Engine, error) {
	if store == nil || daraja == nil || deliver == nil {
		return nil, errors.New("lifecycle: a store, a Daraja client and a Deliverer are required")
	}
	if cfg.CallbackURL == "" || cfg.PollInitialDelay <= 0 || cfg.PollInterval <= 0 || cfg.PollTimeout <= 0 {
		return nil, errors.New("lifecycle: CallbackURL, PollInitialDelay, PollInterval and PollTimeout are required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.PromptLife, DefaultPromptLife)
	def(&cfg.PushTimeout, 45*time.Second)
	def(&cfg.QueryTimeout, 60*time.Second)
	if cfg.QueryWorkers <= 0 {
		// A worker waits out a query's round trip and the store's write:
		// a handful of workers capped throughput, not Daraja.
		cfg.QueryWorkers = 16
	}
	if cfg.NotifyWorkers <= 0 {
		// A worker holds a delivery and the write that marks it told (an
		// fsync): 4 capped outcomes at a few hundred a second.
		cfg.NotifyWorkers = 64
	}
	if cfg.NotifyQueue <= 0 {
		cfg.NotifyQueue = 4096
	}
	def(&cfg.NotifyRescan, 30*time.Second)
	if metrics == nil {
		metrics = noMetrics{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		cfg:     cfg,
		log:     log,
		store:   store,
		daraja:  daraja,
		metrics: metrics,
		users:   newUserLimits(cfg.PayPerUserPerHour),
		rate:    Limiter(cfg.MpesaRate),
	}
	e.bgCtx, e.bgCancel = context.WithCancel(context.Background())
	e.watcher = newWatcher(e.checkPayment, cfg.QueryWorkers)
	e.outbox = newOutbox(cfg, store, deliver, metrics, log)
	return e, nil
}

// Run watches payments (STK Queries when due, owed checks) and delivers what
// the chats are owed until ctx ends, and returns once the workers are done.
func (e *Engine) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); e.outbox.run(ctx) }()
	e.watcher.run(ctx)
	wg.Wait()
}

// Outbox is the engine's outbox: the front-end drains it at shutdown, asks
// whether it is idle and registers its acknowledgements with it.
func (e *Engine) Outbox() *Outbox { return e.outbox }

// Watched is how many payments the watcher holds.
func (e *Engine) Watched() int { return e.watcher.len() }

// background runs a one-off job that must not hold up its caller, for at
// most limit. Its context also ends at StopBackground, and WaitBackground
// waits for it.
func (e *Engine) background(job func(ctx context.Context), limit time.Duration) {
	e.bgMu.Lock()
	defer e.bgMu.Unlock()
	if e.bgStopped {
		return // past waiting: what the job would do is resumed from the store at the next start
	}
	e.bg.Add(1)
	go func() {
		defer e.bg.Done()
		ctx, cancel := context.WithTimeout(e.bgCtx, limit)
		defer cancel()
		job(ctx)
	}()
}

// StopBackground ends the background jobs' context (a push answer still
// being stored gives up; a restart resumes the payment from the store).
func (e *Engine) StopBackground() { e.bgCancel() }

// WaitBackground starts no more background jobs and waits for the running
// ones, or until ctx ends. The store must stay open until it returns.
func (e *Engine) WaitBackground(ctx context.Context) {
	e.bgMu.Lock()
	e.bgStopped = true
	e.bgMu.Unlock()
	done := make(chan struct{})
	go func() { e.bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// Limiter returns a rate limiter for perSecond, or nil for no limit (0): the
// one reading of a configured rate, for the front-end's outbound limits too.
func Limiter(perSecond float64) *rate.Limiter {
	if perSecond <= 0 {
		return nil
	}
	burst := int(perSecond)
	if burst < 1 {
		burst = 1
	}
	return rate.NewLimiter(rate.Limit(perSecond), burst)
}

// waitDaraja takes a token from the global Daraja rate limit.
func (e *Engine) waitDaraja(ctx context.Context) error {
	if e.rate == nil {
		return nil
	}
	if err := e.rate.Wait(ctx); err != nil {
		return fmt.Errorf("waiting for the Daraja rate limit: %w", err)
	}
	return nil
}

// Sleep waits d or until ctx ends; it reports whether the full wait passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

type noMetrics struct{}

func (noMetrics) PaymentStarted()                        {}
func (noMetrics) PaymentRefused(string)                  {}
func (noMetrics) PaymentSettled(storage.Payment, string) {}
func (noMetrics) PaymentCorrected(storage.Payment)       {}
func (noMetrics) Callback(string)                        {}
func (noMetrics) Notification(string)                    {}
