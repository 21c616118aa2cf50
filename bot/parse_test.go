package bot

import (
	"strings"
	"testing"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/mpesa-bot/mpesa-bot/storage"
)

func TestParsePay(t *testing.T) {
	ok := []struct {
		name, args string
		want       payArgs
	}{
		{"PhoneAmountRef", "0712345678 100 INV001", payArgs{"254712345678", 100, "INV001"}},
		{"PhoneAmount", "0712345678 100", payArgs{"254712345678", 100, ""}},
		{"GroupedPhoneWithRef", "+254 712 345 678 100 X", payArgs{"254712345678", 100, "X"}},
		{"GroupedPhoneNoRef", "0712 345 678 100", payArgs{"254712345678", 100, ""}},
		{"NumericRef", "0712345678 100 500", payArgs{"254712345678", 100, "500"}},
		{"ThousandsSeparator", "712345678 1,000 A-1", payArgs{"254712345678", 1000, "A-1"}},
		{"DashedPhone", "0712-345-678 5", payArgs{"254712345678", 5, ""}},
		{"NewPrefix", "0112345678 5", payArgs{"254112345678", 5, ""}},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			got, refusal := parsePay(strings.Fields(c.args), 250000)
			if refusal != "" {
				t.Fatalf("refused: %s", refusal)
			}
			if got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}

	refused := []struct {
		name, args, word string
	}{
		{"Nothing", "", "Usage"},
		{"OnlyPhone", "0712345678", "Usage"},
		{"BadPhone", "0812345678 100", "phone number"},
		{"ShortPhone", "071234 100", "phone number"},
		{"DecimalAmount", "0712345678 10.50", "amount"},
		{"ZeroAmount", "0712345678 0", "amount"},
		{"NegativeAmount", "0712345678 -5", "amount"},
		{"WordAmount", "0712345678 abc", "amount"},
		{"OverMax", "0712345678 250001", "amount"},
		{"LongRef", "0712345678 100 ABCDEFGHIJKLM", "reference"},
		{"RefWithSymbols", "0712345678 100 <b>", "reference"},
	}
	for _, c := range refused {
		t.Run("Refuses"+c.name, func(t *testing.T) {
			_, refusal := parsePay(strings.Fields(c.args), 250000)
			if !strings.Contains(refusal, c.word) {
				t.Errorf("refusal %q does not mention %q", refusal, c.word)
			}
		})
	}
}

func TestParseCommand(t *testing.T) {
	msg := func(text string, entityLen int) *tgbotapi.Message {
		m := &tgbotapi.Message{Text: text}
		if entityLen > 0 {
			m.Entities = []tgbotapi.MessageEntity{{Type: "bot_command", Offset: 0, Length: entityLen}}
		}
		return m
	}
	cases := []struct {
		name     string
		m        *tgbotapi.Message
		wantOK   bool
		wantName string
		wantAt   string
		wantArgs int
	}{
		{"Plain", msg("/pay 0712345678 100", 4), true, "pay", "", 2},
		{"AddressedToBot", msg("/Pay@MpesaPayBot 0712345678 100", 16), true, "pay", "MpesaPayBot", 2},
		{"NoEntityIsNotACommand", msg("/pay 0712345678 100", 0), false, "", "", 0},
		{"EntityNotAtStart", &tgbotapi.Message{Text: "hi /pay", Entities: []tgbotapi.MessageEntity{{Type: "bot_command", Offset: 3, Length: 4}}}, false, "", "", 0},
		// An entity longer than the text (UTF-16 lengths) must not panic.
		{"EntityLongerThanText", msg("/pay", 40), true, "pay", "", 0},
		{"Unicode", msg("/status 🙂", 7), true, "status", "", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd, ok := parseCommand(c.m)
			if ok != c.wantOK || cmd.name != c.wantName || cmd.at != c.wantAt || len(cmd.args) != c.wantArgs {
				t.Errorf("got %+v %v, want name %q at %q args %d ok %v", cmd, ok, c.wantName, c.wantAt, c.wantArgs, c.wantOK)
			}
		})
	}
}

// A push that was not sent is told in a customer's words from the reason
// code the lifecycle stored, never with Daraja's field name; a payment an
// earlier version stored with words keeps them.
func TestNotSentReasonIsPlainWords(t *testing.T) {
	for _, c := range []struct {
		name, code, desc, want, never string
	}{
		{"InvalidField", "400.002.02", "invalid_field:PhoneNumber", "did not accept the phone number", "PhoneNumber"},
		{"Refused", "500.003.03", "refused", "refused the request (code 500.003.03)", ""},
		{"Shutdown", "shutdown", "shutdown", "shutting down", ""},
		{"EarlierVersionsWords", "400.002.02", "M-Pesa did not accept the amount", "M-Pesa did not accept the amount", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := notSentReason(storage.Payment{State: storage.StateRejected, ResultCode: c.code, ResultDesc: c.desc})
			if !strings.Contains(got, c.want) || (c.never != "" && strings.Contains(got, c.never)) {
				t.Errorf("notSentReason = %q, want %q without %q", got, c.want, c.never)
			}
		})
	}
}
