// Package mpesa is a client for Safaricom's Daraja M-Pesa Express API: STK
// Push (a PIN prompt on the customer's phone) and STK Query (how it ended),
// plus everything around them: the OAuth token cache, the password and
// timestamp, validation of every field before a request leaves, decoding of
// the result callback, the result-code table and typed errors.
//
// It keeps the six functions of the Python module it descends from:
// Client.Token, Timestamp, Client.Password, Client.Push, Client.Query and
// Client.EnvironmentInfo, with its error types (Error as the base of
// AuthenticationError, PaymentError and QueryError), its retry policy and its
// log levels (INFO for operations, DEBUG for payloads, ERROR for failures).
//
// # Money first
//
// STK Push is not idempotent: a repeated request is a second PIN prompt and
// possibly a second charge. Push therefore never resends a request that may
// have reached Daraja. It sends again only when the TCP connection could not
// be dialled (the request provably never left; up to RetryMax times, with
// the same backoff as queries) and once after Daraja refused the access token
// (the gateway refuses before anything starts). When a push
// may have reached Daraja but no usable answer came back — a timeout or reset
// after connecting, a cut-off or undecodable 2xx, a 5xx without a Daraja
// error body — Push returns a *PaymentError whose OutcomeUnknown is true: the
// caller must tell the customer honestly and find out later (callback or
// query), never push again. Redirects are never followed, for the same
// reason.
//
// STK Query and the token request are safe to repeat and are retried with
// go-retryablehttp on transport errors and HTTP 408, 429, 500, 502, 503 and
// 504 (RetryMax retries, exponential backoff from RetryWaitMin, capped at
// RetryWaitMax even when Retry-After asks for more). A query answered
// "pending" in either shape (HTTP 500 errorCode 500.001.1001 "The
// transaction is being processed", or HTTP 200 ResultCode 4999) is not
// retried and not an error: Query returns a QueryResult with Pending set.
// Spike arrest (500.003.02) is retried like a 429.
//
// # Secrets
//
// The consumer key and secret, the passkey, the access token, the password
// and the callback URL's path (it carries the per-payment secret) never
// appear in a log line or an error; phone numbers appear masked to their
// last 3 digits. Daraja echoes the token in "Invalid Access Token - <token>";
// such text is redacted before it is kept. Config, Client, PushRequest and
// Callback render safely with %v and log/slog.
//
// # Decisions where the contract was silent
//
//   - Every error from Push is a *PaymentError, including validation errors
//     (errors.As finds the *ValidationError) and token failures (errors.As
//     finds the *AuthenticationError); OutcomeUnknown is false for those.
//   - A 5xx without a Daraja error body counts as "may have reached Daraja"
//     whatever its number, not only 500/502/503/504: when in doubt the push
//     is reported unknown, never refused.
//   - A transport error after a connection was obtained is "unknown" even if
//     it looks like a clean refusal; a failed dial or a refused server
//     certificate is "not sent".
//   - A 2xx push answer with ResponseCode "0" but no CheckoutRequestID (or
//     one that could never be queried), or with no ResponseCode at all, is
//     "unknown".
//   - A query answer whose CheckoutRequestID differs from the one asked about
//     is an error, not a result.
//   - The pending HTTP 500 shape is recognised by errorCode 500.001.1001 and
//     a message containing "being processed" (or "under processing"): the
//     code is shared with "Unable to lock subscriber" and "Wrong
//     credentials", so the message must decide.
//   - Callers never match Daraja's codes or message text themselves:
//     IsPending, IsSubscriberLocked, IsWrongCredentials, IsMerchantUnknown
//     and IsCheckoutUnknown tell the 500.001.1001 answers apart by message,
//     case-insensitively, and InvalidField reads the field out of 400.002.02
//     "Bad Request - Invalid <Field>". IsCheckoutUnknown also accepts
//     500.001.1001 "The transaction does not Exist", reported from the
//     sandbox for a CheckoutRequestID it does not know.
//   - Result codes Safaricom lists without a usable meaning (1036, E3008)
//     read "M-Pesa declined the payment (code N)" rather than a guess. Every
//     code in the table other than 0, 4999 and the cancelled, timed-out,
//     insufficient, wrong-PIN and busy ones is OutcomeFailed; a code not in
//     the table is OutcomeUnknown. ResultCode.Hint says what the merchant
//     should change when the cause is on their side.
//   - A token whose expires_in is missing is used for that call only; one
//     shorter than two minutes is refreshed at half its life. If an early
//     refresh fails while the current token has not expired, the current
//     token is used and the refresh is tried again on the next call. If the
//     goroutine fetching a token gives up (its ctx ends), a waiter with time
//     left fetches again itself.
//   - For Pay Bill, PartyB must equal ShortCode (New refuses another value);
//     for Buy Goods it is the till and defaults to ShortCode.
//   - With Environment "simulator", credentials are optional and ShortCode
//     and Passkey default to the sandbox ones. Production refuses the sandbox
//     shortcode and passkey, and a sandbox/production name that contradicts
//     the BaseURL.
//   - RetryMax 0 means the default (2); a negative RetryMax means no retries.
//   - Amounts: "1,000" must be grouped by thousands ("10,00" is refused); any
//     decimal point is refused, even "100.00".
//   - Phones: spaces (any Unicode space) and dashes may appear anywhere
//     between digits; a '+' only at the start and only before 254.
//   - Callbacks: a missing ResultCode is an error (never read as 0); Amount
//     must be a whole positive number, Receipt alphanumeric, Phone digits,
//     or they are left empty (the raw item stays in Items).
//   - Token, push and query responses are read up to 1 MiB.
package mpesa
