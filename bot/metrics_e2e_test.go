package bot_test

import (
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/mpesa-bot/mpesa-bot/bot"
	"github.com/mpesa-bot/mpesa-bot/bot/telegramtest"
	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
)

// samples reads every sample of reg as "name{label=value,...}" → value;
// histograms give name_count and name_sum.
func samples(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering the metrics: %v", err)
	}
	out := make(map[string]float64)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			key := "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[mf.GetName()+key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[mf.GetName()+key] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[mf.GetName()+"_count"+key] = float64(m.GetHistogram().GetSampleCount())
				out[mf.GetName()+"_sum"+key] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

// sumOf adds the samples whose key starts with prefix (a name, and labels in
// alphabetical order up to where they may vary).
func sumOf(s map[string]float64, prefix string) float64 {
	var n float64
	for k, v := range s {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

// The metrics move as payments settle: started, settled by outcome and by
// what settled them, the pending gauge, Daraja requests by endpoint and status
// class (through Metrics.InstrumentDaraja on the client's transport), token
// fetches, Telegram calls by method and status class, notifications and
// callbacks, notifications sent and failed. /metrics serves them, and they
// pass Prometheus' linter.
func TestMetricsMoveAsPaymentsSettle(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	metrics := bot.NewMetrics(reg)
	w := newWorld(t, options{
		noStart: true,
		http:    bot.HTTPOptions{Gatherer: reg},
		cfg: func(c *bot.Config) {
			c.Metrics = metrics
			c.PollInitialDelay = 50 * time.Millisecond
		},
	})
	// The harness's client is not instrumented: use one that is, as the
	// binary does.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	client, err := mpesa.New(mpesa.Config{
		Environment:    mpesa.Simulator,
		BaseURL:        w.sim.URL,
		ConsumerKey:    "key",
		ConsumerSecret: "consumer-secret-do-not-log",
		HTTPClient:     &http.Client{Transport: metrics.InstrumentDaraja(transport)},
		Logger:         w.logger(),
		RetryWaitMin:   time.Millisecond,
		RetryWaitMax:   5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.daraja = client
	w.start()
	bot.RegisterPending(reg, w.store)

	s := samples(t, reg)
	for _, key := range []string{"mpesa_bot_payments_started_total{}", "mpesa_bot_payments_pending{}"} {
		if s[key] != 0 {
			t.Errorf("%s = %v before any payment, want 0", key, s[key])
		}
	}
	if n := sumOf(s, "mpesa_bot_payments_settled_total"); n != 0 {
		t.Errorf("payments settled before any payment = %v", n)
	}

	// Paid by a callback: the prompt stays open until the test calls back.
	w.sim.SetPhoneOutcome("254712345678", mpesatest.Outcome{Manual: true, NoCallback: true})
	paid := w.pay("/pay 0712345678 100 PAID-1")
	s = samples(t, reg)
	if s["mpesa_bot_payments_started_total{}"] != 1 || s["mpesa_bot_payments_pending{}"] != 1 {
		t.Errorf("after one push: started %v, pending %v; want 1 and 1",
			s["mpesa_bot_payments_started_total{}"], s["mpesa_bot_payments_pending{}"])
	}
	a := w.post(w.callbackPath(paid.checkoutID), callbackBody(paid.checkoutID, "0", "NLJ7RT61SV", 100))
	if a.status != http.StatusOK {
		t.Fatalf("callback answered %d", a.status)
	}
	w.awaitOutcome(paid.chat.ID, paid.msg, paid.ack, "successful")
	s = samples(t, reg)
	for key, want := range map[string]float64{
		"mpesa_bot_payments_settled_total{outcome=paid,source=callback}": 1,
		"mpesa_bot_payment_settle_seconds_count{source=callback}":        1,
		"mpesa_bot_callbacks_total{result=settled}":                      1,
		"mpesa_bot_payments_pending{}":                                   0,
	} {
		if s[key] != want {
			t.Errorf("after the paid callback: %s = %v, want %v", key, s[key], want)
		}
	}

	// Cancelled, found by a query; Telegram fails the acknowledgement once.
	w.sim.SetPhoneOutcome("254712345672", mpesatest.Outcome{ResultCode: "1032", NoCallback: true})
	w.tg.FailNext("sendMessage", telegramtest.Fault{Status: http.StatusInternalServerError})
	cancelled := w.pay("/pay 0712345672 250 CANC-1")
	w.awaitOutcome(cancelled.chat.ID, cancelled.msg, cancelled.ack, "cancelled")
	w.awaitNotified(cancelled.checkoutID)
	s = samples(t, reg)
	for key, want := range map[string]float64{
		"mpesa_bot_payments_started_total{}":                                1 + 1,
		"mpesa_bot_payments_settled_total{outcome=cancelled,source=query}":  1,
		"mpesa_bot_payments_settled_total{outcome=paid,source=callback}":    1,
		"mpesa_bot_payment_settle_seconds_count{source=query}":              1,
		"mpesa_bot_notifications_total{result=sent}":                        2,
		"mpesa_bot_telegram_requests_total{method=sendMessage,status=5xx}":  1,
		"mpesa_bot_telegram_requests_total{method=getMe,status=2xx}":        1,
		"mpesa_bot_daraja_requests_total{endpoint=token,status=2xx}":        1,
		"mpesa_bot_daraja_token_fetches_total{result=ok}":                   1,
		"mpesa_bot_daraja_requests_total{endpoint=stkpush,status=2xx}":      2,
		"mpesa_bot_daraja_request_duration_seconds_count{endpoint=stkpush}": 2,
	} {
		if s[key] != want {
			t.Errorf("%s = %v, want %v", key, s[key], want)
		}
	}
	if n := sumOf(s, "mpesa_bot_telegram_requests_total{method=getUpdates,status=2xx}"); n < 1 {
		t.Errorf("successful getUpdates = %v, want at least 1", n)
	}
	if n := sumOf(s, "mpesa_bot_daraja_requests_total{endpoint=stkquery,"); n < 1 {
		t.Errorf("STK Queries counted = %v, want at least the one that found the result", n)
	}

	// A payer who blocked the bot cannot be told: a failed notification.
	blocked := telegramtest.PrivateChat(stranger)
	w.sim.SetPhoneOutcome("254712345670", mpesatest.Outcome{Manual: true, NoCallback: true})
	msg := w.say(blocked, stranger, "/pay 0712345670 40 GONE-1")
	gone := checkoutID(t, w.awaitReply(blocked.ID, msg, "sent", "ws_CO_").Plain)
	w.tg.BlockChat(blocked.ID)
	if a := w.post(w.callbackPath(gone), callbackBodyFrom(254712345670, gone, "0", "NLJ7RT61SV", 40)); a.status != http.StatusOK {
		t.Fatalf("callback answered %d", a.status)
	}
	w.eventually("a failed notification to be counted", func() bool {
		return samples(t, reg)["mpesa_bot_notifications_total{result=failed}"] == 1
	})
	if s := samples(t, reg); s["mpesa_bot_notifications_total{result=sent}"] != 2 {
		t.Errorf("notifications sent = %v, want still 2", s["mpesa_bot_notifications_total{result=sent}"])
	}

	t.Run("MetricsEndpointServesThemAndTheyLintClean", func(t *testing.T) {
		a := w.request(http.MethodGet, "/metrics", nil)
		if a.status != http.StatusOK {
			t.Fatalf("/metrics = %d", a.status)
		}
		for _, want := range []string{
			"# HELP mpesa_bot_payments_settled_total ",
			"# TYPE mpesa_bot_payments_settled_total counter",
			"# TYPE mpesa_bot_payments_pending gauge",
			"# TYPE mpesa_bot_payment_settle_seconds histogram",
			`mpesa_bot_payments_settled_total{outcome="paid",source="callback"} 2`,
			`mpesa_bot_telegram_requests_total{method="sendMessage",status="2xx"}`,
		} {
			if !strings.Contains(a.body, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
		problems, err := promlint.New(strings.NewReader(a.body)).Lint()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
		if strings.Contains(a.body, "254712345678") || strings.Contains(a.body, "consumer-secret") {
			t.Error("/metrics shows a phone number or a secret")
		}
	})

	w.stop()
	// At rest, the counts agree with what the fakes saw.
	s = samples(t, reg)
	if got, want := s["mpesa_bot_telegram_requests_total{method=sendMessage,status=2xx}"], float64(len(w.tg.Sent())); got != want {
		t.Errorf("sendMessage 2xx counted %v, the fake accepted %v", got, want)
	}
	if got, want := sumOf(s, "mpesa_bot_daraja_requests_total{endpoint=stkpush,"), float64(w.pushes()); got != want {
		t.Errorf("STK Pushes counted %v, the simulator got %v", got, want)
	}
}
