package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"
)

const (
	// SimulatorShortcode is MPESA_SHORTCODE's default with ENVIRONMENT=simulator.
	SimulatorShortcode = "174379"

	// mpesaMaxAmount is the largest amount one M-Pesa STK Push may carry.
	mpesaMaxAmount = 250000
	// maxSecretFile keeps a mistyped *_FILE (a log, a disk image) from being
	// read whole.
	maxSecretFile = 64 << 10
	// minBackupToken is the shortest BACKUP_TOKEN accepted: it guards a
	// download of every payment.
	minBackupToken = 16
	// minC2BSecret is the shortest C2B_SECRET accepted: it is all that
	// stands between the internet and a "payment received" line.
	minC2BSecret = 16
	// maxInitiatorName keeps INITIATOR_NAME to what fits Daraja's Initiator.
	maxInitiatorName = 64
	// maxMerchantName is about what Daraja prints legibly on a QR image.
	maxMerchantName = 64
	// pinPromptLife is about how long M-Pesa keeps a PIN prompt answerable.
	// A POLL_TIMEOUT below it tells chats "not confirmed" about payments the
	// customer may still complete.
	pinPromptLife = 2 * time.Minute
)

// secretVars are the variables that also have a _FILE twin.
var secretVars = []string{
	"TELEGRAM_BOT_TOKEN", "MPESA_CONSUMER_KEY", "MPESA_CONSUMER_SECRET", "MPESA_PASSKEY", "BACKUP_TOKEN",
	"C2B_SECRET", "INITIATOR_PASSWORD",
}

// knownVars is every variable Load reads, for the .env typo warning.
var knownVars = []string{
	"TELEGRAM_BOT_TOKEN", "TELEGRAM_API_ENDPOINT", "ENVIRONMENT", "MPESA_CONSUMER_KEY",
	"MPESA_CONSUMER_SECRET", "MPESA_PASSKEY", "MPESA_SHORTCODE", "MPESA_TRANSACTION_TYPE", "MPESA_PARTY_B",
	"MPESA_BASE_URL", "CALLBACK_URL", "TRANSACTION_DESC", "SIMULATOR_DELAY", "HTTP_ADDR", "BACKUP_TOKEN",
	"OPS_ADDR", "CALLBACK_ALLOWED_IPS", "TRUSTED_PROXIES",
	"DB_PATH", "ADMIN_IDS", "MERCHANT_IDS", "MERCHANT_CHAT_ID", "POLL_INITIAL_DELAY",
	"POLL_INTERVAL", "POLL_TIMEOUT", "MAX_AMOUNT", "MAX_PENDING_PER_USER", "PAY_PER_USER_PER_HOUR",
	"SEND_RATE_GLOBAL", "SEND_RATE_PER_CHAT", "MPESA_RATE", "LOG_LEVEL", "LOG_FORMAT",
	"TELEGRAM_BOT_TOKEN_FILE", "MPESA_CONSUMER_KEY_FILE", "MPESA_CONSUMER_SECRET_FILE", "MPESA_PASSKEY_FILE",
	"BACKUP_TOKEN_FILE", "INVOICE_TTL", "MERCHANT_NAME", "DEFAULT_LANGUAGE", "C2B_SECRET", "C2B_SHORTCODE",
	"INITIATOR_NAME", "INITIATOR_PASSWORD", "REPORT_TIME", "C2B_SECRET_FILE", "INITIATOR_PASSWORD_FILE",
}

// retiredVars are variables mpesa-bot used to read, with what to do instead.
// Setting one is a warning, not an error, so an upgrade with an old .env
// still starts.
var retiredVars = map[string]string{
	"CALLBACK_WAIT": "CALLBACK_WAIT is no longer read: set POLL_INITIAL_DELAY instead",
}

