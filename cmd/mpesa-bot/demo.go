package main

import (
	"bufio"
	"context"
	"fmt"
	"html"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/mpesa-bot/mpesa-bot/bot/telegramtest"
	"github.com/mpesa-bot/mpesa-bot/config"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// The demo's one user: an admin, so /envinfo works too.
const (
	demoUserID   = 1000001
	demoUserName = "You"
)

// demoSettleWait bounds how long the demo waits, after the end of input, for
// pending payments to settle: the simulator answers after SIMULATOR_DELAY.
const demoSettleWait = 30 * time.Second

// demoReplyWait bounds the wait for the bot's answer to one line.
const demoReplyWait = 10 * time.Second

// runDemo is `mpesa-bot demo`: the real bot against an in-process fake
// Telegram and the Daraja simulator. Lines on stdin are the demo user's
// messages; the bot's messages are printed as they arrive. No token, no
// credentials, no network beyond loopback.
func runDemo(ctx context.Context, e env) int {
	cfg, _, code := loadConfig(e, "demo", config.Needs{})
	if code != 0 {
		return code
	}
	cfg.Environment = config.Simulator
	cfg.MpesaBaseURL = ""
	cfg.HTTPAddr, cfg.OpsAddr = "", "" // the demo opens no port
	// Telegram's outbound limits protect a real chat; the fake has none, and
	// at one message a second per chat they made a three-payment demo wait
	// four seconds for nothing. Set in the environment, they still apply.
	if e.getenv("SEND_RATE_PER_CHAT") == "" {
		cfg.SendRatePerChat = 0
	}
	if e.getenv("SEND_RATE_GLOBAL") == "" {
		cfg.SendRateGlobal = 0
	}
	// Only the environment's DB_PATH counts: a .env copied from .env.example
	// names the real bot's database, which a demo must not write to.
	if e.getenv("DB_PATH") == "" {
		dir, err := os.MkdirTemp("", "mpesa-bot-demo-")
		if err != nil {
			return fail(e, "demo", err)
		}
		defer os.RemoveAll(dir)
		cfg.DBPath = dir + "/demo.db"
	}
	// The terminal is the chat: the log would drown it, so it is off unless
	// LOG_LEVEL asks for it.
	log := slog.New(slog.DiscardHandler)
	if e.getenv("LOG_LEVEL") != "" {
		log = newLogger(e.stderr, cfg)
	}

	out := &console{w: e.stdout}
	fake, err := telegramtest.Start(telegramtest.Options{OnSend: func(s telegramtest.Sent) {
		out.printf("bot> %s\n", plainText(s.Text))
	}})
	if err != nil {
		return fail(e, "demo", err)
	}
	defer fake.Close()

	a, err := assemble(cfg, log, telegramSettings{token: fake.Token(), endpoint: fake.Endpoint()}, append(cfg.AdminIDs, demoUserID))
	if err != nil {
		return fail(e, "demo", err)
	}
	defer a.close()

	botCtx, stopBot := context.WithCancel(ctx)
	defer stopBot()
	done := make(chan error, 1)
	go func() { done <- a.run(botCtx) }()
	select {
	case <-a.bot.Started():
	case err := <-done:
		return fail(e, "demo", fmt.Errorf("the bot stopped at start: %w", err))
	}

	out.printf("mpesa-bot demo: you are an admin chatting with @%s. The phone's last digit picks the outcome:\n"+
		"  0, 8, 9 paid · 1 insufficient · 2 cancelled · 3 timed out · 4 wrong PIN · 5 another session · 6 failed · 7 refused\n"+
		"Try: /pay 0712345678 100 INV001 — end with Ctrl-D.\n", fake.Bot().UserName)

	user := telegramtest.User(demoUserID, demoUserName)
	chat := telegramtest.PrivateChat(user)
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(e.stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for reading := true; reading; {
		select {
		case line, ok := <-lines:
			if !ok {
				reading = false
				break
			}
			if line = strings.TrimSpace(line); line == "" {
				continue
			}
			out.printf("you> %s\n", line)
			fake.SendText(chat, user, line)
			// Piped input arrives all at once; waiting for the bot's answer
			// keeps the transcript a conversation.
			a.waitAnswered(ctx, fake, demoReplyWait)
		case <-ctx.Done():
			reading = false
		}
	}

	if ctx.Err() == nil && !a.waitSettled(ctx, fake, demoSettleWait) {
		out.printf("demo: some payments were still pending after %s; stopping anyway\n", demoSettleWait)
	}
	stopBot()
	if err := <-done; err != nil {
		return fail(e, "demo", err)
	}
	return 0
}

// waitAnswered waits until the bot has handled every message sent so far.
func (a *app) waitAnswered(ctx context.Context, fake *telegramtest.Server, limit time.Duration) {
	a.waitFor(ctx, limit, func() bool { return fake.Unconfirmed() == 0 && a.bot.Idle() })
}

// waitSettled waits until every message was handled, no payment is waiting
// for a result and every result was told, or the limit passes.
func (a *app) waitSettled(ctx context.Context, fake *telegramtest.Server, limit time.Duration) bool {
	return a.waitFor(ctx, limit, func() bool { return fake.Unconfirmed() == 0 && a.bot.Idle() && a.openPayments() == 0 })
}

// waitFor checks done every 20ms until it holds (true) or limit passes.
func (a *app) waitFor(ctx context.Context, limit time.Duration, done func() bool) bool {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if done() {
			return true
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return false
		}
	}
}

// openPayments counts payments still waiting for a result or for their
// message to go out.
func (a *app) openPayments() int {
	n := 0
	for _, s := range []storage.State{storage.StateInitiating, storage.StatePending} {
		c, err := a.store.CountByState(s)
		if err != nil {
			return 1
		}
		n += c
	}
	un, err := a.store.ListUnnotified()
	if err != nil {
		return 1
	}
	return n + len(un)
}

// console serialises writes: the bot's messages arrive on other goroutines.
type console struct {
	mu sync.Mutex
	w  interface{ Write([]byte) (int, error) }
}

func (c *console) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.w, format, args...)
}

var tags = regexp.MustCompile(`</?[a-zA-Z][^>]*>`)

// plainText shows an HTML message as a terminal would: tags dropped,
// entities decoded.
func plainText(s string) string {
	return html.UnescapeString(tags.ReplaceAllString(s, ""))
}
