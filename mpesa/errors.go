package mpesa

import (
	"errors"
	"strconv"
	"strings"
)

// Daraja error codes the client branches on. 500.001.1001 is overloaded
// (pending, subscriber locked, wrong credentials, unknown merchant), so
// those cases also look at the message.
const (
	codeBadRequest       = "400.002.02"
	codeInvalidToken     = "404.001.03"
	codeInvalidTokenAlt  = "401.002.01"
	codeOverloaded       = "500.001.1001"
	codeSpikeArrest      = "500.003.02"
	resultCodePending    = "4999"
	maxErrorMessageRunes = 200
)

// Error is the base of every error the client returns after talking to
// Daraja (or failing to). Each field is filled only when it is known.
type Error struct {
	Op         string // "token", "stkpush" or "stkquery"
	StatusCode int    // HTTP status of Daraja's answer; 0 when there was none
	Code       string // Daraja's errorCode, or a non-zero ResponseCode
	Message    string // Daraja's errorMessage, or a readable summary when it sent HTML or nothing
	RequestID  string // Daraja's requestId
	Err        error  // the underlying cause (transport error, context error, ...)
}

// Error renders the error on one line. It never contains a raw response body
// or a secret.
func (e *Error) Error() string {
	if e == nil {
		return "mpesa: <nil>"
	}
	var b strings.Builder
	b.WriteString("mpesa: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	sep := ""
	if e.StatusCode != 0 {
		b.WriteString("HTTP ")
		b.WriteString(strconv.Itoa(e.StatusCode))
		b.WriteString(" from Daraja")
		sep = ": "
		if e.Code == "" {
			// "HTTP 400 from Daraja, empty body: check ..." reads better than a colon.
			sep = ", "
		}
	}
	if e.Code != "" {
		b.WriteString(sep)
		b.WriteString(e.Code)
		sep = " "
	}
	if e.Message != "" {
		b.WriteString(sep)
		b.WriteString(e.Message)
		sep = ": "
	}
	if e.RequestID != "" {
		b.WriteString(" (requestId ")
		b.WriteString(e.RequestID)
		b.WriteString(")")
		sep = ": "
	}
	if e.Err != nil {
		if sep == "" {
			// Only the cause is known.
			b.WriteString(e.Err.Error())
		} else {
			b.WriteString(": ")
			b.WriteString(e.Err.Error())
		}
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// AuthenticationError reports that no access token could be obtained:
// wrong consumer key or secret, or Daraja's OAuth endpoint failing.
type AuthenticationError struct {
	Base *Error
}

// Error implements error.
func (e *AuthenticationError) Error() string { return e.Base.Error() }

// Unwrap returns the base error, so errors.As finds *Error too.
func (e *AuthenticationError) Unwrap() error { return e.Base }

// PaymentError reports that an STK Push did not give a usable acceptance.
// Every error Push returns is a *PaymentError; OutcomeUnknown tells the two
// very different kinds apart.
type PaymentError struct {
	Base *Error
	// MaybeSent is set when the request may have reached Daraja but no
	// usable answer was read: a prompt may be on the customer's phone.
	// Exported so fakes of the client can build such an error.
	MaybeSent bool
}

// Error implements error.
func (e *PaymentError) Error() string { return e.Base.Error() }

// Unwrap returns the base error, so errors.As finds *Error too.
func (e *PaymentError) Unwrap() error { return e.Base }

// OutcomeUnknown reports whether the push may have reached Daraja without a
// usable answer being read (a timeout or reset after sending, a cut-off or
// undecodable 2xx, a 5xx gateway page). Such a push must not be retried: the
// customer may already have a PIN prompt. When false, the push certainly did
// not start a payment (validation, a Daraja error answer, a 4xx, no
// connection).
func (e *PaymentError) OutcomeUnknown() bool { return e != nil && e.MaybeSent }

// QueryError reports that an STK Query gave no usable answer. A pending
// transaction is not an error: Query returns a QueryResult with Pending set.
type QueryError struct {
	Base *Error
}

// Error implements error.
func (e *QueryError) Error() string { return e.Base.Error() }

// Unwrap returns the base error, so errors.As finds *Error too.
func (e *QueryError) Unwrap() error { return e.Base }

// IsPending reports whether err is Daraja's "The transaction is being
// processed" answer (500.001.1001): the customer has not answered yet.
func IsPending(err error) bool {
	var e *Error
	return errors.As(err, &e) && isPendingAnswer(e.Code, e.Message)
}

// IsSubscriberLocked reports whether err is Daraja's "Unable to lock
// subscriber" answer (500.001.1001): another prompt is open on that phone.
func IsSubscriberLocked(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.Code != codeOverloaded {
		return false
	}
	m := strings.ToLower(e.Message)
	return strings.Contains(m, "lock subscriber") || strings.Contains(m, "already in process")
}

// IsCheckoutUnknown reports whether an STK Query was answered that Daraja
// does not know the CheckoutRequestID: 400.002.02 "Bad Request - Invalid
// CheckoutRequestID", or 500.001.1001 "The transaction does not Exist". Right
// after a push Daraja may not know the ID everywhere yet, so the caller
// should believe this only once the push is a while old.
func IsCheckoutUnknown(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	m := strings.ToLower(e.Message)
	switch e.Code {
	case codeBadRequest:
		return strings.Contains(m, "checkoutrequestid")
	case codeOverloaded:
		return strings.Contains(m, "transaction does not exist")
	}
	return false
}

// IsWrongCredentials reports whether Daraja refused the request's Password
// (500.001.1001 "Wrong credentials", or "[MerchantValidate] - Wrong
// credentials"): usually the passkey does not belong to the shortcode, or
// the timestamp inside the password is off. The consumer key and secret are
// not at fault: they got the access token.
func IsWrongCredentials(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == codeOverloaded && strings.Contains(strings.ToLower(e.Message), "wrong credentials")
}

// IsMerchantUnknown reports whether Daraja does not know the
// BusinessShortCode (500.001.1001 "Merchant does not exist"). In the sandbox
// only 174379 exists.
func IsMerchantUnknown(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == codeOverloaded && strings.Contains(strings.ToLower(e.Message), "merchant does not exist")
}

// InvalidField returns the request field Daraja refused with 400.002.02
// "Bad Request - Invalid <Field>", as Daraja spells it ("PhoneNumber",
// "Amount", "CallBackURL", "Remarks" for TransactionDesc, ...). ok is false
// for any other error, and when the message names no field.
func InvalidField(err error) (field string, ok bool) {
	var e *Error
	if !errors.As(err, &e) || e.Code != codeBadRequest {
		return "", false
	}
	const word = "invalid "
	i := strings.LastIndex(strings.ToLower(e.Message), word)
	if i < 0 {
		return "", false
	}
	rest := e.Message[i+len(word):]
	// Only the name: Daraja's message may go on after it.
	end := strings.IndexFunc(rest, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.')
	})
	if end >= 0 {
		rest = rest[:end]
	}
	rest = strings.TrimRight(rest, ".")
	return rest, rest != ""
}

// IsThrottled reports whether Daraja refused the call for the rate of calls:
// HTTP 429 or spike arrest (500.003.02). Waiting and calling again helps.
func IsThrottled(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.StatusCode == 429 || e.Code == codeSpikeArrest)
}

// IsInvalidToken reports whether Daraja refused the access token
// (404.001.03 or 401.002.01). The client already fetched a fresh token and
// tried once more before returning such an error.
func IsInvalidToken(err error) bool {
	var e *Error
	return errors.As(err, &e) && isInvalidTokenCode(e.Code)
}

func isInvalidTokenCode(code string) bool {
	return code == codeInvalidToken || code == codeInvalidTokenAlt
}

// isPendingAnswer recognises the HTTP 500 pending shape. The code is shared
// with unrelated failures, so the message decides; both spellings seen in the
// wild are accepted.
func isPendingAnswer(code, message string) bool {
	if code != codeOverloaded {
		return false
	}
	m := strings.ToLower(message)
	return strings.Contains(m, "being processed") || strings.Contains(m, "under processing")
}
