package mpesa

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// maxResponseBody bounds what is read of any Daraja answer; real ones are a
// few hundred bytes.
const maxResponseBody = 1 << 20

var errBodyTooLarge = errors.New("response body larger than 1 MiB")

// Client talks to Daraja's M-Pesa Express API. It is safe for concurrent
// use. Create it with New.
type Client struct {
	cfg   Config
	hc    *http.Client          // redirects off, RequestTimeout per attempt
	rc    *retryablehttp.Client // token and query: retried; never the push
	log   *slog.Logger
	basic string // Authorization header value for the token endpoint
	// secrets are (value, replacement) pairs of the long-lived secrets, hidden
	// in anything Daraja sends back (see redactorFor).
	secrets []string
	static  redactor
	tokens  tokenCache
}

// New validates cfg, applies defaults and returns a client. A bad Config
// gives one error listing every problem (errors.Join).
func New(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	hc := *cfg.HTTPClient // a copy: the caller's client is not changed
	// A redirect would resend a push to wherever it points; Daraja never
	// redirects, so a 3xx is reported, not followed.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = &attemptTransport{base: base, timeout: cfg.RequestTimeout}

	creds := base64.StdEncoding.EncodeToString([]byte(cfg.ConsumerKey + ":" + cfg.ConsumerSecret))
	c := &Client{
		cfg:   cfg,
		hc:    &hc,
		log:   cfg.Logger,
		basic: "Basic " + creds,
		secrets: []string{
			creds, redacted,
			cfg.ConsumerSecret, redacted,
			cfg.Passkey, redacted,
			cfg.ConsumerKey, redacted,
		},
	}
	c.static = newRedactor(c.secrets...)
	c.rc = &retryablehttp.Client{
		HTTPClient:     &hc,
		Logger:         nil, // its logger prints to stderr; the client logs itself
		RetryWaitMin:   cfg.RetryWaitMin,
		RetryWaitMax:   cfg.RetryWaitMax,
		RetryMax:       cfg.RetryMax,
		CheckRetry:     retryPolicy,
		Backoff:        c.backoff,
		ErrorHandler:   retryablehttp.PassthroughErrorHandler,
		RequestLogHook: c.logRetry,
	}
	return c, nil
}

// String identifies the client without any secret or token, so %v of a
// *Client is safe.
func (c *Client) String() string {
	return fmt.Sprintf("mpesa.Client(%s %s %s)", c.cfg.Environment, c.cfg.BaseURL, c.cfg.ShortCode)
}

// GoString is String, so %#v of a *Client is safe too.
func (c *Client) GoString() string { return c.String() }

// LogValue renders the client for log/slog without any secret.
func (c *Client) LogValue() slog.Value {
	return slog.GroupValue(slog.String("environment", c.cfg.Environment),
		slog.String("base_url", c.cfg.BaseURL), slog.String("short_code", c.cfg.ShortCode))
}

func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = DefaultRequestTimeout
	// Shorter than the usual 60 s of load balancers, so a pooled connection
	// is rarely closed by Daraja's side just as a push is written to it.
	t.IdleConnTimeout = 30 * time.Second
	t.MaxIdleConnsPerHost = 8
	return &http.Client{Transport: t}
}

// attemptTransport gives every attempt its own RequestTimeout, so the
// retrying client's attempts are bounded one by one while the caller's ctx
// bounds the whole call. The deadline also covers reading the body.
type attemptTransport struct {
	base    http.RoundTripper
	timeout time.Duration
}

func (t *attemptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// answer is one HTTP answer from Daraja, read completely (or as far as it
// could be read).
type answer struct {
	status      int
	contentType string
	body        []byte
	readErr     error // the body could not be read to its end
}

// readAnswer reads and closes resp's body.
func readAnswer(resp *http.Response) answer {
	data, err := peekBody(resp)
	return answer{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: data, readErr: err}
}

// bufferedBody is a response body read ahead of time (by the retry policy,
// to tell a pending answer from an error) and put back for the caller,
// including the error that ended the read.
type bufferedBody struct {
	data []byte
	err  error
	r    *bytes.Reader
}

func (b *bufferedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF && b.err != nil {
		return n, b.err
	}
	return n, err
}

func (b *bufferedBody) Close() error { return nil }

// peekBody reads resp's body (bounded), closes the original and puts a
// replayable copy back, so peeking twice gives the same bytes.
func peekBody(resp *http.Response) ([]byte, error) {
	if resp.Body == nil {
		return nil, nil
	}
	if b, ok := resp.Body.(*bufferedBody); ok {
		return b.data, b.err
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err == nil && len(data) > maxResponseBody {
		data, err = data[:maxResponseBody], errBodyTooLarge
	}
	resp.Body.Close()
	resp.Body = &bufferedBody{data: data, err: err, r: bytes.NewReader(data)}
	return data, err
}

// newRequest builds a request to Daraja with the headers every call shares.
func (c *Client) newRequest(ctx context.Context, method, path string, body []byte, auth string) (*http.Request, error) {
	url := c.cfg.BaseURL + path
	if path == PathToken {
		url += "?grant_type=client_credentials"
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "mpesa-bot")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// doRetrying sends a token or query request through the retrying client.
// On success the response body is already buffered (see retryPolicy).
func (c *Client) doRetrying(ctx context.Context, method, path string, body []byte, auth string) (answer, error) {
	hreq, err := c.newRequest(ctx, method, path, body, auth)
	if err != nil {
		return answer{}, err
	}
	req, err := retryablehttp.FromRequest(hreq)
	if err != nil {
		return answer{}, err
	}
	resp, err := c.rc.Do(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return answer{}, err
	}
	return readAnswer(resp), nil
}

// redactorFor hides the long-lived secrets plus the given (value,
// replacement) pairs of one call: its token, password, phone, callback URL.
func (c *Client) redactorFor(pairs ...string) redactor {
	return newRedactor(append(append([]string(nil), c.secrets...), pairs...)...)
}

// opFor names the operation of a Daraja path, for logs.
func opFor(path string) string {
	switch path {
	case PathToken:
		return opToken
	case PathSTKPush:
		return opPush
	case PathSTKQuery:
		return opQuery
	}
	return path
}

const (
	opToken = "token"
	opPush  = "stkpush"
	opQuery = "stkquery"
)
