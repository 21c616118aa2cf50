package bot

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/mpesa-bot/mpesa-bot/bot/internal/failpoint"
	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// eventPushSent is the audit event written just before the STK Push leaves.
const eventPushSent = "push_sent"

// payArgs is a /pay command read and validated.
type payArgs struct {
	phone     string // normalised
	amount    int64
	reference string // "" → derived from the payment
}

// parsePay reads "/pay <phone> <amount> [ref]". A phone typed in groups
// ("+254 712 345 678") spans several fields, so the amount and reference are
// taken from the end: with a reference first, then without. The valid phone
// lengths make at most one reading valid. The returned text is the refusal.
func parsePay(args []string, maxAmount int64) (payArgs, string) {
	if len(args) < 2 {
		return payArgs{}, payUsage(maxAmount)
	}
	type reading struct{ phone, amount, ref string }
	var readings []reading
	if len(args) >= 3 {
		readings = append(readings, reading{strings.Join(args[:len(args)-2], ""), args[len(args)-2], args[len(args)-1]})
	}
	readings = append(readings, reading{strings.Join(args[:len(args)-1], ""), args[len(args)-1], ""})

	for _, r := range readings {
		phone, err := mpesa.NormalizePhone(r.phone)
		if err != nil {
			continue
		}
		amount, err := mpesa.ParseAmount(r.amount, maxAmount)
		if err != nil {
			return payArgs{}, badAmountText(r.amount, maxAmount)
		}
		if r.ref != "" {
			if err := mpesa.ValidateAccountReference(r.ref); err != nil {
				return payArgs{}, badReferenceText(r.ref)
			}
		}
		return payArgs{phone: phone, amount: amount, reference: r.ref}, ""
	}
	// No reading has a valid phone: show the most likely one (the first field).
	return payArgs{}, badPhoneText(args[0])
}

// handlePay is /pay: validate, apply the abuse limits, write the payment
// ahead, push once, and acknowledge. The outcome comes later, from the
// watcher or a callback, through the notifier.
func (b *Bot) handlePay(ctx context.Context, m *tgbotapi.Message, args []string) {
	key := fmt.Sprintf("%d:%d", m.Chat.ID, m.MessageID)
	// A /pay Telegram delivered again (after a crash, before the offset was
	// confirmed) must not push again, nor count against the limits.
	if p, err := b.store.GetByIdempotencyKey(key); err == nil {
		b.reply(ctx, m, duplicateText(p))
		return
	}

	pa, refusal := parsePay(args, b.cfg.MaxAmount)
	if refusal != "" {
		b.metrics.payRefused("invalid")
		b.reply(ctx, m, refusal)
		return
	}
	// A /pay refused for a limit and delivered again after a crash is
	// refused again: the limit may have lifted meanwhile, but the chat was
	// told "no", and a push now would surprise everyone.
	if code, refused, err := b.store.Refusal(key); err != nil {
		b.log.Error("pay: reading earlier refusals failed", slog.Any("error", err))
		b.reply(ctx, m, internalErrorText)
		return
	} else if refused {
		b.reply(ctx, m, b.refusalText(code, pa.phone, 0))
		return
	}
	if until, _, err := b.store.PhoneHeldUntil(pa.phone); err == nil && time.Now().Before(until) {
		b.refusePay(ctx, m, key, refusedPhoneBusy, b.refusalText(refusedPhoneBusy, pa.phone, 0))
		return
	}
	if ok, retry := b.users.allow(m.From.ID, time.Now()); !ok {
		b.refusePay(ctx, m, key, refusedRateLimited, b.refusalText(refusedRateLimited, pa.phone, retry))
		return
	}

	secret, err := newSecret()
	if err != nil {
		b.log.Error("pay: generating a callback secret failed", slog.Any("error", err))
		b.reply(ctx, m, internalErrorText)
		return
	}
	ref := pa.reference
	if ref == "" {
		ref = defaultReference(key)
	}
	limits := storage.Limits{OnePerPhone: true}
	if b.cfg.MaxPendingPerUser > 0 {
		limits.MaxOpenPerUser = b.cfg.MaxPendingPerUser
	}
	p, created, err := b.store.Create(storage.Payment{
		ChatID:         m.Chat.ID,
		UserID:         m.From.ID,
		MessageID:      m.MessageID,
		IdempotencyKey: key,
		Phone:          pa.phone,
		Amount:         pa.amount,
		Reference:      ref,
		Description:    b.cfg.TransactionDesc,
		CallbackSecret: secret,
	}, limits)
	switch {
	case errors.Is(err, storage.ErrPhoneBusy):
		b.refusePay(ctx, m, key, refusedPhoneBusy, b.refusalText(refusedPhoneBusy, pa.phone, 0))
		return
	case errors.Is(err, storage.ErrTooManyOpen):
		b.refusePay(ctx, m, key, refusedTooManyOpen, b.refusalText(refusedTooManyOpen, pa.phone, 0))
		return
	case err != nil:
		b.log.Error("pay: storing the payment failed", slog.Any("error", err))
		b.reply(ctx, m, internalErrorText)
		return
	case !created:
		b.reply(ctx, m, duplicateText(p))
		return
	}
	failpoint.Hit(failpoint.AfterCreate)
	b.metrics.paymentStarted()
	b.log.Info("payment created", slog.String("payment_id", p.ID), slog.Int64("chat_id", p.ChatID),
		slog.String("phone", mpesa.MaskPhone(p.Phone)), slog.Int64("amount", p.Amount))

	done := b.expectAck(p.ID)
	defer done()
	p, ok := b.push(ctx, p, secret)
	if !ok {
		return // settled as rejected or unknown: the notifier tells the chat
	}
	if _, err := b.sender.send(ctx, replyTo(p.ChatID, p.MessageID, ackText(p))); err != nil {
		b.log.Warn("telegram: sending the acknowledgement failed", slog.String("payment_id", p.ID), slog.Any("error", err))
	}
}

