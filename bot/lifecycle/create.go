package lifecycle

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mpesa-bot/mpesa-bot/bot/internal/failpoint"
	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// Order is a payment asked for, validated by the front-end.
type Order struct {
	ChatID    int64
	UserID    int64
	MessageID int
	// Key identifies the request that asked for it: the same request
	// delivered again finds the same payment (or the same refusal).
	Key       string
	Phone     string // normalised
	Amount    int64
	Reference string // "" → derived from Key
	// Source is how the payment started (storage.SourceSTK when "").
	Source    string
	InvoiceID string // the invoice it pays, with storage.SourceInvoice
	// Language is the payer's, for the messages owed to them ("" = default).
	Language string
}

// Reason codes of a payment refused for a limit. They are remembered per
// Order.Key, so a request delivered again gets the same answer.
const (
	RefusedPhoneBusy   = "phone_busy"
	RefusedTooManyOpen = "too_many_pending"
	RefusedRateLimited = "rate_limited"
)

// RefusedError is Create's answer to an order a limit refused.
type RefusedError struct {
	Code string // one of the Refused* codes
	// RetryAfter is how long until the hourly limit has room (0 when
	// unknown or not that limit).
	RetryAfter time.Duration
	// Again means the order was refused before (it was delivered again):
	// the same answer is due, but nothing new is counted or recorded.
	Again bool
}

func (e *RefusedError) Error() string { return "payment refused: " + e.Code }

// ErrDuplicate is Create's answer to an order whose payment already exists;
// the payment is returned with it.
var ErrDuplicate = errors.New("lifecycle: the payment already exists")

// Create writes a payment ahead of its push, applying the limits: a stored
// earlier refusal, the phone's hold, the user's hourly window, and, in the
// store's transaction, one open payment per phone and MaxPendingPerUser. The
// returned payment carries its CallbackSecret (the store keeps only a hash)
// for Push. Any other error is the store's or the system's.
func (e *Engine) Create(o Order) (storage.Payment, error) {
	// One read answers the common cases without a write: an order
	// delivered again (after a crash, before the offset was confirmed) is
	// answered with its payment, never pushed again nor counted against the
	// limits; one refused for a limit is refused again (the limit may have
	// lifted meanwhile, but the chat was told "no"); a held phone is busy.
	pc, err := e.store.Precheck(o.Key, o.Phone)
	switch {
	case err != nil:
		e.log.Error("pay: reading the order's state failed", slog.Any("error", err))
		return storage.Payment{}, err
	case pc.Existing != nil:
		return *pc.Existing, ErrDuplicate
	case pc.Refusal != "":
		return storage.Payment{}, &RefusedError{Code: pc.Refusal, Again: true}
	case time.Now().Before(pc.HeldUntil):
		return storage.Payment{}, e.refuse(o.Key, RefusedPhoneBusy, 0)
	}
	if ok, retry := e.users.allow(o.UserID, time.Now()); !ok {
		return storage.Payment{}, e.refuse(o.Key, RefusedRateLimited, retry)
	}

	secret, err := newSecret()
	if err != nil {
		e.log.Error("pay: generating a callback secret failed", slog.Any("error", err))
		return storage.Payment{}, err
	}
	ref := o.Reference
	if ref == "" {
		ref = defaultReference(o.Key)
	}
	limits := storage.Limits{OnePerPhone: true}
	if e.cfg.MaxPendingPerUser > 0 {
		limits.MaxOpenPerUser = e.cfg.MaxPendingPerUser
	}
	p, created, err := e.store.Create(storage.Payment{
		ChatID:         o.ChatID,
		UserID:         o.UserID,
		MessageID:      o.MessageID,
		IdempotencyKey: o.Key,
		Phone:          o.Phone,
		Amount:         o.Amount,
		Reference:      ref,
		Description:    e.cfg.TransactionDesc,
		Source:         o.Source,
		InvoiceID:      o.InvoiceID,
		Language:       o.Language,
		CallbackSecret: secret,
	}, limits)
	switch {
	case errors.Is(err, storage.ErrPhoneBusy):
		return storage.Payment{}, e.refuse(o.Key, RefusedPhoneBusy, 0)
	case errors.Is(err, storage.ErrTooManyOpen):
		return storage.Payment{}, e.refuse(o.Key, RefusedTooManyOpen, 0)
	case err != nil:
		e.log.Error("pay: storing the payment failed", slog.Any("error", err))
		return storage.Payment{}, err
	case !created:
		return p, ErrDuplicate
	}
	failpoint.Hit(failpoint.AfterCreate)
	e.metrics.PaymentStarted()
	e.log.Info("payment created", slog.String("payment_id", p.ID), slog.Int64("chat_id", p.ChatID),
		slog.String("phone", mpesa.MaskPhone(p.Phone)), slog.Int64("amount", p.Amount))
	p.CallbackSecret = secret
	return p, nil
}

// refuse counts and remembers a refusal under the order's key.
func (e *Engine) refuse(key, code string, retry time.Duration) error {
	e.metrics.PaymentRefused(code)
	if err := e.store.RecordRefusal(key, code); err != nil {
		e.log.Error("pay: recording the refusal failed", slog.String("reason", code), slog.Any("error", err))
	}
	return &RefusedError{Code: code, RetryAfter: retry}
}

// newSecret makes a callback secret: 160 random bits, URL-safe.
func newSecret() (string, error) {
	buf := make([]byte, 20)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return hex.EncodeToString(buf), nil
}

// defaultReference derives a reference from the order's key: the same
// request always gets the same one, and it fits Daraja's 12 characters.
func defaultReference(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "TG" + base32.StdEncoding.EncodeToString(sum[:])[:8]
}

// promptExpiry is when the PIN prompt of p's push has surely expired: the
// phone is held until then whenever the push's outcome is unknown. The hold
// is in the store, checked in the transaction that creates a payment, so it
// survives restarts.
func (e *Engine) promptExpiry(p storage.Payment) time.Time {
	return pushedAt(p).Add(e.cfg.PromptLife)
}
