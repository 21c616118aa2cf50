package mpesa

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync/atomic"
	"time"
)

// PushRequest is one STK Push: a PIN prompt for Amount KES on Phone.
type PushRequest struct {
	Phone            string // any form NormalizePhone accepts
	Amount           int64  // whole KES, 1..Config.MaxAmount
	AccountReference string // 1..12 letters, digits, '-'
	TransactionDesc  string // 1..13 characters
	CallbackURL      string // absolute http(s) URL Daraja posts the result to
}

// LogValue renders the request for log/slog with the phone masked and the
// callback URL's secret path hidden.
func (r PushRequest) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("phone", MaskPhone(r.Phone)),
		slog.Int64("amount", r.Amount),
		slog.String("account_reference", r.AccountReference),
		slog.String("transaction_desc", r.TransactionDesc),
		slog.String("callback_url", redactURL(r.CallbackURL)),
	)
}

// PushResponse is Daraja's acceptance of an STK Push: the prompt is on its
// way to the phone. The result comes later, by callback or STK Query.
type PushResponse struct {
	MerchantRequestID   string
	CheckoutRequestID   string
	ResponseCode        string
	ResponseDescription string
	CustomerMessage     string
}

// pushPayload is the STK Push body. Numbers go as JSON numbers, like the
// reference request.
type pushPayload struct {
	BusinessShortCode json.Number `json:"BusinessShortCode"`
	Password          string      `json:"Password"`
	Timestamp         string      `json:"Timestamp"`
	TransactionType   string      `json:"TransactionType"`
	Amount            int64       `json:"Amount"`
	PartyA            json.Number `json:"PartyA"`
	PartyB            json.Number `json:"PartyB"`
	PhoneNumber       json.Number `json:"PhoneNumber"`
	CallBackURL       string      `json:"CallBackURL"`
	AccountReference  string      `json:"AccountReference"`
	TransactionDesc   string      `json:"TransactionDesc"`
}

// LogValue is the DEBUG view of the payload: no password, masked phones, no
// callback secret.
func (p pushPayload) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("BusinessShortCode", p.BusinessShortCode.String()),
		slog.String("Password", redacted),
		slog.String("Timestamp", p.Timestamp),
		slog.String("TransactionType", p.TransactionType),
		slog.Int64("Amount", p.Amount),
		slog.String("PartyA", MaskPhone(p.PartyA.String())),
		slog.String("PartyB", p.PartyB.String()),
		slog.String("PhoneNumber", MaskPhone(p.PhoneNumber.String())),
		slog.String("CallBackURL", redactURL(p.CallBackURL)),
		slog.String("AccountReference", p.AccountReference),
		slog.String("TransactionDesc", p.TransactionDesc),
	)
}

// pushAnswer is Daraja's STK Push answer.
type pushAnswer struct {
	MerchantRequestID   flexString `json:"MerchantRequestID"`
	CheckoutRequestID   flexString `json:"CheckoutRequestID"`
	ResponseCode        flexString `json:"ResponseCode"`
	ResponseDescription flexString `json:"ResponseDescription"`
	CustomerMessage     flexString `json:"CustomerMessage"`
}

