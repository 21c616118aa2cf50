package mpesatest

import "net/http"

// The query's ResponseDescription, misspelt like the real one.
const queryAccepted = "The service request has been accepted successsfully"

// queryResult is STK Query's 200 answer; ResultCode is a string.
type queryResult struct {
	ResponseCode        string `json:"ResponseCode"`
	ResponseDescription string `json:"ResponseDescription"`
	MerchantRequestID   string `json:"MerchantRequestID"`
	CheckoutRequestID   string `json:"CheckoutRequestID"`
	ResultCode          string `json:"ResultCode"`
	ResultDesc          string `json:"ResultDesc"`
}

func (s *Simulator) handleQuery(r *http.Request, body []byte) answer {
	if r.Method != http.MethodPost {
		return notFound()
	}
	if !s.authorized(r) {
		return invalidToken()
	}
	f, ok := decodeFields(body)
	if !ok {
		return invalidPayload()
	}
	shortCode, ok := f.text("BusinessShortCode")
	if !ok || !digitsPattern.MatchString(shortCode) {
		return invalidField("BusinessShortCode")
	}
	password, ok := f.text("Password")
	if !ok || password == "" {
		return invalidField("Password")
	}
	timestamp, ok := f.text("Timestamp")
	if !ok || !validTimestamp(timestamp) {
		return invalidField("Timestamp")
	}
	id, ok := f.text("CheckoutRequestID")
	if !ok || id == "" {
		return invalidField("CheckoutRequestID")
	}
	if ans, ok := s.checkMerchant(shortCode, password, timestamp); !ok {
		return ans
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.txns[id]
	if t == nil {
		return invalidField("CheckoutRequestID")
	}
	if t.State == StatePending {
		t.queries++
		shape := s.cfg.pending
		if shape == PendingAlternate {
			shape = Pending4999
			if t.queries%2 == 1 {
				shape = Pending500
			}
		}
		if shape == Pending500 {
			return backendError(t.CheckoutRequestID, "The transaction is being processed")
		}
		return pendingAnswer(t.MerchantRequestID, t.CheckoutRequestID)
	}
	return jsonAnswer(http.StatusOK, queryResult{
		ResponseCode:        "0",
		ResponseDescription: queryAccepted,
		MerchantRequestID:   t.MerchantRequestID,
		CheckoutRequestID:   t.CheckoutRequestID,
		ResultCode:          t.ResultCode,
		ResultDesc:          t.ResultDesc,
	})
}

func pendingAnswer(merchantID, checkoutID string) answer {
	return jsonAnswer(http.StatusOK, queryResult{
		ResponseCode:        "0",
		ResponseDescription: queryAccepted,
		MerchantRequestID:   merchantID,
		CheckoutRequestID:   checkoutID,
		ResultCode:          "4999",
		ResultDesc:          resultDescriptions["4999"],
	})
}
