package mpesatest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitLimit bounds every wait in these tests; reaching it is a failure, never a
// measurement.
const waitLimit = 10 * time.Second

const testTimestamp = "20240607123045"

// client talks to a simulator the way a Daraja client would, with plain HTTP.
type client struct {
	t     testing.TB
	base  string
	http  *http.Client
	token string
}

func newClient(t testing.TB, srv *Server) *client {
	return &client{t: t, base: srv.URL, http: srv.Client()}
}

// reply is an HTTP answer as the client saw it.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// object decodes a JSON object keeping numbers as json.Number, so that tests can
// tell a number from a string.
func (r reply) object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(r.body))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %v: %q", r.status, err, r.body)
	}
	return m
}

func (r reply) str(t testing.TB, key string) string {
	t.Helper()
	v, ok := r.object(t)[key].(string)
	if !ok {
		t.Fatalf("%s is not a string in %s", key, r.body)
	}
	return v
}

// wantError asserts a Daraja error answer.
func (r reply) wantError(t testing.TB, status int, code, message string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	m := r.object(t)
	if m["errorCode"] != code || m["errorMessage"] != message {
		t.Fatalf("error = %v %q, want %s %q", m["errorCode"], m["errorMessage"], code, message)
	}
	if _, ok := m["requestId"].(string); !ok {
		t.Fatalf("requestId missing in %s", r.body)
	}
}

func (c *client) do(req *http.Request) reply {
	c.t.Helper()
	r, err := c.try(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

// try is do for goroutines other than the test's, which must not call Fatal.
func (c *client) try(req *http.Request) (reply, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, fmt.Errorf("read answer of %s: %w", req.URL.Path, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// tryPush pushes from any goroutine.
func (c *client) tryPush(phone, callbackURL string) (reply, error) {
	b, _ := json.Marshal(pushFields(phone, callbackURL))
	req, err := http.NewRequest(http.MethodPost, c.base+pathPush, bytes.NewReader(b))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	return c.try(req)
}

func (c *client) getToken(key, secret string) reply {
	c.t.Helper()
	req := c.request(http.MethodGet, pathToken+"?grant_type=client_credentials", "")
	req.SetBasicAuth(key, secret)
	return c.do(req)
}

// login fetches a token and keeps it for later calls.
func (c *client) login() string {
	c.t.Helper()
	r := c.getToken("key", "secret")
	if r.status != http.StatusOK {
		c.t.Fatalf("token: %d %s", r.status, r.body)
	}
	c.token = r.str(c.t, "access_token")
	return c.token
}

func (c *client) request(method, path, body string) *http.Request {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	c.t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	return req
}

func (c *client) postRaw(path, body string) reply {
	c.t.Helper()
	req := c.request(http.MethodPost, path, body)
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return c.do(req)
}

func (c *client) post(path string, fields map[string]any) reply {
	c.t.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.postRaw(path, string(b))
}

func (c *client) push(fields map[string]any) reply {
	c.t.Helper()
	return c.post(pathPush, fields)
}

// mustPush pushes to phone and returns the CheckoutRequestID.
func (c *client) mustPush(phone, callbackURL string) string {
	c.t.Helper()
	r := c.push(pushFields(phone, callbackURL))
	if r.status != http.StatusOK {
		c.t.Fatalf("push to %s: %d %s", phone, r.status, r.body)
	}
	return r.str(c.t, "CheckoutRequestID")
}

func (c *client) query(checkoutID string) reply {
	c.t.Helper()
	return c.post(pathQuery, map[string]any{
		"BusinessShortCode": json.Number(SandboxShortCode),
		"Password":          password(SandboxShortCode, SandboxPasskey, testTimestamp),
		"Timestamp":         testTimestamp,
		"CheckoutRequestID": checkoutID,
	})
}

func password(shortCode, passkey, timestamp string) string {
	return base64.StdEncoding.EncodeToString([]byte(shortCode + passkey + timestamp))
}

// pushFields is a valid STK Push body with numbers where Daraja's example has
// them.
func pushFields(phone, callbackURL string) map[string]any {
	return map[string]any{
		"BusinessShortCode": json.Number(SandboxShortCode),
		"Password":          password(SandboxShortCode, SandboxPasskey, testTimestamp),
		"Timestamp":         testTimestamp,
		"TransactionType":   "CustomerPayBillOnline",
		"Amount":            json.Number("100"),
		"PartyA":            json.Number(phone),
		"PartyB":            json.Number(SandboxShortCode),
		"PhoneNumber":       json.Number(phone),
		"CallBackURL":       callbackURL,
		"AccountReference":  "INV-42",
		"TransactionDesc":   "Payment",
	}
}

// receiver is a callback endpoint on loopback. It answers the given statuses in
// turn, then 200, and hands every body it gets to got.
type receiver struct {
	URL string
	got chan []byte

	mu       sync.Mutex
	statuses []int
}

func newReceiver(t testing.TB, statuses ...int) *receiver {
	rc := &receiver{got: make(chan []byte, 64), statuses: statuses}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		status := http.StatusOK
		if len(rc.statuses) > 0 {
			status, rc.statuses = rc.statuses[0], rc.statuses[1:]
		}
		rc.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"ResultCode":0,"ResultDesc":"Accepted"}`)
		rc.got <- b
	}))
	t.Cleanup(ts.Close)
	rc.URL = ts.URL + "/callback/s3cr3t-path"
	return rc
}

// next waits for the next callback body.
func (rc *receiver) next(t testing.TB) []byte {
	t.Helper()
	select {
	case b := <-rc.got:
		return b
	case <-time.After(waitLimit):
		t.Fatal("no callback arrived")
		return nil
	}
}

// stkCallbackOf decodes the stkCallback object of a callback body, numbers kept
// as json.Number.
func stkCallbackOf(t testing.TB, body []byte) map[string]any {
	t.Helper()
	var env struct {
		Body struct {
			StkCallback map[string]any `json:"stkCallback"`
		} `json:"Body"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&env); err != nil || env.Body.StkCallback == nil {
		t.Fatalf("not a callback: %v: %s", err, body)
	}
	return env.Body.StkCallback
}

// waitFor waits until cond holds, woken by the simulator's change signal.
func waitFor(t testing.TB, s *Simulator, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// fakeClock is a settable clock for token expiry and stamps.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