// Load reads the configuration: getenv first (os.Getenv in production, a map
// in tests), then envFile for what getenv lacks ("" reads no file). It checks
// every variable and returns all problems at once, joined with errors.Join,
// one *FieldError per line; see Problems.
func Load(getenv func(string) string, envFile string, needs Needs) (*Config, error) {
	file, fileProblem := readEnvFile(envFile)
	if fileProblem != nil {
		return nil, errorsJoin([]*FieldError{fileProblem})
	}
	l := &loader{src: source{getenv: getenv, file: file}}
	c := l.load(needs)
	l.warnUnknownFileVars(envFile)
	if len(l.problems) > 0 {
		return nil, errorsJoin(l.problems)
	}
	c.Warnings = l.warnings
	return c, nil
}

// readEnvFile reads the .env file without touching the process environment.
// godotenv's errors quote the file's text, which may be a secret: they are
// turned into a line number and a kind of mistake.
func readEnvFile(path string) (map[string]string, *FieldError) {
	if path == "" {
		return nil, nil
	}
	content, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &FieldError{Var: path, Problem: "cannot be read: " + pathErrorReason(err)}
	}
	vars, err := godotenv.UnmarshalBytes(content)
	if err != nil {
		return nil, &FieldError{Var: path, Problem: describeEnvFileError(content, err)}
	}
	return vars, nil
}

// describeEnvFileError says where godotenv stopped and why, without its
// message, which echoes the rest of the line or of the file.
func describeEnvFileError(content []byte, err error) string {
	text := strings.ReplaceAll(string(content), "\r\n", "\n") // as godotenv sees it
	msg := err.Error()
	kind, at := "is malformed", -1
	switch {
	case strings.HasPrefix(msg, "unterminated quoted value "):
		kind = "has a quoted value that is never closed"
		// The value ran to the end of the file, so its opening quote is the
		// last place the echoed text occurs.
		at = strings.LastIndex(text, strings.TrimPrefix(msg, "unterminated quoted value "))
	case strings.HasPrefix(msg, "unexpected character "):
		kind = "has a variable name with a character other than letters, digits, _ and ."
		if _, quoted, ok := strings.Cut(msg, " near "); ok {
			if rest, uerr := strconv.Unquote(quoted); uerr == nil && strings.HasSuffix(text, rest) {
				at = len(text) - len(rest)
			}
		}
	}
	if at < 0 {
		return kind + " (the line is not shown: it may hold a secret)"
	}
	line := strings.Count(text[:at], "\n") + 1
	return fmt.Sprintf("line %d %s (the line is not shown: it may hold a secret)", line, kind)
}

// pathErrorReason drops the path from an *fs.PathError: the caller names it.
func pathErrorReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// source answers "what is NAME set to", environment first.
type source struct {
	getenv func(string) string
	file   map[string]string
}

func (s source) raw(name string) string {
	if v := s.getenv(name); v != "" {
		return v
	}
	// A secret and its _FILE twin are one setting: the environment's choice of
	// either wins over the file's choice of the other.
	if twin, ok := secretTwin(name); ok && s.getenv(twin) != "" {
		return ""
	}
	return s.file[name]
}

func secretTwin(name string) (string, bool) {
	for _, v := range secretVars {
		switch name {
		case v:
			return v + "_FILE", true
		case v + "_FILE":
			return v, true
		}
	}
	return "", false
}

// loader collects every problem and warning while it fills a Config.
type loader struct {
	src      source
	problems []*FieldError
	warnings []string
}

func (l *loader) fail(name, format string, args ...any) {
	l.problems = append(l.problems, &FieldError{Var: name, Problem: fmt.Sprintf(format, args...)})
}

func (l *loader) warn(format string, args ...any) {
	l.warnings = append(l.warnings, fmt.Sprintf(format, args...))
}

// str is a non-secret value, trimmed, or "" when unset.
func (l *loader) str(name string) string { return strings.TrimSpace(l.src.raw(name)) }

