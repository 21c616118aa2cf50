package bot

import (
	"fmt"
	"html"
	"strconv"
	"strings"
	"time"

	"github.com/mpesa-bot/mpesa-bot/bot/lifecycle"
	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// Every text the bot sends lives here. Replies use HTML parse mode; anything a
// user typed, and anything Daraja sent, goes through esc. The key words of
// the chat contract ("successful", "cancelled", "timed out", "insufficient", "PIN",
// "another", "failed", "not sent", "not confirmed") are part of the contract:
// tests and people search for them.

// maxMessage is Telegram's limit on a message's text.
const maxMessage = 4096

func esc(s string) string { return html.EscapeString(s) }

// kes formats an amount the way Kenyans read it: "KES 1,000".
func kes(amount int64) string {
	s := strconv.FormatInt(amount, 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return "KES " + b.String()
}

const helpText = `<b>M-Pesa payments</b>

<b>/pay</b> <i>phone amount [reference]</i> — ask a customer to pay by M-Pesa. Their phone shows a PIN prompt; I tell you here how it ended.
  <code>/pay 0712345678 100 INV001</code>
  <code>/pay +254 712 345 678 1,500</code>

<b>/status</b> — your recent payments.
<b>/status</b> <i>CheckoutRequestID</i> — one payment.
<b>/help</b> — this message.

Phones: 07XXXXXXXX, 01XXXXXXXX, 7XXXXXXXX, 2547XXXXXXXX or +2547XXXXXXXX. Amounts: whole shillings. References: up to 12 letters, digits or dashes.`

const adminHelpText = "\n<b>/envinfo</b> — the M-Pesa environment (admins)."

func payUsage(maxAmount int64) string {
	return fmt.Sprintf("Usage: <code>/pay phone amount [reference]</code>, for example <code>/pay 0712345678 100 INV001</code>. "+
		"The amount is whole shillings from 1 to %s.", esc(kes(maxAmount)))
}

const phoneFormsHint = "Use a Safaricom number in one of these forms: 0712345678, 712345678, 254712345678 or +254712345678 (01… numbers work too)."

func badPhoneText(typed string) string {
	return fmt.Sprintf("I can't read <code>%s</code> as a phone number. %s", esc(clip(typed, 40)), phoneFormsHint)
}

func badAmountText(typed string, maxAmount int64) string {
	return fmt.Sprintf("I can't use <code>%s</code> as an amount: it must be a whole number of shillings from 1 to %s (for example 100 or 1,000; no cents).",
		esc(clip(typed, 40)), esc(kes(maxAmount)))
}

func badReferenceText(typed string) string {
	return fmt.Sprintf("I can't use <code>%s</code> as a reference: use up to 12 letters, digits or dashes, for example INV-001.", esc(clip(typed, 40)))
}

func phoneBusyText(phone string) string {
	return fmt.Sprintf("There is another payment waiting for the PIN on %s. Wait until it ends (I'll post the result here), then try again.", esc(mpesa.MaskPhone(phone)))
}

func tooManyOpenText(limit int) string {
	return fmt.Sprintf("You already have %d payments waiting for a PIN. Wait until one of them ends, then try again; /status shows them.", limit)
}

func rateLimitedText(perHour int, retry time.Duration) string {
	return fmt.Sprintf("You have sent %d payment requests in the last hour, the most I take. Try again in %s.", perHour, roundUp(retry))
}

func roundUp(d time.Duration) string {
	if d < time.Minute {
		return "a minute"
	}
	m := int((d + time.Minute - 1) / time.Minute)
	if m == 1 {
		return "a minute"
	}
	return fmt.Sprintf("%d minutes", m)
}

func ackText(p storage.Payment) string {
	return fmt.Sprintf("📲 Payment request sent to %s for <b>%s</b> (ref <code>%s</code>). The customer should now see an M-Pesa PIN prompt; I'll post the result here.\nCheckoutRequestID: <code>%s</code>",
		esc(mpesa.MaskPhone(p.Phone)), esc(kes(p.Amount)), esc(p.Reference), esc(p.CheckoutRequestID))
}

// duplicateText answers a /pay that Telegram delivered again: the payment
// already exists and no second prompt is sent.
func duplicateText(p storage.Payment) string {
	return "This request was already received; no second PIN prompt was sent.\n" + paymentSummary(p, withReceipt)
}

// outcomeText is the message that tells the chat how a payment ended.
// callbacks says whether a result can still arrive for a push whose answer
// was lost (only a callback can bring it: there is nothing to query).
func outcomeText(p storage.Payment, callbacks bool) string {
	who := esc(mpesa.MaskPhone(p.Phone))
	amt := "<b>" + esc(kes(p.Amount)) + "</b>"
	ref := "<code>" + esc(p.Reference) + "</code>"
	switch p.State {
	case storage.StateSucceeded:
		s := fmt.Sprintf("✅ Payment successful: %s from %s, ref %s.", amt, who, ref)
		if p.Corrected {
			s = fmt.Sprintf("⚠️ Correction: payment successful after all: M-Pesa confirms %s from %s (ref %s) was paid, "+
				"although it was reported as not paid. Do not ask the customer to pay again.", amt, who, ref)
		}
		if p.Receipt != "" {
			s += fmt.Sprintf("\nM-Pesa receipt: <code>%s</code>", esc(p.Receipt))
		}
		return s
	case storage.StateFailed:
		return failedText(p, amt, who, ref)
	case storage.StateRejected:
		return fmt.Sprintf("⚠️ Payment request not sent: %s. No PIN prompt reached %s, and nothing was charged (%s, ref %s).",
			esc(notSentReason(p)), who, amt, ref)
	case storage.StateUnknown:
		if p.CheckoutRequestID == "" {
			later := "M-Pesa gave no request ID, so I cannot ask it about this payment later."
			if callbacks {
				later = "If M-Pesa reports a result later, I'll post it here."
			}
			return fmt.Sprintf("❔ Payment request not confirmed: M-Pesa did not answer, so I can't tell whether a PIN prompt reached %s (%s, ref %s). "+
				"Please don't send it again for a few minutes: check the customer's M-Pesa messages. %s Payment ID: <code>%s</code> (<code>/status %s</code>).",
				who, amt, ref, later, esc(p.ID), esc(p.ID))
		}
		return fmt.Sprintf("❔ Payment not confirmed yet: M-Pesa has no final result for %s from %s (ref %s). "+
			"I'll keep checking for 24 hours and post the result here; check any time with <code>/status %s</code>.",
			amt, who, ref, esc(p.CheckoutRequestID))
	}
	return paymentSummary(p, withReceipt)
}

func failedText(p storage.Payment, amt, who, ref string) string {
	rc := mpesa.LookupResult(p.ResultCode)
	switch rc.Outcome {
	case mpesa.OutcomeCancelled:
		return fmt.Sprintf("❌ Payment cancelled: the customer cancelled the M-Pesa prompt for %s (%s, ref %s).", amt, who, ref)
	case mpesa.OutcomeTimedOut:
		return fmt.Sprintf("⌛ Payment timed out: nobody answered the PIN prompt on %s in time (%s, ref %s). You can send a new /pay.", who, amt, ref)
	case mpesa.OutcomeInsufficient:
		return fmt.Sprintf("❌ Payment failed: insufficient M-Pesa balance on %s for %s (ref %s).", who, amt, ref)
	case mpesa.OutcomeWrongPIN:
		return fmt.Sprintf("❌ Payment failed: a wrong M-Pesa PIN was entered on %s (%s, ref %s).", who, amt, ref)
	case mpesa.OutcomeBusy:
		return fmt.Sprintf("❌ Payment failed: another M-Pesa transaction was in progress on %s. Wait a minute, then send a new /pay (%s, ref %s).", who, amt, ref)
	}
	desc := rc.Text
	if rc.Outcome == mpesa.OutcomeUnknown {
		desc = "M-Pesa gave a result this bot does not know"
	}
	return fmt.Sprintf("❌ Payment failed (code <code>%s</code>): %s. %s, %s, ref %s.", esc(p.ResultCode), esc(desc), amt, who, ref)
}

// stateWords describes a payment's state in a /status line.
func stateWords(p storage.Payment) string {
	switch p.State {
	case storage.StateInitiating:
		return "sending the request"
	case storage.StatePending:
		return "waiting for the customer's PIN"
	case storage.StateSucceeded:
		if p.Corrected {
			return "successful (corrected: M-Pesa confirmed it after reporting a failure)"
		}
		return "successful"
	case storage.StateFailed:
		rc := mpesa.LookupResult(p.ResultCode)
		switch rc.Outcome {
		case mpesa.OutcomeCancelled:
			return "cancelled"
		case mpesa.OutcomeTimedOut:
			return "timed out"
		case mpesa.OutcomeInsufficient:
			return "failed: insufficient balance"
		case mpesa.OutcomeWrongPIN:
			return "failed: wrong PIN"
		case mpesa.OutcomeBusy:
			return "failed: another transaction was in progress"
		}
		return "failed (code " + p.ResultCode + ")"
	case storage.StateRejected:
		return "not sent: " + notSentReason(p)
	case storage.StateUnknown:
		return "not confirmed yet"
	}
	return string(p.State)
}

// detail is how much of a payment /status shows.
type detail int

const (
	summaryOnly detail = iota // state, amount, masked phone: someone else's payment in a group
	withReceipt               // plus the M-Pesa receipt: the payer, or a merchant in a private chat
	withHistory               // plus the audit trail: merchants and admins in a private chat
)

// paymentSummary is one payment as /status shows it.
func paymentSummary(p storage.Payment, d detail) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<b>%s</b> from %s, ref <code>%s</code>: %s.", esc(kes(p.Amount)), esc(mpesa.MaskPhone(p.Phone)), esc(p.Reference), esc(stateWords(p)))
	if p.Receipt != "" && d >= withReceipt {
		fmt.Fprintf(&b, "\nM-Pesa receipt: <code>%s</code>", esc(p.Receipt))
	}
	if p.CheckoutRequestID != "" {
		fmt.Fprintf(&b, "\nCheckoutRequestID: <code>%s</code>", esc(p.CheckoutRequestID))
	}
	fmt.Fprintf(&b, "\nRequested %s", esc(eat(p.CreatedAt)))
	if d >= withHistory {
		b.WriteString(merchantHint(p))
	}
	if d >= withHistory && len(p.History) > 0 {
		b.WriteString("\n\n<b>History</b>")
		for _, ev := range p.History {
			line := fmt.Sprintf("\n%s %s %s", eat(ev.At), ev.Source, ev.Type)
			if ev.Detail != "" {
				line += ": " + ev.Detail
			}
			b.WriteString(esc(line))
		}
	}
	return clipMessage(b.String())
}

func recentText(ps []storage.Payment) string {
	if len(ps) == 0 {
		return "You have no payments yet. Start one with <code>/pay 0712345678 100 INV001</code>."
	}
	var b strings.Builder
	b.WriteString("<b>Your recent payments</b>")
	for _, p := range ps {
		fmt.Fprintf(&b, "\n\n%s", paymentSummary(p, withReceipt))
	}
	return clipMessage(b.String())
}

const (
	statusNotFoundText = "I have no payment with that ID that you may see. Send <code>/status</code> for your recent payments."
	adminOnlyText      = "/envinfo is for the bot's admins."
	privateOnlyText    = "/envinfo shows the bot's configuration, so I only answer it in a private chat with an admin."
	nonTextHint        = "I only understand text commands. Try <code>/pay 0712345678 100 INV001</code> or /help."
	unknownCommandText = "I don't know that command. /help lists what I can do."
	editedHint         = "Editing a message doesn't change or start a payment. Send a new /pay instead."
	forwardedHint      = "Forwarded commands are not acted on: a forwarded /pay would ask the customer to pay again. Type the command yourself."
	internalErrorText  = "Something went wrong on my side and the request was not completed. Please try again in a minute; /status shows what I have."
)

func envInfoText(info mpesa.EnvironmentInfo, callbacks bool, pending int, version string) string {
	cb := "off (results come from STK Query polling)"
	if callbacks {
		cb = "on"
	}
	return fmt.Sprintf("<b>Environment</b>: %s\n<b>Shortcode</b>: %s\n<b>Transaction type</b>: %s\n<b>PartyB</b>: %s\n"+
		"<b>Auth URL</b>: %s\n<b>STK Push URL</b>: %s\n<b>STK Query URL</b>: %s\n<b>Callbacks</b>: %s\n<b>Pending payments</b>: %d\n<b>Version</b>: %s",
		esc(info.Environment), esc(info.BusinessShortCode), esc(info.TransactionType), esc(info.PartyB),
		esc(info.AuthURL), esc(info.STKPushURL), esc(info.QueryURL), cb, pending, esc(version))
}

// feedText is the merchant feed's line for a settled payment.
func feedText(p storage.Payment) string {
	who := esc(mpesa.MaskPhone(p.Phone))
	switch p.State {
	case storage.StateSucceeded:
		s := fmt.Sprintf("💰 Paid %s from %s, ref <code>%s</code>", esc(kes(p.Amount)), who, esc(p.Reference))
		if p.Corrected {
			s = fmt.Sprintf("💰 Correction — paid after all: %s from %s, ref <code>%s</code> (reported as not paid before)", esc(kes(p.Amount)), who, esc(p.Reference))
		}
		if p.Receipt != "" {
			s += fmt.Sprintf(", receipt <code>%s</code>", esc(p.Receipt))
		}
		return s + "."
	default:
		s := fmt.Sprintf("✖️ Not paid: %s from %s, ref <code>%s</code> — %s.", esc(kes(p.Amount)), who, esc(p.Reference), esc(stateWords(p)))
		return s + merchantHint(p)
	}
}

// merchantHint is what the merchant should fix when a result code means the
// bot is set up wrong (a till number sent as the shortcode, …), as a line of
// its own; "" for results the customer's own action explains.
func merchantHint(p storage.Payment) string {
	if p.State != storage.StateFailed {
		return ""
	}
	if hint := mpesa.LookupResult(p.ResultCode).Hint; hint != "" {
		return "\n🔧 For the merchant: " + esc(hint)
	}
	return ""
}

// notSentReason words why a push was not sent, from the reason code the
// lifecycle stored; a payment stored by an earlier version has its words in
// ResultDesc already.
func notSentReason(p storage.Payment) string {
	reason, field, ok := lifecycle.SplitReason(p.ResultDesc)
	if !ok {
		return p.ResultDesc
	}
	switch reason {
	case lifecycle.ReasonInvalidField:
		return "M-Pesa did not accept the " + fieldWords(field)
	case lifecycle.ReasonAuth:
		return "the bot could not sign in to M-Pesa (the operator should check the Daraja credentials)"
	case lifecycle.ReasonSubscriberLocked:
		return "another M-Pesa request is already waiting on that phone; wait a minute, then try again"
	case lifecycle.ReasonThrottled:
		return "M-Pesa is busy right now; try again in a minute"
	case lifecycle.ReasonMerchant:
		return "M-Pesa did not accept the merchant's account details (the operator should check MPESA_SHORTCODE and MPESA_PASSKEY)"
	case lifecycle.ReasonRefused:
		return "M-Pesa refused the request (code " + p.ResultCode + ")"
	case lifecycle.ReasonShutdown:
		return "the bot was shutting down"
	case lifecycle.ReasonStorage:
		return "the bot could not record it"
	case lifecycle.ReasonRestart:
		return "the bot restarted before sending it; please send the /pay again"
	}
	return "M-Pesa could not be reached"
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

// eat formats a time in Kenyan time, as M-Pesa messages do.
func eat(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(time.FixedZone("EAT", 3*60*60)).Format("2006-01-02 15:04:05 EAT")
}

// clip shortens what a user typed before it is echoed back.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// clipMessage keeps a message under Telegram's limit without cutting an HTML
// tag or entity in half: it cuts at a line break.
func clipMessage(s string) string {
	if len([]rune(s)) <= maxMessage-20 {
		return s
	}
	r := []rune(s)[:maxMessage-20]
	cut := strings.LastIndex(string(r), "\n")
	if cut < 0 {
		cut = len(string(r))
	}
	return string(r)[:cut] + "\n…"
}
