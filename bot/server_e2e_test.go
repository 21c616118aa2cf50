package bot_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/bot"
	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
	"github.com/mpesa-bot/mpesa-bot/mpesa/testkit"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// The callback secret is what makes an unsigned callback trustworthy: no log
// line shows it, whatever becomes of the request, and the access log has one
// line per request with the route pattern in its place.
func TestCallbackSecretIsNeverLogged(t *testing.T) {
	t.Parallel()
	w := newWorld(t, options{cfg: longInitialDelay})
	p := w.pay("/pay 0712345678 100 INV001")
	w.awaitOutcome(p.chat.ID, p.msg, p.ack, "successful") // the simulator's callback was accepted
	cbURL := w.callbackURL(p.checkoutID)
	secret, cbPath := secretOf(t, cbURL), pathOf(t, cbURL)
	delivered := w.awaitCallbackAttempts(1)[0].Body
	unknown := strings.Repeat("5e", 20)

	const route = "POST /daraja/cb/{secret}"
	type want struct {
		method, route string
		status        int
	}
	wants := []want{{http.MethodPost, route, http.StatusOK}} // the simulator's delivery
	for _, c := range []struct {
		name, method, path string
		body               []byte
		want               want
	}{
		{"Duplicate", http.MethodPost, cbPath, delivered, want{http.MethodPost, route, http.StatusOK}},
		{"UnknownSecret", http.MethodPost, "/daraja/cb/" + unknown, delivered, want{http.MethodPost, route, http.StatusNotFound}},
		{"Malformed", http.MethodPost, cbPath, []byte("{"), want{http.MethodPost, route, http.StatusBadRequest}},
		{"OtherCheckoutRequestID", http.MethodPost, cbPath, callbackBody("ws_CO_191220191020363925", "0", "NLJ7RT61SV", 100),
			want{http.MethodPost, route, http.StatusBadRequest}},
		{"TooLarge", http.MethodPost, cbPath, padTo(delivered, 70<<10), want{http.MethodPost, route, http.StatusRequestEntityTooLarge}},
		{"Get", http.MethodGet, cbPath, nil, want{http.MethodGet, "-", http.StatusMethodNotAllowed}},
		{"Put", http.MethodPut, cbPath, delivered, want{http.MethodPut, "-", http.StatusMethodNotAllowed}},
		{"ExtraSegment", http.MethodPost, cbPath + "/more", delivered, want{http.MethodPost, "-", http.StatusNotFound}},
	} {
		if a := w.request(c.method, c.path, c.body); a.status != c.want.status {
			t.Errorf("%s: status %d, want %d", c.name, a.status, c.want.status)
		}
		wants = append(wants, c.want)
	}
	w.stop() // the callback server has finished every request: every line is written

	for i, line := range strings.Split(w.logs.String(), "\n") {
		if strings.Contains(line, secret) {
			t.Errorf("log line %d contains the callback secret (message %q)", i+1, messageOf(line))
		}
		if strings.Contains(line, unknown) {
			t.Errorf("log line %d contains the secret that was tried (message %q)", i+1, messageOf(line))
		}
	}
	for _, s := range w.tg.Sent() {
		if strings.Contains(s.Text, secret) {
			t.Errorf("a message to chat %d shows the callback secret", s.ChatID)
		}
	}

	var got []want
	for _, l := range w.accessLog() {
		got = append(got, want(l))
	}
	sortWants := func(ws []want) {
		slices.SortFunc(ws, func(a, b want) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	}
	sortWants(wants)
	sortWants(got)
	if !slices.Equal(got, wants) {
		t.Errorf("access log (method, route, status):\n got %v\nwant %v", got, wants)
	}
}

// messageOf is the msg field of a text log line, to name a line without
// printing it.
func messageOf(line string) string {
	_, after, ok := strings.Cut(line, `msg="`)
	if !ok {
		_, after, _ = strings.Cut(line, "msg=")
		before, _, _ := strings.Cut(after, " ")
		return before
	}
	before, _, _ := strings.Cut(after, `"`)
	return before
}

// readiness asks /readyz.
func (w *world) readiness() (answer, bot.Readiness) {
	w.t.Helper()
	a := w.request(http.MethodGet, "/readyz", nil)
	var r bot.Readiness
	if err := json.Unmarshal([]byte(a.body), &r); err != nil {
		w.t.Fatalf("/readyz answered %d %q: not JSON: %v", a.status, a.body, err)
	}
	return a, r
}

// awaitReadiness polls /readyz until it answers status.
func (w *world) awaitReadiness(status int) (answer, bot.Readiness) {
	w.t.Helper()
	var (
		a answer
		r bot.Readiness
	)
	w.eventually(fmt.Sprintf("/readyz to answer %d", status), func() bool {
		a, r = w.readiness()
		return a.status == status
	})
	return a, r
}

// /healthz says the process is up; /readyz says whether the bot can take
// payments, and turns 503 with a short reason while Telegram is down.
func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	w := newWorld(t, options{cfg: func(c *bot.Config) {
		c.LongPoll = time.Second // a held poll notices the outage within a second
		c.RequestTimeout = 2 * time.Second
	}})

	healthz := func(t *testing.T) {
		t.Helper()
		a := w.request(http.MethodGet, "/healthz", nil)
		if a.status != http.StatusOK || !strings.Contains(a.body, `"ok"`) {
			t.Errorf("/healthz = %d %q, want 200 ok", a.status, a.body)
		}
	}
	t.Run("HealthzIs200", healthz)
	t.Run("ReadyzIs200WhenReady", func(t *testing.T) {
		a, r := w.awaitReadiness(http.StatusOK)
		if !r.Ready || r.Reason != "" {
			t.Errorf("/readyz = %q, want ready without a reason", a.body)
		}
		if ct := a.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
	})
	t.Run("ReadyzIs503WhileTelegramIsDown", func(t *testing.T) {
		w.tg.SetDown(true)
		a, r := w.awaitReadiness(http.StatusServiceUnavailable)
		if r.Ready || !strings.HasPrefix(r.Reason, "telegram") || len(r.Reason) > 200 {
			t.Errorf("/readyz = %q, want not ready with a short reason about Telegram", a.body)
		}
		if strings.Contains(a.body, w.tg.Token()) || strings.Contains(a.body, "TEST-fake-token") {
			t.Errorf("/readyz shows the bot token: %q", a.body)
		}
		if ct := a.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		healthz(t) // the process is still up
	})
	t.Run("ReadyzIs200AgainWhenTelegramIsBack", func(t *testing.T) {
		w.tg.SetDown(false)
		if _, r := w.awaitReadiness(http.StatusOK); !r.Ready {
			t.Errorf("readiness = %+v", r)
		}
	})
	t.Run("MetricsAndBackupAreNotServedUnlessConfigured", func(t *testing.T) {
		for _, path := range []string{"/metrics", "/backup"} {
			if a := w.request(http.MethodGet, path, nil); a.status != http.StatusNotFound {
				t.Errorf("GET %s = %d, want 404", path, a.status)
			}
		}
	})
}

