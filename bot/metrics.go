package bot

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// Metrics are the bot's Prometheus metrics. A nil *Metrics records nothing,
// so tests and tools that do not care need not build one. Every metric is
// registered on the registry given to NewMetrics, never on the global one.
type Metrics struct {
	paymentsStarted  prometheus.Counter
	paymentsRefused  *prometheus.CounterVec
	paymentsSettled  *prometheus.CounterVec
	paymentsCorrect  prometheus.Counter
	settleSeconds    *prometheus.HistogramVec
	notifications    *prometheus.CounterVec
	callbacks        *prometheus.CounterVec
	updates          prometheus.Counter
	dropped          prometheus.Counter
	commands         *prometheus.CounterVec
	darajaRequests   *prometheus.CounterVec
	darajaSeconds    *prometheus.HistogramVec
	tokenFetches     *prometheus.CounterVec
	telegramRequests *prometheus.CounterVec
	telegramSeconds  *prometheus.HistogramVec
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns = "mpesa_bot"
	m := &Metrics{
		paymentsStarted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "payments_started_total",
			Help: "Payments written ahead and sent to Daraja as an STK Push."}),
		paymentsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "payments_refused_total",
			Help: "/pay commands refused before any push, by reason."}, []string{"reason"}),
		paymentsSettled: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "payments_settled_total",
			Help: "Payments that reached a final state, by outcome and by what settled them (callback, query, push)."}, []string{"outcome", "source"}),
		paymentsCorrect: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "payments_corrected_total",
			Help: "Payments first settled as failed that M-Pesa then confirmed paid; each is also counted in payments_settled_total as paid with source correction."}),
		settleSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "payment_settle_seconds",
			Help:    "Time from the STK Push to the final result, by what delivered the result.",
			Buckets: []float64{1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 300, 900, 3600}}, []string{"source"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "notifications_total",
			Help: "Outcome messages and merchant feed lines, by result (sent, failed, feed_sent, feed_failed)."}, []string{"result"}),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "callbacks_total",
			Help: "Daraja callbacks received, by how they were answered."}, []string{"result"}),
		updates: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "telegram_updates_total",
			Help: "Telegram updates handed to handlers."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "telegram_updates_dropped_total",
			Help: "Telegram updates dropped because their chat had too many waiting."}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "commands_total",
			Help: "Bot commands received, by command."}, []string{"command"}),
		darajaRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "daraja_requests_total",
			Help: "HTTP requests to Daraja, by endpoint (token, stkpush, stkquery) and status class (2xx, 4xx, 5xx, error)."}, []string{"endpoint", "status"}),
		darajaSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "daraja_request_duration_seconds",
			Help: "Latency of HTTP requests to Daraja, by endpoint.", Buckets: prometheus.DefBuckets}, []string{"endpoint"}),
		tokenFetches: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "daraja_token_fetches_total",
			Help: "OAuth token requests to Daraja, by result (ok, failed)."}, []string{"result"}),
		telegramRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "telegram_requests_total",
			Help: "Telegram Bot API calls, by method and status class (2xx, 4xx, 5xx, error)."}, []string{"method", "status"}),
		telegramSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "telegram_request_duration_seconds",
			Help: "Latency of Telegram Bot API calls, by method (getUpdates includes the long poll).", Buckets: prometheus.DefBuckets}, []string{"method"}),
	}
	reg.MustRegister(m.paymentsStarted, m.paymentsRefused, m.paymentsSettled, m.paymentsCorrect, m.settleSeconds, m.notifications,
		m.callbacks, m.updates, m.dropped, m.commands, m.darajaRequests, m.darajaSeconds, m.tokenFetches, m.telegramRequests, m.telegramSeconds)
	return m
}

// RegisterPending adds a gauge of pending payments read from the store at
// each scrape.
func RegisterPending(reg prometheus.Registerer, store *storage.Store) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "mpesa_bot", Name: "payments_pending",
		Help: "Payments waiting for the customer's PIN or a result."}, func() float64 {
		n, err := store.CountByState(storage.StatePending)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
}

