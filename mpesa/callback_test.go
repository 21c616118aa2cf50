package mpesa_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/mpesa/testkit"
)

// Callback bodies as Daraja sends them, odd ones included.
const (
	callbackPaid = `{"Body":{"stkCallback":{"MerchantRequestID":"29115-34620561-1","CheckoutRequestID":"ws_CO_191220191020363925","ResultCode":0,
 "ResultDesc":"The service request is processed successfully.","CallbackMetadata":{"Item":[
 {"Name":"Amount","Value":1.0},{"Name":"MpesaReceiptNumber","Value":"NLJ7RT61SV"},{"Name":"Balance"},
 {"Name":"TransactionDate","Value":20191219102115},{"Name":"PhoneNumber","Value":254708374149}]}}}}`
	callbackCancelled = `{"Body":{"stkCallback":{"MerchantRequestID":"f1e2-4b95","CheckoutRequestID":"ws_CO_21072024125243250722943992","ResultCode":1032,"ResultDesc":"Request cancelled by user"}}}`
	callbackOperator  = `{"Body":{"stkCallback":{"MerchantRequestID":"m","CheckoutRequestID":"ws_CO_1","ResultCode":"SFC_IC0003","ResultDesc":"The operator does not exist."}}}`
)

func TestParseCallback(t *testing.T) {
	t.Run("ReadsAPaidCallback", func(t *testing.T) {
		cb, err := mpesa.ParseCallback([]byte(callbackPaid))
		if err != nil {
			t.Fatal(err)
		}
		wantDate := time.Date(2019, 12, 19, 10, 21, 15, 0, time.FixedZone("EAT", 3*3600))
		if cb.MerchantRequestID != "29115-34620561-1" || cb.CheckoutRequestID != "ws_CO_191220191020363925" || cb.ResultCode != "0" ||
			cb.Amount != 1 || cb.Receipt != "NLJ7RT61SV" || cb.Phone != "254708374149" || !cb.TransactionDate.Equal(wantDate) ||
			cb.Outcome() != mpesa.OutcomePaid || len(cb.Items) != 5 {
			t.Fatalf("callback %+v", cb)
		}
		if v, ok := cb.Item("Balance"); !ok || v != nil {
			t.Errorf("Balance = %q, %v; want present without a value", v, ok)
		}
		if v, ok := cb.Item("MpesaReceiptNumber"); !ok || string(v) != `"NLJ7RT61SV"` {
			t.Errorf("MpesaReceiptNumber item = %s, %v", v, ok)
		}
		if _, ok := cb.Item("Nope"); ok {
			t.Error("an absent item was found")
		}
	})

	t.Run("ReadsACancelledCallbackWithoutMetadata", func(t *testing.T) {
		cb, err := mpesa.ParseCallback([]byte(callbackCancelled))
		if err != nil {
			t.Fatal(err)
		}
		if cb.ResultCode != "1032" || cb.Outcome() != mpesa.OutcomeCancelled || cb.Amount != 0 || cb.Receipt != "" ||
			!cb.TransactionDate.IsZero() || cb.Phone != "" || len(cb.Items) != 0 {
			t.Fatalf("callback %+v", cb)
		}
	})

	t.Run("KeepsAStringResultCode", func(t *testing.T) {
		cb, err := mpesa.ParseCallback([]byte(callbackOperator))
		if err != nil {
			t.Fatal(err)
		}
		if cb.ResultCode != "SFC_IC0003" || cb.Outcome() != mpesa.OutcomeFailed {
			t.Fatalf("callback %+v", cb)
		}
	})

	for _, tc := range []struct {
		name, code, want string
		outcome          mpesa.Outcome
	}{
		{"ReadsE3008", `"E3008"`, "E3008", mpesa.OutcomeFailed},
		{"ReadsAnUnknownLetterCode", `"E9999"`, "E9999", mpesa.OutcomeUnknown},
		{"ReadsAStringZero", `"0"`, "0", mpesa.OutcomePaid},
		{"ReadsAFloatZero", `0.0`, "0", mpesa.OutcomePaid},
		{"ReadsANumber", `2001`, "2001", mpesa.OutcomeWrongPIN},
		{"ReadsAPaddedString", `" 1037 "`, "1037", mpesa.OutcomeTimedOut},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cb, err := mpesa.ParseCallback([]byte(`{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_1","ResultCode":` + tc.code + `}}}`))
			if err != nil {
				t.Fatal(err)
			}
			if cb.ResultCode != tc.want || cb.Outcome() != tc.outcome {
				t.Fatalf("ResultCode %q outcome %v, want %q %v", cb.ResultCode, cb.Outcome(), tc.want, tc.outcome)
			}
		})
	}

	for _, tc := range []struct {
		name, value string
		want        int64
	}{
		{"AmountAsInteger", `1`, 1},
		{"AmountAsFloat", `1.0`, 1},
		{"AmountAsString", `"250"`, 250},
		{"AmountLarge", `250000`, 250000},
		{"AmountWithCentsIsNotTrusted", `10.5`, 0},
		{"AmountNegativeIsNotTrusted", `-5`, 0},
		{"AmountAsWordIsNotTrusted", `"ten"`, 0},
		{"AmountNullIsAbsent", `null`, 0},
		{"AmountHugeIsNotTrusted", `1e400`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cb, err := mpesa.ParseCallback([]byte(`{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_1","ResultCode":0,"CallbackMetadata":{"Item":[{"Name":"Amount","Value":` + tc.value + `}]}}}}`))
			if err != nil {
				t.Fatal(err)
			}
			if cb.Amount != tc.want {
				t.Fatalf("Amount = %d, want %d", cb.Amount, tc.want)
			}
		})
	}

	t.Run("IgnoresUnknownFields", func(t *testing.T) {
		body := `{"Extra":1,"Body":{"More":{"x":[1,2]},"stkCallback":{"New":"field","CheckoutRequestID":"ws_CO_1","ResultCode":0,"CallbackMetadata":{"Item":[{"Name":"Amount","Value":5,"Type":"n"}],"Other":true}}}}`
		cb, err := mpesa.ParseCallback([]byte(body))
		if err != nil || cb.Amount != 5 {
			t.Fatalf("ParseCallback = %+v, %v", cb, err)
		}
	})

	t.Run("FindsItemsByNameInAnyOrderAndCase", func(t *testing.T) {
		body := `{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_1","ResultCode":0,"CallbackMetadata":{"Item":[{"Name":"phonenumber","Value":"254708374149"},{"Name":"Balance"},{"Name":"mpesaReceiptNumber","Value":"ABC123"},{"Name":"AMOUNT","Value":7}]}}}}`
		cb, err := mpesa.ParseCallback([]byte(body))
		if err != nil || cb.Amount != 7 || cb.Receipt != "ABC123" || cb.Phone != "254708374149" {
			t.Fatalf("ParseCallback = %+v, %v", cb, err)
		}
	})

	t.Run("LeavesBadItemsEmpty", func(t *testing.T) {
		body := `{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_1","ResultCode":0,"CallbackMetadata":{"Item":[{"Name":"PhoneNumber","Value":"+2547<script>"},{"Name":"MpesaReceiptNumber","Value":"<b>x</b>"},{"Name":"TransactionDate","Value":20191399102115}]}}}}`
		cb, err := mpesa.ParseCallback([]byte(body))
		if err != nil || cb.Phone != "" || cb.Receipt != "" || !cb.TransactionDate.IsZero() {
			t.Fatalf("ParseCallback = %+v, %v", cb, err)
		}
	})

	refused := []struct{ name, body string }{
		{"RefusesEmpty", ``},
		{"RefusesNull", `null`},
		{"RefusesAnArray", `[]`},
		{"RefusesAnEmptyObject", `{}`},
		{"RefusesAnEmptyBody", `{"Body":{}}`},
		{"RefusesTruncatedJSON", callbackPaid[:len(callbackPaid)/2]},
		{"RefusesAMissingResultCode", `{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_1"}}}`},
		{"RefusesANullResultCode", `{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_1","ResultCode":null}}}`},
		{"RefusesAnEmptyResultCode", `{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_1","ResultCode":""}}}`},
		{"RefusesABooleanResultCode", `{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_1","ResultCode":true}}}`},
		{"RefusesAnObjectResultCode", `{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_1","ResultCode":{"a":0}}}}`},
		{"RefusesAMissingCheckoutID", `{"Body":{"stkCallback":{"ResultCode":0}}}`},
		{"RefusesAStrangeCheckoutID", `{"Body":{"stkCallback":{"CheckoutRequestID":"../../etc","ResultCode":0}}}`},
		{"RefusesItemsThatAreNotAList", `{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_1","ResultCode":0,"CallbackMetadata":{"Item":"x"}}}}`},
		{"RefusesAnOversizedBody", `{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_1","ResultCode":0,"ResultDesc":"` + strings.Repeat("x", mpesa.MaxCallbackSize) + `"}}}`},
		{"RefusesTrailingGarbage", callbackCancelled + `}`},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			cb, err := mpesa.ParseCallback([]byte(tc.body))
			if err == nil {
				t.Fatalf("ParseCallback accepted %q as %+v", tc.body, cb)
			}
			if !errors.Is(err, mpesa.ErrInvalidCallback) {
				t.Fatalf("error %v does not wrap ErrInvalidCallback", err)
			}
		})
	}
}

func TestCallback_LogValueMasksThePhone(t *testing.T) {
	cb, err := mpesa.ParseCallback([]byte(callbackPaid))
	if err != nil {
		t.Fatal(err)
	}
	var buf testkit.SyncBuffer
	debugLogger(&buf).Info("callback", "cb", cb)
	if strings.Contains(buf.String(), "254708374149") || !strings.Contains(buf.String(), "*********149") {
		t.Fatalf("log %s: want the phone masked", buf.String())
	}
}
