package mpesa_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
)

func TestNormalizePhone(t *testing.T) {
	accepted := []struct {
		name, in, want string
	}{
		{"AcceptsLocalWithZero", "0712345678", "254712345678"},
		{"AcceptsLocalWithoutZero", "712345678", "254712345678"},
		{"AcceptsInternationalWithPlus", "+254712345678", "254712345678"},
		{"AcceptsInternational", "254712345678", "254712345678"},
		{"AcceptsTheOneRange", "0112345678", "254112345678"},
		{"AcceptsTheOneRangeInternational", "+254112345678", "254112345678"},
		{"AcceptsDashes", "0712-345-678", "254712345678"},
		{"AcceptsDashesInternational", "+254-712-345-678", "254712345678"},
		{"AcceptsSpacesInGroups", "+254 712 345 678", "254712345678"},
		{"AcceptsLocalSpacesInGroups", "0712 345 678", "254712345678"},
		{"AcceptsSurroundingSpace", "  0712345678 ", "254712345678"},
		{"AcceptsSandboxTestNumber", "254708374149", "254708374149"},
	}
	for _, tc := range accepted {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mpesa.NormalizePhone(tc.in)
			if err != nil {
				t.Fatalf("NormalizePhone(%q) refused: %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("NormalizePhone(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}

	refused := []struct{ name, in string }{
		{"RefusesEmpty", ""},
		{"RefusesBlank", "   "},
		{"RefusesShort", "071234567"},
		{"RefusesShortInternational", "25471234567"},
		{"RefusesLong", "07123456789"},
		{"RefusesLongInternational", "2547123456789"},
		{"RefusesLetters", "07l2345678"},
		{"RefusesWords", "my phone"},
		{"RefusesNonSafaricomRange", "0812345678"},
		{"RefusesNonSafaricomRangeInternational", "254812345678"},
		{"RefusesOtherCountry", "+255712345678"},
		{"RefusesPlusWithoutCountry", "+0712345678"},
		{"RefusesPlusInTheMiddle", "254+712345678"},
		{"RefusesTwoPluses", "++254712345678"},
		{"RefusesZeroAfterCountry", "2540712345678"},
		{"RefusesInternationalPrefix", "00254712345678"},
		{"RefusesParentheses", "(0712) 345678"},
		{"RefusesDots", "0712.345.678"},
		{"RefusesArabicIndicDigits", "٠٧١٢٣٤٥٦٧٨"},
		{"RefusesHugeInput", strings.Repeat("7", 10000)},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mpesa.NormalizePhone(tc.in)
			if err == nil {
				t.Fatalf("NormalizePhone(%q) = %q, want refused", tc.in, got)
			}
			var verr *mpesa.ValidationError
			if !errors.As(err, &verr) || verr.Field != "PhoneNumber" {
				t.Fatalf("error %v is not a PhoneNumber ValidationError", err)
			}
			if !strings.Contains(verr.Reason, "0712345678") {
				t.Errorf("reason %q does not name the accepted forms", verr.Reason)
			}
			if verr.Value != mpesa.MaskPhone(tc.in) {
				t.Errorf("error shows %q, want the masked %q", verr.Value, mpesa.MaskPhone(tc.in))
			}
		})
	}
}

func TestNormalizePhone_ErrorMasksThePhone(t *testing.T) {
	_, err := mpesa.NormalizePhone("0812345678")
	if err == nil {
		t.Fatal("0812345678 accepted")
	}
	if strings.Contains(err.Error(), "812345678") || !strings.Contains(err.Error(), "*******678") {
		t.Fatalf("error %q: want the phone masked to its last 3 digits", err)
	}
}

func TestMaskPhone(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"KeepsLastThreeDigits", "254712345678", "*********678"},
		{"MasksLocalForm", "0712345678", "*******678"},
		{"DropsSeparators", "+254 712 345 678", "*********678"},
		{"MasksShortValueEntirely", "678", "***"},
		{"EmptyStaysEmpty", "", ""},
		{"BoundsGarbage", strings.Repeat("9", 1000) + "123", strings.Repeat("*", 16) + "123"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := mpesa.MaskPhone(tc.in); got != tc.want {
				t.Fatalf("MaskPhone(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseAmount(t *testing.T) {
	accepted := []struct {
		name, in string
		max      int64
		want     int64
	}{
		{"AcceptsWholeNumber", "100", 250000, 100},
		{"AcceptsOne", "1", 250000, 1},
		{"AcceptsThousandsSeparator", "1,000", 250000, 1000},
		{"AcceptsMaximum", "250,000", 250000, 250000},
		{"AcceptsSurroundingSpace", " 50 ", 250000, 50},
		{"AcceptsLeadingZero", "007", 250000, 7},
		{"ZeroMaxMeansDefault", "250000", 0, 250000},
		{"AcceptsLowerMax", "500", 500, 500},
	}
	for _, tc := range accepted {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mpesa.ParseAmount(tc.in, tc.max)
			if err != nil || got != tc.want {
				t.Fatalf("ParseAmount(%q, %d) = %d, %v; want %d", tc.in, tc.max, got, err, tc.want)
			}
		})
	}

	refused := []struct {
		name, in string
		max      int64
		reason   string
	}{
		{"RefusesDecimalAmount", "10.50", 250000, "whole"},
		{"RefusesZeroCents", "100.00", 250000, "whole"},
		{"RefusesZero", "0", 250000, "at least 1"},
		{"RefusesNegative", "-5", 250000, "negative"},
		{"RefusesWords", "abc", 250000, "not a number"},
		{"RefusesEmpty", "", 250000, "missing"},
		{"RefusesAboveMax", "250001", 250000, "250,000"},
		{"RefusesAboveLowerMax", "501", 500, "500"},
		{"RefusesAboveDefaultMax", "250,001", 0, "250,000"},
		{"RefusesOverflow", "99999999999999999999999", 250000, "250,000"},
		{"RefusesBadGrouping", "10,00", 250000, "not a number"},
		{"RefusesLeadingComma", ",100", 250000, "not a number"},
		{"RefusesTrailingComma", "100,", 250000, "not a number"},
		{"RefusesLongFirstGroup", "1000,000", 250000, "not a number"},
		{"RefusesExponent", "1e3", 250000, "not a number"},
		{"RefusesPlusSign", "+5", 250000, "not a number"},
		{"RefusesCurrency", "KES100", 250000, "not a number"},
		{"RefusesInnerSpace", "1 000", 250000, "not a number"},
		{"RefusesHex", "0x10", 250000, "not a number"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mpesa.ParseAmount(tc.in, tc.max)
			if err == nil {
				t.Fatalf("ParseAmount(%q) = %d, want refused", tc.in, got)
			}
			var verr *mpesa.ValidationError
			if !errors.As(err, &verr) || verr.Field != "Amount" {
				t.Fatalf("error %v is not an Amount ValidationError", err)
			}
			if !strings.Contains(verr.Reason, tc.reason) {
				t.Errorf("reason %q does not say %q", verr.Reason, tc.reason)
			}
		})
	}
}

