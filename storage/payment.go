package storage

import (
	"fmt"
	"log/slog"
	"time"
)

// How a payment started. A payment stored before sources existed reads as
// SourceSTK: /pay was the only way then.
const (
	SourceSTK     = "stk"     // /pay: an STK Push to a phone someone typed
	SourceInvoice = "invoice" // an invoice's Pay button: an STK Push to the payer's own Telegram number
	SourceC2B     = "c2b"     // paid straight to the till or paybill; Daraja told us afterwards
)

// Event is one entry of a payment's audit trail.
type Event struct {
	At     time.Time // when it happened; AppendEvent fills a zero time with the store's clock
	Source string    // "bot", "daraja", "query", "callback", "watcher", "telegram", "startup"
	Type   string    // "created", "push_sent", "push_answered", "settled", "notified", … (short free text)
	Detail string    // short; never a secret or a full phone number (callers mask)
}

// Payment is one STK Push payment and everything known about it.
//
// Times read back from the store are in UTC. Payment implements slog.LogValuer
// and fmt.Stringer so that logging or printing one never shows the full phone
// number or the callback secret.
type Payment struct {
	ID             string // assigned by Create when empty: unique, sortable by creation time, URL-safe
	ChatID         int64
	UserID         int64
	MessageID      int    // the /pay message; outcome messages reply to it
	IdempotencyKey string // "<chatID>:<messageID>"; a second Create with the same key returns the first payment
	Phone          string // normalised 2547…/2541…
	Amount         int64
	Reference      string
	Description    string
	Source         string // how the payment started: SourceSTK, SourceInvoice or SourceC2B
	InvoiceID      string // the invoice it pays, when Source is SourceInvoice (or a till payment matched one)
	Language       string // the payer's language for the messages owed to them ("en", "sw"; "" = the bot's default)
	// CallbackSecret is given to Create in clear. Only its SHA-256 is persisted:
	// the field is empty on every payment the store returns. GetBySecret finds
	// the payment by the clear secret.
	CallbackSecret    string
	State             State
	CheckoutRequestID string
	MerchantRequestID string
	ResultCode        string
	ResultDesc        string
	Receipt           string
	SettledBy         string // Source of the Result that settled it: "callback", "query", "push", "watcher", …
	CreatedAt         time.Time
	UpdatedAt         time.Time // the last change of a field above or below; an event alone does not move it
	PushedAt          time.Time
	SettledAt         time.Time // set when the state became final
	NextQueryAt       time.Time // zero = not scheduled; always zero in a final state
	Queries           int       // STK Queries made so far
	Notified          bool      // the chat was told about the CURRENT state (set only after Telegram accepted it)
	FeedPosted        bool      // the merchant feed got the final state
	Corrected         bool      // Correct moved it from failed to succeeded: the chat was first told it failed
	VerifyDue         bool      // failed, and M-Pesa's own confirmation of that is still to be asked (ListVerifyDue)
	Verifications     int       // confirmations asked for so far (RequestVerify counts them)
	History           []Event   // the audit trail, append-only, oldest (first appended) first
}

// LogValue logs a payment without its callback secret and with the phone masked.
func (p Payment) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", p.ID),
		slog.String("state", string(p.State)),
		slog.Int64("amount", p.Amount),
		slog.String("phone", MaskPhone(p.Phone)),
		slog.String("reference", p.Reference),
		slog.Int64("chat_id", p.ChatID),
		slog.Int64("user_id", p.UserID),
		slog.String("checkout_request_id", p.CheckoutRequestID),
		slog.String("result_code", p.ResultCode),
	)
}

// String describes a payment for humans without its secret or full phone
// number. It also serves %v and %+v, which would otherwise print every field.
func (p Payment) String() string {
	return fmt.Sprintf("payment %s (%s, KES %d, phone %s, checkout %q)",
		p.ID, p.State, p.Amount, MaskPhone(p.Phone), p.CheckoutRequestID)
}

// GoString keeps %#v from printing the callback secret and the phone number.
func (p Payment) GoString() string {
	return "storage.Payment{" + p.String() + "}"
}

// MaskPhone hides all but the last 3 digits of a phone number: "254712345678"
// becomes "*********678". Numbers of 3 characters or fewer are hidden entirely.
func MaskPhone(phone string) string {
	r := []rune(phone)
	if len(r) <= 3 {
		return maskRunes(len(r))
	}
	return maskRunes(len(r)-3) + string(r[len(r)-3:])
}

func maskRunes(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '*'
	}
	return string(b)
}

// Limits are checked by Create in the same transaction as the insert, so
// concurrent /pay commands cannot both slip under a limit.
type Limits struct {
	MaxOpenPerUser int  // 0 = no limit; counts the user's payments in an Open() state
	OnePerPhone    bool // refuse when the phone already has a payment in an Open() state
}

// Result is an outcome to apply with Settle.
type Result struct {
	State             State  // target: succeeded, failed, rejected or unknown
	ResultCode        string // Daraja's ResultCode (or errorCode for a refused push)
	ResultDesc        string
	Receipt           string // the M-Pesa receipt number, when known
	CheckoutRequestID string // optional: fills an empty one (callback before push answer); must match a set one
	Source            string // required: "callback", "query", "push", "watcher", …
	Detail            string // for the "settled" event
	// HoldUntil, on a move to unknown or failed, keeps the phone closed to
	// new payments (with Limits.OnePerPhone) until then, across restarts: the
	// PIN prompt may still be open. Zero holds nothing; other moves ignore
	// it. See Hold.
	HoldUntil time.Time
	// Verify, on a move to failed, marks the result as awaiting M-Pesa's own
	// confirmation (VerifyDue) in the same transaction: a result that came
	// from an unsigned callback is told at once but checked afterwards.
	Verify bool
}
