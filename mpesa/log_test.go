package mpesa_test

import (
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/mpesa/testkit"
)

// TestLogs_NeverShowSecrets runs the token, push and query paths, good and
// bad, with DEBUG logging, and looks for every secret in the output.
func TestLogs_NeverShowSecrets(t *testing.T) {
	handlers := map[string]func(io.Writer) slog.Handler{
		"JSON": func(w io.Writer) slog.Handler {
			return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})
		},
		"Text": func(w io.Writer) slog.Handler {
			return slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})
		},
	}
	for name, newHandler := range handlers {
		t.Run(name, func(t *testing.T) {
			var logs testkit.SyncBuffer
			logger := slog.New(newHandler(&logs))
			f := newFakeDaraja(t)
			cfg := testConfig(f.URL)
			cfg.Logger = logger
			c := mustNew(t, cfg)
			ctx := testCtx(t)

			// The phone differs from the examples in the hints ("0712345678"),
			// which are not anybody's number.
			push := validPush()
			push.Phone = "0798765432"
			// Token and a good push and query.
			if _, err := c.Push(ctx, push); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Query(ctx, testCheckout); err != nil {
				t.Fatal(err)
			}
			// Daraja echoes the token; then a gateway page; then a cut-off.
			f.onPush(sequence(
				answer(401, `{"requestId":"r","errorCode":"401.002.01","errorMessage":"Error Occurred - Invalid Access Token - tok-1-0A0v8OgxqqoocblflR58m9chMdnU"}`),
				answer(401, `{"requestId":"r","errorCode":"401.002.01","errorMessage":"Error Occurred - Invalid Access Token - tok-2-0A0v8OgxqqoocblflR58m9chMdnU"}`),
				answerHTML(502),
				cutOff(200),
			))
			for range 3 {
				if _, err := c.Push(ctx, push); err == nil {
					t.Fatal("push succeeded")
				}
			}
			// A refused push before sending, with the phone in many forms.
			for _, phone := range []string{"+254 798 765 432", "0798-765-432", "25479876543200"} {
				req := push
				req.Phone, req.Amount = phone, 0
				if _, err := c.Push(ctx, req); err == nil {
					t.Fatal("invalid push accepted")
				}
			}
			// Query: retries, pending, a token echo.
			f.onQuery(sequence(answerHTML(503), answer(500, pending500), answer(200, pending4999),
				answer(404, `{"requestId":"r","errorCode":"404.001.03","errorMessage":"Invalid Access Token - tok-4-0A0v8OgxqqoocblflR58m9chMdnU"}`)))
			for range 3 {
				c.Query(ctx, testCheckout)
			}
			// Bad credentials.
			f.onToken(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(400) })
			c.InvalidateToken()
			if _, err := c.Token(ctx); err == nil {
				t.Fatal("token with bad credentials")
			}

			out := logs.String()
			secrets := map[string]string{
				"consumer key":            testKey,
				"consumer secret":         testSecret,
				"basic auth":              base64.StdEncoding.EncodeToString([]byte(testKey + ":" + testSecret)),
				"passkey":                 mpesa.SandboxPasskey,
				"password":                sandboxPassword,
				"access token":            "0A0v8OgxqqoocblflR58m9chMdnU",
				"phone":                   "798765432",
				"phone with dashes":       "798-765-432",
				"phone in groups":         "798 765 432",
				"callback secret":         "s3cr3t-callback-path",
				"callback secret escaped": "s3cr3t",
			}
			for what, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("the logs show the %s (%q):\n%s", what, s, linesWith(out, s))
				}
			}
			// The test is only worth something if the logs were written.
			for _, want := range []string{
				"mpesa: token obtained", "mpesa: stk push request", "mpesa: stk push sent", "mpesa: stk push accepted",
				"mpesa: stk push response", "mpesa: stk push failed", "mpesa: stk push refused before sending",
				"mpesa: stk query request", "mpesa: stk query response", "mpesa: stk query answered",
				"mpesa: retrying daraja request", "mpesa: token request failed", "mpesa: access token refused",
				"*********432", "174379", "INV-001", "example.com", "Invalid Access Token",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("the logs lack %q", want)
				}
			}
			levels := map[string]string{"JSON": `"level":"%s","msg":"%s"`, "Text": `level=%s msg="%s"`}[name]
			for _, lm := range [][2]string{
				{"INFO", "mpesa: token obtained"}, {"INFO", "mpesa: stk push sent"}, {"DEBUG", "mpesa: stk push request"},
				{"ERROR", "mpesa: stk push failed"}, {"INFO", "mpesa: stk query answered"}, {"DEBUG", "mpesa: stk query response"},
				{"ERROR", "mpesa: token request failed"},
			} {
				if !strings.Contains(out, strings.Replace(strings.Replace(levels, "%s", lm[0], 1), "%s", lm[1], 1)) {
					t.Errorf("%q is not logged at %s", lm[1], lm[0])
				}
			}
		})
	}
}

func linesWith(out, s string) string {
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
