package bot

import (
	"context"
	"sync"
	"time"
)

// health remembers when the bot last talked to Telegram successfully, for
// /readyz.
type health struct {
	mu          sync.Mutex
	telegramAt  time.Time
	telegramErr string
}

func newHealth() *health { return &health{} }

func (h *health) telegramOK(at time.Time) {
	h.mu.Lock()
	h.telegramAt = at
	h.telegramErr = ""
	h.mu.Unlock()
}

func (h *health) telegramFailed(err error) {
	h.mu.Lock()
	h.telegramErr = err.Error()
	h.mu.Unlock()
}

func (h *health) telegram() (time.Time, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.telegramAt, h.telegramErr
}

// Readiness is the answer of /readyz: Ready, or the first reason it is not.
type Readiness struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"`
}

// CheckReady checks what the bot needs to take payments: the store answers, the
// Telegram poll loop succeeded recently, and a Daraja token is at hand or can
// be had. "Recently" is two long polls plus the request timeout: a healthy
// loop completes a getUpdates at least once per long poll.
func (b *Bot) CheckReady(ctx context.Context) Readiness {
	if _, err := b.store.CountByState("pending"); err != nil {
		return Readiness{Reason: "store: " + err.Error()}
	}
	at, lastErr := b.health.telegram()
	window := 2*b.cfg.LongPoll + b.cfg.RequestTimeout
	switch {
	case at.IsZero():
		return Readiness{Reason: "telegram: not connected yet"}
	case time.Since(at) > window || lastErr != "":
		reason := "telegram: no successful poll since " + at.UTC().Format(time.RFC3339)
		if lastErr != "" {
			reason = "telegram: " + lastErr
		}
		return Readiness{Reason: reason}
	}
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := b.daraja.Token(tctx); err != nil {
		return Readiness{Reason: "daraja: " + err.Error()}
	}
	return Readiness{Ready: true}
}