func (l *loader) load(needs Needs) *Config {
	c := &Config{}

	c.TelegramBotToken = l.secret("TELEGRAM_BOT_TOKEN")
	if c.TelegramBotToken != "" && strings.ContainsFunc(c.TelegramBotToken.Reveal(), isSpace) {
		l.fail("TELEGRAM_BOT_TOKEN", "contains whitespace (the value is not shown)")
	}
	if needs.Telegram && !c.TelegramBotToken.IsSet() && !l.failed("TELEGRAM_BOT_TOKEN") {
		l.fail("TELEGRAM_BOT_TOKEN", "is required (the token from @BotFather; or set TELEGRAM_BOT_TOKEN_FILE)")
	}
	c.TelegramAPIEndpoint = l.endpoint("TELEGRAM_API_ENDPOINT")

	env, envOK := l.choice("ENVIRONMENT", string(Sandbox), string(Sandbox), string(Production), string(Simulator))
	c.Environment = Environment(env)
	// Whether credentials are required depends on ENVIRONMENT: when it is
	// itself wrong, asking for them would only add guesses to the report.
	needDaraja := needs.Daraja && envOK && c.Environment != Simulator
	required := func(name string) {
		if needDaraja && !l.failed(name) {
			l.fail(name, "is required (ENVIRONMENT=%s)", c.Environment)
		}
	}

	c.MpesaConsumerKey = l.secret("MPESA_CONSUMER_KEY")
	c.MpesaConsumerSecret = l.secret("MPESA_CONSUMER_SECRET")
	c.MpesaPasskey = l.secret("MPESA_PASSKEY")
	for _, s := range []struct {
		name  string
		value Secret
	}{
		{"MPESA_CONSUMER_KEY", c.MpesaConsumerKey},
		{"MPESA_CONSUMER_SECRET", c.MpesaConsumerSecret},
		{"MPESA_PASSKEY", c.MpesaPasskey},
	} {
		if !s.value.IsSet() {
			required(s.name)
		}
	}

	c.MpesaShortcode = l.digits("MPESA_SHORTCODE", 5, 8)
	if c.MpesaShortcode == "" && !l.failed("MPESA_SHORTCODE") {
		if envOK && c.Environment == Simulator {
			c.MpesaShortcode = SimulatorShortcode
		} else {
			required("MPESA_SHORTCODE")
		}
	}
	c.MpesaTransactionType, _ = l.choice("MPESA_TRANSACTION_TYPE", PayBill, PayBill, BuyGoods)
	c.MpesaPartyB = l.digits("MPESA_PARTY_B", 1, 12)
	if c.MpesaPartyB == "" {
		c.MpesaPartyB = c.MpesaShortcode
		if needDaraja && c.MpesaTransactionType == BuyGoods && !l.failed("MPESA_PARTY_B") {
			l.warn("MPESA_PARTY_B is not set, so PartyB is the shortcode: with %s it is usually the till number", BuyGoods)
		}
	}
	if envOK && c.Environment == Production && c.MpesaShortcode == SimulatorShortcode {
		l.warn("MPESA_SHORTCODE is %s, the public sandbox shortcode, but ENVIRONMENT=production", SimulatorShortcode)
	}
	c.MpesaBaseURL = l.httpURL("MPESA_BASE_URL", false)
	if c.MpesaBaseURL != "" && envOK && c.Environment == Production && !strings.HasPrefix(c.MpesaBaseURL, "https:") {
		l.warn("MPESA_BASE_URL is not https but ENVIRONMENT=production: credentials would cross the network in clear")
	}
	c.CallbackURL = l.httpURL("CALLBACK_URL", true)
	if c.CallbackURL == "" && !l.failed("CALLBACK_URL") {
		required("CALLBACK_URL")
	}
	if c.CallbackURL != "" {
		if !strings.HasPrefix(c.CallbackURL, "https:") {
			l.warn("CALLBACK_URL is not https: Daraja expects a public HTTPS URL, and the per-payment secret in it would cross the network in clear")
		}
		lower := strings.ToLower(c.CallbackURL)
		for _, word := range []string{"mpesa", "safaricom"} {
			if strings.Contains(lower, word) {
				l.warn("CALLBACK_URL contains %q: Daraja is reported to drop callbacks to URLs containing \"mpesa\" or \"safaricom\"", word)
			}
		}
	}
	c.TransactionDesc = l.transactionDesc("TRANSACTION_DESC")
	c.SimulatorDelay = l.duration("SIMULATOR_DELAY", DefaultSimulatorDelay, true)

	c.HTTPAddr = l.hostPort("HTTP_ADDR")
	c.OpsAddr = l.hostPort("OPS_ADDR")
	if c.OpsAddr != "" && c.HTTPAddr != "" && sameListenAddr(c.OpsAddr, c.HTTPAddr) {
		l.fail("OPS_ADDR", "%s is the same address as HTTP_ADDR: give it another port, or unset it to serve every route on HTTP_ADDR", quote(c.OpsAddr))
		c.OpsAddr = ""
	}
	if (needs.HTTP || needs.Backup) && c.OpsURLAddr() == "" && !l.failed("HTTP_ADDR") && !l.failed("OPS_ADDR") {
		l.fail("HTTP_ADDR", "is required by this command, or OPS_ADDR (the address the bot's /readyz and /backup listen on, like 127.0.0.1:8080)")
	}
	c.CallbackAllowedIPs = l.prefixes("CALLBACK_ALLOWED_IPS")
	c.TrustedProxies = l.prefixes("TRUSTED_PROXIES")
	if c.TrustedProxies != nil && c.CallbackAllowedIPs == nil && !l.failed("CALLBACK_ALLOWED_IPS") {
		l.warn("TRUSTED_PROXIES is set but CALLBACK_ALLOWED_IPS is not, so it has no effect: X-Forwarded-For is read only to check callback senders")
	}
	if c.HTTPAddr == "" && !l.failed("HTTP_ADDR") {
		for _, v := range []struct {
			name string
			set  bool
		}{
			{"CALLBACK_ALLOWED_IPS", c.CallbackAllowedIPs != nil},
			{"TRUSTED_PROXIES", c.TrustedProxies != nil},
		} {
			if v.set {
				l.warn("%s is set but HTTP_ADDR is off, so no callback is received for it to check", v.name)
			}
		}
	}
	c.BackupToken = l.secret("BACKUP_TOKEN")
	if tok := c.BackupToken.Reveal(); tok != "" {
		switch {
		case strings.ContainsFunc(tok, isSpace):
			l.fail("BACKUP_TOKEN", "contains whitespace (the value is not shown)")
		case len(tok) < minBackupToken:
			l.fail("BACKUP_TOKEN", "is too short: use at least %d characters, e.g. from `openssl rand -hex 32`", minBackupToken)
		}
		if c.OpsURLAddr() == "" && !needs.Backup && !l.failed("HTTP_ADDR") && !l.failed("OPS_ADDR") {
			l.warn("BACKUP_TOKEN is set but HTTP_ADDR and OPS_ADDR are off, so there is no backup route")
		}
	} else if needs.Backup && !l.failed("BACKUP_TOKEN") {
		l.fail("BACKUP_TOKEN", "is required by this command (the token the backup route checks; or set BACKUP_TOKEN_FILE)")
	}
	c.DBPath = l.dbPath("DB_PATH")

	c.AdminIDs = l.userIDs("ADMIN_IDS")
	c.MerchantIDs = l.userIDs("MERCHANT_IDS")
	c.MerchantChatID = l.chatID("MERCHANT_CHAT_ID")

	initialDelay := DefaultPollInitialDelay
	if c.HTTPAddr != "" {
		initialDelay = DefaultPollInitialDelayWithHTTP
	}
	c.PollInitialDelay = l.duration("POLL_INITIAL_DELAY", initialDelay, false)
	for _, name := range slices.Sorted(maps.Keys(retiredVars)) {
		if l.src.raw(name) != "" {
			l.warn("%s", retiredVars[name])
		}
	}
	c.PollInterval = l.duration("POLL_INTERVAL", DefaultPollInterval, false)
	c.PollTimeout = l.duration("POLL_TIMEOUT", DefaultPollTimeout, false)
	if envOK && (c.Environment == Sandbox || c.Environment == Production) && c.PollTimeout < pinPromptLife && !l.failed("POLL_TIMEOUT") {
		// The bot holds the phone for the prompt's whole life whatever
		// POLL_TIMEOUT says; only the chat's wording comes early.
		l.warn("POLL_TIMEOUT is shorter than an M-Pesa PIN prompt's life (about 2 minutes): chats are told 'not confirmed' while the prompt may still be answered; the phone stays held for 3 minutes after the push either way")
	}

	c.MaxAmount = l.integer("MAX_AMOUNT", DefaultMaxAmount, 1)
	if c.MaxAmount > mpesaMaxAmount {
		l.warn("MAX_AMOUNT %d is above %d, the largest amount one M-Pesa STK Push may carry: Daraja will refuse larger payments", c.MaxAmount, mpesaMaxAmount)
	}
	c.MaxPendingPerUser = int(l.integer("MAX_PENDING_PER_USER", DefaultMaxPendingPerUser, 0))
	c.PayPerUserPerHour = int(l.integer("PAY_PER_USER_PER_HOUR", DefaultPayPerUserPerHour, 0))
	c.SendRateGlobal = l.rate("SEND_RATE_GLOBAL", DefaultSendRateGlobal)
	c.SendRatePerChat = l.rate("SEND_RATE_PER_CHAT", DefaultSendRatePerChat)
	c.MpesaRate = l.rate("MPESA_RATE", DefaultMpesaRate)

	c.LogLevel = l.logLevel("LOG_LEVEL")
	c.LogFormat, _ = l.choice("LOG_FORMAT", LogText, LogText, LogJSON)

	l.backOffice(c, needs)
	return c
}

