package lifecycle

import (
	"errors"
	"testing"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
)

// A refused push is stored as Daraja's code and a reason code, no words: the
// front-end words it.
func TestRefusalOfStoresCodes(t *testing.T) {
	daraja := func(status int, code, msg string) error {
		return &mpesa.PaymentError{Base: &mpesa.Error{StatusCode: status, Code: code, Message: msg}}
	}
	for _, c := range []struct {
		name       string
		err        error
		code, desc string
	}{
		{"InvalidField", daraja(400, "400.002.02", "Bad Request - Invalid PhoneNumber"), "400.002.02", "invalid_field:PhoneNumber"},
		{"SubscriberLocked", daraja(500, "500.001.1001", "Unable to lock subscriber, a transaction is already in process for the current subscriber"), "500.001.1001", ReasonSubscriberLocked},
		{"WrongCredentials", daraja(500, "500.001.1001", "Wrong credentials"), "500.001.1001", ReasonMerchant},
		{"SpikeArrest", daraja(500, "500.003.02", "Error Occurred: Spike Arrest Violation"), "500.003.02", ReasonThrottled},
		{"QuotaIsARefusalWithItsCode", daraja(500, "500.003.03", "Error Occurred: Quota Violation"), "500.003.03", ReasonRefused},
		{"GatewayPage", daraja(502, "", ""), "HTTP 502", ReasonRefused},
		{"NeverReached", errors.New("dial tcp: connection refused"), "error", ReasonUnreachable},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, desc := refusalOf(c.err)
			if code != c.code || desc != c.desc {
				t.Errorf("refusalOf = %q, %q; want %q, %q", code, desc, c.code, c.desc)
			}
			if _, _, ok := SplitReason(desc); !ok {
				t.Errorf("SplitReason(%q) does not read the stored reason", desc)
			}
		})
	}
	if _, _, ok := SplitReason("Request cancelled by user"); ok {
		t.Error("Daraja's ResultDesc was read as a reason code")
	}
}
