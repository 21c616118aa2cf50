package mpesa_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
)

func TestToken(t *testing.T) {
	t.Run("SendsBasicAuthAndGrantType", func(t *testing.T) {
		f := newFakeDaraja(t)
		c := mustNew(t, testConfig(f.URL))
		if _, err := c.Token(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		got := f.calls(mpesa.PathToken)
		if len(got) != 1 {
			t.Fatalf("%d token requests, want 1", len(got))
		}
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(testKey+":"+testSecret))
		if got[0].Method != http.MethodGet || got[0].RawQuery != "grant_type=client_credentials" || got[0].Header.Get("Authorization") != want {
			t.Fatalf("token request %s ?%s auth %q", got[0].Method, got[0].RawQuery, got[0].Header.Get("Authorization"))
		}
	})

	for _, tc := range []struct{ name, expiresIn string }{
		{"AcceptsExpiresInAsString", `"3599"`},
		{"AcceptsExpiresInAsNumber", `3599`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDaraja(t)
			f.onToken(answer(200, `{"access_token":"abc123token","expires_in":`+tc.expiresIn+`}`))
			c := mustNew(t, testConfig(f.URL))
			for range 3 {
				tok, err := c.Token(testCtx(t))
				if err != nil || tok != "abc123token" {
					t.Fatalf("Token() = %q, %v", tok, err)
				}
			}
			if n := len(f.calls(mpesa.PathToken)); n != 1 {
				t.Fatalf("%d token requests for 3 calls, want 1 (cached)", n)
			}
		})
	}

	t.Run("RefreshesSixtySecondsBeforeExpiry", func(t *testing.T) {
		f := newFakeDaraja(t)
		clock := newFakeClock()
		cfg := testConfig(f.URL)
		cfg.Now = clock.Now
		c := mustNew(t, cfg)
		first, _ := c.Token(testCtx(t))

		clock.Advance(3599*time.Second - 60*time.Second - time.Second)
		if tok, _ := c.Token(testCtx(t)); tok != first {
			t.Fatalf("token replaced 61 s before expiry")
		}
		clock.Advance(time.Second)
		second, err := c.Token(testCtx(t))
		if err != nil || second == first {
			t.Fatalf("token not replaced 60 s before expiry: %q, %v", second, err)
		}
		if n := len(f.calls(mpesa.PathToken)); n != 2 {
			t.Fatalf("%d token requests, want 2", n)
		}
	})

	t.Run("HundredGoroutinesMakeOneFetch", func(t *testing.T) {
		f := newFakeDaraja(t)
		started := make(chan struct{})
		release := make(chan struct{})
		var once sync.Once
		f.onToken(func(w http.ResponseWriter, r *http.Request) {
			once.Do(func() { close(started) })
			<-release
			writeJSON(w, 200, `{"access_token":"shared-token","expires_in":"3599"}`)
		})
		c := mustNew(t, testConfig(f.URL))
		var wg sync.WaitGroup
		toks := make([]string, 100)
		errs := make([]error, 100)
		for i := range 100 {
			wg.Go(func() { toks[i], errs[i] = c.Token(testCtx(t)) })
		}
		<-started
		close(release)
		wg.Wait()
		for i := range 100 {
			if errs[i] != nil || toks[i] != "shared-token" {
				t.Fatalf("goroutine %d: %q, %v", i, toks[i], errs[i])
			}
		}
		if n := len(f.calls(mpesa.PathToken)); n != 1 {
			t.Fatalf("%d token requests for 100 goroutines, want 1", n)
		}
	})

	t.Run("WaiterHonoursItsOwnContext", func(t *testing.T) {
		f := newFakeDaraja(t)
		started := make(chan struct{})
		release := make(chan struct{})
		f.onToken(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			<-release
			writeJSON(w, 200, `{"access_token":"late-token","expires_in":"3599"}`)
		})
		c := mustNew(t, testConfig(f.URL))
		fetched := make(chan error, 1)
		go func() { _, err := c.Token(testCtx(t)); fetched <- err }()
		<-started

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Token(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("waiter with a cancelled ctx got %v, want context.Canceled", err)
		}
		close(release)
		if err := <-fetched; err != nil {
			t.Fatalf("the fetching goroutine failed: %v", err)
		}
	})

	t.Run("WaiterFetchesWhenTheFetcherGivesUp", func(t *testing.T) {
		f := newFakeDaraja(t)
		started := make(chan struct{})
		f.onToken(sequence(
			func(w http.ResponseWriter, r *http.Request) { close(started); <-r.Context().Done() },
			answer(200, `{"access_token":"second-try","expires_in":"3599"}`),
		))
		c := mustNew(t, testConfig(f.URL))
		fetcherCtx, cancelFetcher := context.WithCancel(context.Background())
		fetcherDone := make(chan error, 1)
		go func() { _, err := c.Token(fetcherCtx); fetcherDone <- err }()
		<-started
		waiterDone := make(chan string, 1)
		go func() { tok, _ := c.Token(testCtx(t)); waiterDone <- tok }()
		cancelFetcher()
		if err := <-fetcherDone; !errors.Is(err, context.Canceled) {
			t.Fatalf("fetcher: %v, want context.Canceled", err)
		}
		if tok := <-waiterDone; tok != "second-try" {
			t.Fatalf("waiter got %q, want a token of its own fetch", tok)
		}
	})

	t.Run("BadCredentialsAreReadable", func(t *testing.T) {
		f := newFakeDaraja(t)
		f.onToken(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(400) })
		c := mustNew(t, testConfig(f.URL))
		_, err := c.Token(testCtx(t))
		var aerr *mpesa.AuthenticationError
		var base *mpesa.Error
		if !errors.As(err, &aerr) || !errors.As(err, &base) {
			t.Fatalf("error %v: want AuthenticationError and Error", err)
		}
		if base.StatusCode != 400 || !strings.Contains(err.Error(), "HTTP 400 from Daraja, empty body: check MPESA_CONSUMER_KEY/SECRET") {
			t.Fatalf("error %q is not the readable bad-credentials message", err)
		}
		if n := len(f.calls(mpesa.PathToken)); n != 1 {
			t.Fatalf("bad credentials asked %d times, want 1 (not retried)", n)
		}
	})

	t.Run("KeepsDarajaErrorFields", func(t *testing.T) {
		f := newFakeDaraja(t)
		f.onToken(answer(400, `{"requestId":"req-9","errorCode":"400.008.01","errorMessage":"Invalid Authentication passed"}`))
		c := mustNew(t, testConfig(f.URL))
		_, err := c.Token(testCtx(t))
		var base *mpesa.Error
		if !errors.As(err, &base) || base.Code != "400.008.01" || base.RequestID != "req-9" || !strings.Contains(base.Message, "Invalid Authentication passed") {
			t.Fatalf("error %#v", base)
		}
	})

	t.Run("RetriesLikeTheQuery", func(t *testing.T) {
		for _, status := range []int{408, 429, 500, 502, 503, 504} {
			f := newFakeDaraja(t)
			f.onToken(sequence(answer(status, ``), answerHTML(status), answer(200, `{"access_token":"after-retries","expires_in":"3599"}`)))
			c := mustNew(t, testConfig(f.URL))
			tok, err := c.Token(testCtx(t))
			if err != nil || tok != "after-retries" {
				t.Fatalf("HTTP %d twice then 200: %q, %v", status, tok, err)
			}
			if n := len(f.calls(mpesa.PathToken)); n != 3 {
				t.Fatalf("HTTP %d: %d requests, want 3", status, n)
			}
		}
	})

	t.Run("GivesUpAfterRetryMax", func(t *testing.T) {
		f := newFakeDaraja(t)
		f.onToken(answerHTML(503))
		cfg := testConfig(f.URL)
		cfg.RetryMax = 3
		c := mustNew(t, cfg)
		_, err := c.Token(testCtx(t))
		var aerr *mpesa.AuthenticationError
		var base *mpesa.Error
		if !errors.As(err, &aerr) || !errors.As(err, &base) || base.StatusCode != 503 {
			t.Fatalf("error %v: want AuthenticationError with HTTP 503", err)
		}
		if strings.Contains(err.Error(), "<html") {
			t.Fatalf("error shows the raw HTML: %q", err)
		}
		if n := len(f.calls(mpesa.PathToken)); n != 4 {
			t.Fatalf("%d requests, want RetryMax+1 = 4", n)
		}
	})

	t.Run("InvalidateTokenForcesAFetch", func(t *testing.T) {
		f := newFakeDaraja(t)
		c := mustNew(t, testConfig(f.URL))
		a, _ := c.Token(testCtx(t))
		c.InvalidateToken()
		b, _ := c.Token(testCtx(t))
		if a == b || len(f.calls(mpesa.PathToken)) != 2 {
			t.Fatalf("InvalidateToken did not force a new token")
		}
	})

	t.Run("KeepsTheCurrentTokenWhenAnEarlyRefreshFails", func(t *testing.T) {
		f := newFakeDaraja(t)
		clock := newFakeClock()
		cfg := testConfig(f.URL)
		cfg.Now = clock.Now
		c := mustNew(t, cfg)
		first, _ := c.Token(testCtx(t))
		f.onToken(answerHTML(503))
		clock.Advance(3599*time.Second - 30*time.Second) // inside the refresh margin, not expired
		if tok, err := c.Token(testCtx(t)); err != nil || tok != first {
			t.Fatalf("Token() = %q, %v; want the still-valid token", tok, err)
		}
		clock.Advance(time.Minute) // expired now
		if _, err := c.Token(testCtx(t)); err == nil {
			t.Fatal("an expired token was returned after a failed refresh")
		}
	})

	t.Run("RefusesAnswerWithoutToken", func(t *testing.T) {
		for _, body := range []string{`{}`, `{"access_token":""}`, `not json`, `{"access_token":"x","expires_in":"soon"}`} {
			f := newFakeDaraja(t)
			f.onToken(answer(200, body))
			c := mustNew(t, testConfig(f.URL))
			var aerr *mpesa.AuthenticationError
			if _, err := c.Token(testCtx(t)); !errors.As(err, &aerr) {
				t.Errorf("body %s: error %v, want AuthenticationError", body, err)
			}
		}
	})

	t.Run("UsesATokenWithoutExpiryOnce", func(t *testing.T) {
		f := newFakeDaraja(t)
		f.onToken(answer(200, `{"access_token":"no-expiry"}`))
		c := mustNew(t, testConfig(f.URL))
		for range 2 {
			if tok, err := c.Token(testCtx(t)); err != nil || tok != "no-expiry" {
				t.Fatalf("Token() = %q, %v", tok, err)
			}
		}
		if n := len(f.calls(mpesa.PathToken)); n != 2 {
			t.Fatalf("%d requests, want 2 (a token without expiry is not cached)", n)
		}
	})
}

