package config

import "time"

// The defaults of every optional variable, in one place. The bot is given
// every value from here: it has no defaults of its own for these, and 0 means
// "no limit" for the limits and rates from the environment to the code.
const (
	DefaultTelegramAPIEndpoint = "https://api.telegram.org/bot%s/%s"
	DefaultDBPath              = "data/mpesa-bot.db"
	DefaultTransactionDesc     = "Payment"
	DefaultMaxAmount           = 250000
	DefaultSimulatorDelay      = 3 * time.Second

	// DefaultPollInitialDelay is POLL_INITIAL_DELAY's default without
	// HTTP_ADDR: with no callback coming, the query is the only way to learn
	// the result.
	DefaultPollInitialDelay = 20 * time.Second
	// DefaultPollInitialDelayWithHTTP is POLL_INITIAL_DELAY's default when
	// HTTP_ADDR is set: the callback normally arrives first, and a query
	// sent while the customer is still typing the PIN only answers "pending".
	DefaultPollInitialDelayWithHTTP = 60 * time.Second
	DefaultPollInterval             = 15 * time.Second
	DefaultPollTimeout              = 5 * time.Minute

	DefaultMaxPendingPerUser = 3  // open payments per Telegram user; 0 = no limit
	DefaultPayPerUserPerHour = 20 // /pay per user in any 60 minutes; 0 = no limit
	DefaultSendRateGlobal    = 25 // messages per second to Telegram; 0 = no limit
	DefaultSendRatePerChat   = 1  // messages per second to one chat; 0 = no limit
	DefaultMpesaRate         = 5  // Daraja calls per second; 0 = no limit

	DefaultInvoiceTTL      = 24 * time.Hour // how long an invoice's pay link works
	DefaultDefaultLanguage = LangEnglish    // replies to users whose language is neither en nor sw
)
