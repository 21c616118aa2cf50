package mpesatest

import (
	"log/slog"
	"net/http"
	"time"
)

// The public Daraja sandbox merchant, the simulator's default.
const (
	SandboxShortCode = "174379"
	SandboxPasskey   = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
)

// Option configures a Simulator built by New or NewServer.
type Option func(*config)

// PendingShape selects how STK Query answers while a transaction is pending.
type PendingShape int

const (
	// PendingAlternate alternates, per transaction, between the HTTP 500 shape
	// (first query) and the HTTP 200 ResultCode "4999" shape: a client must accept
	// both.
	PendingAlternate PendingShape = iota
	// Pending500 always answers HTTP 500 with errorCode 500.001.1001 "The
	// transaction is being processed".
	Pending500
	// Pending4999 always answers HTTP 200 with ResultCode "4999" "The transaction
	// is still under processing".
	Pending4999
)

type config struct {
	key, secret     string
	checkCreds      bool
	shortCode       string
	passkey         string
	tokenTTL        time.Duration
	now             func() time.Time
	resultDelay     time.Duration
	callbackDelay   time.Duration
	callbackRetries int
	callbackBackoff time.Duration
	callbackClient  *http.Client
	pending         PendingShape
	logger          *slog.Logger
}

func defaultConfig() config {
	return config{
		shortCode:       SandboxShortCode,
		passkey:         SandboxPasskey,
		tokenTTL:        3599 * time.Second,
		now:             time.Now,
		resultDelay:     3 * time.Second,
		callbackRetries: 3,
		callbackBackoff: 500 * time.Millisecond,
		pending:         PendingAlternate,
		logger:          slog.New(slog.DiscardHandler),
	}
}

// WithCredentials makes the token endpoint accept only this consumer key and
// secret; other ones get HTTP 400 with an empty body, like Daraja. Without it any
// Basic credentials, even empty ones, are accepted.
func WithCredentials(key, secret string) Option {
	return func(c *config) { c.key, c.secret, c.checkCreds = key, secret, true }
}

// WithShortCode sets the merchant's BusinessShortCode and Lipa Na M-Pesa passkey
// that pushes and queries must be signed with. The default is the public sandbox
// merchant ([SandboxShortCode], [SandboxPasskey]).
func WithShortCode(shortCode, passkey string) Option {
	return func(c *config) { c.shortCode, c.passkey = shortCode, passkey }
}

// WithTokenTTL sets how long an access token lives (default 3599s). expires_in is
// sent as a string of whole seconds, like the real API.
func WithTokenTTL(d time.Duration) Option {
	return func(c *config) { c.tokenTTL = d }
}

// WithClock replaces time.Now for token expiry and every time the simulator stamps
// (IDs, TransactionDate, recordings). Delays still run on real timers.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithResultDelay sets the time from an accepted push to its result (default 3s),
// for outcomes that do not set their own After.
func WithResultDelay(d time.Duration) Option {
	return func(c *config) { c.resultDelay = max(d, 0) }
}

// WithCallbackDelay adds a delay between a transaction's result and the first
// callback attempt (default 0): a query can then see the result first.
func WithCallbackDelay(d time.Duration) Option {
	return func(c *config) { c.callbackDelay = max(d, 0) }
}

// WithCallbackRetries sets how many times a callback is retried after a non-2xx
// answer or a transport error (default 3), and the wait before the first retry
// (default 500ms), which doubles after each retry.
func WithCallbackRetries(n int, backoff time.Duration) Option {
	return func(c *config) { c.callbackRetries, c.callbackBackoff = max(n, 0), max(backoff, 0) }
}

// WithCallbackClient sets the client that POSTs callbacks (default: a client with a
// 10s timeout). A client whose Transport calls the bot's handler directly delivers
// callbacks in-process.
func WithCallbackClient(c *http.Client) Option {
	return func(cfg *config) {
		if c != nil {
			cfg.callbackClient = c
		}
	}
}

// WithPendingShape selects the answer of STK Query while a transaction is pending
// (default PendingAlternate).
func WithPendingShape(p PendingShape) Option {
	return func(c *config) { c.pending = p }
}

// WithLogger sets the logger (default: discard). The simulator never logs a token,
// a credential, a password, a callback URL's path or a full phone number.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}