// TestToken_OneFetchWhileHundredWait proves with certainty that all 100
// goroutines were waiting at once (synctest.Wait) and still one request was
// made, whether it succeeds or fails. It needs an in-memory transport:
// goroutines blocked on real sockets are not "durably blocked".
func TestToken_OneFetchWhileHundredWait(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
	}{
		{"SharesTheToken", 200, `{"access_token":"shared","expires_in":"3599"}`},
		{"SharesTheFailure", 400, ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{})
				var fetches atomic.Int32
				cfg := testConfig("http://daraja.test")
				cfg.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					fetches.Add(1)
					select {
					case <-release:
					case <-r.Context().Done():
						return nil, r.Context().Err()
					}
					return &http.Response{StatusCode: tc.status, Header: http.Header{"Content-Type": {"application/json"}},
						Body: io.NopCloser(strings.NewReader(tc.body)), Request: r}, nil
				})}
				c := mustNew(t, cfg)
				type result struct {
					tok string
					err error
				}
				results := make(chan result, 100)
				for range 100 {
					go func() {
						tok, err := c.Token(context.Background())
						results <- result{tok, err}
					}()
				}
				synctest.Wait() // one goroutine in the transport, 99 waiting for it
				close(release)
				for range 100 {
					r := <-results
					if tc.status == 200 && (r.err != nil || r.tok != "shared") {
						t.Fatalf("Token() = %q, %v", r.tok, r.err)
					}
					var aerr *mpesa.AuthenticationError
					if tc.status != 200 && !errors.As(r.err, &aerr) {
						t.Fatalf("error %v, want AuthenticationError", r.err)
					}
				}
				if n := fetches.Load(); n != 1 {
					t.Fatalf("%d token requests while 100 goroutines waited, want 1", n)
				}
			})
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
