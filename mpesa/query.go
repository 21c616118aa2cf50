package mpesa

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
)

// QueryResult is Daraja's answer to an STK Query. ResultCode is text ("0",
// "1032", ...); decide with Outcome or LookupResult, never with ResultDesc
// (it is misspelt in real answers).
type QueryResult struct {
	ResponseCode, ResponseDescription, MerchantRequestID, CheckoutRequestID, ResultCode, ResultDesc string
	// Pending is true for both "not answered yet" shapes: HTTP 500 errorCode
	// 500.001.1001 "...being processed", and HTTP 200 ResultCode 4999. Ask
	// again later.
	Pending bool
}

// Outcome classifies the result; OutcomePending while Pending.
func (r *QueryResult) Outcome() Outcome {
	if r.Pending {
		return OutcomePending
	}
	return LookupResult(r.ResultCode).Outcome
}

// queryPayload is the STK Query body.
type queryPayload struct {
	BusinessShortCode json.Number `json:"BusinessShortCode"`
	Password          string      `json:"Password"`
	Timestamp         string      `json:"Timestamp"`
	CheckoutRequestID string      `json:"CheckoutRequestID"`
}

// LogValue is the DEBUG view of the payload, without the password.
func (p queryPayload) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("BusinessShortCode", p.BusinessShortCode.String()),
		slog.String("Password", redacted),
		slog.String("Timestamp", p.Timestamp),
		slog.String("CheckoutRequestID", p.CheckoutRequestID),
	)
}

// queryAnswer is Daraja's STK Query answer.
type queryAnswer struct {
	ResponseCode        flexString `json:"ResponseCode"`
	ResponseDescription flexString `json:"ResponseDescription"`
	MerchantRequestID   flexString `json:"MerchantRequestID"`
	CheckoutRequestID   flexString `json:"CheckoutRequestID"`
	ResultCode          flexString `json:"ResultCode"`
	ResultDesc          flexString `json:"ResultDesc"`
}

// Query asks Daraja how an STK Push ended (function 5 of the original
// module). A transaction the customer has not answered yet is not an error:
// the result has Pending set. Transport errors and HTTP 408, 429, 500, 502,
// 503, 504 (other than "pending") are retried RetryMax times with
// exponential backoff; an invalid-token answer fetches a new token and asks
// once more. Other failures are *QueryError.
func (c *Client) Query(ctx context.Context, checkoutRequestID string) (*QueryResult, error) {
	if err := validateCheckoutRequestID(checkoutRequestID); err != nil {
		return nil, c.queryFailed(ctx, &Error{Message: "request not sent", Err: err}, checkoutRequestID)
	}
	for tokenTry := 0; ; tokenTry++ {
		tok, err := c.Token(ctx)
		if err != nil {
			return nil, c.queryFailed(ctx, &Error{Message: "request not sent: no access token", Err: err}, checkoutRequestID)
		}
		password, timestamp := c.Password("")
		payload := queryPayload{
			BusinessShortCode: json.Number(c.cfg.ShortCode),
			Password:          password,
			Timestamp:         timestamp,
			CheckoutRequestID: checkoutRequestID,
		}
		body, err := json.Marshal(payload)
		if err != nil {
			return nil, c.queryFailed(ctx, &Error{Message: "request not sent: could not encode it", Err: err}, checkoutRequestID)
		}
		red := c.redactorFor(tok, redacted, password, redacted)
		c.log.LogAttrs(ctx, slog.LevelDebug, "mpesa: stk query request", slog.Any("payload", payload))

		a, err := c.doRetrying(ctx, http.MethodPost, PathSTKQuery, body, "Bearer "+tok)
		if err != nil {
			return nil, c.queryFailed(ctx, &Error{Message: "no answer from Daraja", Err: err}, checkoutRequestID)
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "mpesa: stk query response", slog.Int("status", a.status), red.bodyAttr(a.body))

		res, e := c.readQueryAnswer(a, red, checkoutRequestID)
		if e == nil {
			level := slog.LevelInfo
			attrs := []slog.Attr{slog.String("checkout_request_id", checkoutRequestID),
				slog.Bool("pending", res.Pending), slog.String("result_code", res.ResultCode),
				slog.String("outcome", res.Outcome().String())}
			if rc := LookupResult(res.ResultCode); !res.Pending && (rc.Outcome == OutcomeUnknown || rc.Hint != "") {
				// A code missing from the table, or one the merchant can
				// fix: worth a look.
				level = slog.LevelWarn
				if rc.Hint != "" {
					attrs = append(attrs, slog.String("hint", rc.Hint))
				}
			}
			c.log.LogAttrs(ctx, level, "mpesa: stk query answered", attrs...)
			return res, nil
		}
		if isInvalidTokenCode(e.Code) && tokenTry == 0 {
			c.log.LogAttrs(ctx, slog.LevelWarn, "mpesa: access token refused, fetching a new one",
				slog.String("op", opQuery), slog.String("error_code", e.Code))
			c.dropToken(tok)
			continue
		}
		return nil, c.queryFailed(ctx, e, checkoutRequestID)
	}
}