// backOffice reads the settings of invoices, QR codes, languages, till
// capture, receipt checks, refunds and reports.
func (l *loader) backOffice(c *Config, needs Needs) {
	c.InvoiceTTL = l.duration("INVOICE_TTL", DefaultInvoiceTTL, false)
	c.MerchantName = l.merchantName("MERCHANT_NAME")
	c.DefaultLanguage, _ = l.choice("DEFAULT_LANGUAGE", DefaultDefaultLanguage, LangEnglish, LangSwahili)

	c.C2BSecret = l.secret("C2B_SECRET")
	if sec := c.C2BSecret.Reveal(); sec != "" {
		switch {
		case len(sec) < minC2BSecret:
			l.fail("C2B_SECRET", "is too short: use at least %d characters, e.g. from `openssl rand -hex 16`", minC2BSecret)
		case strings.IndexFunc(sec, notURLSafe) >= 0:
			// It becomes a path segment of the URL registered with Daraja.
			l.fail("C2B_SECRET", "may hold only letters, digits, - and _ (the value is not shown)")
		}
		if c.CallbackURL == "" && !l.failed("CALLBACK_URL") && !l.failed("C2B_SECRET") && c.Environment != Simulator {
			l.fail("C2B_SECRET", "needs CALLBACK_URL: Daraja posts till payments to CALLBACK_URL/c2b/<C2B_SECRET>/confirmation")
		}
		if c.HTTPAddr == "" && !l.failed("HTTP_ADDR") && !needs.C2B {
			l.warn("C2B_SECRET is set but HTTP_ADDR is off, so till and paybill payments are not received")
		}
	} else if needs.C2B && !l.failed("C2B_SECRET") {
		l.fail("C2B_SECRET", "is required by this command (16+ letters, digits, - or _; or set C2B_SECRET_FILE)")
	}
	if needs.C2B && c.CallbackURL == "" && !l.failed("CALLBACK_URL") {
		l.fail("CALLBACK_URL", "is required by this command (the public HTTPS URL Daraja posts to)")
	}
	c.C2BShortcode = l.digits("C2B_SHORTCODE", 5, 12)
	if c.C2BShortcode == "" {
		c.C2BShortcode = c.MpesaPartyB
	}

	c.InitiatorName = l.str("INITIATOR_NAME")
	c.InitiatorPassword = l.secret("INITIATOR_PASSWORD")
	switch {
	case c.InitiatorName != "" && !c.InitiatorPassword.IsSet() && !l.failed("INITIATOR_PASSWORD"):
		l.fail("INITIATOR_NAME", "needs INITIATOR_PASSWORD too (the API operator's password; or set INITIATOR_PASSWORD_FILE)")
	case c.InitiatorName == "" && c.InitiatorPassword.IsSet():
		l.fail("INITIATOR_PASSWORD", "needs INITIATOR_NAME too (the API operator's user name)")
	}
	if len(c.InitiatorName) > maxInitiatorName {
		l.fail("INITIATOR_NAME", "is longer than %d characters", maxInitiatorName)
	}

	c.ReportTime = l.clock("REPORT_TIME")
	if c.ReportTime >= 0 && c.MerchantChatID == 0 && !l.failed("MERCHANT_CHAT_ID") {
		l.warn("REPORT_TIME is set but MERCHANT_CHAT_ID is off, so the daily report has nowhere to go")
	}
}

