package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mpesa-bot/mpesa-bot/bot"
	"github.com/mpesa-bot/mpesa-bot/config"
	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// simulatorCallbackURL is where payments send their callbacks when
// ENVIRONMENT=simulator and no CALLBACK_URL is set. Nothing listens there:
// the simulator's callback client hands every request to the bot in-process.
const simulatorCallbackURL = "http://bot.internal/callback"

// telegramSettings says which Telegram the bot talks to: the real one (from
// the configuration) or the demo's fake.
type telegramSettings struct {
	token    string
	endpoint string
}

// app is the assembled program: store, Daraja client (and the simulator when
// ENVIRONMENT=simulator), bot and HTTP handler.
type app struct {
	cfg      *config.Config
	log      *slog.Logger
	store    *storage.Store
	daraja   *mpesa.Client
	bot      *bot.Bot
	handler  http.Handler
	listener net.Listener // HTTP_ADDR, nil when off
	// With OPS_ADDR set, the operations routes are served there and the
	// public HTTP_ADDR serves callbacks only.
	opsHandler  http.Handler
	opsListener net.Listener // OPS_ADDR, nil when off
	closers     []func()
}

// assemble builds everything in dependency order; on error, what was built
// is closed again. The app is a local, not the named result: `return nil,
// err` would nil the result before the deferred close could reach it.
func assemble(cfg *config.Config, log *slog.Logger, tg telegramSettings, admins []int64) (_ *app, err error) {
	a := &app{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.close()
		}
	}()

	a.store, err = storage.Open(cfg.DBPath, storage.Options{Timeout: time.Second})
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() {
		if err := a.store.Close(); err != nil {
			log.Error("closing the database failed", slog.Any("error", err))
		}
	})

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := bot.NewMetrics(registry)
	bot.RegisterPending(registry, a.store)

	// The simulator's callbacks reach the bot through this, without a socket.
	toBot := &handlerTransport{}
	a.daraja, err = a.darajaClient(metrics, toBot)
	if err != nil {
		return nil, err
	}

	callbackURL, callbacksOn := cfg.CallbackURL, cfg.CallbacksOn()
	if cfg.Environment == config.Simulator {
		if callbackURL == "" {
			callbackURL = simulatorCallbackURL
		}
		callbacksOn = true
	}
	a.bot, err = bot.New(bot.Config{
		Token:              tg.token,
		Endpoint:           tg.endpoint,
		Admins:             admins,
		Merchants:          cfg.MerchantIDs,
		MerchantChatID:     cfg.MerchantChatID,
		CallbackURL:        callbackURL,
		CallbacksEnabled:   callbacksOn,
		CallbackAllowedIPs: cfg.CallbackAllowedIPs,
		TrustedProxies:     cfg.TrustedProxies,
		TransactionDesc:    cfg.TransactionDesc,
		MaxAmount:          cfg.MaxAmount,
		MaxPendingPerUser:  cfg.MaxPendingPerUser,
		PayPerUserPerHour:  cfg.PayPerUserPerHour,
		PollInitialDelay:   cfg.PollInitialDelay,
		PollInterval:       cfg.PollInterval,
		PollTimeout:        cfg.PollTimeout,
		SendRateGlobal:     cfg.SendRateGlobal,
		SendRatePerChat:    cfg.SendRatePerChat,
		MpesaRate:          cfg.MpesaRate,
		Version:            version,
		Logger:             log,
		Metrics:            metrics,
	}, a.store, a.daraja)
	if err != nil {
		return nil, err
	}
	httpOpts := bot.HTTPOptions{Gatherer: registry, BackupToken: cfg.BackupToken.Reveal(), CallbacksOnly: cfg.OpsAddr != ""}
	a.handler, err = a.bot.Handler(httpOpts)
	if err != nil {
		return nil, err
	}
	if cfg.OpsAddr != "" {
		a.opsHandler = a.bot.OpsHandler(httpOpts)
	}
	toBot.set(a.handler)

	if cfg.HTTPAddr != "" {
		a.listener, err = net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return nil, fmt.Errorf("listening on HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
		}
		a.closers = append(a.closers, func() { _ = a.listener.Close() })
	}
	if cfg.OpsAddr != "" {
		a.opsListener, err = net.Listen("tcp", cfg.OpsAddr)
		if err != nil {
			return nil, fmt.Errorf("listening on OPS_ADDR %s: %w", cfg.OpsAddr, err)
		}
		a.closers = append(a.closers, func() { _ = a.opsListener.Close() })
	}
	return a, nil
}

