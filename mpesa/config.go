package mpesa

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Environments. Environment is informational (EnvironmentInfo, logs); the
// host the client talks to is Config.BaseURL.
const (
	Sandbox    = "sandbox"
	Production = "production"
	Simulator  = "simulator"
)

// Daraja hosts.
const (
	SandboxBaseURL    = "https://sandbox.safaricom.co.ke"
	ProductionBaseURL = "https://api.safaricom.co.ke"
)

// The public sandbox shortcode and passkey from Safaricom's documentation.
const (
	SandboxShortCode = "174379"
	SandboxPasskey   = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
)

// Transaction types of M-Pesa Express.
const (
	PayBillOnline  = "CustomerPayBillOnline"
	BuyGoodsOnline = "CustomerBuyGoodsOnline"
)

// Daraja paths, relative to the base URL.
const (
	PathToken    = "/oauth/v1/generate"
	PathSTKPush  = "/mpesa/stkpush/v1/processrequest"
	PathSTKQuery = "/mpesa/stkpushquery/v1/query"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultRequestTimeout = 30 * time.Second
	DefaultRetryMax       = 2
	DefaultRetryWaitMin   = 2 * time.Second
	DefaultRetryWaitMax   = 30 * time.Second
	maxRetryMax           = 10
)

// BaseURLFor returns the Daraja host of the sandbox or production
// environment; any other name (including "simulator", whose URL is only
// known at run time) gives "", false.
func BaseURLFor(environment string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(environment)) {
	case Sandbox:
		return SandboxBaseURL, true
	case Production:
		return ProductionBaseURL, true
	}
	return "", false
}

// Config configures a Client. Zero fields get the documented defaults.
// Its String, GoString and LogValue methods hide the secrets, so printing or
// logging a Config is safe.
type Config struct {
	Environment     string           // informational (sandbox/production/simulator), shown in EnvironmentInfo
	BaseURL         string           // required, e.g. SandboxBaseURL or a simulator's URL
	ConsumerKey     string           // required unless Environment is Simulator
	ConsumerSecret  string           // required unless Environment is Simulator
	ShortCode       string           // BusinessShortCode; Simulator defaults it to SandboxShortCode
	Passkey         string           // Lipa Na M-Pesa passkey; Simulator defaults it to SandboxPasskey
	TransactionType string           // default PayBillOnline; BuyGoodsOnline allowed
	PartyB          string           // default ShortCode (the till for Buy Goods)
	MaxAmount       int64            // default DefaultMaxAmount (250000)
	HTTPClient      *http.Client     // default: a client with sane transport timeouts
	Logger          *slog.Logger     // default: discard
	Now             func() time.Time // default time.Now; the ONE clock of the client (token expiry, timestamps)
	RequestTimeout  time.Duration    // per attempt, default 30s (applied with context.WithTimeout)
	RetryMax        int              // retries after the first attempt for token and query; default 2 (= 3 attempts); negative: none
	RetryWaitMin    time.Duration    // backoff base, default 2s (the original's backoff factor)
	RetryWaitMax    time.Duration    // backoff ceiling, default 30s
}

// String renders the Config without its secrets.
func (c Config) String() string {
	return fmt.Sprintf("mpesa.Config{Environment:%q BaseURL:%q ShortCode:%q TransactionType:%q PartyB:%q ConsumerKey:%s ConsumerSecret:%s Passkey:%s}",
		c.Environment, c.BaseURL, c.ShortCode, c.TransactionType, c.PartyB,
		secretMark(c.ConsumerKey), secretMark(c.ConsumerSecret), secretMark(c.Passkey))
}

// GoString renders the Config for %#v without its secrets.
func (c Config) GoString() string { return c.String() }

// LogValue renders the Config for log/slog without its secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("environment", c.Environment),
		slog.String("base_url", c.BaseURL),
		slog.String("short_code", c.ShortCode),
		slog.String("transaction_type", c.TransactionType),
		slog.String("party_b", c.PartyB),
		slog.String("consumer_key", secretMark(c.ConsumerKey)),
		slog.String("consumer_secret", secretMark(c.ConsumerSecret)),
		slog.String("passkey", secretMark(c.Passkey)),
	)
}

func secretMark(s string) string {
	if s == "" {
		return "(unset)"
	}
	return redacted
}

