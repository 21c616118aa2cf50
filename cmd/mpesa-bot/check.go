package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mpesa-bot/mpesa-bot/config"
	"github.com/mpesa-bot/mpesa-bot/mpesa"
)

// runCheck is `mpesa-bot check`, the original module's "run it directly":
// the environment info, a timestamp and a masked password, then a token.
// Exit 0 only when a token was obtained.
func runCheck(ctx context.Context, e env) int {
	cfg, log, code := loadConfig(e, "check", config.Needs{Daraja: true})
	if code != 0 {
		return code
	}
	a := &app{cfg: cfg, log: log}
	defer a.close()
	client, err := a.darajaClient(nil, &handlerTransport{})
	if err != nil {
		return fail(e, "check", err)
	}

	info := client.EnvironmentInfo()
	out := e.stdout
	fmt.Fprintln(out, "M-Pesa environment")
	fmt.Fprintf(out, "  environment:       %s\n", info.Environment)
	fmt.Fprintf(out, "  business shortcode: %s\n", info.BusinessShortCode)
	fmt.Fprintf(out, "  transaction type:  %s\n", info.TransactionType)
	fmt.Fprintf(out, "  party B:           %s\n", info.PartyB)
	fmt.Fprintf(out, "  auth URL:          %s\n", info.AuthURL)
	fmt.Fprintf(out, "  STK push URL:      %s\n", info.STKPushURL)
	fmt.Fprintf(out, "  STK query URL:     %s\n", info.QueryURL)
	callback := "off"
	switch {
	case cfg.CallbackURL != "":
		callback = cfg.CallbackURL + "/<secret per payment>"
	case cfg.Environment == config.Simulator:
		// As `run` wires it: the simulator hands callbacks to the bot in-process.
		callback = "in-process (simulator)"
	}
	fmt.Fprintf(out, "  callback URL:      %s\n", callback)

	password, timestamp := client.Password("")
	fmt.Fprintf(out, "Timestamp (EAT):     %s\n", timestamp)
	fmt.Fprintf(out, "Password:            %s\n", maskPassword(password))

	tctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	token, err := client.Token(tctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "mpesa-bot check: %s: %v\n", tokenFailure(err), err)
		return 1
	}
	fmt.Fprintf(out, "Access token:        %s (obtained)\n", maskToken(token))
	return 0
}

// tokenFailure names what went wrong in words an operator acts on: Daraja
// answering the token request with a 4xx means it refused the consumer key
// and secret; anything else (no answer, a 5xx) is not about credentials.
func tokenFailure(err error) string {
	var de *mpesa.Error
	if errors.As(err, &de) && de.StatusCode >= 400 && de.StatusCode < 500 {
		return "authentication failed"
	}
	return "access token"
}

// maskPassword shows only the first four characters of the base64 password:
// they encode the first three digits of the (public) shortcode, never the
// passkey.
func maskPassword(p string) string {
	if len(p) <= 4 {
		return "****"
	}
	return fmt.Sprintf("%s… (%d characters, masked)", p[:4], len(p))
}

func maskToken(t string) string {
	if len(t) <= 8 {
		return "****"
	}
	return fmt.Sprintf("%s… (%d characters, masked)", t[:4], len(t))
}
