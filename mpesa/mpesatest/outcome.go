package mpesatest

import (
	"net/http"
	"time"
)

// Outcome scripts how a push ends.
type Outcome struct {
	// ResultCode is the final result: "0" (paid; also when empty), "1", "1032",
	// "1037", "2001", "SFC_IC0003", ...
	ResultCode string
	// ResultDesc defaults to the description Daraja sends for ResultCode (see
	// ResultDescription).
	ResultDesc string
	// After is the delay from the push to the result; 0 means WithResultDelay.
	After time.Duration
	// Manual keeps the transaction pending until Complete is called.
	Manual bool
	// NoCallback loses the callback: the result is only visible to STK Query.
	NoCallback bool
	// Reject refuses the push itself with this answer; no transaction is created.
	// Only a phone's outcome can reject (see SetPhoneOutcome). A Reject without
	// Status or Body answers 400.002.02 "Bad Request - Invalid PhoneNumber".
	Reject *Fault
}

// resultDescriptions are the ResultDesc texts Daraja sends, misspellings included.
var resultDescriptions = map[string]string{
	"0":          "The service request is processed successfully.",
	"1":          "The balance is insufficient for the transaction",
	"17":         "Rule limited.",
	"26":         "System busy",
	"1001":       "Unable to lock subscriber, a transaction is already in process for the current subscriber",
	"1019":       "Transaction has expired",
	"1025":       "An error occurred while sending a push request",
	"1031":       "Request cancelled by user",
	"1032":       "Request cancelled by user",
	"1037":       "DS timeout user cannot be reached",
	"2001":       "The initiator information is invalid.",
	"4999":       "The transaction is still under processing",
	"9999":       "An error occurred while sending a push request",
	"SFC_IC0003": "The operator does not exist.",
}

// ResultDescription is the ResultDesc Daraja sends with a result code; for a code
// the simulator does not know it is "Request failed".
func ResultDescription(code string) string {
	if d, ok := resultDescriptions[code]; ok {
		return d
	}
	return "Request failed"
}

// DefaultOutcome is the outcome of a push to phone when nothing is scripted,
// chosen by the phone's last digit (the table is in the package documentation):
// 0, 8, 9 paid; 1 insufficient; 2 cancelled; 3 timed out; 4 wrong PIN; 5 another
// session; 6 failed; 7 the push is refused.
func DefaultOutcome(phone string) Outcome {
	var last byte = '0'
	if phone != "" {
		last = phone[len(phone)-1]
	}
	switch last {
	case '1':
		return Outcome{ResultCode: "1"}
	case '2':
		return Outcome{ResultCode: "1032"}
	case '3':
		return Outcome{ResultCode: "1037"}
	case '4':
		return Outcome{ResultCode: "2001"}
	case '5':
		return Outcome{ResultCode: "1001"}
	case '6':
		return Outcome{ResultCode: "1025"}
	case '7':
		return Outcome{Reject: &Fault{
			Status:      http.StatusBadRequest,
			Body:        errorJSON("400.002.02", "Bad Request - Invalid PhoneNumber"),
			ContentType: "application/json",
		}}
	}
	return Outcome{ResultCode: "0"}
}

// SetPhoneOutcome scripts every later push to phone (as Daraja sees it:
// 2547XXXXXXXX), replacing DefaultOutcome for it. Transactions already created
// keep their outcome; see SetCheckoutOutcome.
func (s *Simulator) SetPhoneOutcome(phone string, o Outcome) {
	s.mu.Lock()
	s.phoneOutcomes[phone] = o
	s.mu.Unlock()
}

// rejectAnswer is the answer of a Reject fault that sets neither Status nor Body.
func rejectAnswer() answer {
	return invalidField("PhoneNumber")
}