func TestValidateAccountReference(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"AcceptsInvoiceNumber", "INV001", true},
		{"AcceptsDashes", "INV-42", true},
		{"AcceptsTwelveCharacters", "ABCDEFGHIJKL", true},
		{"AcceptsOneCharacter", "A", true},
		{"RefusesEmpty", "", false},
		{"RefusesThirteenCharacters", "ABCDEFGHIJKLM", false},
		{"RefusesSpaces", "INV 001", false},
		{"RefusesUnderscore", "INV_001", false},
		{"RefusesMarkup", "<b>x</b>", false},
		{"RefusesNonASCIILetters", "FAKTURA-ł", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := mpesa.ValidateAccountReference(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateAccountReference(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
			var verr *mpesa.ValidationError
			if err != nil && (!errors.As(err, &verr) || verr.Field != "AccountReference") {
				t.Fatalf("error %v is not an AccountReference ValidationError", err)
			}
		})
	}
}

func TestValidateTransactionDesc(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"AcceptsDefault", "Payment", true},
		{"AcceptsThirteenCharacters", "ABCDEFGHIJKLM", true},
		{"AcceptsSpaces", "Test Payment", true},
		{"AcceptsThirteenRunesOfUnicode", "Malipo ya ōōō", true},
		{"RefusesEmpty", "", false},
		{"RefusesBlank", "   ", false},
		{"RefusesFourteenCharacters", "ABCDEFGHIJKLMN", false},
		{"RefusesControlCharacters", "Pay\nment", false},
		{"RefusesInvalidUTF8", "Pay\xffment", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := mpesa.ValidateTransactionDesc(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateTransactionDesc(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
			var verr *mpesa.ValidationError
			if err != nil && (!errors.As(err, &verr) || verr.Field != "TransactionDesc") {
				t.Fatalf("error %v is not a TransactionDesc ValidationError", err)
			}
		})
	}
}

func TestValidationError_ShortensLongInput(t *testing.T) {
	_, err := mpesa.ParseAmount(strings.Repeat("x", 5000), 0)
	if err == nil || len(err.Error()) > 400 {
		t.Fatalf("error for a 5000-byte amount is %d bytes long: %v", len(err.Error()), err)
	}
}
