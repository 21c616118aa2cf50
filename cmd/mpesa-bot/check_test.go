package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
)

// tokenSpy serves a Daraja simulator and remembers every access token it
// issued, so a test can prove none of them was printed in full.
type tokenSpy struct {
	URL    string
	mu     sync.Mutex
	tokens []string
}

func newTokenSpy(t *testing.T, opts ...mpesatest.Option) *tokenSpy {
	t.Helper()
	sim := mpesatest.New(opts...)
	spy := &tokenSpy{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, r)
		var body struct {
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &body) == nil && body.AccessToken != "" {
			spy.mu.Lock()
			spy.tokens = append(spy.tokens, body.AccessToken)
			spy.mu.Unlock()
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(func() {
		sim.Close()
		ts.Close()
	})
	spy.URL = ts.URL
	return spy
}

func (s *tokenSpy) issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tokens...)
}

// sandboxEnv is a complete sandbox configuration pointed at a Daraja at url.
func sandboxEnv(url string) vars {
	return vars{
		"ENVIRONMENT":           "sandbox",
		"MPESA_BASE_URL":        url,
		"MPESA_CONSUMER_KEY":    consumerKey,
		"MPESA_CONSUMER_SECRET": consumerSecret,
		"MPESA_SHORTCODE":       "600100",
		"MPESA_PASSKEY":         passkey,
		"CALLBACK_URL":          "https://example.com/payments/cb",
		"LOG_LEVEL":             "debug", // the most the log ever says
	}
}

var timestampLine = regexp.MustCompile(`(?m)^Timestamp \(EAT\):\s+(\d{14})$`)

// assertCheckReport checks the report a successful check prints: the
// environment, a timestamp, the password masked and a token obtained and
// masked; and that neither the full password nor a full token is anywhere in
// the output.
func assertCheckReport(t *testing.T, r result, env, shortCode, passkey string, tokens []string) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("check failed:\n%s", r)
	}
	for _, want := range []string{"environment:       " + env, "business shortcode: " + shortCode, "STK push URL:", "Password:", "masked"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if !regexp.MustCompile(`(?m)^Access token:\s+\S{4}… \(\d+ characters, masked\) \(obtained\)$`).MatchString(r.stdout) {
		t.Errorf("stdout has no masked access token that was obtained:\n%s", r.stdout)
	}
	m := timestampLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("stdout has no timestamp line:\n%s", r.stdout)
	}
	password := mpesa.Password(shortCode, passkey, m[1])
	for _, secret := range append([]string{password, passkey}, tokens...) {
		if strings.Contains(r.stdout, secret) || strings.Contains(r.stderr, secret) {
			t.Errorf("the output shows %q in full:\n%s", secret, r)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()

	t.Run("SimulatorNeedsNothingElse", func(t *testing.T) {
		t.Parallel()
		r := runMain(t, context.Background(), vars{"ENVIRONMENT": "simulator", "LOG_LEVEL": "debug"}, "", "check")
		assertCheckReport(t, r, "simulator", mpesa.SandboxShortCode, mpesa.SandboxPasskey, nil)
		// The bot in this environment gets its callbacks in-process: "off"
		// would contradict /envinfo's "Callbacks: on".
		if !strings.Contains(r.stdout, "callback URL:      in-process (simulator)") {
			t.Errorf("stdout does not say callbacks arrive in-process:\n%s", r.stdout)
		}
	})

	t.Run("SandboxCredentialsGetAToken", func(t *testing.T) {
		t.Parallel()
		spy := newTokenSpy(t, mpesatest.WithCredentials(consumerKey, consumerSecret), mpesatest.WithShortCode("600100", passkey))
		r := runMain(t, context.Background(), sandboxEnv(spy.URL), "", "check")
		if len(spy.issued()) == 0 {
			t.Fatalf("check printed a report without fetching a token:\n%s", r)
		}
		assertCheckReport(t, r, "sandbox", "600100", passkey, spy.issued())
	})

	t.Run("MissingPasskeyIsNamed", func(t *testing.T) {
		t.Parallel()
		env := sandboxEnv("http://127.0.0.1:1")
		delete(env, "MPESA_PASSKEY")
		r := runMain(t, context.Background(), env, "", "check")
		if r.code == 0 {
			t.Fatalf("check succeeded without MPESA_PASSKEY:\n%s", r)
		}
		if !strings.Contains(r.stderr, "MPESA_PASSKEY") {
			t.Errorf("stderr does not name MPESA_PASSKEY:\n%s", r)
		}
		if r.stdout != "" {
			t.Errorf("check printed a report although the configuration is incomplete:\n%s", r)
		}
	})

	t.Run("EveryMissingVariableAtOnce", func(t *testing.T) {
		t.Parallel()
		r := runMain(t, context.Background(), vars{"ENVIRONMENT": "sandbox"}, "", "check")
		if r.code == 0 {
			t.Fatalf("check succeeded with nothing configured:\n%s", r)
		}
		for _, name := range []string{"MPESA_CONSUMER_KEY", "MPESA_CONSUMER_SECRET", "MPESA_PASSKEY", "MPESA_SHORTCODE", "CALLBACK_URL"} {
			if !strings.Contains(r.stderr, name) {
				t.Errorf("stderr does not name %s:\n%s", name, r.stderr)
			}
		}
	})

	t.Run("WrongCredentialsOneClearLine", func(t *testing.T) {
		t.Parallel()
		spy := newTokenSpy(t, mpesatest.WithCredentials("the-right-key", "the-right-secret"), mpesatest.WithShortCode("600100", passkey))
		r := runMain(t, context.Background(), sandboxEnv(spy.URL), "", "check")
		if r.code == 0 {
			t.Fatalf("check succeeded with wrong credentials:\n%s", r)
		}
		var mine []string
		for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
			if strings.HasPrefix(line, "mpesa-bot check:") {
				mine = append(mine, line)
			}
		}
		if len(mine) != 1 {
			t.Fatalf("want one line from mpesa-bot check, got %d:\n%s", len(mine), r)
		}
		if !strings.Contains(strings.ToLower(mine[0]), "authentication failed") {
			t.Errorf("the line does not say authentication failed: %q", mine[0])
		}
		if strings.Contains(r.stdout, "Access token") {
			t.Errorf("stdout claims a token:\n%s", r.stdout)
		}
	})

	t.Run("UnreachableDarajaFailsClearly", func(t *testing.T) {
		t.Parallel()
		r := runMain(t, context.Background(), sandboxEnv("http://"+freeAddr(t)), "", "check")
		if r.code == 0 {
			t.Fatalf("check succeeded with nothing listening:\n%s", r)
		}
		if !strings.Contains(r.stderr, "mpesa-bot check: access token:") {
			t.Errorf("stderr does not say the token could not be had:\n%s", r)
		}
		if strings.Contains(r.stderr, "authentication failed") {
			t.Errorf("nothing answered, yet stderr blames the credentials:\n%s", r)
		}
	})
}