// Push sends an STK Push (function 4 of the original module): the customer's
// phone shows a PIN prompt. Every field is checked before any network call.
//
// STK Push is not idempotent: a second request is a second prompt, maybe a
// second charge. So Push never resends a request that may have reached
// Daraja. It sends again only when the connection could not even be dialled
// (the request provably never left; up to RetryMax times), and once after
// Daraja refused the access token (refused at the gateway, so nothing
// started).
//
// Every error is a *PaymentError. Its OutcomeUnknown reports whether a prompt
// may have been sent anyway; errors.As also finds the *Error with Daraja's
// status, errorCode and requestId, and a *ValidationError or
// *AuthenticationError when that was the cause.
func (c *Client) Push(ctx context.Context, req PushRequest) (*PushResponse, error) {
	phone, verr := c.validatePush(req)
	if verr != nil {
		c.log.LogAttrs(ctx, slog.LevelWarn, "mpesa: stk push refused before sending",
			slog.Any("request", req), slog.String("error", verr.Error()))
		return nil, &PaymentError{Base: &Error{Op: opPush, Message: "request not sent", Err: verr}}
	}
	if err := ctx.Err(); err != nil {
		return nil, c.pushFailed(ctx, &Error{Message: "request not sent", Err: err}, false)
	}

	for tokenTry := 0; ; tokenTry++ {
		tok, err := c.Token(ctx)
		if err != nil {
			return nil, c.pushFailed(ctx, &Error{Message: "request not sent: no access token", Err: err}, false)
		}
		// Signed after the token is in hand, so a slow token fetch does not
		// age the timestamp.
		password, timestamp := c.Password("")
		payload := pushPayload{
			BusinessShortCode: json.Number(c.cfg.ShortCode),
			Password:          password,
			Timestamp:         timestamp,
			TransactionType:   c.cfg.TransactionType,
			Amount:            req.Amount,
			PartyA:            json.Number(phone),
			PartyB:            json.Number(c.cfg.PartyB),
			PhoneNumber:       json.Number(phone),
			CallBackURL:       req.CallbackURL,
			AccountReference:  req.AccountReference,
			TransactionDesc:   req.TransactionDesc,
		}
		body, err := json.Marshal(payload)
		if err != nil {
			return nil, c.pushFailed(ctx, &Error{Message: "request not sent: could not encode it", Err: err}, false)
		}
		red := c.redactorFor(tok, redacted, password, redacted, phone, MaskPhone(phone),
			req.CallbackURL, redactURL(req.CallbackURL))
		c.log.LogAttrs(ctx, slog.LevelDebug, "mpesa: stk push request", slog.Any("payload", payload))
		c.log.LogAttrs(ctx, slog.LevelInfo, "mpesa: stk push sent", slog.String("phone", MaskPhone(phone)),
			slog.Int64("amount", req.Amount), slog.String("account_reference", req.AccountReference))

		a, sent, err := c.postPush(ctx, body, tok)
		if err != nil {
			if sent {
				return nil, c.pushFailed(ctx, &Error{
					Message: "no answer from Daraja; the prompt may have reached the phone", Err: err}, true)
			}
			return nil, c.pushFailed(ctx, &Error{Message: "could not connect to Daraja; request not sent", Err: err}, false)
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "mpesa: stk push response", slog.Int("status", a.status), red.bodyAttr(a.body))

		res, e, unknown := c.readPushAnswer(a, red)
		if e == nil {
			c.log.LogAttrs(ctx, slog.LevelInfo, "mpesa: stk push accepted", slog.String("phone", MaskPhone(phone)),
				slog.Int64("amount", req.Amount), slog.String("checkout_request_id", res.CheckoutRequestID),
				slog.String("merchant_request_id", res.MerchantRequestID))
			return res, nil
		}
		if isInvalidTokenCode(e.Code) && tokenTry == 0 {
			c.log.LogAttrs(ctx, slog.LevelWarn, "mpesa: access token refused, fetching a new one",
				slog.String("op", opPush), slog.String("error_code", e.Code))
			c.dropToken(tok)
			continue
		}
		return nil, c.pushFailed(ctx, e, unknown)
	}
}

// validatePush checks every field and returns the normalised phone, or all
// the problems at once.
func (c *Client) validatePush(req PushRequest) (string, error) {
	var errs []error
	phone, err := NormalizePhone(req.Phone)
	if err != nil {
		errs = append(errs, err)
	}
	if req.Amount < 1 || req.Amount > c.cfg.MaxAmount {
		errs = append(errs, &ValidationError{Field: "Amount", Value: strconv.FormatInt(req.Amount, 10),
			Reason: "give a whole number of shillings from 1 to " + groupThousands(c.cfg.MaxAmount)})
	}
	if err := ValidateAccountReference(req.AccountReference); err != nil {
		errs = append(errs, err)
	}
	if err := ValidateTransactionDesc(req.TransactionDesc); err != nil {
		errs = append(errs, err)
	}
	if err := validateCallbackURL(req.CallbackURL); err != nil {
		errs = append(errs, err)
	}
	return phone, errors.Join(errs...)
}

// postPush sends the push. sent reports whether the request may have reached
// Daraja; when it certainly did not (the dial failed) it is tried again, up
// to RetryMax times.
func (c *Client) postPush(ctx context.Context, body []byte, tok string) (a answer, sent bool, err error) {
	for attempt := 0; ; attempt++ {
		a, sent, err = c.postOnce(ctx, body, tok)
		if err == nil || sent || !isDialError(err) || attempt >= c.cfg.RetryMax || ctx.Err() != nil {
			return a, sent, err
		}
		wait := c.backoff(c.cfg.RetryWaitMin, c.cfg.RetryWaitMax, attempt, nil)
		c.log.LogAttrs(ctx, slog.LevelWarn, "mpesa: could not connect to daraja, push not sent, trying again",
			slog.Int("attempt", attempt+2), slog.Duration("wait", wait), slog.String("error", err.Error()))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return a, false, err
		case <-t.C:
		}
	}
}

