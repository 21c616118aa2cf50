package mpesa_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
)

func TestLookupResult(t *testing.T) {
	// Every row of the STK result-code table, and codes that are not in it.
	tests := []struct {
		code string
		want mpesa.Outcome
	}{
		{"0", mpesa.OutcomePaid},
		{"1", mpesa.OutcomeInsufficient},
		{"2", mpesa.OutcomeFailed},
		{"3", mpesa.OutcomeFailed},
		{"4", mpesa.OutcomeFailed},
		{"8", mpesa.OutcomeFailed},
		{"17", mpesa.OutcomeFailed},
		{"26", mpesa.OutcomeFailed},
		{"1001", mpesa.OutcomeBusy},
		{"1019", mpesa.OutcomeTimedOut},
		{"1025", mpesa.OutcomeFailed},
		{"1031", mpesa.OutcomeCancelled},
		{"1032", mpesa.OutcomeCancelled},
		{"1036", mpesa.OutcomeFailed},
		{"1037", mpesa.OutcomeTimedOut},
		{"2001", mpesa.OutcomeWrongPIN},
		{"2028", mpesa.OutcomeFailed},
		{"4999", mpesa.OutcomePending},
		{"8006", mpesa.OutcomeFailed},
		{"9999", mpesa.OutcomeFailed},
		{"E3008", mpesa.OutcomeFailed},
		{"SFC_IC0003", mpesa.OutcomeFailed},
		{"", mpesa.OutcomeUnknown},
		{"00", mpesa.OutcomeUnknown},
		{" 0", mpesa.OutcomeUnknown},
		{"0.0", mpesa.OutcomeUnknown},
		{"-1", mpesa.OutcomeUnknown},
		{"12345", mpesa.OutcomeUnknown},
		{"sfc_ic0003", mpesa.OutcomeUnknown},
		{"E3009", mpesa.OutcomeUnknown},
	}
	for _, tc := range tests {
		t.Run("Code"+tc.code, func(t *testing.T) {
			r := mpesa.LookupResult(tc.code)
			if r.Outcome != tc.want || r.Code != tc.code || r.Text == "" {
				t.Fatalf("LookupResult(%q) = %+v, want outcome %v", tc.code, r, tc.want)
			}
		})
	}
}

func TestLookupResult_UnknownCodeHasNoHint(t *testing.T) {
	if r := mpesa.LookupResult("12345"); r.Hint != "" {
		t.Errorf("an unknown code has hint %q: nothing is known to fix", r.Hint)
	}
}

func TestLookupResult_OnlyZeroIsPaid(t *testing.T) {
	for _, r := range mpesa.ResultCodes() {
		if (r.Outcome == mpesa.OutcomePaid) != (r.Code == "0") {
			t.Errorf("code %s has outcome %v", r.Code, r.Outcome)
		}
	}
	if mpesa.LookupResult("12345").Text == mpesa.LookupResult("0").Text {
		t.Error("an unknown code reads like a payment")
	}
}

func TestLookupResult_Hints(t *testing.T) {
	tests := []struct {
		code string
		want []string // parts of the hint; none = no hint
	}{
		{"SFC_IC0003", []string{"operator does not exist", "till number", "BusinessShortCode", "CustomerBuyGoodsOnline", "MPESA_SHORTCODE", "store number", "MPESA_PARTY_B"}},
		{"2028", []string{"not permitted", "MPESA_TRANSACTION_TYPE", "MPESA_PARTY_B"}},
		{"3", []string{"MAX_AMOUNT"}},
		{"8", []string{"MPESA_PARTY_B"}},
		{"1025", []string{"TRANSACTION_DESC"}},
		{"E3008", []string{"MPESA_SHORTCODE"}},
		// The customer's own action or state explains these.
		{"1", nil}, {"2", nil}, {"4", nil}, {"17", nil}, {"1001", nil}, {"1019", nil}, {"1031", nil},
		{"1032", nil}, {"1037", nil}, {"2001", nil}, {"8006", nil},
	}
	for _, tc := range tests {
		t.Run("Code"+tc.code, func(t *testing.T) {
			hint := mpesa.LookupResult(tc.code).Hint
			if tc.want == nil {
				if hint != "" {
					t.Errorf("hint %q, want none", hint)
				}
				return
			}
			for _, w := range tc.want {
				if !strings.Contains(hint, w) {
					t.Errorf("hint %q does not say %q", hint, w)
				}
			}
		})
	}
}

func TestResultCodes(t *testing.T) {
	t.Run("ListsTheWholeTable", func(t *testing.T) {
		table := mpesa.ResultCodes()
		if len(table) != 22 {
			t.Fatalf("%d rows, want 22", len(table))
		}
		var codes []string
		for _, r := range table {
			codes = append(codes, r.Code)
			if got := mpesa.LookupResult(r.Code); got != r {
				t.Errorf("row %+v, but LookupResult gives %+v", r, got)
			}
			if r.Outcome == mpesa.OutcomeUnknown || len(r.Text) < 10 || !strings.HasSuffix(r.Text, ".") {
				t.Errorf("row %+v: want a known outcome and a sentence for the customer", r)
			}
			if r.Hint != "" && !strings.HasSuffix(r.Hint, ".") {
				t.Errorf("row %s: hint %q is not a sentence", r.Code, r.Hint)
			}
		}
		if len(slices.Compact(slices.Sorted(slices.Values(codes)))) != len(codes) {
			t.Errorf("a code is listed twice: %v", codes)
		}
	})
	t.Run("ReturnsACopy", func(t *testing.T) {
		table := mpesa.ResultCodes()
		table[0].Outcome = mpesa.OutcomeFailed
		if mpesa.LookupResult("0").Outcome != mpesa.OutcomePaid || mpesa.ResultCodes()[0].Outcome != mpesa.OutcomePaid {
			t.Fatal("changing the returned table changed the client's table")
		}
	})
}

func TestOutcome_String(t *testing.T) {
	want := map[mpesa.Outcome]string{
		mpesa.OutcomeUnknown: "unknown", mpesa.OutcomePaid: "paid", mpesa.OutcomeCancelled: "cancelled",
		mpesa.OutcomeTimedOut: "timed out", mpesa.OutcomeInsufficient: "insufficient", mpesa.OutcomeWrongPIN: "wrong PIN",
		mpesa.OutcomeBusy: "busy", mpesa.OutcomeFailed: "failed", mpesa.OutcomePending: "pending",
		mpesa.Outcome(42): "Outcome(42)",
	}
	for o, s := range want {
		if o.String() != s {
			t.Errorf("Outcome(%d).String() = %q, want %q", int(o), o.String(), s)
		}
	}
}
