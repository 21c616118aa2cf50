package mpesatest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"
)

const acceptedMessage = "Success. Request accepted for processing"

// pushAccepted is the STK Push answer.
type pushAccepted struct {
	MerchantRequestID   string `json:"MerchantRequestID"`
	CheckoutRequestID   string `json:"CheckoutRequestID"`
	ResponseCode        string `json:"ResponseCode"`
	ResponseDescription string `json:"ResponseDescription"`
	CustomerMessage     string `json:"CustomerMessage"`
}

type pushRequest struct {
	shortCode, password, timestamp string
	amount                         int64
	phone, callbackURL             string
	accountReference               string
}

var (
	phonePattern     = regexp.MustCompile(`^254[17][0-9]{8}$`)
	digitsPattern    = regexp.MustCompile(`^[0-9]+$`)
	timestampPattern = regexp.MustCompile(`^[0-9]{14}$`)
	// A whole number, possibly written as a float with a zero fraction ("1.0").
	amountPattern = regexp.MustCompile(`^([0-9]+)(\.0*)?$`)
	eat           = time.FixedZone("EAT", 3*60*60)
)

func (s *Simulator) handlePush(r *http.Request, body []byte) answer {
	if r.Method != http.MethodPost {
		return notFound()
	}
	if !s.authorized(r) {
		return invalidToken()
	}
	req, refusal, ok := parsePush(body)
	if !ok {
		return refusal
	}
	if ans, ok := s.checkMerchant(req.shortCode, req.password, req.timestamp); !ok {
		return ans
	}
	return s.accept(req)
}

// parsePush validates a push body field by field, answering like Daraja's gateway
// for the first field that fails.
func parsePush(body []byte) (pushRequest, answer, bool) {
	fields, ok := decodeFields(body)
	if !ok {
		return pushRequest{}, invalidPayload(), false
	}
	var req pushRequest
	var v string
	if v, ok = fields.text("BusinessShortCode"); !ok || !digitsPattern.MatchString(v) {
		return req, invalidField("BusinessShortCode"), false
	}
	req.shortCode = v
	if req.password, ok = fields.text("Password"); !ok || req.password == "" {
		return req, invalidField("Password"), false
	}
	if req.timestamp, ok = fields.text("Timestamp"); !ok || !validTimestamp(req.timestamp) {
		return req, invalidField("Timestamp"), false
	}
	if v, _ = fields.text("TransactionType"); v != "CustomerPayBillOnline" && v != "CustomerBuyGoodsOnline" {
		return req, invalidField("TransactionType"), false
	}
	if req.amount, ok = parseAmount(fields); !ok {
		return req, invalidField("Amount"), false
	}
	if v, ok = fields.text("PartyA"); !ok || !phonePattern.MatchString(v) {
		return req, invalidField("PartyA"), false
	}
	if v, ok = fields.text("PartyB"); !ok || !digitsPattern.MatchString(v) {
		return req, invalidField("PartyB"), false
	}
	if req.phone, ok = fields.text("PhoneNumber"); !ok || !phonePattern.MatchString(req.phone) {
		return req, invalidField("PhoneNumber"), false
	}
	if req.callbackURL, ok = fields.text("CallBackURL"); !ok || !validCallbackURL(req.callbackURL) {
		return req, invalidField("CallBackURL"), false
	}
	if req.accountReference, ok = fields.text("AccountReference"); !ok || req.accountReference == "" ||
		utf8.RuneCountInString(req.accountReference) > 12 {
		return req, invalidField("AccountReference"), false
	}
	// Daraja names TransactionDesc "Remarks" in its error.
	if v, ok = fields.text("TransactionDesc"); !ok || v == "" || utf8.RuneCountInString(v) > 13 {
		return req, invalidField("Remarks"), false
	}
	return req, answer{}, true
}

// checkMerchant answers like Daraja's backend for a wrong shortcode or password.
func (s *Simulator) checkMerchant(shortCode, password, timestamp string) (answer, bool) {
	if shortCode != s.cfg.shortCode {
		return backendError(newRequestID(), "Merchant does not exist"), false
	}
	want := base64.StdEncoding.EncodeToString([]byte(s.cfg.shortCode + s.cfg.passkey + timestamp))
	if !equal(password, want) {
		return backendError(newRequestID(), "Wrong credentials"), false
	}
	return answer{}, true
}

// accept creates the transaction unless the outcome refuses the push or the phone
// already has a prompt open.
func (s *Simulator) accept(req pushRequest) answer {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	outcome, ok := s.phoneOutcomes[req.phone]
	if !ok {
		outcome = DefaultOutcome(req.phone)
	}
	if outcome.Reject != nil {
		s.cfg.logger.Info("stk push refused by script", "phone", maskPhone(req.phone))
		return answer{reject: outcome.Reject}
	}
	if _, busy := s.locks[req.phone]; busy {
		s.cfg.logger.Info("stk push refused: subscriber locked", "phone", maskPhone(req.phone))
		return backendError(newRequestID(),
			"Unable to lock subscriber, a transaction is already in process for the current subscriber")
	}
	t := s.createLocked(req, outcome, now)
	s.cfg.logger.Info("stk push accepted",
		"checkout_request_id", t.CheckoutRequestID, "phone", maskPhone(t.Phone), "amount", t.Amount)
	return jsonAnswer(http.StatusOK, pushAccepted{
		MerchantRequestID:   t.MerchantRequestID,
		CheckoutRequestID:   t.CheckoutRequestID,
		ResponseCode:        "0",
		ResponseDescription: acceptedMessage,
		CustomerMessage:     acceptedMessage,
	})
}

// fields is a decoded JSON object whose values are kept raw, because Daraja takes
// numbers and strings alike for numeric fields.
type fields map[string]json.RawMessage

func decodeFields(body []byte) (fields, bool) {
	var f fields
	if err := json.Unmarshal(body, &f); err != nil || f == nil {
		return nil, false
	}
	return f, true
}

// text is a field as text: a JSON string's content, or a JSON number's literal.
func (f fields) text(name string) (string, bool) {
	raw := bytes.TrimSpace(f[name])
	if len(raw) == 0 {
		return "", false
	}
	switch {
	case raw[0] == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		return string(raw), true
	}
	return "", false
}

func parseAmount(f fields) (int64, bool) {
	v, ok := f.text("Amount")
	if !ok {
		return 0, false
	}
	m := amountPattern.FindStringSubmatch(v)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n < 1 {
		return 0, false
	}
	return n, true
}

func validTimestamp(ts string) bool {
	if !timestampPattern.MatchString(ts) {
		return false
	}
	_, err := time.ParseInLocation("20060102150405", ts, eat)
	return err == nil
}

func validCallbackURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