func notURLSafe(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
}

// failed reports whether name already has a problem, so it gets one line.
func (l *loader) failed(name string) bool {
	for _, p := range l.problems {
		if p.Var == name || p.Var == name+"_FILE" {
			return true
		}
	}
	return false
}

// secret reads NAME or the file NAME_FILE names. Problems never show the value.
func (l *loader) secret(name string) Secret {
	fileVar := name + "_FILE"
	value, path := l.src.raw(name), strings.TrimSpace(l.src.raw(fileVar))
	switch {
	case value != "" && path != "":
		l.fail(name, "and %s are both set: set only one", fileVar)
		return ""
	case path != "":
		v, problem := readSecretFile(path)
		if problem != "" {
			l.fail(fileVar, "%s", problem)
			return ""
		}
		value = v
	}
	if value != "" && strings.TrimSpace(value) != value {
		l.fail(name, "starts or ends with whitespace (the value is not shown)")
		return ""
	}
	return Secret(value)
}

func readSecretFile(path string) (string, string) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Sprintf("cannot read %q: %s", path, pathErrorReason(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Sprintf("cannot read %q: %s", path, pathErrorReason(err))
	}
	if len(data) > maxSecretFile {
		return "", fmt.Sprintf("%q is larger than %d KiB: it cannot be the secret", path, maxSecretFile>>10)
	}
	value := strings.TrimRight(string(data), "\r\n")
	if value == "" {
		return "", fmt.Sprintf("%q is empty", path)
	}
	return value, ""
}

func isSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\v', '\f', 0x85, 0xA0:
		return true
	}
	return false
}

// warnUnknownFileVars flags .env names that look like ours but are not: a
// typo there silently leaves the default in force. Names of other programs
// sharing the file (COMPOSE_PROJECT_NAME, …) are left alone.
func (l *loader) warnUnknownFileVars(envFile string) {
	prefixes := map[string]bool{}
	for _, v := range knownVars {
		head, _, _ := strings.Cut(v, "_")
		prefixes[head] = true
	}
	names := make([]string, 0, len(l.src.file))
	for name := range l.src.file {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		head, _, _ := strings.Cut(name, "_")
		_, retired := retiredVars[name]
		if prefixes[head] && !slices.Contains(knownVars, name) && !retired {
			l.warn("%s sets %s, which mpesa-bot does not read: a typo?", envFile, name)
		}
	}
}
