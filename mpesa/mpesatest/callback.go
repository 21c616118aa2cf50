package mpesatest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// callbackTimeout bounds one callback attempt, whatever client delivers it.
const callbackTimeout = 10 * time.Second

// CallbackAttempt is one POST of a result callback.
type CallbackAttempt struct {
	CheckoutRequestID string
	URL               string
	Body              []byte
	Attempt           int   // 1 for the first delivery, 2 for the first retry, ...
	Status            int   // the receiver's HTTP status; 0 when there was none
	Err               error // the transport error, if any
	At                time.Time
}

type callbackEnvelope struct {
	Body struct {
		StkCallback stkCallback `json:"stkCallback"`
	} `json:"Body"`
}

type stkCallback struct {
	MerchantRequestID string            `json:"MerchantRequestID"`
	CheckoutRequestID string            `json:"CheckoutRequestID"`
	ResultCode        json.RawMessage   `json:"ResultCode"`
	ResultDesc        string            `json:"ResultDesc"`
	CallbackMetadata  *callbackMetadata `json:"CallbackMetadata,omitempty"`
}

type callbackMetadata struct {
	Item []callbackItem `json:"Item"`
}

// callbackItem's Value is raw so that Balance can go without one and Amount can
// be written as 100 or 100.0.
type callbackItem struct {
	Name  string          `json:"Name"`
	Value json.RawMessage `json:"Value,omitempty"`
}

// callbackBody is the real callback shape: ResultCode a number (a string for codes
// like "SFC_IC0003"), metadata only when paid.
func callbackBody(t *txn, now time.Time) []byte {
	var env callbackEnvelope
	cb := &env.Body.StkCallback
	cb.MerchantRequestID = t.MerchantRequestID
	cb.CheckoutRequestID = t.CheckoutRequestID
	cb.ResultDesc = t.ResultDesc
	if digitsPattern.MatchString(t.ResultCode) {
		cb.ResultCode = json.RawMessage(t.ResultCode)
	} else {
		cb.ResultCode, _ = json.Marshal(t.ResultCode)
	}
	if t.ResultCode == "0" {
		amount := strconv.FormatInt(t.Amount, 10)
		if t.seq%2 == 0 { // real callbacks carry both 1 and 1.0
			amount += ".0"
		}
		receipt, _ := json.Marshal(t.Receipt)
		cb.CallbackMetadata = &callbackMetadata{Item: []callbackItem{
			{Name: "Amount", Value: json.RawMessage(amount)},
			{Name: "MpesaReceiptNumber", Value: receipt},
			{Name: "Balance"},
			{Name: "TransactionDate", Value: json.RawMessage(strconv.FormatInt(eatDateTime(now), 10))},
			{Name: "PhoneNumber", Value: json.RawMessage(t.Phone)},
		}}
	}
	b, err := json.Marshal(env)
	if err != nil {
		panic("mpesatest: marshal callback: " + err.Error()) // our own types: a bug
	}
	return b
}

// deliver POSTs a callback, retrying with a doubling backoff, until the receiver
// answers 2xx, the retries are used up, or the simulator is closed.
func (s *Simulator) deliver(checkoutID, target string, body []byte) {
	defer s.wg.Done()
	log := s.cfg.logger.With("checkout_request_id", checkoutID, "host", hostOf(target))
	if !s.pause(s.cfg.callbackDelay) {
		return
	}
	backoff := s.cfg.callbackBackoff
	for attempt := 1; ; attempt++ {
		status, err := s.postCallback(target, body)
		if s.ctx.Err() != nil {
			return // closed while posting: not the receiver's doing
		}
		s.mu.Lock()
		s.callbacks = append(s.callbacks, CallbackAttempt{
			CheckoutRequestID: checkoutID, URL: target, Body: body,
			Attempt: attempt, Status: status, Err: err, At: s.now(),
		})
		s.changedLocked()
		s.mu.Unlock()
		if err == nil && status >= 200 && status < 300 {
			log.Info("callback delivered", "attempt", attempt, "status", status)
			return
		}
		log.Warn("callback attempt failed", "attempt", attempt, "status", status, "error", redact(err))
		if attempt > s.cfg.callbackRetries {
			log.Warn("callback given up", "attempts", attempt)
			return
		}
		if !s.pause(backoff) {
			return
		}
		backoff *= 2
	}
}

func (s *Simulator) postCallback(target string, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(s.ctx, callbackTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.cfg.callbackClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// pause waits d unless the simulator is closed first; it reports whether to go on.
func (s *Simulator) pause(d time.Duration) bool {
	if d <= 0 {
		return s.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// Callbacks returns every callback attempt so far, in the order they were made.
func (s *Simulator) Callbacks() []CallbackAttempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]CallbackAttempt, len(s.callbacks))
	for i, c := range s.callbacks {
		c.Body = bytes.Clone(c.Body)
		out[i] = c
	}
	return out
}

// redact drops the URL from a transport error: a callback URL's path carries the
// payment's secret.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
