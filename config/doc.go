// Package config reads mpesa-bot's settings from the environment and an
// optional .env file into one validated [Config].
//
// # Where values come from
//
// The environment comes first. The .env file (godotenv syntax, read with
// godotenv.Read, so the process environment is never changed) fills only the
// variables the environment lacks. An empty environment variable counts as
// unset, because a getenv function cannot tell the two apart. A missing .env
// file is fine; an unreadable or malformed one is reported, by line where the
// parser allows, and never with the file's content: a broken line may hold a
// secret. When the .env file is malformed, only that problem is reported,
// since every "is required" found without the file would be noise.
//
// Values are trimmed of surrounding spaces, except secrets, which are refused
// when they start or end with whitespace (a pasted newline would otherwise
// fail authentication much later, with no hint). Note that godotenv expands
// $NAME inside unquoted and double-quoted values: quote a secret that contains
// "$" with single quotes in .env.
//
// Each secret can be read from a file instead, as Docker secrets are: set
// NAME_FILE to the file's path and the trailing newlines are trimmed. Setting
// both NAME and NAME_FILE is an error. A secret and its _FILE twin are one
// setting: when the environment sets either, the .env file is not consulted
// for either.
//
// # Validation
//
// [Load] checks every variable and returns one error with every problem, one
// per line, each a [*FieldError] naming the variable; [Problems] lists them.
// No problem message contains a secret's value. Settings that are legal but
// probably wrong become [Config.Warnings] for the caller to log.
//
// # Variables
//
// Telegram:
//
//	TELEGRAM_BOT_TOKEN      secret; required when Needs.Telegram. Non-empty, no whitespace.
//	TELEGRAM_API_ENDPOINT   [https://api.telegram.org/bot%s/%s] Bot API endpoint format: an
//	                        absolute http(s) URL with exactly two %s (token, then method).
//
// Daraja (M-Pesa):
//
//	ENVIRONMENT             [sandbox] sandbox, production or simulator (the in-process Daraja
//	                        simulator: no credentials needed).
//	MPESA_CONSUMER_KEY      secret; required when Needs.Daraja, unless simulator.
//	MPESA_CONSUMER_SECRET   secret; required likewise.
//	MPESA_PASSKEY           secret; required likewise.
//	MPESA_SHORTCODE         required likewise; 5 to 8 digits. With ENVIRONMENT=simulator it
//	                        defaults to 174379, the public sandbox shortcode.
//	MPESA_TRANSACTION_TYPE  [CustomerPayBillOnline] or CustomerBuyGoodsOnline.
//	MPESA_PARTY_B           [MPESA_SHORTCODE] digits; the till number for Buy Goods.
//	MPESA_BASE_URL          [by ENVIRONMENT: sandbox https://sandbox.safaricom.co.ke, production
//	                        https://api.safaricom.co.ke] absolute http(s) URL; a trailing "/"
//	                        is dropped. See [Config.DarajaBaseURL].
//	CALLBACK_URL            required when Needs.Daraja, unless simulator. Absolute http(s) URL
//	                        without query or fragment (each payment gets CALLBACK_URL/<secret>,
//	                        so a trailing "/" is dropped). A warning when it is not https, and
//	                        when it contains "mpesa" or "safaricom": Daraja is reported to
//	                        filter such URLs.
//	TRANSACTION_DESC        [Payment] 1 to 13 characters, sent to Daraja as TransactionDesc.
//
// HTTP server and storage:
//
//	HTTP_ADDR               [off] host:port with a numeric port. Serves callbacks, and also
//	                        /healthz, /readyz, /metrics and /backup unless OPS_ADDR is set.
//	OPS_ADDR                [off] host:port like HTTP_ADDR, and not the same address: a second
//	                        listener for /healthz, /readyz, /metrics and /backup, so HTTP_ADDR
//	                        serves callbacks only. Needs.HTTP (healthcheck) and Needs.Backup
//	                        require HTTP_ADDR or OPS_ADDR; those commands call
//	                        [Config.OpsURLAddr], OPS_ADDR when set.
//	CALLBACK_ALLOWED_IPS    [any] comma-separated IPv4/IPv6 addresses and CIDRs (spaces around
//	                        commas allowed) whose callbacks are accepted. A bare address is a
//	                        /32 or /128; a CIDR with host bits set is refused, as is every
//	                        entry that does not parse, each named. Safaricom publishes the
//	                        addresses of its production callbacks (.env.example lists them);
//	                        a refused genuine callback only delays the result, since the STK
//	                        Query settles the payment. A warning when HTTP_ADDR is off.
//	TRUSTED_PROXIES         [none] addresses and CIDRs, as above, of reverse proxies whose
//	                        X-Forwarded-For gives the sender checked against
//	                        CALLBACK_ALLOWED_IPS. A warning when set without
//	                        CALLBACK_ALLOWED_IPS (it has no effect then) or without HTTP_ADDR.
//	BACKUP_TOKEN            secret, optional; at least 16 characters, no whitespace. Enables
//	                        the hot-backup route used by `mpesa-bot backup` (on OPS_ADDR when
//	                        set, else HTTP_ADDR); required when Needs.Backup.
//	DB_PATH                 [data/mpesa-bot.db] the bbolt file; must name a file, not a folder.
//
// People and chats:
//
//	ADMIN_IDS               [none] comma-separated Telegram user IDs (positive integers;
//	                        spaces allowed, empty items refused). Admins are merchants too.
//	MERCHANT_IDS            [none] likewise; may see every payment.
//	MERCHANT_CHAT_ID        [off] a chat ID that gets one line per settled payment; 0 is off.
//
// Payment watching (Go durations such as 200ms, 15s, 5m):
//
//	POLL_INITIAL_DELAY      [20s, or 60s when HTTP_ADDR is set] > 0; wait after a push before
//	                        the first STK Query. A value set is used as set, callbacks on or
//	                        off; only the default depends on HTTP_ADDR, because a callback
//	                        usually settles the payment before a query is needed.
//	POLL_INTERVAL           [15s] > 0; base interval between queries of one payment.
//	POLL_TIMEOUT            [5m] > 0; after this the chat is told the result is not confirmed.
//	                        A warning below 2m in sandbox and production: a PIN prompt can
//	                        still be answered for about 2 minutes, and the phone stays held
//	                        for 3 minutes after the push whatever POLL_TIMEOUT says.
//	SIMULATOR_DELAY         [3s] >= 0; with ENVIRONMENT=simulator, how long the simulated phone
//	                        takes to answer.
//
// Limits (0 means no limit where allowed):
//
//	MAX_AMOUNT              [250000] whole KES >= 1; a warning above 250000, the M-Pesa limit.
//	MAX_PENDING_PER_USER    [3] whole number >= 0.
//	PAY_PER_USER_PER_HOUR   [20] whole number >= 0.
//	SEND_RATE_GLOBAL        [25] messages per second to Telegram; number >= 0, fractions allowed.
//	SEND_RATE_PER_CHAT      [1] messages per second to one chat; likewise.
//	MPESA_RATE              [5] Daraja calls per second; likewise.
//
// Logging:
//
//	LOG_LEVEL               [info] debug, info, warn or error (any case).
//	LOG_FORMAT              [text] text or json (any case).
//
// Invoices, QR codes and languages:
//
//	INVOICE_TTL             [24h] > 0; how long an invoice's pay link works.
//	MERCHANT_NAME           [the bot's Telegram name] at most 64 printable characters; the
//	                        name Daraja prints on Dynamic QR codes.
//	DEFAULT_LANGUAGE        [en] en or sw; the replies of users whose Telegram language is
//	                        neither.
//
// The back office (till capture, receipt checks, refunds, reports):
//
//	C2B_SECRET              secret, optional; 16+ letters, digits, - and _. Turns on till and
//	                        paybill capture: Daraja posts to CALLBACK_URL/c2b/<C2B_SECRET>/
//	                        confirmation and …/validation. Needs CALLBACK_URL (but in the
//	                        simulator); a warning without HTTP_ADDR. Required by Needs.C2B.
//	C2B_SHORTCODE           [MPESA_PARTY_B] 5 to 12 digits: the till or paybill captured.
//	INITIATOR_NAME          [none] the shortcode's API operator (at most 64 characters), for
//	INITIATOR_PASSWORD      /verify and /refund; secret. Both or neither.
//	REPORT_TIME             [off] HH:MM, 24-hour, EAT: the daily summary to MERCHANT_CHAT_ID
//	                        (a warning when that is off).
//
// CALLBACK_WAIT is no longer read: POLL_INITIAL_DELAY took its place. Setting
// it is a warning, not an error, so an old .env still starts.
//
// Secrets from files: TELEGRAM_BOT_TOKEN_FILE, MPESA_CONSUMER_KEY_FILE,
// MPESA_CONSUMER_SECRET_FILE, MPESA_PASSKEY_FILE, BACKUP_TOKEN_FILE,
// C2B_SECRET_FILE and INITIATOR_PASSWORD_FILE each
// name a file holding that secret (at most 64 KiB).
//
// Secrets are held as [Secret], which prints, marshals and logs as
// "[redacted]" (or "[not set]"); [Secret.Reveal] is the one way to the value.
package config
