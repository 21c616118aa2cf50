package mpesa

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// MaxCallbackSize is the largest callback body ParseCallback reads; a real
// one is under 2 KiB. The HTTP handler should refuse larger bodies (413)
// before reading them.
const MaxCallbackSize = 64 << 10

// ErrInvalidCallback is wrapped by every ParseCallback error: the body is
// not a usable STK callback (answer the sender 400).
var ErrInvalidCallback = errors.New("mpesa: invalid callback")

// Callback is the result Daraja posts to the CallBackURL of a push.
type Callback struct {
	MerchantRequestID, CheckoutRequestID string
	ResultCode                           string    // always text: "0", "1032", "SFC_IC0003"
	ResultDesc                           string    // for people; never decide on it
	Amount                               int64     // 1 and 1.0 → 1; 0 when absent or not a whole positive number
	Receipt                              string    // MpesaReceiptNumber; "" when absent
	TransactionDate                      time.Time // from 20191219102115 in Kenyan time; zero when absent or bad
	Phone                                string    // as sent, digits; "" when absent or not digits
	Items                                []CallbackItem
}

// CallbackItem is one CallbackMetadata item, as sent.
type CallbackItem struct {
	Name  string
	Value json.RawMessage // nil when absent or null (Balance)
}

// LogValue renders the callback for log/slog with the phone masked.
func (c *Callback) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("checkout_request_id", c.CheckoutRequestID),
		slog.String("merchant_request_id", c.MerchantRequestID),
		slog.String("result_code", c.ResultCode),
		slog.Int64("amount", c.Amount),
		slog.String("receipt", c.Receipt),
		slog.String("phone", MaskPhone(c.Phone)),
	)
}

// Item returns the value of the named metadata item (exact name first, then
// ignoring case). ok is false when there is no such item; a present item
// without a value (Balance) gives nil, true.
func (c *Callback) Item(name string) (json.RawMessage, bool) {
	for _, it := range c.Items {
		if it.Name == name {
			return it.Value, true
		}
	}
	for _, it := range c.Items {
		if strings.EqualFold(it.Name, name) {
			return it.Value, true
		}
	}
	return nil, false
}

// Outcome classifies the callback's ResultCode. Only "0" is OutcomePaid.
func (c *Callback) Outcome() Outcome { return LookupResult(c.ResultCode).Outcome }

// callbackEnvelope is {"Body":{"stkCallback":{...}}}.
type callbackEnvelope struct {
	Body *struct {
		STKCallback *struct {
			MerchantRequestID flexString      `json:"MerchantRequestID"`
			CheckoutRequestID flexString      `json:"CheckoutRequestID"`
			ResultCode        json.RawMessage `json:"ResultCode"`
			ResultDesc        flexString      `json:"ResultDesc"`
			CallbackMetadata  *struct {
				Item []struct {
					Name  flexString      `json:"Name"`
					Value json.RawMessage `json:"Value"`
				} `json:"Item"`
			} `json:"CallbackMetadata"`
		} `json:"stkCallback"`
	} `json:"Body"`
}

// ParseCallback decodes the full {"Body":{"stkCallback":{...}}} envelope.
// ResultCode may be a number or a string; items are found by name, a Balance
// item may have no Value, Amount may be 1 or 1.0; unknown fields are
// ignored. A body that is not such a callback (no CheckoutRequestID, no
// ResultCode, not JSON, larger than MaxCallbackSize) gives an error wrapping
// ErrInvalidCallback. It never panics, and its work is bounded by the size
// limit.
func ParseCallback(body []byte) (*Callback, error) {
	fail := func(format string, args ...any) (*Callback, error) {
		return nil, fmt.Errorf("%w: "+format, append([]any{ErrInvalidCallback}, args...)...)
	}
	if len(body) > MaxCallbackSize {
		return fail("body of %d bytes is over the %d limit", len(body), MaxCallbackSize)
	}
	var env callbackEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return fail("not the JSON of an STK callback: %v", err)
	}
	if env.Body == nil || env.Body.STKCallback == nil {
		return fail("no Body.stkCallback")
	}
	s := env.Body.STKCallback
	cb := &Callback{
		MerchantRequestID: s.MerchantRequestID.String(),
		CheckoutRequestID: s.CheckoutRequestID.String(),
		ResultDesc:        s.ResultDesc.String(),
	}
	if err := validateCheckoutRequestID(cb.CheckoutRequestID); err != nil {
		return fail("CheckoutRequestID: %v", err)
	}
	code, ok := resultCodeText(s.ResultCode)
	if !ok {
		// Never default: a missing code must not read as "0", paid.
		return fail("missing or unreadable ResultCode")
	}
	cb.ResultCode = code
	if s.CallbackMetadata != nil {
		cb.Items = make([]CallbackItem, 0, len(s.CallbackMetadata.Item))
		for _, it := range s.CallbackMetadata.Item {
			v := it.Value
			if len(v) == 0 || string(v) == "null" {
				v = nil
			}
			cb.Items = append(cb.Items, CallbackItem{Name: it.Name.String(), Value: v})
		}
	}
	if v, ok := cb.Item("Amount"); ok {
		if n, ok := rawInt(v); ok && n > 0 {
			cb.Amount = n
		}
	}
	if v, ok := cb.Item("MpesaReceiptNumber"); ok {
		if r, ok := rawText(v); ok && isReceipt(r) {
			cb.Receipt = r
		}
	}
	if v, ok := cb.Item("TransactionDate"); ok {
		if t, ok := rawText(v); ok && ValidateTimestamp(t) == nil {
			cb.TransactionDate, _ = time.ParseInLocation(timestampLayout, t, eat)
		}
	}
	if v, ok := cb.Item("PhoneNumber"); ok {
		if p, ok := rawText(v); ok && isDigits(p, 15) {
			cb.Phone = p
		}
	}
	return cb, nil
}

// resultCodeText reads ResultCode as text: 0 → "0", "SFC_IC0003" stays.
func resultCodeText(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	var f flexString
	if json.Unmarshal(raw, &f) != nil {
		return "", false
	}
	s := f.String()
	if s == "" || len(s) > 32 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return "", false
		}
	}
	return s, true
}

// rawText reads a JSON string or number as text (whole numbers without a
// fraction or exponent).
func rawText(raw json.RawMessage) (string, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || !(t[0] == '"' || t[0] == '-' || t[0] >= '0' && t[0] <= '9') {
		return "", false
	}
	var f flexString
	if json.Unmarshal(t, &f) != nil {
		return "", false
	}
	return f.String(), true
}

// rawInt reads a whole number sent as 1, 1.0 or "1".
func rawInt(raw json.RawMessage) (int64, bool) {
	s, ok := rawText(raw)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(numberText(s), 10, 64)
	return n, err == nil
}

func isReceipt(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func isDigits(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