// darajaClient builds the Daraja client; with ENVIRONMENT=simulator it first
// starts the simulator on a loopback port.
func (a *app) darajaClient(metrics *bot.Metrics, toBot http.RoundTripper) (*mpesa.Client, error) {
	cfg := a.cfg
	mc := mpesa.Config{
		Environment:     string(cfg.Environment),
		BaseURL:         cfg.DarajaBaseURL(),
		ConsumerKey:     cfg.MpesaConsumerKey.Reveal(),
		ConsumerSecret:  cfg.MpesaConsumerSecret.Reveal(),
		ShortCode:       cfg.MpesaShortcode,
		Passkey:         cfg.MpesaPasskey.Reveal(),
		TransactionType: cfg.MpesaTransactionType,
		PartyB:          cfg.MpesaPartyB,
		MaxAmount:       cfg.MaxAmount,
		Logger:          a.log,
		HTTPClient:      &http.Client{Transport: metrics.InstrumentDaraja(darajaTransport())},
	}
	if cfg.Environment == config.Simulator {
		if mc.ShortCode == "" {
			mc.ShortCode = mpesa.SandboxShortCode
		}
		if mc.Passkey == "" {
			mc.Passkey = mpesa.SandboxPasskey
		}
		if mc.ConsumerKey == "" {
			mc.ConsumerKey, mc.ConsumerSecret = "simulator", "simulator"
		}
		if mc.BaseURL == "" {
			url, err := a.startSimulator(mc.ShortCode, mc.Passkey, toBot)
			if err != nil {
				return nil, err
			}
			mc.BaseURL = url
		}
	}
	return mpesa.New(mc)
}

// startSimulator serves the Daraja simulator on 127.0.0.1 and returns its URL.
func (a *app) startSimulator(shortCode, passkey string, toBot http.RoundTripper) (string, error) {
	sim := mpesatest.New(
		mpesatest.WithShortCode(shortCode, passkey),
		mpesatest.WithResultDelay(a.cfg.SimulatorDelay),
		mpesatest.WithCallbackClient(&http.Client{Transport: toBot, Timeout: 10 * time.Second}),
		mpesatest.WithLogger(a.log.With(slog.String("component", "simulator"))),
	)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		sim.Close()
		return "", fmt.Errorf("starting the Daraja simulator: %w", err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	a.closers = append(a.closers, func() {
		_ = srv.Close()
		sim.Close()
	})
	a.log.Info("Daraja simulator started", slog.String("url", "http://"+ln.Addr().String()),
		slog.Duration("result_delay", a.cfg.SimulatorDelay))
	return "http://" + ln.Addr().String(), nil
}

// run runs the bot, and the HTTP server when HTTP_ADDR is set, until ctx
// ends. The server stops after the bot, so callbacks for pushes that were in
// flight at shutdown can still land.
func (a *app) run(ctx context.Context) error {
	srvCtx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServer()
	var wg sync.WaitGroup
	var srvErr, opsErr error
	if a.listener != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srvErr = bot.Serve(srvCtx, a.listener, a.handler, a.log)
		}()
		a.log.Info("http server listening", slog.String("addr", a.listener.Addr().String()),
			slog.Bool("callbacks_only", a.opsListener != nil))
	}
	if a.opsListener != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opsErr = bot.Serve(srvCtx, a.opsListener, a.opsHandler, a.log)
		}()
		a.log.Info("operations server listening", slog.String("addr", a.opsListener.Addr().String()))
	}
	err := a.bot.Run(ctx)
	stopServer()
	wg.Wait()
	return errors.Join(err, srvErr, opsErr)
}

// close releases everything in reverse order of creation.
func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// handlerTransport is an http.RoundTripper that serves requests with a
// handler in this process: the simulator "posts" callbacks straight to the
// bot, whether or not HTTP_ADDR is set.
type handlerTransport struct {
	h atomic.Pointer[http.Handler]
}

func (t *handlerTransport) set(h http.Handler) { t.h.Store(&h) }

func (t *handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	h := t.h.Load()
	if h == nil {
		return nil, errors.New("the bot is not ready for callbacks yet")
	}
	in := req.Clone(req.Context())
	if in.Body == nil {
		in.Body = http.NoBody
	}
	in.RequestURI = in.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:0"
	rec := httptest.NewRecorder()
	(*h).ServeHTTP(rec, in)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

// darajaTransport keeps enough idle connections to Daraja for a busy bot:
// http.DefaultTransport keeps 2 per host, and every call beyond them paid for
// a new connection.
func darajaTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return t
}

// hostForDial turns a listen address into one to dial: an empty or
// unspecified host ("" or 0.0.0.0 or ::) means this machine.
func hostForDial(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(strings.Trim(host, "[]")); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
