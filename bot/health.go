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

	// The Daraja part of /readyz is checked at most once per
	// darajaCheckEvery, one check at a time: a probe every second, or a
	// flood of them, must not turn into token requests (with wrong
	// credentials each one is a real request to Daraja).
	darajaMu  sync.Mutex
	darajaAt  time.Time
	darajaErr error
}

// darajaCheckEvery is how often /readyz may ask Daraja for a token.
const darajaCheckEvery = time.Minute

// daraja returns the last Daraja check, running check first when the last
// one is older than darajaCheckEvery.
func (h *health) daraja(now time.Time, check func() error) error {
	h.darajaMu.Lock()
	defer h.darajaMu.Unlock()
	if h.darajaAt.IsZero() || now.Sub(h.darajaAt) >= darajaCheckEvery {
		h.darajaErr = check()
		h.darajaAt = now
	}
	return h.darajaErr
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
	err := b.health.daraja(time.Now(), func() error {
		// Not the probe's context: a check cut short by one impatient
		// probe would be remembered for a minute.
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, err := b.daraja.Token(tctx)
		return err
	})
	if err != nil {
		return Readiness{Reason: "daraja: " + err.Error()}
	}
	return Readiness{Ready: true}
}
