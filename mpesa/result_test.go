package mpesa_test

import (
	"strings"
	"testing"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
)

func TestLookupResult(t *testing.T) {
	// Every row of the table in DESIGN §3 and reference/daraja.md.
	tests := []struct {
		code string
		want mpesa.Outcome
	}{
		{"0", mpesa.OutcomePaid},
		{"1", mpesa.OutcomeInsufficient},
		{"17", mpesa.OutcomeFailed},
		{"26", mpesa.OutcomeFailed},
		{"1001", mpesa.OutcomeBusy},
		{"1019", mpesa.OutcomeTimedOut},
		{"1025", mpesa.OutcomeFailed},
		{"1031", mpesa.OutcomeCancelled},
		{"1032", mpesa.OutcomeCancelled},
		{"1037", mpesa.OutcomeTimedOut},
		{"2001", mpesa.OutcomeWrongPIN},
		{"4999", mpesa.OutcomePending},
		{"9999", mpesa.OutcomeFailed},
		{"E3008", mpesa.OutcomeUnknown},
		{"SFC_IC0003", mpesa.OutcomeUnknown},
		{"", mpesa.OutcomeUnknown},
		{"00", mpesa.OutcomeUnknown},
		{" 0", mpesa.OutcomeUnknown},
		{"0.0", mpesa.OutcomeUnknown},
		{"-1", mpesa.OutcomeUnknown},
		{"12345", mpesa.OutcomeUnknown},
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

func TestLookupResult_OnlyZeroIsPaid(t *testing.T) {
	for _, r := range mpesa.ResultCodes() {
		if (r.Outcome == mpesa.OutcomePaid) != (r.Code == "0") {
			t.Errorf("code %s has outcome %v", r.Code, r.Outcome)
		}
	}
	if mpesa.LookupResult("E3008").Text == mpesa.LookupResult("0").Text {
		t.Error("an unknown code reads like a payment")
	}
}

func TestResultCodes(t *testing.T) {
	t.Run("ListsTheWholeTable", func(t *testing.T) {
		table := mpesa.ResultCodes()
		if len(table) != 13 {
			t.Fatalf("%d rows, want 13", len(table))
		}
		for _, r := range table {
			if got := mpesa.LookupResult(r.Code); got != r {
				t.Errorf("row %+v, but LookupResult gives %+v", r, got)
			}
			if r.Outcome == mpesa.OutcomeUnknown || len(r.Text) < 10 || !strings.HasSuffix(r.Text, ".") {
				t.Errorf("row %+v: want a known outcome and a sentence for the customer", r)
			}
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
