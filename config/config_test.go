package config

import (
	"log/slog"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// env is a map-backed getenv: no test reads the process environment.
type env map[string]string

func (e env) get(name string) string { return e[name] }

// with returns a copy of e with more variables set.
func (e env) with(kv ...string) env {
	out := env{}
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

var (
	needAll   = Needs{Telegram: true, Daraja: true}
	needNone  = Needs{}
	tokenVal  = "999000111:TOKEN-value-never-printed"
	keyVal    = "ckey-value-never-printed"
	secretVal = "csecret-value-never-printed"
	passVal   = "passkey-value-never-printed"
	backupVal = "backup-token-value-never-printed"
)

// production is a complete, valid configuration for the bot.
func production() env {
	return env{
		"ENVIRONMENT":           "production",
		"TELEGRAM_BOT_TOKEN":    tokenVal,
		"MPESA_CONSUMER_KEY":    keyVal,
		"MPESA_CONSUMER_SECRET": secretVal,
		"MPESA_PASSKEY":         passVal,
		"MPESA_SHORTCODE":       "600123",
		"CALLBACK_URL":          "https://pay.example.com/hooks/daraja",
	}
}

func mustLoad(t *testing.T, e env, needs Needs) *Config {
	t.Helper()
	c, err := Load(e.get, "", needs)
	if err != nil {
		t.Fatalf("Load: unexpected error:\n%v", err)
	}
	return c
}

func mustFail(t *testing.T, e env, needs Needs) []*FieldError {
	t.Helper()
	c, err := Load(e.get, "", needs)
	if err == nil {
		t.Fatalf("Load accepted the configuration, want an error; got %+v", c)
	}
	if c != nil {
		t.Errorf("Load returned a Config alongside an error")
	}
	problems := Problems(err)
	if len(problems) == 0 {
		t.Fatalf("error has no *FieldError: %v", err)
	}
	if got, want := err.Error(), joinLines(problems); got != want {
		t.Errorf("error text is not one problem per line:\n got %q\nwant %q", got, want)
	}
	return problems
}

func joinLines(problems []*FieldError) string {
	lines := make([]string, len(problems))
	for i, p := range problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

func TestLoad_Defaults(t *testing.T) {
	c := mustLoad(t, env{}, needNone)
	want := &Config{
		TelegramAPIEndpoint:  "https://api.telegram.org/bot%s/%s",
		Environment:          Sandbox,
		MpesaTransactionType: "CustomerPayBillOnline",
		TransactionDesc:      "Payment",
		SimulatorDelay:       3 * time.Second,
		DBPath:               "data/mpesa-bot.db",
		PollInitialDelay:     20 * time.Second,
		PollInterval:         15 * time.Second,
		PollTimeout:          5 * time.Minute,
		MaxAmount:            250000,
		MaxPendingPerUser:    3,
		PayPerUserPerHour:    20,
		SendRateGlobal:       25,
		SendRatePerChat:      1,
		MpesaRate:            5,
		LogLevel:             slog.LevelInfo,
		LogFormat:            "text",
		InvoiceTTL:           24 * time.Hour,
		DefaultLanguage:      "en",
		ReportTime:           -1,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
	if got := c.DarajaBaseURL(); got != "https://sandbox.safaricom.co.ke" {
		t.Errorf("DarajaBaseURL() = %q, want the sandbox host", got)
	}
	if c.HTTPAddr != "" || c.OpsAddr != "" || c.OpsURLAddr() != "" || c.CallbacksOn() || c.MerchantChatID != 0 || c.AdminIDs != nil || c.BackupToken.IsSet() {
		t.Errorf("optional features are on by default: %+v", c)
	}
}

func TestLoad_AcceptsValidValues(t *testing.T) {
	tests := []struct {
		name  string
		vars  []string
		field func(*Config) any
		want  any
	}{
		{"EndpointSelfHosted", []string{"TELEGRAM_API_ENDPOINT", "http://127.0.0.1:8081/bot%s/%s"}, func(c *Config) any { return c.TelegramAPIEndpoint }, "http://127.0.0.1:8081/bot%s/%s"},
		{"EnvironmentProductionAnyCase", []string{"ENVIRONMENT", "Production"}, func(c *Config) any { return c.Environment }, Production},
		{"EnvironmentSimulator", []string{"ENVIRONMENT", "simulator"}, func(c *Config) any { return c.Environment }, Simulator},
		{"Shortcode5Digits", []string{"MPESA_SHORTCODE", "12345"}, func(c *Config) any { return c.MpesaShortcode }, "12345"},
		{"Shortcode8Digits", []string{"MPESA_SHORTCODE", "12345678"}, func(c *Config) any { return c.MpesaShortcode }, "12345678"},
		{"PartyBDefaultsToShortcode", []string{"MPESA_SHORTCODE", "174379"}, func(c *Config) any { return c.MpesaPartyB }, "174379"},
		{"PartyBTill", []string{"MPESA_SHORTCODE", "174379", "MPESA_PARTY_B", "5123456"}, func(c *Config) any { return c.MpesaPartyB }, "5123456"},
		{"BuyGoods", []string{"MPESA_TRANSACTION_TYPE", "CustomerBuyGoodsOnline"}, func(c *Config) any { return c.MpesaTransactionType }, BuyGoods},
		{"TransactionTypeAnyCase", []string{"MPESA_TRANSACTION_TYPE", "customerpaybillonline"}, func(c *Config) any { return c.MpesaTransactionType }, PayBill},
		{"BaseURLTrailingSlashDropped", []string{"MPESA_BASE_URL", "http://127.0.0.1:9000/"}, func(c *Config) any { return c.DarajaBaseURL() }, "http://127.0.0.1:9000"},
		{"CallbackURLTrailingSlashDropped", []string{"CALLBACK_URL", "https://pay.example.com/cb/"}, func(c *Config) any { return c.CallbackURL }, "https://pay.example.com/cb"},
		{"CallbackURLWithPort", []string{"CALLBACK_URL", "https://pay.example.com:8443/cb"}, func(c *Config) any { return c.CallbackURL }, "https://pay.example.com:8443/cb"},
		{"HTTPAddrPortOnly", []string{"HTTP_ADDR", ":8080"}, func(c *Config) any { return c.HTTPAddr }, ":8080"},
		{"HTTPAddrHostPort", []string{"HTTP_ADDR", "127.0.0.1:0"}, func(c *Config) any { return c.HTTPAddr }, "127.0.0.1:0"},
		{"HTTPAddrIPv6", []string{"HTTP_ADDR", "[::1]:8080"}, func(c *Config) any { return c.HTTPAddr }, "[::1]:8080"},
		{"OpsAddr", []string{"OPS_ADDR", "127.0.0.1:9090", "HTTP_ADDR", ":8080"}, func(c *Config) any { return c.OpsAddr }, "127.0.0.1:9090"},
		{"OpsAddrWithoutHTTPAddr", []string{"OPS_ADDR", "127.0.0.1:9090"}, func(c *Config) any { return c.OpsAddr }, "127.0.0.1:9090"},
		{"OpsAddrOtherPortAllInterfaces", []string{"OPS_ADDR", ":9090", "HTTP_ADDR", ":8080"}, func(c *Config) any { return c.OpsAddr }, ":9090"},
		{"OpsAddrSamePortOtherHost", []string{"OPS_ADDR", "127.0.0.1:8080", "HTTP_ADDR", "10.0.0.2:8080"}, func(c *Config) any { return c.OpsAddr }, "127.0.0.1:8080"},
		{"OpsAddrBothPortZero", []string{"OPS_ADDR", "127.0.0.1:0", "HTTP_ADDR", "127.0.0.1:0"}, func(c *Config) any { return c.OpsAddr }, "127.0.0.1:0"},
		{"AllowedIPsBareIPv4", []string{"CALLBACK_ALLOWED_IPS", "196.201.214.200"}, func(c *Config) any { return c.CallbackAllowedIPs }, prefixes("196.201.214.200/32")},
		{"AllowedIPsSpacesAroundCommas", []string{"CALLBACK_ALLOWED_IPS", " 196.201.214.200 ,196.201.213.44,  196.201.212.0/24 "}, func(c *Config) any { return c.CallbackAllowedIPs }, prefixes("196.201.214.200/32", "196.201.213.44/32", "196.201.212.0/24")},
		{"AllowedIPsIPv6", []string{"CALLBACK_ALLOWED_IPS", "2001:db8::1, 2001:db8:1::/48"}, func(c *Config) any { return c.CallbackAllowedIPs }, prefixes("2001:db8::1/128", "2001:db8:1::/48")},
		{"AllowedIPsMappedIPv4BecomesIPv4", []string{"CALLBACK_ALLOWED_IPS", "::ffff:196.201.214.200,::ffff:10.0.0.0/104"}, func(c *Config) any { return c.CallbackAllowedIPs }, prefixes("196.201.214.200/32", "10.0.0.0/8")},
		{"TrustedProxies", []string{"TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1, ::1"}, func(c *Config) any { return c.TrustedProxies }, prefixes("10.0.0.0/8", "127.0.0.1/32", "::1/128")},
		{"DBPath", []string{"DB_PATH", "/data/pay.db"}, func(c *Config) any { return c.DBPath }, "/data/pay.db"},
		{"AdminIDsWithSpaces", []string{"ADMIN_IDS", " 1111111 , 2222222,3333333 "}, func(c *Config) any { return c.AdminIDs }, []int64{1111111, 2222222, 3333333}},
		{"MerchantIDsOne", []string{"MERCHANT_IDS", "4444444"}, func(c *Config) any { return c.MerchantIDs }, []int64{4444444}},
		{"MerchantIDsLargest", []string{"MERCHANT_IDS", "9223372036854775807"}, func(c *Config) any { return c.MerchantIDs }, []int64{9223372036854775807}},
		{"MerchantChatGroup", []string{"MERCHANT_CHAT_ID", "-1001234567890"}, func(c *Config) any { return c.MerchantChatID }, int64(-1001234567890)},
		{"MerchantChatPrivate", []string{"MERCHANT_CHAT_ID", "1111111"}, func(c *Config) any { return c.MerchantChatID }, int64(1111111)},
		{"MerchantChatZeroIsOff", []string{"MERCHANT_CHAT_ID", "0"}, func(c *Config) any { return c.MerchantChatID }, int64(0)},
		{"PollInitialDelayMillis", []string{"POLL_INITIAL_DELAY", "200ms"}, func(c *Config) any { return c.PollInitialDelay }, 200 * time.Millisecond},
		{"PollIntervalMillis", []string{"POLL_INTERVAL", "15ms"}, func(c *Config) any { return c.PollInterval }, 15 * time.Millisecond},
		{"PollTimeoutCompound", []string{"POLL_TIMEOUT", "1m30s"}, func(c *Config) any { return c.PollTimeout }, 90 * time.Second},
		{"SimulatorDelayZero", []string{"SIMULATOR_DELAY", "0"}, func(c *Config) any { return c.SimulatorDelay }, time.Duration(0)},
		{"SimulatorDelayMillis", []string{"SIMULATOR_DELAY", "10ms"}, func(c *Config) any { return c.SimulatorDelay }, 10 * time.Millisecond},
		{"MaxAmountOne", []string{"MAX_AMOUNT", "1"}, func(c *Config) any { return c.MaxAmount }, int64(1)},
		{"MaxAmountLimit", []string{"MAX_AMOUNT", "250000"}, func(c *Config) any { return c.MaxAmount }, int64(250000)},
		{"MaxPendingNoLimit", []string{"MAX_PENDING_PER_USER", "0"}, func(c *Config) any { return c.MaxPendingPerUser }, 0},
		{"MaxPending", []string{"MAX_PENDING_PER_USER", "7"}, func(c *Config) any { return c.MaxPendingPerUser }, 7},
		{"PayPerHourNoLimit", []string{"PAY_PER_USER_PER_HOUR", "0"}, func(c *Config) any { return c.PayPerUserPerHour }, 0},
		{"SendRateGlobalNoLimit", []string{"SEND_RATE_GLOBAL", "0"}, func(c *Config) any { return c.SendRateGlobal }, 0.0},
		{"SendRatePerChatFraction", []string{"SEND_RATE_PER_CHAT", "0.5"}, func(c *Config) any { return c.SendRatePerChat }, 0.5},
		{"MpesaRate", []string{"MPESA_RATE", "12.5"}, func(c *Config) any { return c.MpesaRate }, 12.5},
		{"TransactionDesc13", []string{"TRANSACTION_DESC", "Shop Payment1"}, func(c *Config) any { return c.TransactionDesc }, "Shop Payment1"},
		{"TransactionDesc13Runes", []string{"TRANSACTION_DESC", "Malipo ya duk"}, func(c *Config) any { return c.TransactionDesc }, "Malipo ya duk"},
		{"LogLevelDebug", []string{"LOG_LEVEL", "debug"}, func(c *Config) any { return c.LogLevel }, slog.LevelDebug},
		{"LogLevelUpper", []string{"LOG_LEVEL", "WARN"}, func(c *Config) any { return c.LogLevel }, slog.LevelWarn},
		{"LogLevelError", []string{"LOG_LEVEL", "error"}, func(c *Config) any { return c.LogLevel }, slog.LevelError},
		{"LogFormatJSON", []string{"LOG_FORMAT", "json"}, func(c *Config) any { return c.LogFormat }, "json"},
		{"BackupToken", []string{"BACKUP_TOKEN", backupVal, "HTTP_ADDR", ":8080"}, func(c *Config) any { return c.BackupToken.Reveal() }, backupVal},
		{"ValuesTrimmed", []string{"POLL_TIMEOUT", "  2m \t"}, func(c *Config) any { return c.PollTimeout }, 2 * time.Minute},
		{"InvoiceTTL", []string{"INVOICE_TTL", "90m"}, func(c *Config) any { return c.InvoiceTTL }, 90 * time.Minute},
		{"MerchantName", []string{"MERCHANT_NAME", "Mama Mboga & Sons"}, func(c *Config) any { return c.MerchantName }, "Mama Mboga & Sons"},
		{"DefaultLanguageSwahiliAnyCase", []string{"DEFAULT_LANGUAGE", "SW"}, func(c *Config) any { return c.DefaultLanguage }, "sw"},
		{"C2BSecret", []string{"C2B_SECRET", "0123456789abcdef_-", "HTTP_ADDR", ":8080", "CALLBACK_URL", "https://pay.example.com/cb"}, func(c *Config) any { return c.C2BSecret.Reveal() }, "0123456789abcdef_-"},
		{"C2BSecretInSimulatorNeedsNoCallbackURL", []string{"C2B_SECRET", "0123456789abcdef", "ENVIRONMENT", "simulator"}, func(c *Config) any { return c.C2BSecret.IsSet() }, true},
		{"C2BShortcodeDefaultsToPartyB", []string{"MPESA_SHORTCODE", "174379", "MPESA_PARTY_B", "5123456"}, func(c *Config) any { return c.C2BShortcode }, "5123456"},
		{"C2BShortcode", []string{"C2B_SHORTCODE", "600977"}, func(c *Config) any { return c.C2BShortcode }, "600977"},
		{"Initiator", []string{"INITIATOR_NAME", "testapi", "INITIATOR_PASSWORD", "Safaricom999!*!"}, func(c *Config) any { return c.InitiatorName + "/" + c.InitiatorPassword.Reveal() }, "testapi/Safaricom999!*!"},
		{"ReportTime", []string{"REPORT_TIME", "21:30", "MERCHANT_CHAT_ID", "-100123"}, func(c *Config) any { return c.ReportTime }, 21*60 + 30},
		{"ReportTimeMidnight", []string{"REPORT_TIME", "00:00"}, func(c *Config) any { return c.ReportTimeString() }, "00:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, env{}.with(tt.vars...), needNone)
			if got := tt.field(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s: got %#v, want %#v", tt.vars[0], got, tt.want)
			}
		})
	}
}

func TestLoad_RefusesInvalidValues(t *testing.T) {
	tests := []struct {
		name    string
		varName string
		value   string
		want    string // part of the problem line
	}{
		{"TokenWithSpace", "TELEGRAM_BOT_TOKEN", "999:abc def", "TELEGRAM_BOT_TOKEN: contains whitespace"},
		{"TokenWithNewline", "TELEGRAM_BOT_TOKEN", "999:abc\n", "starts or ends with whitespace"},
		{"EndpointOnePercentS", "TELEGRAM_API_ENDPOINT", "https://api.telegram.org/bot%s", "exactly two %s"},
		{"EndpointThreePercentS", "TELEGRAM_API_ENDPOINT", "https://x.org/bot%s/%s/%s", "exactly two %s"},
		{"EndpointOtherVerb", "TELEGRAM_API_ENDPOINT", "https://x.org/bot%s/%s?n=%d", "no other % verb"},
		{"EndpointNotURL", "TELEGRAM_API_ENDPOINT", "api.telegram.org/bot%s/%s", "absolute http or https URL"},
		{"EnvironmentUnknown", "ENVIRONMENT", "staging", `ENVIRONMENT: "staging" is not one of sandbox, production, simulator`},
		{"ShortcodeLetters", "MPESA_SHORTCODE", "17437a", `MPESA_SHORTCODE: "17437a" must be 5 to 8 digits`},
		{"ShortcodeTooShort", "MPESA_SHORTCODE", "1234", "5 to 8 digits"},
		{"ShortcodeTooLong", "MPESA_SHORTCODE", "123456789", "5 to 8 digits"},
		{"TransactionTypeUnknown", "MPESA_TRANSACTION_TYPE", "CustomerPayBill", "is not one of CustomerPayBillOnline, CustomerBuyGoodsOnline"},
		{"PartyBLetters", "MPESA_PARTY_B", "till-12", "digits only"},
		{"BaseURLNoScheme", "MPESA_BASE_URL", "sandbox.safaricom.co.ke", "absolute http or https URL"},
		{"BaseURLFTP", "MPESA_BASE_URL", "ftp://sandbox.safaricom.co.ke", "absolute http or https URL"},
		{"BaseURLNoHost", "MPESA_BASE_URL", "https:///path", "has no host"},
		{"BaseURLBadPort", "MPESA_BASE_URL", "http://127.0.0.1:99999", "port"},
		{"CallbackURLRelative", "CALLBACK_URL", "/callback", "absolute http or https URL"},
		{"CallbackURLQuery", "CALLBACK_URL", "https://pay.example.com/cb?x=1", "must not have a query or fragment"},
		{"CallbackURLWithUserinfo", "CALLBACK_URL", "https://user:pa55@pay.example.com/cb", "must not carry a user name or password"},
		{"BaseURLWithUserinfo", "MPESA_BASE_URL", "https://user:pa55@sandbox.safaricom.co.ke", "must not carry a user name or password"},
		{"CallbackURLFragment", "CALLBACK_URL", "https://pay.example.com/cb#top", "must not have a query or fragment"},
		{"CallbackURLNotURL", "CALLBACK_URL", "https://exa mple.com/cb", "is not a URL"},
		{"HTTPAddrNoPort", "HTTP_ADDR", "localhost", "host:port"},
		{"HTTPAddrNamedPort", "HTTP_ADDR", ":http", "numeric port"},
		{"HTTPAddrPortTooBig", "HTTP_ADDR", ":70000", "numeric port"},
		{"OpsAddrNoPort", "OPS_ADDR", "localhost", "host:port"},
		{"AllowedIPsSpaceInsideAddress", "CALLBACK_ALLOWED_IPS", "196.201.214.200, 196. 201.213.44", `CALLBACK_ALLOWED_IPS: "196. 201.213.44" is not an IP address`},
		{"AllowedIPsEveryBadEntryNamed", "CALLBACK_ALLOWED_IPS", "196.201.214.2OO,196.201.214.206,pay.example.com", `"196.201.214.2OO" is not an IP address; "pay.example.com" is not an IP address`},
		{"AllowedIPsManyBadEntriesCounted", "CALLBACK_ALLOWED_IPS", "a,b,c,d,e,f,g", `"e" is not an IP address; and 2 more`},
		{"AllowedIPsBadCIDR", "CALLBACK_ALLOWED_IPS", "196.201.212.0/33", `"196.201.212.0/33" is not a CIDR`},
		{"AllowedIPsHostBitsSet", "CALLBACK_ALLOWED_IPS", "196.201.212.127/24", "write 196.201.212.0/24 for the network, or 196.201.212.127/32 for the one address"},
		{"AllowedIPsZone", "CALLBACK_ALLOWED_IPS", "fe80::1%eth0", "IPv6 zone"},
		{"AllowedIPsEmptyItem", "CALLBACK_ALLOWED_IPS", "196.201.214.200,,196.201.214.206", "item 2 is empty"},
		{"AllowedIPsTrailingComma", "CALLBACK_ALLOWED_IPS", "196.201.214.200,", "item 2 is empty"},
		{"AllowedIPsSemicolons", "CALLBACK_ALLOWED_IPS", "196.201.214.200;196.201.214.206", "is not an IP address"},
		{"TrustedProxiesBad", "TRUSTED_PROXIES", "10.0.0.0/8, 10.0.0.300", `TRUSTED_PROXIES: "10.0.0.300" is not an IP address`},
		{"DBPathFolder", "DB_PATH", "data/", "names a folder"},
		{"AdminIDsEmptyItem", "ADMIN_IDS", "111,,222", "item 2 is empty"},
		{"AdminIDsTrailingComma", "ADMIN_IDS", "111,", "item 2 is empty"},
		{"AdminIDsNotNumber", "ADMIN_IDS", "111,bob", `"bob" is not a Telegram user ID`},
		{"AdminIDsGroupID", "ADMIN_IDS", "-1001234567890", "user IDs are positive"},
		{"AdminIDsOverflow", "ADMIN_IDS", "9223372036854775808", "is not a Telegram user ID"},
		{"MerchantIDsZero", "MERCHANT_IDS", "0", "user IDs are positive"},
		{"MerchantChatNotNumber", "MERCHANT_CHAT_ID", "@shopops", "is not a Telegram chat ID"},
		{"PollInitialDelayNoUnit", "POLL_INITIAL_DELAY", "20", `POLL_INITIAL_DELAY: "20" is not a duration`},
		{"PollIntervalZero", "POLL_INTERVAL", "0s", "must be more than 0"},
		{"PollTimeoutNegative", "POLL_TIMEOUT", "-5m", "must be more than 0"},
		{"SimulatorDelayNegative", "SIMULATOR_DELAY", "-1s", "must be 0 or more"},
		{"MaxAmountZero", "MAX_AMOUNT", "0", "must be at least 1"},
		{"MaxAmountDecimal", "MAX_AMOUNT", "100.5", "is not a whole number"},
		{"MaxAmountThousandsSeparator", "MAX_AMOUNT", "1,000", "is not a whole number"},
		{"MaxPendingNegative", "MAX_PENDING_PER_USER", "-1", "must be at least 0"},
		{"PayPerHourWord", "PAY_PER_USER_PER_HOUR", "many", "is not a whole number"},
		{"SendRateGlobalNegative", "SEND_RATE_GLOBAL", "-1", "must be 0 (no limit) or more"},
		{"SendRatePerChatWord", "SEND_RATE_PER_CHAT", "fast", "is not a number"},
		{"MpesaRateNaN", "MPESA_RATE", "NaN", "is not a number"},
		{"MpesaRateInf", "MPESA_RATE", "+Inf", "is not a number"},
		{"TransactionDescTooLong", "TRANSACTION_DESC", "Payment for goods", "at most 13"},
		{"TransactionDescControl", "TRANSACTION_DESC", "Pay\x00ment", "control character"},
		{"LogLevelUnknown", "LOG_LEVEL", "verbose", `LOG_LEVEL: "verbose" is not one of debug, info, warn, error`},
		{"LogFormatUnknown", "LOG_FORMAT", "yaml", `LOG_FORMAT: "yaml" is not one of text, json`},
		{"BackupTokenShort", "BACKUP_TOKEN", "short", "at least 16 characters"},
		{"BackupTokenSpace", "BACKUP_TOKEN", "0123456789 abcdef", "contains whitespace"},
		{"PasskeyTrailingSpace", "MPESA_PASSKEY", "abc ", "MPESA_PASSKEY: starts or ends with whitespace"},
		{"InvoiceTTLZero", "INVOICE_TTL", "0s", "must be more than 0"},
		{"MerchantNameTooLong", "MERCHANT_NAME", strings.Repeat("x", 65), "longer than 64"},
		{"MerchantNameControl", "MERCHANT_NAME", "Shop\x07", "control character"},
		{"DefaultLanguageUnknown", "DEFAULT_LANGUAGE", "fr", `DEFAULT_LANGUAGE: "fr" is not one of en, sw`},
		{"C2BSecretShort", "C2B_SECRET", "short-secret", "at least 16 characters"},
		{"C2BSecretSlash", "C2B_SECRET", "0123456789/abcdef", "only letters, digits, - and _"},
		{"C2BShortcodeLetters", "C2B_SHORTCODE", "till12", "digits"},
		{"InitiatorWithoutPassword", "INITIATOR_NAME", "testapi", "INITIATOR_NAME: needs INITIATOR_PASSWORD too"},
		{"ReportTimeNotClock", "REPORT_TIME", "9pm", `REPORT_TIME: "9pm" is not a time of day`},
		{"ReportTimeHour24", "REPORT_TIME", "24:00", "is not a time of day"},
		{"InitiatorPasswordWithoutName", "INITIATOR_PASSWORD", "Safaricom999!*!", "INITIATOR_PASSWORD: needs INITIATOR_NAME too"},
		{"C2BSecretWithoutCallbackURL", "C2B_SECRET", "0123456789abcdef", "needs CALLBACK_URL"},
		{"ReportTimeOneDigitHour", "REPORT_TIME", "7:30", "is not a time of day"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := mustFail(t, env{}.with(tt.varName, tt.value), needNone)
			if len(problems) != 1 {
				t.Fatalf("want exactly one problem, got %d:\n%s", len(problems), joinLines(problems))
			}
			p := problems[0]
			if p.Var != tt.varName {
				t.Errorf("problem names %q, want %q", p.Var, tt.varName)
			}
			if !strings.Contains(p.Error(), tt.want) {
				t.Errorf("problem %q does not say %q", p.Error(), tt.want)
			}
		})
	}
}

func TestLoad_ReportsEveryProblemAtOnce(t *testing.T) {
	e := production().with(
		"LOG_LEVEL", "verbose",
		"POLL_INTERVAL", "soon",
		"MAX_AMOUNT", "0",
		"ADMIN_IDS", "1,,2",
		"HTTP_ADDR", "localhost",
	)
	delete(e, "MPESA_PASSKEY")
	problems := mustFail(t, e, needAll)
	want := []string{"MPESA_PASSKEY", "HTTP_ADDR", "ADMIN_IDS", "POLL_INTERVAL", "MAX_AMOUNT", "LOG_LEVEL"}
	var got []string
	for _, p := range problems {
		got = append(got, p.Var)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("problems name %v, want %v (one each, in variable order):\n%s", got, want, joinLines(problems))
	}
	if problems[0].Error() != "MPESA_PASSKEY is required (ENVIRONMENT=production)" {
		t.Errorf("first line = %q", problems[0].Error())
	}
}

func TestLoad_RequiredDependsOnNeeds(t *testing.T) {
	daraja := []string{"MPESA_CONSUMER_KEY", "MPESA_CONSUMER_SECRET", "MPESA_PASSKEY", "MPESA_SHORTCODE", "CALLBACK_URL"}
	tests := []struct {
		name  string
		env   env
		needs Needs
		want  []string // variables reported as required, in order
	}{
		{"BotNeedsEverything", env{}, needAll, append([]string{"TELEGRAM_BOT_TOKEN"}, daraja...)},
		{"SandboxNamedInProblem", env{"ENVIRONMENT": "sandbox"}, Needs{Daraja: true}, daraja},
		{"CheckNeedsNoToken", env{}, Needs{Daraja: true}, daraja},
		{"TelegramOnly", env{}, Needs{Telegram: true}, []string{"TELEGRAM_BOT_TOKEN"}},
		{"HealthcheckNeedsHTTPAddr", env{}, Needs{HTTP: true}, []string{"HTTP_ADDR"}},
		{"BackupNeedsAddrAndToken", env{}, Needs{Backup: true}, []string{"HTTP_ADDR", "BACKUP_TOKEN"}},
		{"BackupWithOpsAddrNeedsToken", env{"OPS_ADDR": "127.0.0.1:9090"}, Needs{Backup: true}, []string{"BACKUP_TOKEN"}},
		{"UnknownEnvironmentAsksNoCredentials", env{"ENVIRONMENT": "prod"}, Needs{Daraja: true}, []string{"ENVIRONMENT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := mustFail(t, tt.env, tt.needs)
			var got []string
			for _, p := range problems {
				got = append(got, p.Var)
				if p.Var != "ENVIRONMENT" && !strings.HasPrefix(p.Problem, "is required") {
					t.Errorf("unexpected problem %q", p.Error())
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("required: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoad_SimulatorNeedsNoDarajaCredentials(t *testing.T) {
	c := mustLoad(t, env{"ENVIRONMENT": "simulator", "TELEGRAM_BOT_TOKEN": tokenVal}, needAll)
	if c.DarajaBaseURL() != "" {
		t.Errorf("DarajaBaseURL() = %q, want \"\" so the caller starts the simulator", c.DarajaBaseURL())
	}
	if c.MpesaShortcode != "174379" || c.MpesaPartyB != "174379" {
		t.Errorf("simulator shortcode/PartyB = %q/%q, want the sandbox 174379", c.MpesaShortcode, c.MpesaPartyB)
	}
	if c.MpesaPasskey.IsSet() || c.CallbackURL != "" {
		t.Errorf("simulator invented credentials: %+v", c)
	}
}

func TestLoad_DemoNeedsNoToken(t *testing.T) {
	c := mustLoad(t, env{"ENVIRONMENT": "simulator"}, Needs{Daraja: true})
	if c.TelegramBotToken.IsSet() {
		t.Errorf("token set from nowhere")
	}
}

func TestConfig_DarajaBaseURL(t *testing.T) {
	tests := []struct {
		name string
		env  env
		want string
	}{
		{"Sandbox", env{}, "https://sandbox.safaricom.co.ke"},
		{"Production", env{"ENVIRONMENT": "production"}, "https://api.safaricom.co.ke"},
		{"Simulator", env{"ENVIRONMENT": "simulator"}, ""},
		{"OverrideWinsInProduction", env{"ENVIRONMENT": "production", "MPESA_BASE_URL": "https://proxy.example.com"}, "https://proxy.example.com"},
		{"OverrideWinsInSimulator", env{"ENVIRONMENT": "simulator", "MPESA_BASE_URL": "http://127.0.0.1:9000"}, "http://127.0.0.1:9000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustLoad(t, tt.env, needNone).DarajaBaseURL(); got != tt.want {
				t.Errorf("DarajaBaseURL() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoad_Warnings(t *testing.T) {
	tests := []struct {
		name string
		env  env
		want string // part of one warning; "" = no warning
	}{
		{"None", production(), ""},
		{"CallbackNotHTTPS", production().with("CALLBACK_URL", "http://pay.example.com/cb"), "CALLBACK_URL is not https"},
		{"CallbackSaysMpesa", production().with("CALLBACK_URL", "https://example.com/MPesa/cb"), `CALLBACK_URL contains "mpesa"`},
		{"CallbackSaysSafaricom", production().with("CALLBACK_URL", "https://safaricom-hooks.example.com/cb"), `CALLBACK_URL contains "safaricom"`},
		{"MaxAmountAboveLimit", production().with("MAX_AMOUNT", "300000"), "MAX_AMOUNT 300000 is above 250000"},
		{"BuyGoodsWithoutTill", production().with("MPESA_TRANSACTION_TYPE", "CustomerBuyGoodsOnline"), "MPESA_PARTY_B is not set"},
		{"SandboxShortcodeInProduction", production().with("MPESA_SHORTCODE", "174379"), "public sandbox shortcode"},
		{"BackupWithoutServer", production().with("BACKUP_TOKEN", backupVal), "BACKUP_TOKEN is set but HTTP_ADDR and OPS_ADDR are off"},
		{"BackupOnOpsAddrOnly", production().with("BACKUP_TOKEN", backupVal, "OPS_ADDR", ":9090"), ""},
		{"CallbackWaitRetired", production().with("CALLBACK_WAIT", "60s"), "CALLBACK_WAIT is no longer read: set POLL_INITIAL_DELAY instead"},
		{"CallbackWaitRetiredEvenIfInvalid", production().with("CALLBACK_WAIT", "soon"), "CALLBACK_WAIT is no longer read"},
		{"TrustedProxiesWithoutAllowlist", production().with("HTTP_ADDR", ":8080", "TRUSTED_PROXIES", "10.0.0.0/8"), "TRUSTED_PROXIES is set but CALLBACK_ALLOWED_IPS is not, so it has no effect"},
		{"TrustedProxiesWithAllowlist", production().with("HTTP_ADDR", ":8080", "TRUSTED_PROXIES", "10.0.0.0/8", "CALLBACK_ALLOWED_IPS", "196.201.214.200"), ""},
		{"AllowlistWithoutHTTPAddr", production().with("CALLBACK_ALLOWED_IPS", "196.201.214.200"), "CALLBACK_ALLOWED_IPS is set but HTTP_ADDR is off"},
		{"AllowlistWithOpsAddrOnly", production().with("OPS_ADDR", ":9090", "CALLBACK_ALLOWED_IPS", "196.201.214.200"), "CALLBACK_ALLOWED_IPS is set but HTTP_ADDR is off"},
		{"PollTimeoutShorterThanPromptProduction", production().with("POLL_TIMEOUT", "90s"), "POLL_TIMEOUT is shorter than an M-Pesa PIN prompt's life (about 2 minutes)"},
		{"PollTimeoutShorterThanPromptSandbox", production().with("ENVIRONMENT", "sandbox", "MPESA_SHORTCODE", "174379", "POLL_TIMEOUT", "30s"), "the phone stays held for 3 minutes after the push either way"},
		{"PollTimeoutOfPromptLife", production().with("POLL_TIMEOUT", "2m"), ""},
		{"PlainBaseURLInProduction", production().with("MPESA_BASE_URL", "http://proxy.example.com"), "MPESA_BASE_URL is not https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.env, needAll)
			if tt.want == "" {
				if len(c.Warnings) != 0 {
					t.Errorf("unexpected warnings: %q", c.Warnings)
				}
				return
			}
			if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], tt.want) {
				t.Errorf("warnings = %q, want one saying %q", c.Warnings, tt.want)
			}
		})
	}
}

func TestLoad_TrustedProxiesWithoutHTTPAddrWarnsTwice(t *testing.T) {
	c := mustLoad(t, production().with("TRUSTED_PROXIES", "10.0.0.0/8"), needAll)
	got := strings.Join(c.Warnings, "\n")
	for _, want := range []string{"CALLBACK_ALLOWED_IPS is not", "TRUSTED_PROXIES is set but HTTP_ADDR is off"} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings %q do not say %q", c.Warnings, want)
		}
	}
}

func TestLoad_ShortPollTimeoutIsNoWarningInSimulator(t *testing.T) {
	c := mustLoad(t, env{"ENVIRONMENT": "simulator", "POLL_TIMEOUT": "20ms"}, needNone)
	if len(c.Warnings) != 0 {
		t.Errorf("simulator warned: %q", c.Warnings)
	}
	if c.PollTimeout != 20*time.Millisecond {
		t.Errorf("POLL_TIMEOUT = %v, want the 20ms set", c.PollTimeout)
	}
}

func TestLoad_PollInitialDelay(t *testing.T) {
	tests := []struct {
		name string
		env  env
		want time.Duration
	}{
		{"ExplicitWithHTTPAddrIsHonoured", env{"POLL_INITIAL_DELAY": "5s", "HTTP_ADDR": ":8080"}, 5 * time.Second},
		{"ExplicitWithoutHTTPAddrIsHonoured", env{"POLL_INITIAL_DELAY": "90s"}, 90 * time.Second},
		{"UnsetWithHTTPAddrWaitsForTheCallback", env{"HTTP_ADDR": ":8080"}, 60 * time.Second},
		{"UnsetWithoutHTTPAddr", env{}, 20 * time.Second},
		{"UnsetWithOpsAddrOnly", env{"OPS_ADDR": ":9090"}, 20 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustLoad(t, tt.env, needNone).PollInitialDelay; got != tt.want {
				t.Errorf("PollInitialDelay = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoad_OpsAddrMustDifferFromHTTPAddr(t *testing.T) {
	tests := []struct {
		name, http, ops string
	}{
		{"Identical", "127.0.0.1:8080", "127.0.0.1:8080"},
		{"BothAllInterfaces", ":8080", ":8080"},
		{"OpsOnAllInterfaces", "127.0.0.1:8080", "0.0.0.0:8080"},
		{"HTTPOnAllInterfaces", ":8080", "127.0.0.1:8080"},
		{"IPv6Unspecified", "[::]:8080", "[::1]:8080"},
		{"HostCase", "LocalHost:8080", "localhost:8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := mustFail(t, env{"HTTP_ADDR": tt.http, "OPS_ADDR": tt.ops}, Needs{HTTP: true})
			if len(problems) != 1 || problems[0].Var != "OPS_ADDR" || !strings.Contains(problems[0].Problem, "same address as HTTP_ADDR") {
				t.Errorf("got %q, want one OPS_ADDR problem", joinLines(problems))
			}
		})
	}
}

func TestConfig_OpsURLAddr(t *testing.T) {
	tests := []struct {
		name  string
		env   env
		needs Needs
		want  string
	}{
		{"OpsAddrWins", env{"HTTP_ADDR": ":8080", "OPS_ADDR": "127.0.0.1:9090"}, Needs{HTTP: true}, "127.0.0.1:9090"},
		{"HTTPAddrAlone", env{"HTTP_ADDR": ":8080"}, Needs{HTTP: true}, ":8080"},
		{"OpsAddrAloneSatisfiesHealthcheck", env{"OPS_ADDR": "127.0.0.1:9090"}, Needs{HTTP: true}, "127.0.0.1:9090"},
		{"OpsAddrAloneSatisfiesBackup", env{"OPS_ADDR": "127.0.0.1:9090", "BACKUP_TOKEN": backupVal}, Needs{Backup: true}, "127.0.0.1:9090"},
		{"BothOff", env{}, needNone, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustLoad(t, tt.env, tt.needs).OpsURLAddr(); got != tt.want {
				t.Errorf("OpsURLAddr() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestConfig_LogValueShowsIPLists(t *testing.T) {
	c := mustLoad(t, env{"HTTP_ADDR": ":8080", "CALLBACK_ALLOWED_IPS": "196.201.214.200, 196.201.212.0/24", "TRUSTED_PROXIES": "10.0.0.1"}, needNone)
	logged := map[string]string{}
	for _, a := range c.LogValue().Group() {
		logged[a.Key] = a.Value.String()
	}
	if got := logged["CALLBACK_ALLOWED_IPS"]; got != "196.201.214.200/32,196.201.212.0/24" {
		t.Errorf("CALLBACK_ALLOWED_IPS logged as %q", got)
	}
	if got := logged["TRUSTED_PROXIES"]; got != "10.0.0.1/32" {
		t.Errorf("TRUSTED_PROXIES logged as %q", got)
	}
	if _, ok := logged["CALLBACK_WAIT"]; ok {
		t.Errorf("LogValue still logs CALLBACK_WAIT")
	}
}

// prefixes parses CIDRs for a want column.
func prefixes(cidrs ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(cidrs))
	for i, c := range cidrs {
		out[i] = netip.MustParsePrefix(c)
	}
	return out
}

// TestDoc_ListsEveryVariable keeps doc.go, the one list operators read,
// complete.
func TestDoc_ListsEveryVariable(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range knownVars {
		if !strings.Contains(string(doc), name) {
			t.Errorf("doc.go does not document %s", name)
		}
	}
}

// TestConfig_EveryFieldHasAVariable ties Config's fields, knownVars and
// LogValue together, so a new setting cannot miss one of them.
func TestConfig_EveryFieldHasAVariable(t *testing.T) {
	c := mustLoad(t, production(), needAll)
	logged := map[string]bool{}
	for _, a := range c.LogValue().Group() {
		logged[a.Key] = true
	}
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := f.Tag.Get("env")
		if name == "-" {
			continue
		}
		if name == "" {
			t.Errorf("field %s has no env tag", f.Name)
			continue
		}
		if !slices.Contains(knownVars, name) {
			t.Errorf("field %s: %s is not in knownVars", f.Name, name)
		}
		if !logged[name] {
			t.Errorf("field %s: LogValue does not log %s", f.Name, name)
		}
	}
}
