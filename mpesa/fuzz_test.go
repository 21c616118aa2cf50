package mpesa_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
)

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{
		"0712345678", "712345678", "+254712345678", "254712345678", "0112345678", "0712-345-678",
		"+254 712 345 678", "0812345678", "", "+", "++254712345678", "2540712345678", "07123456789",
		"٠٧١٢٣٤٥٦٧٨", "0712\u00a0345\u00a0678", "+254-7", "\x00", "0712345678\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := mpesa.NormalizePhone(s)
		if err != nil {
			var verr *mpesa.ValidationError
			if !errors.As(err, &verr) || verr.Field != "PhoneNumber" {
				t.Fatalf("error %v is not a PhoneNumber ValidationError", err)
			}
			if verr.Value != mpesa.MaskPhone(s) {
				t.Fatalf("error shows %q, not the masked phone", verr.Value)
			}
			return
		}
		if len(got) != 12 || !(strings.HasPrefix(got, "2547") || strings.HasPrefix(got, "2541")) {
			t.Fatalf("NormalizePhone(%q) = %q: not 2547XXXXXXXX or 2541XXXXXXXX", s, got)
		}
		if _, err := strconv.ParseUint(got, 10, 64); err != nil {
			t.Fatalf("NormalizePhone(%q) = %q: not all digits", s, got)
		}
		if again, err := mpesa.NormalizePhone(got); err != nil || again != got {
			t.Fatalf("NormalizePhone is not idempotent on %q: %q, %v", got, again, err)
		}
		// The last 9 digits typed are the last 9 digits sent.
		var digits []byte
		for i := 0; i < len(s); i++ {
			if s[i] >= '0' && s[i] <= '9' {
				digits = append(digits, s[i])
			}
		}
		if !strings.HasSuffix(string(digits), got[3:]) {
			t.Fatalf("NormalizePhone(%q) = %q changed the subscriber digits", s, got)
		}
		if m := mpesa.MaskPhone(got); m != "*********"+got[9:] {
			t.Fatalf("MaskPhone(%q) = %q", got, m)
		}
	})
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"100", "1,000", "250,000", "250001", "10.50", "0", "-5", "abc", "", " 7 ", "1,00", "1e3", "+5", "007", "99999999999999999999"} {
		f.Add(s, int64(250000))
	}
	f.Add("500", int64(0))
	f.Add("5", int64(-1))
	f.Fuzz(func(t *testing.T, s string, max int64) {
		got, err := mpesa.ParseAmount(s, max)
		limit := max
		if limit <= 0 {
			limit = mpesa.DefaultMaxAmount
		}
		if err != nil {
			var verr *mpesa.ValidationError
			if !errors.As(err, &verr) || verr.Field != "Amount" {
				t.Fatalf("error %v is not an Amount ValidationError", err)
			}
			if utf8.RuneCountInString(verr.Value) > 40 {
				t.Fatalf("error echoes %d runes of input", utf8.RuneCountInString(verr.Value))
			}
			return
		}
		if got < 1 || got > limit {
			t.Fatalf("ParseAmount(%q, %d) = %d: outside 1..%d", s, max, got, limit)
		}
		if strings.Contains(s, ".") || strings.Contains(s, "-") {
			t.Fatalf("ParseAmount(%q) accepted a decimal or a sign", s)
		}
		if again, err := mpesa.ParseAmount(strconv.FormatInt(got, 10), max); err != nil || again != got {
			t.Fatalf("ParseAmount does not read back %d: %d, %v", got, again, err)
		}
	})
}

func FuzzParseCallback(f *testing.F) {
	for _, s := range []string{
		callbackPaid, callbackCancelled, callbackOperator,
		`{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_1","ResultCode":"E3008"}}}`,
		`{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_1","ResultCode":0,"CallbackMetadata":{"Item":[{"Name":"Amount","Value":1.0},{"Name":"Balance"}]}}}}`,
		`{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_1","ResultCode":null}}}`,
		`{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_1","ResultCode":0,"CallbackMetadata":{"Item":[{"Name":"Amount","Value":1e400}]}}}}`,
		`{"Body":{}}`, `[]`, `null`, ``, `{`, `{"Body":{"stkCallback":{"ResultCode":0}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		cb, err := mpesa.ParseCallback(body)
		if err != nil {
			if cb != nil || !errors.Is(err, mpesa.ErrInvalidCallback) {
				t.Fatalf("ParseCallback = %v, %v", cb, err)
			}
			return
		}
		if cb.CheckoutRequestID == "" || cb.ResultCode == "" {
			t.Fatalf("accepted a callback without CheckoutRequestID or ResultCode: %+v", cb)
		}
		if (cb.Outcome() == mpesa.OutcomePaid) != (cb.ResultCode == "0") {
			t.Fatalf("ResultCode %q has outcome %v: only 0 is paid", cb.ResultCode, cb.Outcome())
		}
		if cb.Amount < 0 {
			t.Fatalf("negative Amount %d", cb.Amount)
		}
		for _, c := range cb.Phone {
			if c < '0' || c > '9' {
				t.Fatalf("Phone %q is not digits", cb.Phone)
			}
		}
		_ = cb.LogValue()
	})
}