func statusClass(status int) string {
	if status <= 0 {
		return "error"
	}
	return strconv.Itoa(status/100) + "xx"
}

// outcomeLabel names a settled payment's outcome for metrics.
func outcomeLabel(p storage.Payment) string {
	switch p.State {
	case storage.StateSucceeded:
		return "paid"
	case storage.StateRejected:
		return "not_sent"
	case storage.StateFailed:
		o := mpesa.LookupResult(p.ResultCode).Outcome
		if o == mpesa.OutcomeUnknown {
			return "failed"
		}
		return strings.ReplaceAll(strings.ToLower(o.String()), " ", "_")
	}
	return string(p.State)
}

func (m *Metrics) paymentStarted() {
	if m != nil {
		m.paymentsStarted.Inc()
	}
}

func (m *Metrics) payRefused(reason string) {
	if m != nil {
		m.paymentsRefused.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) paymentSettled(p storage.Payment, source string) {
	if m == nil {
		return
	}
	m.paymentsSettled.WithLabelValues(outcomeLabel(p), source).Inc()
	if !p.PushedAt.IsZero() && (source == "callback" || source == "query") {
		m.settleSeconds.WithLabelValues(source).Observe(p.SettledAt.Sub(p.PushedAt).Seconds())
	}
}

// paymentCorrected counts a failed payment that M-Pesa confirmed paid after
// all: from then on it is paid wherever payments are counted.
func (m *Metrics) paymentCorrected(p storage.Payment) {
	if m == nil {
		return
	}
	m.paymentsCorrect.Inc()
	m.paymentsSettled.WithLabelValues(outcomeLabel(p), "correction").Inc()
}

func (m *Metrics) notification(result string) {
	if m != nil {
		m.notifications.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) callback(result string) {
	if m != nil {
		m.callbacks.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) updateDropped() {
	if m != nil {
		m.dropped.Inc()
	}
}

func (m *Metrics) updateReceived() {
	if m != nil {
		m.updates.Inc()
	}
}

func (m *Metrics) commandReceived(name string) {
	if m == nil {
		return
	}
	switch name {
	case "start", "help", "pay", "status", "envinfo":
	default:
		name = "other" // users choose command names: keep the label set bounded
	}
	m.commands.WithLabelValues(name).Inc()
}

func (m *Metrics) observeTelegram(method string, status int, took time.Duration) {
	if m == nil {
		return
	}
	m.telegramRequests.WithLabelValues(method, statusClass(status)).Inc()
	m.telegramSeconds.WithLabelValues(method).Observe(took.Seconds())
}

// InstrumentDaraja wraps the transport of the Daraja HTTP client so every
// request is counted and timed by endpoint. The mpesa package stays free of
// Prometheus.
func (m *Metrics) InstrumentDaraja(next http.RoundTripper) http.RoundTripper {
	if m == nil {
		return next
	}
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		endpoint := darajaEndpoint(req.URL.Path)
		start := time.Now()
		resp, err := next.RoundTrip(req)
		status := 0
		if err == nil {
			status = resp.StatusCode
		}
		m.darajaRequests.WithLabelValues(endpoint, statusClass(status)).Inc()
		m.darajaSeconds.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
		if endpoint == "token" {
			result := "ok"
			if status != http.StatusOK {
				result = "failed"
			}
			m.tokenFetches.WithLabelValues(result).Inc()
		}
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func darajaEndpoint(path string) string {
	switch {
	case strings.HasSuffix(path, mpesa.PathToken):
		return "token"
	case strings.HasSuffix(path, mpesa.PathSTKPush):
		return "stkpush"
	case strings.HasSuffix(path, mpesa.PathSTKQuery):
		return "stkquery"
	}
	return "other"
}
