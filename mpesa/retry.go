package mpesa

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// retryPolicy decides, for the token and STK Query calls only, whether to
// try again: transport errors, a cut-off body and HTTP 408, 429, 500, 502,
// 503, 504 are retried, like the original module. It stops at once when the
// caller's ctx is done, and on two answers that a retry must not swallow:
// "pending" (the caller waits instead) and "invalid token" (the caller
// fetches a new token first). It reads the body to tell them apart and puts
// it back.
func retryPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		// The library's default knows which transport errors are permanent
		// (bad scheme, bad certificate, ...).
		return retryablehttp.DefaultRetryPolicy(ctx, nil, err)
	}
	body, readErr := peekBody(resp)
	if readErr != nil {
		// Cut off mid-answer: nothing was learnt; asking again is safe for
		// these idempotent calls.
		return true, nil
	}
	if e, ok := decodeDarajaError(body); ok {
		switch {
		case isPendingAnswer(e.ErrorCode.String(), e.ErrorMessage.String()), isInvalidTokenCode(e.ErrorCode.String()):
			return false, nil
		case e.ErrorCode.String() == codeSpikeArrest:
			return true, nil
		}
	} else if resp.StatusCode == http.StatusOK && isPending4999(body) {
		return false, nil
	}
	return retryableStatus(resp.StatusCode), nil
}

func retryableStatus(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// isPending4999 recognises the HTTP 200 pending shape.
func isPending4999(body []byte) bool {
	var r struct {
		ResultCode flexString `json:"ResultCode"`
	}
	return json.Unmarshal(body, &r) == nil && r.ResultCode.String() == resultCodePending
}

// backoff is exponential from RetryWaitMin, honours Retry-After on 429/503
// like the library's default, but never waits longer than RetryWaitMax (the
// default would obey any Retry-After, however long).
func (c *Client) backoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	return min(retryablehttp.DefaultBackoff(lo, hi, attempt, resp), hi)
}

// logRetry logs each retry (attempt > 0) of the token or query call.
func (c *Client) logRetry(_ retryablehttp.Logger, req *http.Request, attempt int) {
	if attempt == 0 {
		return
	}
	c.log.LogAttrs(req.Context(), slog.LevelWarn, "mpesa: retrying daraja request",
		slog.String("op", opFor(req.URL.Path)), slog.Int("attempt", attempt+1))
}