// Reason codes of a /pay refused for a limit; they are remembered per
// message, so a redelivered /pay gets the same answer.
const (
	refusedPhoneBusy   = "phone_busy"
	refusedTooManyOpen = "too_many_pending"
	refusedRateLimited = "rate_limited"
)

// refusePay answers a /pay refused for a limit and remembers the refusal
// under the message's key.
func (b *Bot) refusePay(ctx context.Context, m *tgbotapi.Message, key, code, text string) {
	b.metrics.payRefused(code)
	if err := b.store.RecordRefusal(key, code); err != nil {
		b.log.Error("pay: recording the refusal failed", slog.String("reason", code), slog.Any("error", err))
	}
	b.reply(ctx, m, text)
}

// refusalText words a limit refusal; retry is how long until the hourly
// limit has room (0 when unknown).
func (b *Bot) refusalText(code, phone string, retry time.Duration) string {
	switch code {
	case refusedPhoneBusy:
		return phoneBusyText(phone)
	case refusedTooManyOpen:
		return tooManyOpenText(b.cfg.MaxPendingPerUser)
	}
	return rateLimitedText(b.cfg.PayPerUserPerHour, retry)
}

// push sends the STK Push once and records what came of it. It reports
// whether the payment is now pending (the acknowledgement is due).
func (b *Bot) push(ctx context.Context, p storage.Payment, secret string) (storage.Payment, bool) {
	err := b.waitDaraja(ctx)
	if err == nil {
		err = ctx.Err() // no rate limit to wait for, but the bot may be stopping all the same
	}
	if err != nil {
		// Nothing left the building: the bot is stopping.
		b.settle(p.ID, storage.Result{State: storage.StateRejected, Source: "push", ResultCode: "shutdown",
			ResultDesc: "the bot was shutting down", Detail: "not sent: " + err.Error()})
		return p, false
	}
	// Recorded before the request: after a crash it tells "maybe sent"
	// (unknown) from "never sent" (rejected).
	start := time.Now()
	if err := b.store.AppendEvent(p.ID, storage.Event{At: start, Source: "bot", Type: eventPushSent,
		Detail: "STK Push to " + mpesa.MaskPhone(p.Phone)}); err != nil {
		b.log.Error("pay: recording the push failed; not sending it", slog.String("payment_id", p.ID), slog.Any("error", err))
		b.settle(p.ID, storage.Result{State: storage.StateRejected, Source: "push", ResultCode: "storage",
			ResultDesc: "the bot could not record it", Detail: "not sent: " + err.Error()})
		return p, false
	}
	failpoint.Hit(failpoint.BeforePush)
	pctx, cancel := context.WithTimeout(ctx, b.cfg.PushTimeout)
	defer cancel()
	resp, err := b.daraja.Push(pctx, mpesa.PushRequest{
		Phone:            p.Phone,
		Amount:           p.Amount,
		AccountReference: p.Reference,
		TransactionDesc:  p.Description,
		CallbackURL:      strings.TrimRight(b.cfg.CallbackURL, "/") + "/" + secret,
	})
	if err != nil {
		b.pushFailed(p, err)
		return p, false
	}
	failpoint.Hit(failpoint.AfterPush)

	next := start.Add(b.cfg.PollInitialDelay)
	var rerr error
	for _, wait := range []time.Duration{0, 100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second} {
		time.Sleep(wait) // a store that failed once may recover (a full disk freed); the answer is worth waiting for
		var rec storage.Payment
		if rec, rerr = b.store.RecordPush(p.ID, resp.CheckoutRequestID, resp.MerchantRequestID, next); rerr == nil {
			p = rec
			break
		}
	}
	if rerr != nil {
		// The prompt is on the phone but the store failed. A callback still
		// finds the payment by its secret; meanwhile the answer is stored
		// as soon as the store takes it, so the watcher can query it. The
		// IDs are in the log for an operator in case it never does.
		b.log.Error("pay: storing the push answer failed; retrying in the background", slog.String("payment_id", p.ID),
			slog.String("checkout_request_id", resp.CheckoutRequestID), slog.Any("error", rerr))
		b.recordPushLater(p.ID, resp.CheckoutRequestID, resp.MerchantRequestID, next)
		p.CheckoutRequestID = resp.CheckoutRequestID
		p.State = storage.StatePending
	}
	failpoint.Hit(failpoint.AfterPushStored)
	b.log.Info("payment pushed", slog.String("payment_id", p.ID), slog.String("checkout_request_id", p.CheckoutRequestID))
	if p.State == storage.StatePending {
		b.watcher.schedule(p.ID, next)
	}
	return p, p.State == storage.StatePending || p.State.Final()
}

