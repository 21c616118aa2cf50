package mpesa

import (
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits Daraja enforces on request fields.
const (
	// DefaultMaxAmount is M-Pesa's per-transaction ceiling in KES, used when
	// Config.MaxAmount (or ParseAmount's max) is zero.
	DefaultMaxAmount int64 = 250000
	// MaxAccountReference is the longest AccountReference Daraja accepts.
	MaxAccountReference = 12
	// MaxTransactionDesc is the longest TransactionDesc Daraja accepts.
	MaxTransactionDesc = 13

	// maxInputLen bounds the work done on (and the echo of) any user input.
	maxInputLen      = 64
	maxEchoRunes     = 32
	maxCheckoutIDLen = 128
)

// phoneForms is the hint every refused phone number carries.
const phoneForms = "use a Safaricom number like 0712345678, 712345678, +254712345678 or 254712345678"

// ValidationError reports a request field that Daraja would refuse; it is
// returned before any network call.
type ValidationError struct {
	Field  string // the Daraja field name: PhoneNumber, Amount, AccountReference, ...
	Value  string // what was given, shortened; masked for phone numbers and callback URLs
	Reason string // plain English: what was wrong and how to do it right
}

// Error implements error.
func (e *ValidationError) Error() string {
	if e.Value == "" {
		return "mpesa: invalid " + e.Field + ": " + e.Reason
	}
	return "mpesa: invalid " + e.Field + " " + strconv.Quote(e.Value) + ": " + e.Reason
}

// NormalizePhone turns the phone forms people type into the 2547XXXXXXXX or
// 2541XXXXXXXX form Daraja wants. Accepted: 0712345678, 712345678,
// +254712345678, 254712345678 (and the 01… range), with dashes or spaces
// between groups ("+254 712 345 678"). Anything else is refused with a
// *ValidationError whose Value is masked.
func NormalizePhone(s string) (string, error) {
	fail := func(reason string) (string, error) {
		return "", &ValidationError{Field: "PhoneNumber", Value: MaskPhone(s), Reason: reason}
	}
	if strings.TrimSpace(s) == "" {
		return fail("the phone number is missing; " + phoneForms)
	}
	if len(s) > maxInputLen {
		return fail("too long for a phone number; " + phoneForms)
	}
	var digits [maxInputLen]byte
	n := 0
	plus := false
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits[n] = byte(r)
			n++
		case r == '-' || unicode.IsSpace(r):
			// Group separators.
		case r == '+' && n == 0 && !plus && strings.TrimSpace(s[:i]) == "":
			plus = true
		default:
			return fail("only digits, spaces, dashes and a leading + are allowed; " + phoneForms)
		}
	}
	d := string(digits[:n])
	var local string
	switch {
	case plus:
		if n != 12 || !strings.HasPrefix(d, "254") {
			return fail("after + a Kenyan number has 254 and 9 more digits; " + phoneForms)
		}
		local = d[3:]
	case n == 12 && strings.HasPrefix(d, "254"):
		local = d[3:]
	case n == 10 && d[0] == '0':
		local = d[1:]
	case n == 9 && d[0] != '0':
		local = d
	default:
		return fail("wrong number of digits; " + phoneForms)
	}
	if local[0] != '7' && local[0] != '1' {
		return fail("not a Safaricom mobile number (it must start 07, 01, 2547 or 2541); " + phoneForms)
	}
	return "254" + local, nil
}

// MaskPhone hides all but the last 3 digits of a phone number, for logs and
// replies: "254712345678" → "*********678". Non-digits are dropped; a value
// with 3 digits or fewer is masked entirely.
func MaskPhone(s string) string {
	var last [3]byte
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' {
			last[n%3] = c
			n++
		}
	}
	if n <= 3 {
		return strings.Repeat("*", n)
	}
	stars := min(n-3, 16) // a mask of garbage input must not grow without bound
	b := make([]byte, 0, stars+3)
	b = append(b, strings.Repeat("*", stars)...)
	for i := range 3 {
		b = append(b, last[(n+i)%3])
	}
	return string(b)
}

