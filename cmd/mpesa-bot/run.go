package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/mpesa-bot/mpesa-bot/bot"
	"github.com/mpesa-bot/mpesa-bot/config"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// envFile is read from the working directory; the environment wins over it.
const envFile = ".env"

// loadConfig reads and validates the configuration for a sub-command. On
// failure it prints every problem, one per line, and returns exit code 2.
func loadConfig(e env, name string, needs config.Needs) (*config.Config, *slog.Logger, int) {
	cfg, err := config.Load(e.getenv, envFile, needs)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(e.stderr, "mpesa-bot %s: configuration: %s\n", name, line)
		}
		return nil, nil, 2
	}
	log := newLogger(e.stderr, cfg)
	for _, w := range cfg.Warnings {
		log.Warn("configuration warning", slog.String("warning", w))
	}
	return cfg, log, 0
}

// newLogger logs to w in LOG_FORMAT at LOG_LEVEL.
func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == config.LogJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// runBot is `mpesa-bot run`: config → store → Daraja client → bot → watcher,
// until SIGINT or SIGTERM.
func runBot(ctx context.Context, e env) int {
	cfg, log, code := loadConfig(e, "run", config.Needs{Telegram: true, Daraja: true})
	if code != 0 {
		return code
	}
	log.Info("starting mpesa-bot", slog.String("version", version), slog.Any("config", cfg))
	a, err := assemble(cfg, log, telegramSettings{token: cfg.TelegramBotToken.Reveal(), endpoint: cfg.TelegramAPIEndpoint}, cfg.AdminIDs)
	if err != nil {
		return fail(e, "run", err)
	}
	defer a.close()
	if err := a.run(ctx); err != nil {
		if errors.Is(err, bot.ErrUnauthorized) {
			fmt.Fprintf(e.stderr, "mpesa-bot run: %v\n", err)
			return 1
		}
		return fail(e, "run", err)
	}
	log.Info("mpesa-bot stopped")
	return 0
}

// fail prints one clear line for err and returns exit code 1.
func fail(e env, name string, err error) int {
	if errors.Is(err, storage.ErrLocked) {
		fmt.Fprintf(e.stderr, "mpesa-bot %s: %v (is another mpesa-bot running on this DB_PATH?)\n", name, err)
		return 1
	}
	fmt.Fprintf(e.stderr, "mpesa-bot %s: %v\n", name, err)
	return 1
}