// recordPushLater keeps trying to store a push answer the store refused,
// for up to recordPushPatience, and has the watcher query the payment once it
// is stored. A restart gives up: the payment is then resumed as a push whose
// answer was lost.
func (b *Bot) recordPushLater(id, checkoutID, merchantID string, next time.Time) {
	b.background(func(ctx context.Context) {
		for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
			if !sleep(ctx, wait) {
				return
			}
			p, err := b.store.RecordPush(id, checkoutID, merchantID, next)
			if err == nil {
				b.log.Info("pay: push answer stored after all", slog.String("payment_id", id))
				if p.State == storage.StatePending {
					b.watcher.schedule(id, next)
				}
				return
			}
			if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
				b.log.Error("pay: the push answer cannot be stored", slog.String("payment_id", id), slog.Any("error", err))
				return
			}
		}
	}, recordPushPatience)
}

// recordPushPatience bounds recordPushLater.
const recordPushPatience = 10 * time.Minute

// pushFailed settles a payment whose push did not go through: rejected when
// Daraja said no (or the request never left), unknown when it may have
// reached the phone (say so honestly, never retry).
func (b *Bot) pushFailed(p storage.Payment, err error) {
	var perr *mpesa.PaymentError
	if errors.As(err, &perr) && perr.OutcomeUnknown() {
		b.log.Error("pay: push outcome unknown", slog.String("payment_id", p.ID), slog.Any("error", err))
		// The prompt may be on the phone right now: no new /pay to it
		// until it has surely expired, whatever restarts come between.
		b.settle(p.ID, storage.Result{State: storage.StateUnknown, Source: "push", HoldUntil: time.Now().Add(b.cfg.PromptLife),
			ResultDesc: "M-Pesa did not answer", Detail: "push outcome unknown: " + err.Error()})
		return
	}
	code, reason := refusalReason(err)
	b.log.Error("pay: push refused", slog.String("payment_id", p.ID), slog.String("code", code), slog.Any("error", err))
	b.settle(p.ID, storage.Result{State: storage.StateRejected, Source: "push", ResultCode: code, ResultDesc: reason,
		Detail: "push refused: " + err.Error()})
}

// refusalReason maps a refused push to an error code and a reason in plain
// words for the chat: the one place a refused push becomes a reply, so no raw
// Daraja body ever reaches a chat.
func refusalReason(err error) (code, reason string) {
	var base *mpesa.Error
	if errors.As(err, &base) {
		code = base.Code
		if code == "" && base.StatusCode != 0 {
			code = "HTTP " + strconv.Itoa(base.StatusCode)
		}
	}
	var verr *mpesa.ValidationError
	var aerr *mpesa.AuthenticationError
	field, invalid := mpesa.InvalidField(err)
	switch {
	case errors.As(err, &verr):
		return "invalid", "the " + fieldWords(verr.Field) + " was not accepted (" + verr.Reason + ")"
	case errors.As(err, &aerr):
		return code, "the bot could not sign in to M-Pesa (the operator should check the Daraja credentials)"
	case mpesa.IsSubscriberLocked(err):
		return code, "another M-Pesa request is already waiting on that phone; wait a minute, then try again"
	case mpesa.IsThrottled(err):
		return code, "M-Pesa is busy right now; try again in a minute"
	case invalid:
		return code, "M-Pesa did not accept the " + fieldWords(field)
	case mpesa.IsWrongCredentials(err), mpesa.IsMerchantUnknown(err):
		return code, "M-Pesa did not accept the merchant's account details (the operator should check MPESA_SHORTCODE and MPESA_PASSKEY)"
	case code != "":
		return code, "M-Pesa refused the request (code " + code + ")"
	}
	return "error", "M-Pesa could not be reached"
}

// fieldWords names a Daraja field the way a customer would.
func fieldWords(field string) string {
	switch strings.ToLower(field) {
	case "phonenumber", "partya", "phone":
		return "phone number"
	case "amount":
		return "amount"
	case "accountreference", "reference":
		return "reference"
	case "callbackurl":
		return "bot's callback address (an operator problem)"
	case "remarks", "transactiondesc":
		return "payment description (an operator problem)"
	case "":
		return "request"
	}
	return "request field " + field
}

// newSecret makes a callback secret: 160 random bits, URL-safe.
func newSecret() (string, error) {
	buf := make([]byte, 20)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return hex.EncodeToString(buf), nil
}

// defaultReference derives a reference from the payment's Telegram key: the
// same /pay always gets the same one, and it fits Daraja's 12 characters.
func defaultReference(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "TG" + base32.StdEncoding.EncodeToString(sum[:])[:8]
}