// readQueryAnswer turns Daraja's answer into a result (final or pending) or
// an error.
func (c *Client) readQueryAnswer(a answer, red redactor, checkoutRequestID string) (*QueryResult, *Error) {
	e := &Error{StatusCode: a.status}
	if a.readErr != nil {
		e.Message, e.Err = "the answer was cut off", a.readErr
		return nil, e
	}
	if de, ok := decodeDarajaError(a.body); ok {
		e.Code = de.ErrorCode.String()
		e.Message = red.clean(de.ErrorMessage.String(), maxErrorMessageRunes)
		e.RequestID = red.clean(de.RequestID.String(), 64)
		if isPendingAnswer(e.Code, e.Message) {
			return &QueryResult{CheckoutRequestID: checkoutRequestID, ResultDesc: e.Message, Pending: true}, nil
		}
		return nil, e
	}
	if a.status < 200 || a.status > 299 {
		e.Message = bodyKind(a.contentType, a.body)
		return nil, e
	}
	var qa queryAnswer
	if err := json.Unmarshal(a.body, &qa); err != nil {
		e.Message = "unreadable answer (" + bodyKind(a.contentType, a.body) + ")"
		return nil, e
	}
	res := &QueryResult{
		ResponseCode:        qa.ResponseCode.String(),
		ResponseDescription: red.clean(qa.ResponseDescription.String(), maxErrorMessageRunes),
		MerchantRequestID:   red.clean(qa.MerchantRequestID.String(), 128),
		CheckoutRequestID:   qa.CheckoutRequestID.String(),
		ResultCode:          qa.ResultCode.String(),
		ResultDesc:          red.clean(qa.ResultDesc.String(), maxErrorMessageRunes),
	}
	if res.CheckoutRequestID != "" && res.CheckoutRequestID != checkoutRequestID {
		// Settling a payment with another payment's result would be worse
		// than not knowing.
		e.Message = "the answer is about another CheckoutRequestID"
		return nil, e
	}
	res.CheckoutRequestID = checkoutRequestID
	switch {
	case res.ResultCode == resultCodePending:
		res.Pending = true
		return res, nil
	case res.ResultCode != "":
		return res, nil
	case res.ResponseCode != "" && res.ResponseCode != "0":
		e.Code, e.Message = res.ResponseCode, res.ResponseDescription
		return nil, e
	}
	e.Message = "the answer has no ResultCode"
	return nil, e
}

// queryFailed logs a failed query and wraps it.
func (c *Client) queryFailed(ctx context.Context, e *Error, checkoutRequestID string) *QueryError {
	e.Op = opQuery
	c.log.LogAttrs(ctx, slog.LevelError, "mpesa: stk query failed", slog.String("checkout_request_id", echo(checkoutRequestID)),
		slog.Int("status", e.StatusCode), slog.String("error_code", e.Code), slog.String("error", e.Error()))
	return &QueryError{Base: e}
}