// withDefaults fills zero fields and reports every problem at once.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("mpesa: config: "+format, args...)) }

	c.Environment = strings.ToLower(strings.TrimSpace(c.Environment))
	switch c.Environment {
	case "", Sandbox, Production, Simulator:
	default:
		bad("Environment %q is not %s, %s or %s", c.Environment, Sandbox, Production, Simulator)
	}

	c.BaseURL = strings.TrimRight(strings.TrimSpace(c.BaseURL), "/")
	if c.BaseURL == "" {
		bad("BaseURL is required (%s, %s or a simulator's URL)", SandboxBaseURL, ProductionBaseURL)
	} else if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("BaseURL %q is not an absolute http(s) URL", c.BaseURL)
	} else if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		// Credentials in the URL would show in EnvironmentInfo.
		bad("BaseURL must not carry credentials, a query or a fragment")
	}
	switch {
	case c.Environment == "" && c.BaseURL == SandboxBaseURL:
		c.Environment = Sandbox
	case c.Environment == "" && c.BaseURL == ProductionBaseURL:
		c.Environment = Production
	case c.Environment == Production && c.BaseURL == SandboxBaseURL:
		bad("Environment is %s but BaseURL is the sandbox host", Production)
	case c.Environment == Sandbox && c.BaseURL == ProductionBaseURL:
		bad("Environment is %s but BaseURL is the production host", Sandbox)
	}

	if c.Environment == Simulator {
		// The simulator accepts any credentials and the sandbox shortcode.
		if c.ShortCode == "" {
			c.ShortCode = SandboxShortCode
		}
		if c.Passkey == "" {
			c.Passkey = SandboxPasskey
		}
	} else {
		if c.ConsumerKey == "" {
			bad("ConsumerKey is required (MPESA_CONSUMER_KEY)")
		}
		if c.ConsumerSecret == "" {
			bad("ConsumerSecret is required (MPESA_CONSUMER_SECRET)")
		}
	}
	if c.ShortCode == "" {
		bad("ShortCode is required (MPESA_SHORTCODE; sandbox: %s)", SandboxShortCode)
	} else if !isShortCode(c.ShortCode) {
		bad("ShortCode %q must be 5 to 10 digits, not starting with 0", c.ShortCode)
	}
	if c.Passkey == "" {
		bad("Passkey is required (MPESA_PASSKEY)")
	}
	// Against the real production host the public sandbox merchant is
	// certainly a mistake; through a proxy or a test double it may not be.
	if c.Environment == Production && c.BaseURL == ProductionBaseURL && (c.ShortCode == SandboxShortCode || c.Passkey == SandboxPasskey) {
		bad("the sandbox shortcode or passkey cannot take payments in %s", Production)
	}

	switch c.TransactionType {
	case "":
		c.TransactionType = PayBillOnline
	case PayBillOnline, BuyGoodsOnline:
	default:
		bad("TransactionType %q is not %s or %s", c.TransactionType, PayBillOnline, BuyGoodsOnline)
	}
	switch {
	case c.PartyB == "":
		c.PartyB = c.ShortCode
	case !isShortCode(c.PartyB):
		bad("PartyB %q must be 5 to 10 digits, not starting with 0", c.PartyB)
	case c.TransactionType == PayBillOnline && c.PartyB != c.ShortCode:
		// Pay Bill credits the shortcode itself; a different PartyB is a
		// misconfiguration that Daraja would only reveal per payment.
		bad("PartyB %q differs from ShortCode %q, which %s requires; PartyB is the till for %s",
			c.PartyB, c.ShortCode, PayBillOnline, BuyGoodsOnline)
	}

	switch {
	case c.MaxAmount == 0:
		c.MaxAmount = DefaultMaxAmount
	case c.MaxAmount < 0:
		bad("MaxAmount %d must be positive", c.MaxAmount)
	}
	switch {
	case c.RequestTimeout == 0:
		c.RequestTimeout = DefaultRequestTimeout
	case c.RequestTimeout < 0:
		bad("RequestTimeout %s must be positive", c.RequestTimeout)
	}
	switch {
	case c.RetryMax == 0:
		c.RetryMax = DefaultRetryMax
	case c.RetryMax < 0:
		c.RetryMax = 0
	case c.RetryMax > maxRetryMax:
		bad("RetryMax %d is more than %d", c.RetryMax, maxRetryMax)
	}
	if c.RetryWaitMin == 0 {
		c.RetryWaitMin = DefaultRetryWaitMin
	}
	if c.RetryWaitMax == 0 {
		c.RetryWaitMax = max(DefaultRetryWaitMax, c.RetryWaitMin)
	}
	if c.RetryWaitMin < 0 || c.RetryWaitMax < 0 || c.RetryWaitMin > c.RetryWaitMax {
		bad("RetryWaitMin %s and RetryWaitMax %s must be positive, min ≤ max", c.RetryWaitMin, c.RetryWaitMax)
	}

	if c.HTTPClient == nil {
		c.HTTPClient = defaultHTTPClient()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, errors.Join(errs...)
}

func isShortCode(s string) bool {
	if len(s) < 5 || len(s) > 10 || s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// EnvironmentInfo describes where the client sends requests (function 6 of
// the original module). It never holds a secret.
type EnvironmentInfo struct {
	Environment       string
	BaseURL           string
	AuthURL           string
	STKPushURL        string
	QueryURL          string
	BusinessShortCode string
	TransactionType   string
	PartyB            string
}

// EnvironmentInfo returns the client's environment, URLs and business
// numbers, without any secret.
func (c *Client) EnvironmentInfo() EnvironmentInfo {
	env := c.cfg.Environment
	if env == "" {
		env = "custom"
	}
	return EnvironmentInfo{
		Environment:       env,
		BaseURL:           c.cfg.BaseURL,
		AuthURL:           c.cfg.BaseURL + PathToken,
		STKPushURL:        c.cfg.BaseURL + PathSTKPush,
		QueryURL:          c.cfg.BaseURL + PathSTKQuery,
		BusinessShortCode: c.cfg.ShortCode,
		TransactionType:   c.cfg.TransactionType,
		PartyB:            c.cfg.PartyB,
	}
}
