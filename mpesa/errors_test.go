package mpesa_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
)

func TestTypedErrors_MatchTheirBase(t *testing.T) {
	base := &mpesa.Error{Op: "stkpush", StatusCode: 500, Code: "500.001.1001", Message: "Wrong credentials", RequestID: "r-1", Err: context.DeadlineExceeded}
	for _, err := range []error{
		&mpesa.AuthenticationError{Base: base},
		&mpesa.PaymentError{Base: base},
		&mpesa.QueryError{Base: base},
	} {
		wrapped := fmt.Errorf("outer: %w", err)
		var got *mpesa.Error
		if !errors.As(wrapped, &got) || got != base {
			t.Errorf("%T: errors.As did not find the base *Error", err)
		}
		if !errors.Is(wrapped, context.DeadlineExceeded) {
			t.Errorf("%T: errors.Is did not reach the cause", err)
		}
		if err.Error() != base.Error() {
			t.Errorf("%T: Error() = %q, want the base's %q", err, err.Error(), base.Error())
		}
	}
	var auth *mpesa.AuthenticationError
	if errors.As(&mpesa.PaymentError{Base: base}, &auth) {
		t.Error("a PaymentError matched AuthenticationError")
	}
}

func TestError_Error(t *testing.T) {
	tests := []struct {
		name string
		err  *mpesa.Error
		want string
	}{
		{"DarajaAnswer", &mpesa.Error{Op: "stkpush", StatusCode: 400, Code: "400.002.02", Message: "Bad Request - Invalid Amount", RequestID: "11728-2929992-1"},
			"mpesa: stkpush: HTTP 400 from Daraja: 400.002.02 Bad Request - Invalid Amount (requestId 11728-2929992-1)"},
		{"NoBody", &mpesa.Error{Op: "token", StatusCode: 400, Message: "empty body: check MPESA_CONSUMER_KEY/SECRET"},
			"mpesa: token: HTTP 400 from Daraja, empty body: check MPESA_CONSUMER_KEY/SECRET"},
		{"TransportError", &mpesa.Error{Op: "stkquery", Message: "no answer from Daraja", Err: errors.New("connection reset")},
			"mpesa: stkquery: no answer from Daraja: connection reset"},
		{"OnlyACause", &mpesa.Error{Err: errors.New("boom")}, "mpesa: boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Fatalf("Error() = %q\nwant      %q", got, tc.want)
			}
		})
	}
}

func TestErrorPredicates(t *testing.T) {
	e := func(status int, code, msg string) error {
		return &mpesa.QueryError{Base: &mpesa.Error{StatusCode: status, Code: code, Message: msg}}
	}
	tests := []struct {
		name                              string
		err                               error
		pending, locked, throttled, token bool
	}{
		{"BeingProcessed", e(500, "500.001.1001", "The transaction is being processed"), true, false, false, false},
		{"UnableToLockSubscriber", e(500, "500.001.1001", "Unable to lock subscriber, a transaction is already in process for the current subscriber"), false, true, false, false},
		{"WrongCredentials", e(500, "500.001.1001", "Wrong credentials"), false, false, false, false},
		{"SpikeArrest", e(500, "500.003.02", "Error Occurred: Spike Arrest Violation"), false, false, true, false},
		{"QuotaIsNotThrottling", e(500, "500.003.03", "Error Occurred: Quota Violation"), false, false, false, false},
		{"HTTP429", e(429, "", "empty body"), false, false, true, false},
		{"InvalidToken404", e(404, "404.001.03", "Invalid Access Token"), false, false, false, true},
		{"InvalidToken401", e(401, "401.002.01", "Error Occurred - Invalid Access Token - x"), false, false, false, true},
		{"ProcessedElsewhereIsNotPending", e(400, "400.002.02", "being processed"), false, false, false, false},
		{"NotOurError", errors.New("500.001.1001 The transaction is being processed"), false, false, false, false},
		{"Nil", nil, false, false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := mpesa.IsPending(tc.err); got != tc.pending {
				t.Errorf("IsPending = %v", got)
			}
			if got := mpesa.IsSubscriberLocked(tc.err); got != tc.locked {
				t.Errorf("IsSubscriberLocked = %v", got)
			}
			if got := mpesa.IsThrottled(tc.err); got != tc.throttled {
				t.Errorf("IsThrottled = %v", got)
			}
			if got := mpesa.IsInvalidToken(tc.err); got != tc.token {
				t.Errorf("IsInvalidToken = %v", got)
			}
		})
	}
}

func TestPaymentError_OutcomeUnknown(t *testing.T) {
	if !(&mpesa.PaymentError{Base: &mpesa.Error{}, MaybeSent: true}).OutcomeUnknown() {
		t.Error("MaybeSent does not make the outcome unknown")
	}
	if (&mpesa.PaymentError{Base: &mpesa.Error{}}).OutcomeUnknown() {
		t.Error("a zero PaymentError reports an unknown outcome")
	}
	var nilErr *mpesa.PaymentError
	if nilErr.OutcomeUnknown() {
		t.Error("a nil PaymentError reports an unknown outcome")
	}
}

