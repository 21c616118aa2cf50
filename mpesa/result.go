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
	// Hint tells the merchant or operator what to change when the cause is
	// on their side (a setting, the shortcode's setup), naming the variable
	// where there is one. Empty when the customer's own action explains the
	// result, or nothing on the merchant's side is known to cause it.
	Hint string
}

// unknownResultText is the Text of codes not in the table.
const unknownResultText = "M-Pesa gave a result this bot does not know, so the payment is not counted as paid. Check your M-Pesa messages."

// resultTable is every result code of an STK callback or query the client
// knows, in the order ResultCodes lists them. Where Safaricom publishes no
// meaning, the text says only that M-Pesa declined, with the code: a guessed
// reason would send the customer or the merchant the wrong way.
var resultTable = []ResultCode{
	{Code: "0", Outcome: OutcomePaid, Text: "The payment was successful."},
	{Code: "1", Outcome: OutcomeInsufficient, Text: "The M-Pesa balance is insufficient for this payment."},
	{Code: "2", Outcome: OutcomeFailed, Text: "M-Pesa declined the payment: the amount is below the minimum M-Pesa allows."},
	{Code: "3", Outcome: OutcomeFailed, Text: "M-Pesa declined the payment: the amount is above the most one M-Pesa payment may carry.",
		Hint: "M-Pesa's limit for one payment is KES 250,000: keep MAX_AMOUNT at or below it."},
	{Code: "4", Outcome: OutcomeFailed, Text: "M-Pesa declined the payment: it would pass the daily M-Pesa transfer limit of the paying account."},
	{Code: "8", Outcome: OutcomeFailed, Text: "M-Pesa declined the payment: it would take the receiving account past the largest balance M-Pesa allows.",
		Hint: "M-Pesa says the receiving account would pass its maximum balance: if that is your till or paybill (MPESA_PARTY_B), move funds out of it or ask Safaricom about the limit."},
	{Code: "17", Outcome: OutcomeFailed, Text: "M-Pesa refused the payment because a similar one was made moments ago. Wait a minute, then try again."},
	{Code: "26", Outcome: OutcomeFailed, Text: "M-Pesa was busy and the payment failed. Try again later."},
	{Code: "1001", Outcome: OutcomeBusy, Text: "Another M-Pesa transaction is already open on this phone. Finish or cancel it, then try again."},
	{Code: "1019", Outcome: OutcomeTimedOut, Text: "The payment request expired before it was completed."},
	{Code: "1025", Outcome: OutcomeFailed, Text: "The payment request could not be sent to the phone.",
		Hint: "A prompt too long for the phone is a known cause: if this repeats, use shorter payment references and a shorter TRANSACTION_DESC."},
	{Code: "1031", Outcome: OutcomeCancelled, Text: "The payment was cancelled on the phone."},
	{Code: "1032", Outcome: OutcomeCancelled, Text: "The payment was cancelled on the phone."},
	{Code: "1036", Outcome: OutcomeFailed, Text: "M-Pesa declined the payment (code 1036)."},
	{Code: "1037", Outcome: OutcomeTimedOut, Text: "The phone could not be reached or the PIN was not entered in time."},
	{Code: "2001", Outcome: OutcomeWrongPIN, Text: "The M-Pesa PIN entered was wrong."},
	{Code: "2028", Outcome: OutcomeFailed, Text: "M-Pesa refused the payment: the business's M-Pesa account does not allow this kind of payment.",
		Hint: "M-Pesa says the request is not permitted for this shortcode's products: check MPESA_TRANSACTION_TYPE (CustomerPayBillOnline for a paybill, CustomerBuyGoodsOnline for a till) and MPESA_PARTY_B, and that the shortcode has M-Pesa Express."},
	{Code: "4999", Outcome: OutcomePending, Text: "The payment is still being processed."},
	{Code: "8006", Outcome: OutcomeFailed, Text: "M-Pesa declined the payment because the paying account's M-Pesa PIN is locked. Contact Safaricom customer care to unlock it."},
	{Code: "9999", Outcome: OutcomeFailed, Text: "The payment request could not be sent to the phone."},
	{Code: "SFC_IC0003", Outcome: OutcomeFailed, Text: "M-Pesa refused the payment: the business's M-Pesa details are set up wrongly.",
		Hint: "M-Pesa says the operator does not exist: the till number was probably sent as the BusinessShortCode. With CustomerBuyGoodsOnline set MPESA_SHORTCODE to the store number (head office) and MPESA_PARTY_B to the till number."},
	{Code: "E3008", Outcome: OutcomeFailed, Text: "M-Pesa declined the payment (code E3008).",
		Hint: "Safaricom publishes no meaning for E3008; it is reported from the sandbox and with misconfigured shortcodes: check MPESA_SHORTCODE, MPESA_TRANSACTION_TYPE and MPESA_PARTY_B."},
}

// resultIndex finds a row of resultTable by code.
var resultIndex = func() map[string]int {
	m := make(map[string]int, len(resultTable))
	for i, r := range resultTable {
		m[r.Code] = i
	}
	return m
}()

// ResultCodes returns the whole result-code table (a copy), for docs and
// tests.
func ResultCodes() []ResultCode {
	return append([]ResultCode(nil), resultTable...)
}

// LookupResult classifies a ResultCode from a callback or a query. Codes
// match exactly, as Daraja sends them ("00" and " 0" are not "0"). Codes not
// in the table give OutcomeUnknown with a generic Text and no Hint: an
// unknown code is never taken for paid.
func LookupResult(code string) ResultCode {
	if i, ok := resultIndex[code]; ok {
		return resultTable[i]
	}
	return ResultCode{Code: code, Outcome: OutcomeUnknown, Text: unknownResultText}
}
