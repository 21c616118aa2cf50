package bot

import (
	"strings"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/bot/telegramtest"
	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// The key word of each kind of result, which people and scripts rely on.
func keyWord(o mpesa.Outcome) string {
	switch o {
	case mpesa.OutcomePaid:
		return "successful"
	case mpesa.OutcomeCancelled:
		return "cancelled"
	case mpesa.OutcomeTimedOut:
		return "timed out"
	case mpesa.OutcomeInsufficient:
		return "insufficient"
	case mpesa.OutcomeWrongPIN:
		return "PIN"
	case mpesa.OutcomeBusy:
		return "another"
	}
	return "failed"
}

// Every row of the result-code table gives a message with its key word, the
// amount, and valid Telegram HTML; failures name their code.
func TestOutcomeTextForEveryResultCode(t *testing.T) {
	rows := append(mpesa.ResultCodes(), mpesa.LookupResult("E3008"), mpesa.LookupResult("SFC_IC0003"))
	for _, rc := range rows {
		if rc.Outcome == mpesa.OutcomePending {
			continue // not a result: the watcher goes on
		}
		code := rc.Code
		if code == "" {
			code = "E3008"
		}
		t.Run(code, func(t *testing.T) {
			p := storage.Payment{Phone: "254712345678", Amount: 1500, Reference: "INV<1>", ResultCode: code, State: storage.StateFailed}
			if rc.Outcome == mpesa.OutcomePaid {
				p.State, p.Receipt = storage.StateSucceeded, "NLJ7RT61SV"
			}
			text := outcomeText(p, true)
			plain := mustParse(t, text)
			if !strings.Contains(strings.ToLower(plain), strings.ToLower(keyWord(rc.Outcome))) {
				t.Errorf("%q lacks %q", plain, keyWord(rc.Outcome))
			}
			if !strings.Contains(plain, "KES 1,500") || !strings.Contains(plain, "INV<1>") {
				t.Errorf("%q lacks the amount or the reference", plain)
			}
			if strings.Contains(plain, "254712345678") {
				t.Errorf("%q shows the full phone number", plain)
			}
			if keyWord(rc.Outcome) == "failed" && !strings.Contains(plain, code) {
				t.Errorf("%q does not name code %s", plain, code)
			}
		})
	}
}

func TestOutcomeTextOtherStates(t *testing.T) {
	cases := []struct {
		name      string
		p         storage.Payment
		callbacks bool
		want      []string
	}{
		{"Rejected", storage.Payment{State: storage.StateRejected, ResultDesc: "M-Pesa did not accept the phone number & more"}, true, []string{"not sent", "phone number & more"}},
		{"UnknownAfterTimeout", storage.Payment{State: storage.StateUnknown, CheckoutRequestID: "ws_CO_1"}, true, []string{"not confirmed", "/status ws_CO_1"}},
		{"UnknownPushCallbacksOn", storage.Payment{ID: "06h2p", State: storage.StateUnknown}, true, []string{"not confirmed", "don't send it again", "I'll post it here", "/status 06h2p"}},
		{"UnknownPushCallbacksOff", storage.Payment{ID: "06h2p", State: storage.StateUnknown}, false, []string{"not confirmed", "cannot ask it", "/status 06h2p"}},
		{"PaidWithoutReceipt", storage.Payment{State: storage.StateSucceeded, ResultCode: "0"}, true, []string{"successful"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.p.Phone, c.p.Amount, c.p.Reference = "254712345678", 10, "R"
			plain := mustParse(t, outcomeText(c.p, c.callbacks))
			for _, w := range c.want {
				if !strings.Contains(plain, w) {
					t.Errorf("%q lacks %q", plain, w)
				}
			}
		})
	}
}

// A long audit trail is cut to fit Telegram's 4096 characters, still valid
// HTML.
func TestSummaryFitsOneMessage(t *testing.T) {
	p := storage.Payment{State: storage.StatePending, Phone: "254712345678", Amount: 5, Reference: "R", CreatedAt: time.Now()}
	for i := range 300 {
		p.History = append(p.History, storage.Event{At: time.Now(), Source: "query", Type: "query_answered", Detail: "pending <&> " + strings.Repeat("x", i%20)})
	}
	text := paymentSummary(p, withHistory)
	plain := mustParse(t, text)
	if n := len([]rune(plain)); n > maxMessage {
		t.Errorf("summary is %d characters", n)
	}
}

func TestKES(t *testing.T) {
	for in, want := range map[int64]string{1: "KES 1", 100: "KES 100", 1000: "KES 1,000", 250000: "KES 250,000", 1234567: "KES 1,234,567"} {
		if got := kes(in); got != want {
			t.Errorf("kes(%d) = %q, want %q", in, got, want)
		}
	}
}

// Every fixed text is valid Telegram HTML.
func TestFixedTextsAreValidHTML(t *testing.T) {
	for _, s := range []string{helpText + adminHelpText, payUsage(250000), badPhoneText(`<&">`), badAmountText(`<&">`, 5),
		badReferenceText(`<&">`), phoneBusyText("254712345678"), tooManyOpenText(3), rateLimitedText(20, time.Minute),
		statusNotFoundText, adminOnlyText, privateOnlyText, nonTextHint, unknownCommandText, editedHint, internalErrorText,
		recentText(nil), envInfoText(mpesa.EnvironmentInfo{Environment: "<x>"}, true, 3, "v1"),
		feedText(storage.Payment{State: storage.StateSucceeded, Receipt: "<r>"}), feedText(storage.Payment{State: storage.StateFailed, ResultCode: "1032"})} {
		mustParse(t, s)
	}
}

func mustParse(t *testing.T, html string) string {
	t.Helper()
	plain, _, err := telegramtest.ParseHTML(html)
	if err != nil {
		t.Fatalf("invalid Telegram HTML %q: %v", html, err)
	}
	return plain
}
