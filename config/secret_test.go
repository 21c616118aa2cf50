package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

var allSecrets = []string{tokenVal, keyVal, secretVal, passVal, backupVal}

func assertNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range allSecrets {
		if strings.Contains(text, s) {
			t.Errorf("%s shows a secret: %q", what, text)
		}
	}
}

func TestSecret_NeverPrinted(t *testing.T) {
	s := Secret(passVal)
	outputs := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%10s", "%-20v", "%T"} {
		outputs[verb] = fmt.Sprintf(verb, s)
	}
	outputs["Sprint"] = fmt.Sprint(s)
	outputs["Sprintln"] = fmt.Sprintln(s)
	outputs["pointer"] = fmt.Sprintf("%v", &s)
	outputs["slice"] = fmt.Sprintf("%v", []Secret{s})
	outputs["String"] = s.String()
	outputs["GoString"] = s.GoString()
	js, _ := json.Marshal(s)
	outputs["json"] = string(js)
	txt, _ := s.MarshalText()
	outputs["text"] = string(txt)
	outputs["errorf"] = fmt.Errorf("login with %v failed: %w", s, errors.New("x")).Error()
	for how, out := range outputs {
		assertNoSecret(t, how, out)
	}
	if outputs["%v"] != "[redacted]" || outputs["json"] != `"[redacted]"` {
		t.Errorf("%%v = %q, json = %q, want [redacted]", outputs["%v"], outputs["json"])
	}
	if got := fmt.Sprint(Secret("")); got != "[not set]" {
		t.Errorf("empty secret prints %q, want [not set]", got)
	}
	if s.Reveal() != passVal {
		t.Errorf("Reveal() = %q", s.Reveal())
	}
}

func loadedWithEverySecret(t *testing.T) *Config {
	t.Helper()
	return mustLoad(t, production().with("BACKUP_TOKEN", backupVal, "HTTP_ADDR", ":8080"), needAll)
}

func TestConfig_SecretsNeverPrinted(t *testing.T) {
	c := loadedWithEverySecret(t)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		assertNoSecret(t, "fmt "+verb+" of *Config", fmt.Sprintf(verb, c))
		assertNoSecret(t, "fmt "+verb+" of Config", fmt.Sprintf(verb, *c))
	}
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, "json.Marshal", string(js))
	if !strings.Contains(string(js), `"MpesaPasskey":"[redacted]"`) {
		t.Errorf("json does not show the passkey as redacted: %s", js)
	}
}

func TestConfig_LogValue(t *testing.T) {
	c := loadedWithEverySecret(t)
	for _, h := range []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"Text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
		{"JSON", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
	} {
		t.Run(h.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(h.new(&buf))
			log.Info("config loaded", slog.Any("config", c))
			log.Info("config value", slog.Any("config", *c)) // not a LogValuer: reflection path
			log.Info("secret", slog.Any("passkey", c.MpesaPasskey))
			out := buf.String()
			assertNoSecret(t, "slog output", out)
			for _, want := range []string{"MPESA_SHORTCODE", "600123", "ENVIRONMENT", "production", "[redacted]", "pay.example.com"} {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestConfig_LogValueHidesURLPasswords(t *testing.T) {
	// MPESA_BASE_URL and CALLBACK_URL refuse credentials; a self-hosted Bot
	// API behind basic auth may need them in the endpoint.
	c := mustLoad(t, env{
		"TELEGRAM_API_ENDPOINT": "https://bot:hunter2-bot-pass@tg.example.com/bot%s/%s",
	}, needNone)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", slog.Any("config", c))
	if strings.Contains(buf.String(), "hunter2") {
		t.Errorf("log shows a URL password:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "tg.example.com/bot%s/%s") {
		t.Errorf("endpoint not logged:\n%s", buf.String())
	}
}

// TestLoad_ErrorsNeverShowSecrets sets every secret wrongly in every way a
// problem mentions it.
func TestLoad_ErrorsNeverShowSecrets(t *testing.T) {
	tests := []struct {
		name string
		env  env
	}{
		{"TokenWithSpace", env{"TELEGRAM_BOT_TOKEN": tokenVal + " x"}},
		{"TokenWithNewline", env{"TELEGRAM_BOT_TOKEN": tokenVal + "\n"}},
		{"PasskeyPadded", env{"MPESA_PASSKEY": " " + passVal}},
		{"BothSet", env{"MPESA_CONSUMER_KEY": keyVal, "MPESA_CONSUMER_KEY_FILE": "/nonexistent/" + "key"}},
		{"BackupShortContainsNoSecret", env{"BACKUP_TOKEN": "backup-token"}},
		{"BackupSpace", env{"BACKUP_TOKEN": backupVal + " "}},
		{"EndpointHoldsToken", env{"TELEGRAM_API_ENDPOINT": "https://api.telegram.org/bot" + tokenVal + "/%s"}},
		{"URLWithPassword", env{"MPESA_BASE_URL": "ftp://u:" + secretVal + "@example.com"}},
		{"UnparsableURLWithPassword", env{"CALLBACK_URL": "https://u:" + secretVal + "@exa mple.com/cb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.env.get, "", needNone)
			if err == nil {
				t.Fatal("Load accepted it")
			}
			assertNoSecret(t, "error", err.Error())
			assertNoSecret(t, "error %+v", fmt.Sprintf("%+v", err))
			if strings.Contains(err.Error(), "backup-token") {
				t.Errorf("error shows the backup token: %q", err)
			}
		})
	}
}