// postOnce makes one attempt. A trace records whether a connection was ever
// obtained: before that, nothing of the request can have been written.
func (c *Client) postOnce(ctx context.Context, body []byte, tok string) (answer, bool, error) {
	var connected atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { connected.Store(true) }}
	req, err := c.newRequest(httptrace.WithClientTrace(ctx, trace), http.MethodPost, PathSTKPush, body, "Bearer "+tok)
	if err != nil {
		return answer{}, false, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// Unsent only when no connection was had AND the error proves it
		// (a custom transport might not report GotConn at all).
		return answer{}, connected.Load() || !neverConnected(err), err
	}
	return readAnswer(resp), true, nil
}

// isDialError: the TCP connection could not be made (refused, DNS,
// unreachable, dial timeout).
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// neverConnected: the error happened before any byte of the request could be
// written: a failed dial or a refused server certificate.
func neverConnected(err error) bool {
	var cert *tls.CertificateVerificationError
	return isDialError(err) || errors.As(err, &cert)
}

// readPushAnswer turns Daraja's answer into a response or an error, and
// decides whether a failed push may still have started a payment.
func (c *Client) readPushAnswer(a answer, red redactor) (*PushResponse, *Error, bool) {
	e := &Error{StatusCode: a.status}
	ok2xx := a.status >= 200 && a.status <= 299
	// A 2xx or 5xx we could not read may be an acceptance (or a gateway
	// timing out while Daraja works on it); a 3xx or 4xx was refused.
	unknownIfUnread := ok2xx || a.status >= 500
	if a.readErr != nil {
		e.Message, e.Err = "the answer was cut off", a.readErr
		if unknownIfUnread {
			e.Message += "; the prompt may have reached the phone"
		}
		return nil, e, unknownIfUnread
	}
	if de, ok := decodeDarajaError(a.body); ok {
		// Daraja answered with an error: it did not start a payment.
		e.Code = de.ErrorCode.String()
		e.Message = red.clean(de.ErrorMessage.String(), maxErrorMessageRunes)
		e.RequestID = red.clean(de.RequestID.String(), 64)
		return nil, e, false
	}
	if !ok2xx {
		e.Message = bodyKind(a.contentType, a.body)
		if unknownIfUnread {
			e.Message += "; the prompt may have reached the phone"
		}
		return nil, e, unknownIfUnread
	}
	var pa pushAnswer
	if err := json.Unmarshal(a.body, &pa); err != nil {
		e.Message = "unreadable answer (" + bodyKind(a.contentType, a.body) + "); the prompt may have reached the phone"
		return nil, e, true
	}
	res := &PushResponse{
		MerchantRequestID:   red.clean(pa.MerchantRequestID.String(), 128),
		CheckoutRequestID:   pa.CheckoutRequestID.String(), // validated below, never altered
		ResponseCode:        pa.ResponseCode.String(),
		ResponseDescription: red.clean(pa.ResponseDescription.String(), maxErrorMessageRunes),
		CustomerMessage:     red.clean(pa.CustomerMessage.String(), maxErrorMessageRunes),
	}
	switch {
	case res.ResponseCode == "":
		e.Message = "the answer has no ResponseCode; the prompt may have reached the phone"
		return nil, e, true
	case res.ResponseCode != "0":
		e.Code, e.Message = res.ResponseCode, res.ResponseDescription
		return nil, e, false
	case res.CheckoutRequestID == "":
		e.Message = "accepted without a CheckoutRequestID; the prompt may have reached the phone"
		return nil, e, true
	case validateCheckoutRequestID(res.CheckoutRequestID) != nil:
		// An ID that could not be queried later is no usable answer.
		e.Message = "accepted with an unusable CheckoutRequestID; the prompt may have reached the phone"
		return nil, e, true
	}
	return res, nil, false
}

// pushFailed logs a failed push and wraps it.
func (c *Client) pushFailed(ctx context.Context, e *Error, unknown bool) *PaymentError {
	e.Op = opPush
	c.log.LogAttrs(ctx, slog.LevelError, "mpesa: stk push failed", slog.Int("status", e.StatusCode),
		slog.String("error_code", e.Code), slog.Bool("outcome_unknown", unknown), slog.String("error", e.Error()))
	return &PaymentError{Base: e, MaybeSent: unknown}
}
