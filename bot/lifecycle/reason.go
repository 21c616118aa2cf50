package lifecycle

import (
	"errors"
	"strconv"
	"strings"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
)

// Reasons a push was not sent, or its outcome is not known, as the lifecycle
// stores them in a payment's ResultDesc. They are codes, not words: the
// front-end words them in the payer's language. ReasonInvalidField is
// followed by ":" and Daraja's name of the field. A ResultDesc that is none
// of these was written by an earlier version, in English: show it as it is.
const (
	ReasonInvalidField     = "invalid_field"     // Daraja or the client refused a field
	ReasonAuth             = "auth"              // the Daraja credentials were refused
	ReasonSubscriberLocked = "subscriber_locked" // another prompt is open on the phone
	ReasonThrottled        = "throttled"         // Daraja's spike arrest or quota
	ReasonMerchant         = "merchant"          // shortcode or passkey wrong
	ReasonRefused          = "refused"           // another refusal; ResultCode holds Daraja's code
	ReasonUnreachable      = "unreachable"       // the request never reached Daraja
	ReasonShutdown         = "shutdown"          // the process was stopping; nothing was sent
	ReasonStorage          = "storage"           // the push could not be recorded, so it was not sent
	ReasonRestart          = "restart"           // the process stopped before sending it
	ReasonNoAnswer         = "no_answer"         // sent, but Daraja's answer never came
	ReasonAnswerLost       = "answer_lost"       // sent, and the process stopped before storing the answer
	ReasonUnknownToDaraja  = "unknown_to_daraja" // Daraja no longer knows the CheckoutRequestID
	ReasonPollTimeout      = "poll_timeout"      // no final result by PollTimeout
)

// refusalOf classifies a refused push: ResultCode keeps Daraja's code (or
// "HTTP n", "invalid", "error") for the audit trail and reports; the reason
// is one of the codes above. Daraja's knowledge stays in the mpesa package's
// predicates.
func refusalOf(err error) (code, reason string) {
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
		return "invalid", ReasonInvalidField + ":" + verr.Field
	case errors.As(err, &aerr):
		return code, ReasonAuth
	case mpesa.IsSubscriberLocked(err):
		return code, ReasonSubscriberLocked
	case mpesa.IsThrottled(err):
		return code, ReasonThrottled
	case invalid:
		return code, ReasonInvalidField + ":" + field
	case mpesa.IsWrongCredentials(err), mpesa.IsMerchantUnknown(err):
		return code, ReasonMerchant
	case code != "":
		return code, ReasonRefused
	}
	return "error", ReasonUnreachable
}

// SplitReason reads a stored reason: its code and, for ReasonInvalidField,
// the field. ok is false for a ResultDesc that is no reason code (Daraja's
// description of a result, or an earlier version's words).
func SplitReason(desc string) (reason, field string, ok bool) {
	reason, field, _ = strings.Cut(desc, ":")
	switch reason {
	case ReasonInvalidField, ReasonAuth, ReasonSubscriberLocked, ReasonThrottled, ReasonMerchant, ReasonRefused,
		ReasonUnreachable, ReasonShutdown, ReasonStorage, ReasonRestart, ReasonNoAnswer, ReasonAnswerLost,
		ReasonUnknownToDaraja, ReasonPollTimeout:
		return reason, field, true
	}
	return "", "", false
}
