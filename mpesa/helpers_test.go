package mpesa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
)

// Test credentials. They are distinctive so the log test can look for them.
const (
	testKey      = "ck_TESTKEY_9f8e7d"
	testSecret   = "cs_TESTSECRET_1a2b3c"
	testPhone    = "254712345678"
	testCallback = "https://example.com/mpesa-cb/s3cr3t-callback-path"
	testCheckout = "ws_CO_191220191020363925"
)

// fakeDaraja is a tiny Daraja on 127.0.0.1 for unit tests: each endpoint
// answers with a replaceable handler and every request is recorded.
type fakeDaraja struct {
	URL string

	mu       sync.Mutex
	token    http.HandlerFunc
	push     http.HandlerFunc
	query    http.HandlerFunc
	requests map[string][]recorded
	issued   int
}

type recorded struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

func newFakeDaraja(t testing.TB) *fakeDaraja {
	t.Helper()
	f := &fakeDaraja{requests: map[string][]recorded{}}
	f.token = func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.issued++
		n := f.issued
		f.mu.Unlock()
		writeJSON(w, 200, fmt.Sprintf(`{"access_token":"tok-%d-0A0v8OgxqqoocblflR58m9chMdnU","expires_in":"3599"}`, n))
	}
	f.push = func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"MerchantRequestID":"29115-34620561-1","CheckoutRequestID":"`+testCheckout+`","ResponseCode":"0","ResponseDescription":"Success. Request accepted for processing","CustomerMessage":"Success. Request accepted for processing"}`)
	}
	f.query = func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"ResponseCode":"0","ResponseDescription":"The service request has been accepted successsfully","MerchantRequestID":"29115-34620561-1","CheckoutRequestID":"`+testCheckout+`","ResultCode":"0","ResultDesc":"The service request is processed successfully."}`)
	}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *fakeDaraja) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests[r.URL.Path] = append(f.requests[r.URL.Path], recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
	var h http.HandlerFunc
	switch r.URL.Path {
	case mpesa.PathToken:
		h = f.token
	case mpesa.PathSTKPush:
		h = f.push
	case mpesa.PathSTKQuery:
		h = f.query
	}
	f.mu.Unlock()
	if h == nil {
		writeJSON(w, 404, `{"requestId":"x","errorCode":"404.001.01","errorMessage":"Resource not found"}`)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	h(w, r)
}

func (f *fakeDaraja) onToken(h http.HandlerFunc) { f.mu.Lock(); f.token = h; f.mu.Unlock() }
func (f *fakeDaraja) onPush(h http.HandlerFunc)  { f.mu.Lock(); f.push = h; f.mu.Unlock() }
func (f *fakeDaraja) onQuery(h http.HandlerFunc) { f.mu.Lock(); f.query = h; f.mu.Unlock() }

// calls returns the requests recorded for path.
func (f *fakeDaraja) calls(path string) []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.requests[path]...)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// sequence answers the n-th call with handlers[n], repeating the last one.
func sequence(handlers ...http.HandlerFunc) http.HandlerFunc {
	var mu sync.Mutex
	n := 0
	return func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := handlers[min(n, len(handlers)-1)]
		n++
		mu.Unlock()
		h(w, r)
	}
}

func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { writeJSON(w, status, body) }
}

func answerHTML(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		io.WriteString(w, "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>")
	}
}

// cutOff sends the headers and half a JSON body, then drops the connection.
func cutOff(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		full := `{"MerchantRequestID":"29115-34620561-1","CheckoutRequestID":"` + testCheckout + `","ResponseCode":"0"}`
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(len(full)))
		w.WriteHeader(status)
		io.WriteString(w, full[:len(full)/2])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
}

// hang answers nothing until the client gives up.
func hang(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

// fakeClock is Config.Now for tests; it counts reads.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	reads int
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2024, 6, 7, 9, 30, 45, 0, time.UTC)} // 12:30:45 in Nairobi
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Reads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

// testConfig is a sandbox-like config pointing at url, with millisecond
// retry waits.
func testConfig(url string) mpesa.Config {
	return mpesa.Config{
		Environment:    mpesa.Sandbox,
		BaseURL:        url,
		ConsumerKey:    testKey,
		ConsumerSecret: testSecret,
		ShortCode:      mpesa.SandboxShortCode,
		Passkey:        mpesa.SandboxPasskey,
		Now:            newFakeClock().Now,
		RequestTimeout: 5 * time.Second,
		RetryWaitMin:   time.Millisecond,
		RetryWaitMax:   4 * time.Millisecond,
	}
}

func mustNew(t testing.TB, cfg mpesa.Config) *mpesa.Client {
	t.Helper()
	c, err := mpesa.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func validPush() mpesa.PushRequest {
	return mpesa.PushRequest{
		Phone:            "0712345678",
		Amount:           100,
		AccountReference: "INV-001",
		TransactionDesc:  "Payment",
		CallbackURL:      testCallback,
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// decodeBody decodes a recorded JSON body into a map, keeping numbers as
// json.Number so a test can tell 174379 from "174379".
func decodeBody(t testing.TB, b []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("request body %q: %v", b, err)
	}
	return m
}

func debugLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
