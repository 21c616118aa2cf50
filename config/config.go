package config

import (
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Environment selects which Daraja the bot talks to.
type Environment string

// The environments ENVIRONMENT accepts.
const (
	Sandbox    Environment = "sandbox"
	Production Environment = "production"
	Simulator  Environment = "simulator" // the in-process Daraja simulator
)

// Daraja hosts by environment.
const (
	SandboxBaseURL    = "https://sandbox.safaricom.co.ke"
	ProductionBaseURL = "https://api.safaricom.co.ke"
)

// Transaction types MPESA_TRANSACTION_TYPE accepts.
const (
	PayBill  = "CustomerPayBillOnline"
	BuyGoods = "CustomerBuyGoodsOnline"
)

// Languages DEFAULT_LANGUAGE accepts: the bot's replies exist in these.
const (
	LangEnglish = "en"
	LangSwahili = "sw"
)

// Log formats LOG_FORMAT accepts.
const (
	LogText = "text"
	LogJSON = "json"
)

// Needs says what the sub-command about to run needs, so that `mpesa-bot
// check` does not demand a bot token and `mpesa-bot demo` no credentials.
type Needs struct {
	Telegram bool // TELEGRAM_BOT_TOKEN required
	Daraja   bool // Daraja credentials, shortcode and CALLBACK_URL required (unless simulator)
	HTTP     bool // HTTP_ADDR or OPS_ADDR required (healthcheck): see OpsURLAddr
	Backup   bool // HTTP_ADDR or OPS_ADDR, and BACKUP_TOKEN, required (backup)
	C2B      bool // C2B_SECRET and CALLBACK_URL required (register-urls)
}

// Config is every setting, validated and typed. Each field's env tag names
// its variable; doc.go lists defaults and rules.
type Config struct {
	TelegramBotToken    Secret `env:"TELEGRAM_BOT_TOKEN"`
	TelegramAPIEndpoint string `env:"TELEGRAM_API_ENDPOINT"`

	Environment          Environment   `env:"ENVIRONMENT"`
	MpesaConsumerKey     Secret        `env:"MPESA_CONSUMER_KEY"`
	MpesaConsumerSecret  Secret        `env:"MPESA_CONSUMER_SECRET"`
	MpesaPasskey         Secret        `env:"MPESA_PASSKEY"`
	MpesaShortcode       string        `env:"MPESA_SHORTCODE"`
	MpesaTransactionType string        `env:"MPESA_TRANSACTION_TYPE"`
	MpesaPartyB          string        `env:"MPESA_PARTY_B"`  // the shortcode when unset
	MpesaBaseURL         string        `env:"MPESA_BASE_URL"` // as set, "" when unset: see DarajaBaseURL
	CallbackURL          string        `env:"CALLBACK_URL"`   // "" when unset
	TransactionDesc      string        `env:"TRANSACTION_DESC"`
	SimulatorDelay       time.Duration `env:"SIMULATOR_DELAY"`

	HTTPAddr string `env:"HTTP_ADDR"` // "" = off
	// OpsAddr, when set, takes /healthz, /readyz, /metrics and /backup off
	// HTTPAddr, which then serves callbacks only; "" = off.
	OpsAddr string `env:"OPS_ADDR"`
	// CallbackAllowedIPs are the only senders whose callbacks are accepted;
	// nil accepts any. A bare IP is held as a /32 or /128.
	CallbackAllowedIPs []netip.Prefix `env:"CALLBACK_ALLOWED_IPS"`
	// TrustedProxies are the peers whose X-Forwarded-For names the sender
	// checked against CallbackAllowedIPs; nil trusts no proxy, so the
	// connection's own address is checked.
	TrustedProxies []netip.Prefix `env:"TRUSTED_PROXIES"`
	BackupToken    Secret         `env:"BACKUP_TOKEN"` // unset = backup route off
	DBPath         string         `env:"DB_PATH"`

	AdminIDs       []int64 `env:"ADMIN_IDS"`
	MerchantIDs    []int64 `env:"MERCHANT_IDS"`
	MerchantChatID int64   `env:"MERCHANT_CHAT_ID"` // 0 = off

	// PollInitialDelay is the wait after a push before the first STK Query,
	// callbacks or not. It is final: when POLL_INITIAL_DELAY is unset, Load
	// fills in DefaultPollInitialDelayWithHTTP if HTTP_ADDR is set (a
	// callback usually settles the payment first) and
	// DefaultPollInitialDelay otherwise.
	PollInitialDelay time.Duration `env:"POLL_INITIAL_DELAY"`
	PollInterval     time.Duration `env:"POLL_INTERVAL"`
	PollTimeout      time.Duration `env:"POLL_TIMEOUT"`

	MaxAmount         int64   `env:"MAX_AMOUNT"`
	MaxPendingPerUser int     `env:"MAX_PENDING_PER_USER"`  // 0 = no limit
	PayPerUserPerHour int     `env:"PAY_PER_USER_PER_HOUR"` // 0 = no limit
	SendRateGlobal    float64 `env:"SEND_RATE_GLOBAL"`      // per second, 0 = no limit
	SendRatePerChat   float64 `env:"SEND_RATE_PER_CHAT"`    // per second, 0 = no limit
	MpesaRate         float64 `env:"MPESA_RATE"`            // per second, 0 = no limit

	LogLevel  slog.Level `env:"LOG_LEVEL"`
	LogFormat string     `env:"LOG_FORMAT"` // LogText or LogJSON

	InvoiceTTL time.Duration `env:"INVOICE_TTL"` // how long an invoice's pay link works
	// MerchantName is printed on Dynamic QR codes; "" means the bot's
	// Telegram name, which only the bot knows once it has called getMe.
	MerchantName    string `env:"MERCHANT_NAME"`
	DefaultLanguage string `env:"DEFAULT_LANGUAGE"` // LangEnglish or LangSwahili

	// C2BSecret, when set, turns on till and paybill capture: Daraja posts to
	// CALLBACK_URL/c2b/<secret>/confirmation and …/validation.
	C2BSecret    Secret `env:"C2B_SECRET"`
	C2BShortcode string `env:"C2B_SHORTCODE"` // MPESA_PARTY_B when unset
	// InitiatorName and InitiatorPassword are the shortcode's API operator,
	// needed by Transaction Status (/verify) and Reversal (/refund); both
	// "" when unset, and then those commands say how to configure them.
	InitiatorName     string `env:"INITIATOR_NAME"`
	InitiatorPassword Secret `env:"INITIATOR_PASSWORD"`
	// ReportTime is the EAT time of day of the daily summary to
	// MERCHANT_CHAT_ID, as minutes after midnight; -1 = off.
	ReportTime int `env:"REPORT_TIME"`

	// Warnings are settings that are legal but probably wrong, one sentence
	// each naming its variable, for the caller to log at warn level.
	Warnings []string `env:"-"`
}

// DarajaBaseURL is the Daraja host to call: MPESA_BASE_URL when set, else the
// environment's host, and "" for the simulator (the caller starts the
// in-process simulator then and uses its URL).
func (c *Config) DarajaBaseURL() string {
	if c.MpesaBaseURL != "" {
		return c.MpesaBaseURL
	}
	switch c.Environment {
	case Sandbox:
		return SandboxBaseURL
	case Production:
		return ProductionBaseURL
	}
	return ""
}

// CallbacksOn reports whether Daraja's callbacks can reach this process: an
// HTTP server is configured and Daraja is told where to post.
func (c *Config) CallbacksOn() bool { return c.HTTPAddr != "" && c.CallbackURL != "" }

// OpsURLAddr is the address the healthcheck and backup sub-commands call:
// OPS_ADDR when set, since /readyz and /backup then live there, else
// HTTP_ADDR; "" when both are off.
func (c *Config) OpsURLAddr() string {
	if c.OpsAddr != "" {
		return c.OpsAddr
	}
	return c.HTTPAddr
}

// LogValue logs every setting under its variable's name; secrets show as
// "[redacted]" or "[not set]", and URLs lose any user:password part.
func (c *Config) LogValue() slog.Value {
	if c == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(
		slog.Any("TELEGRAM_BOT_TOKEN", c.TelegramBotToken),
		slog.String("TELEGRAM_API_ENDPOINT", redactURL(c.TelegramAPIEndpoint)),
		slog.String("ENVIRONMENT", string(c.Environment)),
		slog.Any("MPESA_CONSUMER_KEY", c.MpesaConsumerKey),
		slog.Any("MPESA_CONSUMER_SECRET", c.MpesaConsumerSecret),
		slog.Any("MPESA_PASSKEY", c.MpesaPasskey),
		slog.String("MPESA_SHORTCODE", c.MpesaShortcode),
		slog.String("MPESA_TRANSACTION_TYPE", c.MpesaTransactionType),
		slog.String("MPESA_PARTY_B", c.MpesaPartyB),
		slog.String("MPESA_BASE_URL", redactURL(c.DarajaBaseURL())),
		slog.String("CALLBACK_URL", redactURL(c.CallbackURL)),
		slog.String("TRANSACTION_DESC", c.TransactionDesc),
		slog.Duration("SIMULATOR_DELAY", c.SimulatorDelay),
		slog.String("HTTP_ADDR", c.HTTPAddr),
		slog.String("OPS_ADDR", c.OpsAddr),
		slog.String("CALLBACK_ALLOWED_IPS", joinPrefixes(c.CallbackAllowedIPs)),
		slog.String("TRUSTED_PROXIES", joinPrefixes(c.TrustedProxies)),
		slog.Any("BACKUP_TOKEN", c.BackupToken),
		slog.String("DB_PATH", c.DBPath),
		slog.Any("ADMIN_IDS", c.AdminIDs),
		slog.Any("MERCHANT_IDS", c.MerchantIDs),
		slog.Int64("MERCHANT_CHAT_ID", c.MerchantChatID),
		slog.Duration("POLL_INITIAL_DELAY", c.PollInitialDelay),
		slog.Duration("POLL_INTERVAL", c.PollInterval),
		slog.Duration("POLL_TIMEOUT", c.PollTimeout),
		slog.Int64("MAX_AMOUNT", c.MaxAmount),
		slog.Int("MAX_PENDING_PER_USER", c.MaxPendingPerUser),
		slog.Int("PAY_PER_USER_PER_HOUR", c.PayPerUserPerHour),
		slog.Float64("SEND_RATE_GLOBAL", c.SendRateGlobal),
		slog.Float64("SEND_RATE_PER_CHAT", c.SendRatePerChat),
		slog.Float64("MPESA_RATE", c.MpesaRate),
		slog.String("LOG_LEVEL", c.LogLevel.String()),
		slog.String("LOG_FORMAT", c.LogFormat),
		slog.Duration("INVOICE_TTL", c.InvoiceTTL),
		slog.String("MERCHANT_NAME", c.MerchantName),
		slog.String("DEFAULT_LANGUAGE", c.DefaultLanguage),
		slog.Any("C2B_SECRET", c.C2BSecret),
		slog.String("C2B_SHORTCODE", c.C2BShortcode),
		slog.String("INITIATOR_NAME", c.InitiatorName),
		slog.Any("INITIATOR_PASSWORD", c.InitiatorPassword),
		slog.String("REPORT_TIME", c.ReportTimeString()),
	)
}

// ReportTimeString renders REPORT_TIME as HH:MM, or "" when it is off.
func (c *Config) ReportTimeString() string {
	if c.ReportTime < 0 {
		return ""
	}
	return fmt.Sprintf("%02d:%02d", c.ReportTime/60, c.ReportTime%60)
}

// joinPrefixes renders an IP list the way CALLBACK_ALLOWED_IPS takes it
// ("" when unset). Addresses are not secret: they show what is let in.
func joinPrefixes(prefixes []netip.Prefix) string {
	parts := make([]string, len(prefixes))
	for i, p := range prefixes {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

// redactURL hides a user:password part of a URL (or of an endpoint format
// such as TELEGRAM_API_ENDPOINT). Text that does not parse has no userinfo
// url can find and is returned as is; validation refused it already.
func redactURL(s string) string {
	// A format's %s is a bad escape to url.Parse: parse it escaped.
	escaped := strings.ReplaceAll(s, "%s", "%25s")
	u, err := url.Parse(escaped)
	if err != nil || u.User == nil {
		return s
	}
	return strings.ReplaceAll(u.Redacted(), "%25s", "%s")
}