// TestDarajaAnswerPredicates sends Daraja's real error bodies through Push or
// Query, so each predicate is tested on the error the client really returns.
func TestDarajaAnswerPredicates(t *testing.T) {
	type want struct {
		checkoutUnknown, wrongCredentials, merchantUnknown bool
		field                                              string // "" = InvalidField reports nothing
	}
	daraja := func(code, msg string) string {
		return `{"requestId":"16813-15-1","errorCode":"` + code + `","errorMessage":"` + msg + `"}`
	}
	tests := []struct {
		name   string
		query  bool // else push
		status int
		body   string
		want   want
	}{
		{"InvalidCheckoutRequestIDIsUnknownCheckout", true, 400, daraja("400.002.02", "Bad Request - Invalid CheckoutRequestID"),
			want{checkoutUnknown: true, field: "CheckoutRequestID"}},
		{"TransactionDoesNotExistIsUnknownCheckout", true, 500, daraja("500.001.1001", "The transaction does not Exist"),
			want{checkoutUnknown: true}},
		{"WrongCredentialsOnQuery", true, 500, daraja("500.001.1001", "Wrong credentials"), want{wrongCredentials: true}},
		{"WrongCredentialsOnPush", false, 500, daraja("500.001.1001", "Wrong credentials"), want{wrongCredentials: true}},
		{"MerchantValidateWrongCredentials", false, 500, daraja("500.001.1001", "[MerchantValidate] - Wrong credentials"), want{wrongCredentials: true}},
		{"WrongCredentialsAnyCase", false, 500, daraja("500.001.1001", "WRONG CREDENTIALS"), want{wrongCredentials: true}},
		{"MerchantDoesNotExist", false, 500, daraja("500.001.1001", "Merchant does not exist"), want{merchantUnknown: true}},
		{"InvalidPhoneNumber", false, 400, daraja("400.002.02", "Bad Request - Invalid PhoneNumber"), want{field: "PhoneNumber"}},
		{"InvalidAmount", false, 400, daraja("400.002.02", "Bad Request - Invalid Amount"), want{field: "Amount"}},
		{"InvalidCallBackURL", false, 400, daraja("400.002.02", "Bad Request - Invalid CallBackURL"), want{field: "CallBackURL"}},
		{"InvalidTimestamp", false, 400, daraja("400.002.02", "Bad Request - Invalid Timestamp"), want{field: "Timestamp"}},
		{"InvalidBusinessShortCode", false, 400, daraja("400.002.02", "Bad Request - Invalid BusinessShortCode"), want{field: "BusinessShortCode"}},
		{"InvalidRemarks", false, 400, daraja("400.002.02", "Bad Request - Invalid Remarks"), want{field: "Remarks"}},
		{"InvalidFieldWithTrailingText", false, 400, daraja("400.002.02", "Bad Request - Invalid PartyA."), want{field: "PartyA"}},
		{"BadRequestNamingNoField", false, 400, daraja("400.002.02", "Bad Request"), want{}},
		{"InvalidRequestPayloadIsNoField", false, 400, daraja("400.002.05", "Invalid Request Payload"), want{}},
		{"InvalidAccessTokenIsNoField", false, 404, daraja("404.001.03", "Invalid Access Token"), want{}},
		{"SubscriberLockedIsNoneOfThem", false, 500, daraja("500.001.1001", "Unable to lock subscriber, a transaction is already in process for the current subscriber"), want{}},
		{"SpikeArrestIsNoneOfThem", true, 500, daraja("500.003.02", "Error Occurred: Spike Arrest Violation"), want{}},
		{"InvalidCheckoutOnAnotherCodeIsNotUnknown", true, 500, daraja("500.001.1001", "Invalid CheckoutRequestID"), want{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDaraja(t)
			c := mustNew(t, testConfig(f.URL))
			var err error
			if tc.query {
				f.onQuery(answer(tc.status, tc.body))
				_, err = c.Query(testCtx(t), testCheckout)
			} else {
				f.onPush(answer(tc.status, tc.body))
				_, err = c.Push(testCtx(t), validPush())
			}
			if err == nil {
				t.Fatal("the call succeeded, want Daraja's error")
			}
			err = fmt.Errorf("bot: %w", err) // callers wrap
			if got := mpesa.IsCheckoutUnknown(err); got != tc.want.checkoutUnknown {
				t.Errorf("IsCheckoutUnknown = %v", got)
			}
			if got := mpesa.IsWrongCredentials(err); got != tc.want.wrongCredentials {
				t.Errorf("IsWrongCredentials = %v", got)
			}
			if got := mpesa.IsMerchantUnknown(err); got != tc.want.merchantUnknown {
				t.Errorf("IsMerchantUnknown = %v", got)
			}
			field, ok := mpesa.InvalidField(err)
			if field != tc.want.field || ok != (tc.want.field != "") {
				t.Errorf("InvalidField = %q, %v; want %q", field, ok, tc.want.field)
			}
			if mpesa.IsPending(err) {
				t.Errorf("IsPending is true for %s", tc.body)
			}
		})
	}
}

func TestDarajaAnswerPredicates_NotDarajaErrors(t *testing.T) {
	for _, err := range []error{
		nil,
		errors.New("500.001.1001 Wrong credentials"),
		errors.New("400.002.02 Bad Request - Invalid CheckoutRequestID"),
		&mpesa.PaymentError{Base: &mpesa.Error{Op: "stkpush", Message: "could not connect to Daraja; request not sent", Err: errors.New("Merchant does not exist")}},
	} {
		if mpesa.IsCheckoutUnknown(err) || mpesa.IsWrongCredentials(err) || mpesa.IsMerchantUnknown(err) {
			t.Errorf("%v matched a Daraja answer predicate", err)
		}
		if f, ok := mpesa.InvalidField(err); ok || f != "" {
			t.Errorf("%v: InvalidField = %q, %v", err, f, ok)
		}
	}
}
