package main

import (
	"context"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/storage"
)

func TestRunSimulator(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		httpAddr bool
	}{
		{"CallbackSettlesWithoutHTTPAddr", false},
		{"CallbackSettlesWithHTTPAddr", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tg := newFakeTelegram(t)
			env := simulatorEnv(t, tg)
			if tc.httpAddr {
				env["HTTP_ADDR"] = freeAddr(t)
			}
			b := startBot(t, tg, env)

			msgID := sendPay(tg, "/pay 0712345678 100 INV001")
			ack := waitReply(t, tg, msgID, "request sent")
			checkoutID := checkoutIDPattern.FindString(ack.Plain)
			if checkoutID == "" {
				t.Fatalf("the acknowledgement carries no CheckoutRequestID: %q", ack.Plain)
			}
			outcome := waitReply(t, tg, msgID, "successful")
			for _, want := range []string{"KES 100", "INV001", "receipt"} {
				if !strings.Contains(outcome.Plain, want) {
					t.Errorf("the outcome lacks %q: %q", want, outcome.Plain)
				}
			}

			if tc.httpAddr {
				resp, err := http.Get("http://" + env["HTTP_ADDR"] + "/healthz")
				if err != nil {
					t.Fatalf("HTTP_ADDR does not serve: %v", err)
				}
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("/healthz answered %s", resp.Status)
				}
			}

			r := b.shutdown()
			if r.code != 0 {
				t.Fatalf("run did not exit 0 when its context ended:\n%s", r)
			}
			// The store was closed: another process could open it now.
			st := openStore(t, env["DB_PATH"])
			p, err := st.GetByCheckoutID(checkoutID)
			if err != nil {
				t.Fatal(err)
			}
			if p.State != storage.StateSucceeded || p.SettledBy != "callback" || !p.Notified {
				t.Errorf("stored payment: state %s, settled by %q, notified %v; want succeeded by the callback and notified",
					p.State, p.SettledBy, p.Notified)
			}
			if p.Receipt == "" || !strings.Contains(outcome.Plain, p.Receipt) {
				t.Errorf("the outcome %q does not show the receipt %q", outcome.Plain, p.Receipt)
			}
		})
	}
}

func TestRunRefusesDatabaseInUse(t *testing.T) {
	t.Parallel()
	tg := newFakeTelegram(t)
	env := simulatorEnv(t, tg)
	openStore(t, env["DB_PATH"]) // "another process" holds the file

	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	r := runMain(t, ctx, env, "", "run")
	if r.code == 0 {
		t.Fatalf("run started on a database another process holds:\n%s", r)
	}
	if !strings.Contains(r.stderr, "in use") {
		t.Errorf("stderr does not say the database is in use:\n%s", r)
	}
	if calls := tg.Calls(); len(calls) != 0 {
		t.Errorf("the refused bot still talked to Telegram: %d calls", len(calls))
	}
}

// The log is for operators and ends up in log collectors: at its most
// verbose it still never shows a full phone number, a callback secret, the
// bot token or a Daraja secret.
func TestRunLogMasksPhonesAndSecrets(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			tg := newFakeTelegram(t)
			env := simulatorEnv(t, tg).with(vars{
				"LOG_LEVEL":             "debug",
				"LOG_FORMAT":            format,
				"HTTP_ADDR":             freeAddr(t),
				"BACKUP_TOKEN":          backupToken,
				"MPESA_CONSUMER_KEY":    consumerKey,
				"MPESA_CONSUMER_SECRET": consumerSecret,
				"MPESA_PASSKEY":         passkey,
			})
			b := startBot(t, tg, env)
			checkoutID, _ := payAndSettle(t, tg, 100)
			r := b.shutdown() // checks the secrets
			if r.code != 0 {
				t.Fatalf("run failed:\n%s", r)
			}
			if !strings.Contains(r.stderr, checkoutID) {
				t.Fatalf("the log does not mention the payment %q, so it proves nothing:\n%s", checkoutID, r.stderr)
			}
			if strings.Contains(r.stderr, "712345678") {
				t.Errorf("the log shows the full phone number:\n%s", r.stderr)
			}
			if m := regexp.MustCompile(`/callback/[A-Za-z0-9_-]{16,}`).FindString(r.stderr); m != "" {
				t.Errorf("the log shows a callback secret: %q", m)
			}
		})
	}
}

func TestRunRefusesHTTPAddrInUse(t *testing.T) {
	t.Parallel()
	tg := newFakeTelegram(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	env := simulatorEnv(t, tg).with(vars{"HTTP_ADDR": taken.Addr().String()})

	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	r := runMain(t, ctx, env, "", "run")
	if r.code == 0 {
		t.Fatalf("run started without its HTTP server:\n%s", r)
	}
	if !strings.Contains(r.stderr, "HTTP_ADDR") {
		t.Errorf("stderr does not name HTTP_ADDR:\n%s", r)
	}
	// What was built before the failure was released: the database opens.
	st, err := storage.Open(env["DB_PATH"], storage.Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("the failed start left the database locked: %v", err)
	}
	_ = st.Close()
}

func TestRunStopsWhenTelegramRefusesTheToken(t *testing.T) {
	t.Parallel()
	tg := newFakeTelegram(t)
	env := simulatorEnv(t, tg).with(vars{"TELEGRAM_BOT_TOKEN": revokedToken})

	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	r := runMain(t, ctx, env, "", "run")
	if r.code == 0 || ctx.Err() != nil {
		t.Fatalf("want run to give up on its own with a non-zero exit:\n%s", r)
	}
	if !strings.Contains(r.stderr, "mpesa-bot run: telegram refused the bot token") || !strings.Contains(r.stderr, "TELEGRAM_BOT_TOKEN") {
		t.Errorf("stderr does not say Telegram refused TELEGRAM_BOT_TOKEN:\n%s", r)
	}
	openStore(t, env["DB_PATH"]) // and it let go of the database
}