// Without a Daraja token the bot cannot take payments: /readyz says so,
// without showing the credentials.
func TestReadyzIs503WhenDarajaRefusesTheCredentials(t *testing.T) {
	t.Parallel()
	w := newWorld(t, options{simOpts: []mpesatest.Option{mpesatest.WithCredentials("another-key", "another-secret")}})
	a, r := w.awaitReadiness(http.StatusServiceUnavailable)
	if r.Ready || !strings.HasPrefix(r.Reason, "daraja") || len(r.Reason) > 300 {
		t.Errorf("/readyz = %q, want not ready with a short reason about Daraja", a.body)
	}
	for _, secret := range []string{"consumer-secret-do-not-log", "a2V5OmNvbnN1bWVy"} { // the secret, and base64("key:consumer")
		if strings.Contains(a.body, secret) {
			t.Errorf("/readyz shows a credential: %q", a.body)
		}
	}
}

// /backup hands an operator with BACKUP_TOKEN a consistent copy of the
// database while the bot runs; anyone else gets 401.
func TestBackup(t *testing.T) {
	t.Parallel()
	const token = "backup-token-5f1c9a7e3b"
	w := newWorld(t, options{http: bot.HTTPOptions{BackupToken: token}})
	w.sim.SetPhoneOutcome("254712345670", mpesatest.Outcome{Manual: true, NoCallback: true})
	paid := w.pay("/pay 0712345678 100 PAID-1")
	w.awaitOutcome(paid.chat.ID, paid.msg, paid.ack, "successful")
	w.awaitNotified(paid.checkoutID)
	w.pay("/pay 0712345670 200 OPEN-1")

	for _, c := range []struct{ name, header string }{
		{"NoTokenIs401", ""},
		{"WrongTokenIs401", "Bearer not-the-token"},
		{"TokenWithoutBearerIs401", token},
		{"BasicAuthIs401", "Basic " + token},
		{"TokenPrefixIs401", "Bearer " + token[:len(token)-1]},
	} {
		t.Run(c.name, func(t *testing.T) {
			var h []string
			if c.header != "" {
				h = []string{"Authorization", c.header}
			}
			a := w.request(http.MethodGet, "/backup", nil, h...)
			if a.status != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", a.status)
			}
			if len(a.body) > 100 {
				t.Errorf("a refused backup sent %d bytes", len(a.body))
			}
		})
	}

	t.Run("RightTokenGetsTheDatabase", func(t *testing.T) {
		a := w.request(http.MethodGet, "/backup", nil, "Authorization", "Bearer "+token)
		if a.status != http.StatusOK {
			t.Fatalf("status = %d, want 200", a.status)
		}
		copyPath := filepath.Join(t.TempDir(), "copy.db")
		if err := os.WriteFile(copyPath, []byte(a.body), 0o600); err != nil {
			t.Fatal(err)
		}
		cp, err := storage.Open(copyPath, storage.Options{Timeout: time.Second})
		if err != nil {
			t.Fatalf("the backup is not a database the store opens: %v", err)
		}
		defer cp.Close()
		if err := cp.Check(); err != nil {
			t.Errorf("the backup fails its check: %v", err)
		}
		live, err := w.store.ListByUser(customer.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		copied, err := cp.ListByUser(customer.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(live) != 2 || len(copied) != len(live) {
			t.Fatalf("payments: live %d, backup %d; want 2 in both", len(live), len(copied))
		}
		for i := range live {
			l, c := live[i], copied[i]
			if l.ID != c.ID || l.State != c.State || l.CheckoutRequestID != c.CheckoutRequestID || l.Receipt != c.Receipt || l.Amount != c.Amount {
				t.Errorf("backup has %v, live store %v", c, l)
			}
		}
	})
	w.stop()
	if strings.Contains(w.logs.String(), token) {
		t.Error("the backup token was logged")
	}
}

// Serve stops taking connections when its context ends, lets the request in
// flight finish, and returns nil.
func TestServeShutsDownGracefully(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = w.Write([]byte("finished"))
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- bot.Serve(ctx, ln, h, slog.New(slog.DiscardHandler)) }()

	target := "http://" + ln.Addr().String() + "/slow"
	inFlight := make(chan answer, 1)
	go func() {
		resp, err := http.Get(target)
		if err != nil {
			inFlight <- answer{body: err.Error()}
			return
		}
		defer resp.Body.Close()
		b := make([]byte, 64)
		n, _ := resp.Body.Read(b)
		inFlight <- answer{status: resp.StatusCode, body: string(b[:n])}
	}()
	select {
	case <-entered:
	case <-time.After(waitLimit):
		t.Fatal("the request never reached the handler")
	}

	cancel()
	testkit.WaitUntil(t, "the listener to close", waitLimit, func() bool {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	close(release)
	select {
	case a := <-inFlight:
		if a.status != http.StatusOK || a.body != "finished" {
			t.Errorf("the request in flight got %d %q, want 200 finished", a.status, a.body)
		}
	case <-time.After(waitLimit):
		t.Fatal("the request in flight never finished")
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve = %v, want nil after a graceful shutdown", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Serve did not return")
	}
}

// A listener that fails is reported, not mistaken for a shutdown.
func TestServeReportsABrokenListener(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	err = bot.Serve(context.Background(), ln, http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if err == nil || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Serve on a closed listener = %v, want an error wrapping net.ErrClosed", err)
	}
}

// Callbacks are routed by CALLBACK_URL's path exactly as Daraja will send it:
// percent-escapes (an escaped "/" included) and braces in the path are part
// of the route, never ServeMux syntax, and never crash the bot at start.
func TestCallbackRouteFollowsTheCallbackURLPath(t *testing.T) {
	t.Parallel()
	sim := mpesatest.NewServer(t)
	daraja, err := mpesa.New(mpesa.Config{Environment: mpesa.Simulator, BaseURL: sim.URL})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct{ name, base string }{
		{"PlainPath", "https://bot.example.com/daraja/cb"},
		{"NoPath", "https://bot.example.com"},
		{"TrailingSlash", "https://bot.example.com/hooks/"},
		{"EscapedSlash", "https://bot.example.com/hooks/a%2Fb/cb"},
		{"Braces", "https://bot.example.com/hooks/{shop}/cb"},
		{"UnclosedBrace", "https://bot.example.com/hooks/{shop"},
		{"EscapedSpace", "https://bot.example.com/my%20hooks"},
		{"NonASCII", "https://bot.example.com/caf%C3%A9"},
	} {
		base := c.base
		t.Run(c.name, func(t *testing.T) {
			st, err := storage.Open(filepath.Join(t.TempDir(), "bot.db"), storage.Options{Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			secret := fmt.Sprintf("%040x", i+1)
			p, _, err := st.Create(storage.Payment{ChatID: customer.ID, UserID: customer.ID, MessageID: 1,
				IdempotencyKey: "1111111:1", Phone: "254712345678", Amount: 100, Reference: "ROUTE",
				Description: "Payment", CallbackSecret: secret}, storage.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.RecordPush(p.ID, "ws_CO_191220191020363925", "m-1", time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			b, err := bot.New(handlerConfig(base), st, daraja)
			if err != nil {
				t.Fatal(err)
			}
			var h http.Handler
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("Handler panicked: %v", r)
					}
				}()
				h, err = b.Handler(bot.HTTPOptions{})
			}()
			if err != nil {
				t.Fatalf("Handler: %v", err)
			}
			srv := httptestServer(t, h)
			// What Daraja posts to: the CallBackURL the bot sent, on this server.
			u, err := url.Parse(strings.TrimRight(base, "/") + "/" + secret)
			if err != nil {
				t.Fatal(err)
			}
			target := srv + u.EscapedPath()
			a := doRequest(t, http.MethodPost, target, callbackBody("ws_CO_191220191020363925", "1032", "", 0))
			if a.status != http.StatusOK || a.body != acceptedAnswer {
				t.Errorf("POST to the CallBackURL = %d %q, want 200 %s", a.status, a.body, acceptedAnswer)
			}
			if got, err := st.Get(p.ID); err != nil || got.State != storage.StateFailed {
				t.Errorf("payment after its callback: %v (%v), want failed", got, err)
			}
			if a := doRequest(t, http.MethodPost, srv+"/elsewhere/"+secret, callbackBody("ws_CO_191220191020363925", "1032", "", 0)); a.status != http.StatusNotFound {
				t.Errorf("POST to another path = %d, want 404", a.status)
			}
		})
	}
}

// httptestServer serves h on loopback for the test and returns its URL.
func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
