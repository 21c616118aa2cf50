package mpesa_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/mpesa/testkit"
)

func TestBaseURLFor(t *testing.T) {
	tests := []struct {
		env  string
		want string
		ok   bool
	}{
		{mpesa.Sandbox, mpesa.SandboxBaseURL, true},
		{mpesa.Production, mpesa.ProductionBaseURL, true},
		{" Production ", mpesa.ProductionBaseURL, true},
		{mpesa.Simulator, "", false},
		{"prod", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		if got, ok := mpesa.BaseURLFor(tc.env); got != tc.want || ok != tc.ok {
			t.Errorf("BaseURLFor(%q) = %q, %v; want %q, %v", tc.env, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNew(t *testing.T) {
	t.Run("ReportsEveryProblemAtOnce", func(t *testing.T) {
		_, err := mpesa.New(mpesa.Config{
			Environment:     "prod",
			BaseURL:         "ftp://x",
			ShortCode:       "12ab",
			TransactionType: "Paybill",
			MaxAmount:       -1,
			RetryMax:        99,
		})
		if err == nil {
			t.Fatal("New accepted a broken config")
		}
		for _, want := range []string{"Environment", "BaseURL", "ConsumerKey", "ConsumerSecret", "ShortCode", "Passkey", "TransactionType", "MaxAmount", "RetryMax"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error does not mention %s:\n%v", want, err)
			}
		}
		if lines := strings.Count(err.Error(), "\n") + 1; lines < 9 {
			t.Errorf("%d lines, want one per problem:\n%v", lines, err)
		}
	})

	t.Run("RefusesMismatchedEnvironments", func(t *testing.T) {
		for _, cfg := range []mpesa.Config{
			{Environment: mpesa.Production, BaseURL: mpesa.SandboxBaseURL, ConsumerKey: "k", ConsumerSecret: "s", ShortCode: "600000", Passkey: "p"},
			{Environment: mpesa.Sandbox, BaseURL: mpesa.ProductionBaseURL, ConsumerKey: "k", ConsumerSecret: "s", ShortCode: "600000", Passkey: "p"},
			{Environment: mpesa.Production, BaseURL: mpesa.ProductionBaseURL, ConsumerKey: "k", ConsumerSecret: "s", ShortCode: mpesa.SandboxShortCode, Passkey: "p"},
			{Environment: mpesa.Production, BaseURL: mpesa.ProductionBaseURL, ConsumerKey: "k", ConsumerSecret: "s", ShortCode: "600000", Passkey: mpesa.SandboxPasskey},
		} {
			if _, err := mpesa.New(cfg); err == nil {
				t.Errorf("New accepted %v", cfg)
			}
		}
	})

	t.Run("RefusesPayBillToAnotherShortCode", func(t *testing.T) {
		cfg := testConfig(mpesa.SandboxBaseURL)
		cfg.PartyB = "600000"
		if _, err := mpesa.New(cfg); err == nil || !strings.Contains(err.Error(), "PartyB") {
			t.Fatalf("New = %v", err)
		}
	})

	t.Run("RefusesCredentialsInTheBaseURL", func(t *testing.T) {
		cfg := testConfig("https://user:pass@proxy.example.com")
		if _, err := mpesa.New(cfg); err == nil || strings.Contains(err.Error(), "pass@") {
			t.Fatalf("New = %v", err)
		}
	})

	t.Run("SimulatorNeedsNoCredentials", func(t *testing.T) {
		c, err := mpesa.New(mpesa.Config{Environment: mpesa.Simulator, BaseURL: "http://127.0.0.1:9"})
		if err != nil {
			t.Fatal(err)
		}
		info := c.EnvironmentInfo()
		if info.BusinessShortCode != mpesa.SandboxShortCode || info.Environment != mpesa.Simulator {
			t.Fatalf("info %+v", info)
		}
	})

	t.Run("AppliesDefaults", func(t *testing.T) {
		c, err := mpesa.New(mpesa.Config{BaseURL: mpesa.SandboxBaseURL + "/", ConsumerKey: "k", ConsumerSecret: "s",
			ShortCode: mpesa.SandboxShortCode, Passkey: mpesa.SandboxPasskey})
		if err != nil {
			t.Fatal(err)
		}
		info := c.EnvironmentInfo()
		want := mpesa.EnvironmentInfo{
			Environment:       mpesa.Sandbox,
			BaseURL:           mpesa.SandboxBaseURL,
			AuthURL:           "https://sandbox.safaricom.co.ke/oauth/v1/generate",
			STKPushURL:        "https://sandbox.safaricom.co.ke/mpesa/stkpush/v1/processrequest",
			QueryURL:          "https://sandbox.safaricom.co.ke/mpesa/stkpushquery/v1/query",
			BusinessShortCode: mpesa.SandboxShortCode,
			TransactionType:   mpesa.PayBillOnline,
			PartyB:            mpesa.SandboxShortCode,
		}
		if info != want {
			t.Fatalf("EnvironmentInfo() = %+v\nwant %+v", info, want)
		}
	})

	t.Run("DoesNotChangeTheCallersHTTPClient", func(t *testing.T) {
		hc := &http.Client{}
		cfg := testConfig(mpesa.SandboxBaseURL)
		cfg.HTTPClient = hc
		mustNew(t, cfg)
		if hc.Transport != nil || hc.CheckRedirect != nil {
			t.Fatal("New changed the caller's http.Client")
		}
	})
}

func TestSecretsNeverPrinted(t *testing.T) {
	cfg := testConfig(mpesa.SandboxBaseURL)
	c := mustNew(t, cfg)
	var logged testkit.SyncBuffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "cfg", cfg, "client", c)
	info := c.EnvironmentInfo()
	for name, s := range map[string]string{
		"%v Config":       fmt.Sprintf("%v", cfg),
		"%+v Config":      fmt.Sprintf("%+v", cfg),
		"%#v Config":      fmt.Sprintf("%#v", cfg),
		"%v Client":       fmt.Sprintf("%v", c),
		"%+v Client":      fmt.Sprintf("%+v", c),
		"%#v Client":      fmt.Sprintf("%#v", c),
		"slog":            logged.String(),
		"EnvironmentInfo": fmt.Sprintf("%+v", info),
	} {
		for _, secret := range []string{testKey, testSecret, mpesa.SandboxPasskey} {
			if strings.Contains(s, secret) {
				t.Errorf("%s shows a secret: %s", name, s)
			}
		}
	}
}
