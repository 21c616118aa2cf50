package mpesa

import "strconv"

// Outcome is what a result code means for the customer and the merchant.
type Outcome int

// Outcomes. Only OutcomePaid means money moved.
const (
	OutcomeUnknown Outcome = iota
	OutcomePaid
	OutcomeCancelled
	OutcomeTimedOut
	OutcomeInsufficient
	OutcomeWrongPIN
	OutcomeBusy
	OutcomeFailed
	OutcomePending
)

// String returns the outcome's name: "unknown", "paid", "cancelled",
// "timed out", "insufficient", "wrong PIN", "busy", "failed", "pending".
func (o Outcome) String() string {
	switch o {
	case OutcomeUnknown:
		return "unknown"
	case OutcomePaid:
		return "paid"
	case OutcomeCancelled:
		return "cancelled"
	case OutcomeTimedOut:
		return "timed out"
	case OutcomeInsufficient:
		return "insufficient"
	case OutcomeWrongPIN:
		return "wrong PIN"
	case OutcomeBusy:
		return "busy"
	case OutcomeFailed:
		return "failed"
	case OutcomePending:
		return "pending"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// ResultCode is one row of the result-code table.
type ResultCode struct {
	Code    string  // as Daraja sends it, as text
	Outcome Outcome // what it means
	Text    string  // plain English for a customer
}

// unknownResultText is the Text of codes not in the table.
const unknownResultText = "M-Pesa gave a result this bot does not know, so the payment is not counted as paid. Check your M-Pesa messages."

// tableCodes lists the codes of the table (reference/daraja.md, DESIGN §3)
// in order.
func tableCodes() []string {
	return []string{"0", "1", "17", "26", "1001", "1019", "1025", "1031", "1032", "1037", "2001", "4999", "9999"}
}

// lookup is the table itself.
func lookup(code string) (Outcome, string, bool) {
	switch code {
	case "0":
		return OutcomePaid, "The payment was successful.", true
	case "1":
		return OutcomeInsufficient, "The M-Pesa balance is insufficient for this payment.", true
	case "17":
		return OutcomeFailed, "M-Pesa refused the payment because a similar one was made moments ago. Wait a minute, then try again.", true
	case "26":
		return OutcomeFailed, "M-Pesa was busy and the payment failed. Try again later.", true
	case "1001":
		return OutcomeBusy, "Another M-Pesa transaction is already open on this phone. Finish or cancel it, then try again.", true
	case "1019":
		return OutcomeTimedOut, "The payment request expired before it was completed.", true
	case "1025", "9999":
		return OutcomeFailed, "The payment request could not be sent to the phone.", true
	case "1031", "1032":
		return OutcomeCancelled, "The payment was cancelled on the phone.", true
	case "1037":
		return OutcomeTimedOut, "The phone could not be reached or the PIN was not entered in time.", true
	case "2001":
		return OutcomeWrongPIN, "The M-Pesa PIN entered was wrong.", true
	case "4999":
		return OutcomePending, "The payment is still being processed.", true
	}
	return OutcomeUnknown, unknownResultText, false
}

// ResultCodes returns the whole result-code table (a copy), for docs and
// tests.
func ResultCodes() []ResultCode {
	codes := tableCodes()
	out := make([]ResultCode, 0, len(codes))
	for _, code := range codes {
		o, text, _ := lookup(code)
		out = append(out, ResultCode{Code: code, Outcome: o, Text: text})
	}
	return out
}

// LookupResult classifies a ResultCode from a callback or a query. Codes not
// in the table (E3008, SFC_IC0003, ...) give OutcomeUnknown with a generic
// Text: an unknown code is never taken for paid.
func LookupResult(code string) ResultCode {
	o, text, _ := lookup(code)
	return ResultCode{Code: code, Outcome: o, Text: text}
}