// ParseAmount reads a whole amount of KES as people type it: "100", "1,000"
// (commas must group thousands). Decimals ("10.50"), zero, negatives, words
// and amounts above max are refused with a *ValidationError. A max of zero or
// less means DefaultMaxAmount.
func ParseAmount(s string, max int64) (int64, error) {
	if max <= 0 {
		max = DefaultMaxAmount
	}
	fail := func(reason string) (int64, error) {
		return 0, &ValidationError{Field: "Amount", Value: echo(s), Reason: reason}
	}
	wholeHint := "give a whole number of shillings from 1 to " + groupThousands(max) + ", like 100 or 1,000"
	t := strings.TrimSpace(s)
	switch {
	case t == "":
		return fail("the amount is missing; " + wholeHint)
	case len(t) > maxInputLen:
		return fail("too long for an amount; " + wholeHint)
	case strings.HasPrefix(t, "-"):
		return fail("the amount cannot be negative; " + wholeHint)
	case strings.ContainsAny(t, "."):
		return fail("M-Pesa takes whole shillings only, no cents; " + wholeHint)
	}
	digits, ok := ungroup(t)
	if !ok {
		return fail("not a number; " + wholeHint)
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || v > max {
		return fail("the most one payment can be is " + groupThousands(max) + " KES")
	}
	if v < 1 {
		return fail("the amount must be at least 1 KES")
	}
	return v, nil
}

// ungroup removes thousands separators, accepting only well-formed grouping
// ("1,000", "12,345,678"), so a typo like "10,00" is not silently read.
func ungroup(s string) (string, bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && c != ',' {
			return "", false
		}
	}
	if !strings.Contains(s, ",") {
		return s, true
	}
	groups := strings.Split(s, ",")
	if len(groups[0]) < 1 || len(groups[0]) > 3 {
		return "", false
	}
	for _, g := range groups[1:] {
		if len(g) != 3 {
			return "", false
		}
	}
	return strings.Join(groups, ""), true
}

// groupThousands renders 250000 as "250,000".
func groupThousands(v int64) string {
	s := strconv.FormatInt(v, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	head := len(s) % 3
	if head > 0 {
		b.WriteString(s[:head])
	}
	for i := head; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// ValidateAccountReference checks an AccountReference: 1 to 12 characters,
// letters, digits and '-' only.
func ValidateAccountReference(s string) error {
	fail := func(reason string) error {
		return &ValidationError{Field: "AccountReference", Value: echo(s), Reason: reason}
	}
	const hint = "use 1 to 12 letters, digits or dashes, like INV-001"
	if s == "" {
		return fail("the reference is missing; " + hint)
	}
	if len(s) > MaxAccountReference {
		return fail("longer than 12 characters; " + hint)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fail("only letters, digits and dashes are allowed; " + hint)
		}
	}
	return nil
}

// ValidateTransactionDesc checks a TransactionDesc: 1 to 13 characters, not
// blank, no control characters. Daraja refuses a missing one ("Invalid
// Remarks").
func ValidateTransactionDesc(s string) error {
	fail := func(reason string) error {
		return &ValidationError{Field: "TransactionDesc", Value: echo(s), Reason: reason}
	}
	const hint = "use 1 to 13 characters, like Payment"
	if strings.TrimSpace(s) == "" {
		return fail("the description is missing; " + hint)
	}
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxTransactionDesc {
		return fail("longer than 13 characters; " + hint)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fail("control characters are not allowed; " + hint)
		}
	}
	return nil
}

// validateCallbackURL checks that Daraja can post to the URL. The URL holds
// the per-payment secret, so an error shows only its scheme and host.
func validateCallbackURL(s string) error {
	fail := func(reason string) error {
		return &ValidationError{Field: "CallBackURL", Value: redactURL(s), Reason: reason}
	}
	if s == "" {
		return fail("the callback URL is missing; give an absolute https:// URL")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return fail("Daraja needs an absolute http(s) URL without credentials, like https://example.com/pay/callback")
	}
	return nil
}

// validateCheckoutRequestID checks an ID before it is sent to STK Query.
func validateCheckoutRequestID(s string) error {
	fail := func(reason string) error {
		return &ValidationError{Field: "CheckoutRequestID", Value: echo(s), Reason: reason}
	}
	if s == "" {
		return fail("the CheckoutRequestID is missing; it looks like ws_CO_191220191020363925")
	}
	if len(s) > maxCheckoutIDLen {
		return fail("too long for a CheckoutRequestID")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fail("only letters, digits, '_', '-' and '.' occur in a CheckoutRequestID")
		}
	}
	return nil
}

// echo shortens user input for an error message.
func echo(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if utf8.RuneCountInString(s) <= maxEchoRunes {
		return s
	}
	r := []rune(s)
	return string(r[:maxEchoRunes]) + "…"
}
