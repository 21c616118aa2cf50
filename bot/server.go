package bot

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HTTPOptions says what the bot's HTTP server offers besides callbacks.
type HTTPOptions struct {
	Gatherer    prometheus.Gatherer // serves /metrics when set
	BackupToken string              // enables GET /backup with "Authorization: Bearer <token>" when set
	// CallbacksOnly leaves the operations routes (/healthz, /readyz,
	// /metrics, /backup) out of Handler: they are served by OpsHandler on a
	// listener of their own, away from the public callback address.
	CallbacksOnly bool
}

// Server timeouts: a slow or stuck client cannot hold a
// connection, and a callback is answered long before Daraja gives up.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	backupTimeout     = 10 * time.Minute
	shutdownGrace     = 10 * time.Second
)

// newServer is the bot's HTTP server with the timeouts above.
func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// CallbackPath is the route prefix of callbacks: the path of CALLBACK_URL as
// it travels (percent-escaped), without a trailing slash ("" when the URL
// has no path). The escaped form is what ServeMux patterns match segment by
// segment: an escaped "/" stays inside its segment, and braces become %7B and
// %7D, never pattern wildcards.
func CallbackPath(callbackURL string) (string, error) {
	u, err := url.Parse(callbackURL)
	if err != nil {
		return "", fmt.Errorf("reading the callback URL: %w", err)
	}
	return strings.TrimRight(u.EscapedPath(), "/"), nil
}

// Handler is the bot's HTTP API: POST <callback path>/{secret} and, unless
// opts.CallbacksOnly, the operations routes of OpsHandler. Every request is
// logged once, with the callback secret masked.
func (b *Bot) Handler(opts HTTPOptions) (http.Handler, error) {
	prefix, err := CallbackPath(b.cfg.CallbackURL)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+prefix+"/{secret}", b.allowCallbacks(b.handleCallback))
	if !opts.CallbacksOnly {
		b.opsRoutes(mux, opts)
	}
	return b.accessLog(mux), nil
}

// OpsHandler serves the operations routes alone: /healthz, /readyz, and
// optionally /metrics and /backup.
func (b *Bot) OpsHandler(opts HTTPOptions) http.Handler {
	mux := http.NewServeMux()
	b.opsRoutes(mux, opts)
	return b.accessLog(mux)
}

func (b *Bot) opsRoutes(mux *http.ServeMux, opts HTTPOptions) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		rd := b.CheckReady(r.Context())
		status := http.StatusOK
		if !rd.Ready {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, rd)
	})
	if opts.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
	}
	if opts.BackupToken != "" {
		mux.HandleFunc("GET /backup", b.backupHandler(opts.BackupToken))
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// backupHandler hands a consistent copy of the database (a bbolt read
// transaction) to an operator holding BACKUP_TOKEN, compared in constant
// time. The copy is first written to a file beside the database and then
// served from it: a read transaction open while a slow client reads would
// block every write that grows the file (payments, callbacks) until the
// client finished. The file is served with its length, so a cut transfer
// is seen as one.
func (b *Bot) backupHandler(token string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		given, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(given), []byte(token)) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		dir, err := os.MkdirTemp(filepath.Dir(b.store.Path()), ".backup-")
		if err != nil {
			b.log.Error("backup failed", slog.Any("error", err))
			http.Error(w, "backup failed", http.StatusInternalServerError)
			return
		}
		defer os.RemoveAll(dir)
		copyPath := filepath.Join(dir, "mpesa-bot.db")
		n, err := b.store.BackupFile(copyPath)
		if err != nil {
			b.log.Error("backup failed", slog.Int64("bytes", n), slog.Any("error", err))
			http.Error(w, "backup failed", http.StatusInternalServerError)
			return
		}
		f, err := os.Open(copyPath)
		if err != nil {
			b.log.Error("backup failed", slog.Any("error", err))
			http.Error(w, "backup failed", http.StatusInternalServerError)
			return
		}
		defer f.Close()
		// A large database takes longer than the server's write timeout.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(backupTimeout))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="mpesa-bot.db"`)
		http.ServeContent(w, r, "mpesa-bot.db", time.Now(), f)
		b.log.Info("backup sent", slog.Int64("bytes", n))
	}
}

// accessLog writes one line per request: method, route, status, duration.
// The route is the matched pattern, so a callback's secret never reaches the
// log; unmatched paths are logged as "-" for the same reason.
func (b *Bot) accessLog(next *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		route := r.Pattern // set by the mux on r
		if route == "" {
			route = "-"
		}
		b.log.Info("http request", slog.String("method", r.Method), slog.String("route", route),
			slog.Int("status", rec.status), slog.Duration("duration", time.Since(start)))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Serve runs h on ln until ctx ends, then shuts down gracefully (in-flight
// requests get up to shutdownGrace).
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := newServer(h, log)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("http server shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	return nil
}
