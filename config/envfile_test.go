package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoad_EnvFile(t *testing.T) {
	t.Run("EnvironmentBeatsFile", func(t *testing.T) {
		path := writeFile(t, ".env", "LOG_LEVEL=debug\nMPESA_SHORTCODE=111111\n")
		c, err := Load(env{"LOG_LEVEL": "error"}.get, path, needNone)
		if err != nil {
			t.Fatal(err)
		}
		if c.LogLevel.String() != "ERROR" {
			t.Errorf("LOG_LEVEL = %v, want the environment's error", c.LogLevel)
		}
		if c.MpesaShortcode != "111111" {
			t.Errorf("MPESA_SHORTCODE = %q, want the file's 111111 (the environment lacks it)", c.MpesaShortcode)
		}
	})
	t.Run("FileFillsGaps", func(t *testing.T) {
		content := "# credentials\n" +
			"export TELEGRAM_BOT_TOKEN=" + tokenVal + "\n" +
			"MPESA_CONSUMER_KEY='" + keyVal + "'\n" +
			"MPESA_CONSUMER_SECRET=\"" + secretVal + "\"\n" +
			"MPESA_PASSKEY=" + passVal + " # inline comment\n" +
			"MPESA_SHORTCODE=174379\r\n" +
			"CALLBACK_URL=https://pay.example.com/cb\n"
		path := writeFile(t, ".env", content)
		c, err := Load(env{}.get, path, needAll)
		if err != nil {
			t.Fatal(err)
		}
		if c.TelegramBotToken.Reveal() != tokenVal || c.MpesaConsumerKey.Reveal() != keyVal ||
			c.MpesaConsumerSecret.Reveal() != secretVal || c.MpesaPasskey.Reveal() != passVal {
			t.Errorf("secrets from .env not read as written")
		}
		if c.MpesaShortcode != "174379" || c.CallbackURL != "https://pay.example.com/cb" {
			t.Errorf("values from .env: shortcode %q, callback %q", c.MpesaShortcode, c.CallbackURL)
		}
	})
	t.Run("MissingFileIsFine", func(t *testing.T) {
		c, err := Load(env{}.get, filepath.Join(t.TempDir(), ".env"), needNone)
		if err != nil || c == nil {
			t.Fatalf("Load with a missing .env: %v", err)
		}
	})
	t.Run("NoFileNamed", func(t *testing.T) {
		if _, err := Load(env{}.get, "", needNone); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("UnreadableFileReported", func(t *testing.T) {
		dir := t.TempDir() // a folder where a file is expected
		_, err := Load(env{}.get, dir, needNone)
		problems := Problems(err)
		if len(problems) != 1 || problems[0].Var != dir || !strings.Contains(problems[0].Problem, "cannot be read") {
			t.Fatalf("got %v, want one problem naming %s", err, dir)
		}
	})
	t.Run("UnknownNamesWarned", func(t *testing.T) {
		path := writeFile(t, ".env", "MPESA_PASSKY=x\nCOMPOSE_PROJECT_NAME=shop\nPOLL_INTERVALS=5s\n")
		c, err := Load(env{}.get, path, needNone)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(c.Warnings, "\n")
		for _, want := range []string{"MPESA_PASSKY", "POLL_INTERVALS"} {
			if !strings.Contains(got, want) {
				t.Errorf("no warning for the typo %s; warnings: %q", want, c.Warnings)
			}
		}
		if strings.Contains(got, "COMPOSE_PROJECT_NAME") {
			t.Errorf("warned about another program's variable: %q", c.Warnings)
		}
	})
}

func TestLoad_RetiredVariableInEnvFileIsOneWarning(t *testing.T) {
	path := writeFile(t, ".env", "CALLBACK_WAIT=60s\n")
	c, err := Load(env{}.get, path, needNone)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"CALLBACK_WAIT is no longer read: set POLL_INITIAL_DELAY instead"}
	if !slices.Equal(c.Warnings, want) {
		t.Errorf("warnings = %q, want only %q", c.Warnings, want)
	}
	if c.PollInitialDelay != DefaultPollInitialDelay {
		t.Errorf("PollInitialDelay = %v: CALLBACK_WAIT changed it", c.PollInitialDelay)
	}
}

// TestEnvExample_LoadsCleanly keeps .env.example a working starting point
// that names every variable.
func TestEnvExample_LoadsCleanly(t *testing.T) {
	const path = "../.env.example"
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load(env{}.get, path, Needs{Daraja: true})
	if err != nil {
		t.Fatalf("Load(.env.example): %v", err)
	}
	for _, w := range c.Warnings {
		if strings.Contains(w, "does not read") {
			t.Errorf(".env.example sets a variable Load does not read: %s", w)
		}
	}
	for _, name := range knownVars {
		if !strings.HasSuffix(name, "_FILE") && !strings.Contains(string(content), "\n"+name+"=") {
			t.Errorf(".env.example does not list %s", name)
		}
	}
}

// TestEnvExample_SafaricomAddressesParse loads the commented
// CALLBACK_ALLOWED_IPS example as an operator would after uncommenting it.
func TestEnvExample_SafaricomAddressesParse(t *testing.T) {
	content, err := os.ReadFile("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "# CALLBACK_ALLOWED_IPS="
	var list string
	for line := range strings.Lines(string(content)) {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			list = strings.TrimSpace(rest)
		}
	}
	if list == "" {
		t.Fatalf(".env.example has no %q example line", prefix)
	}
	c := mustLoad(t, env{"CALLBACK_ALLOWED_IPS": list, "HTTP_ADDR": ":8080"}, needNone)
	if len(c.CallbackAllowedIPs) != 12 {
		t.Fatalf("%d addresses, want Safaricom's 12", len(c.CallbackAllowedIPs))
	}
	for _, p := range c.CallbackAllowedIPs {
		if !p.Addr().Is4() || p.Bits() != 32 || !netip.MustParsePrefix("196.201.212.0/22").Contains(p.Addr()) {
			t.Errorf("%s is not a single address in Safaricom's 196.201.212.0/22", p)
		}
	}
}

func TestLoad_MalformedEnvFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"UnterminatedQuote", "LOG_LEVEL=info\nMPESA_PASSKEY=\"" + passVal + "\nDB_PATH=x.db\n", "line 2 has a quoted value that is never closed"},
		{"BadName", "LOG_LEVEL=info\n\nMPESA-PASSKEY=" + passVal + "\n", "line 3 has a variable name"},
		{"BadNameFirstLine", "TOKEN$=" + tokenVal + "\n", "line 1 has a variable name"},
		{"BadNameCRLF", "A=1\r\nB=2\r\nC-D=" + keyVal + "\r\n", "line 3 has a variable name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, ".env", tt.content)
			// Even with every requirement unmet, only the file is reported:
			// what is required cannot be known while the file is unreadable.
			_, err := Load(env{}.get, path, needAll)
			problems := Problems(err)
			if len(problems) != 1 {
				t.Fatalf("want one problem (the file), got:\n%v", err)
			}
			if problems[0].Var != path || !strings.Contains(problems[0].Problem, tt.want) {
				t.Errorf("problem = %q, want it to name %s and say %q", problems[0].Error(), path, tt.want)
			}
			for _, secret := range []string{passVal, tokenVal, keyVal} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows the file's secret: %q", err.Error())
				}
			}
		})
	}
}

func TestLoad_SecretFiles(t *testing.T) {
	t.Run("ReadEachSecretFromFile", func(t *testing.T) {
		e := production()
		values := map[string]string{}
		for _, name := range secretVars {
			value := strings.ToLower(name) + "-from-file-0123456789"
			values[name] = value
			delete(e, name)
			e[name+"_FILE"] = writeFile(t, name, value+"\n")
		}
		e["HTTP_ADDR"] = ":8080"
		e["INITIATOR_NAME"] = "testapi"
		c := mustLoad(t, e, needAll)
		got := map[string]string{
			"TELEGRAM_BOT_TOKEN":    c.TelegramBotToken.Reveal(),
			"MPESA_CONSUMER_KEY":    c.MpesaConsumerKey.Reveal(),
			"MPESA_CONSUMER_SECRET": c.MpesaConsumerSecret.Reveal(),
			"MPESA_PASSKEY":         c.MpesaPasskey.Reveal(),
			"BACKUP_TOKEN":          c.BackupToken.Reveal(),
			"C2B_SECRET":            c.C2BSecret.Reveal(),
			"INITIATOR_PASSWORD":    c.InitiatorPassword.Reveal(),
		}
		for name, want := range values {
			if got[name] != want {
				t.Errorf("%s from %s_FILE = %q, want %q (trailing newline trimmed)", name, name, got[name], want)
			}
		}
	})
	t.Run("CRLFTrimmed", func(t *testing.T) {
		e := production()
		delete(e, "MPESA_PASSKEY")
		e["MPESA_PASSKEY_FILE"] = writeFile(t, "passkey", passVal+"\r\n")
		if c := mustLoad(t, e, needAll); c.MpesaPasskey.Reveal() != passVal {
			t.Errorf("passkey = %q", c.MpesaPasskey.Reveal())
		}
	})
	t.Run("BothSetRefused", func(t *testing.T) {
		e := production().with("MPESA_PASSKEY_FILE", writeFile(t, "passkey", passVal))
		problems := mustFail(t, e, needAll)
		if len(problems) != 1 || problems[0].Error() != "MPESA_PASSKEY and MPESA_PASSKEY_FILE are both set: set only one" {
			t.Errorf("got %q", joinLines(problems))
		}
	})
	t.Run("MissingFileNamesVariable", func(t *testing.T) {
		e := production()
		delete(e, "MPESA_CONSUMER_SECRET")
		e["MPESA_CONSUMER_SECRET_FILE"] = filepath.Join(t.TempDir(), "nope")
		problems := mustFail(t, e, needAll)
		if len(problems) != 1 || problems[0].Var != "MPESA_CONSUMER_SECRET_FILE" ||
			!strings.Contains(problems[0].Problem, "no such file") {
			t.Errorf("got %q, want one problem naming MPESA_CONSUMER_SECRET_FILE", joinLines(problems))
		}
	})
	t.Run("EmptyFileRefused", func(t *testing.T) {
		e := production()
		delete(e, "TELEGRAM_BOT_TOKEN")
		e["TELEGRAM_BOT_TOKEN_FILE"] = writeFile(t, "token", "\n")
		problems := mustFail(t, e, needAll)
		if len(problems) != 1 || problems[0].Var != "TELEGRAM_BOT_TOKEN_FILE" || !strings.Contains(problems[0].Problem, "is empty") {
			t.Errorf("got %q", joinLines(problems))
		}
	})
	t.Run("HugeFileRefused", func(t *testing.T) {
		e := production()
		delete(e, "MPESA_PASSKEY")
		e["MPESA_PASSKEY_FILE"] = writeFile(t, "disk.img", strings.Repeat("x", 65<<10))
		problems := mustFail(t, e, needAll)
		if len(problems) != 1 || !strings.Contains(problems[0].Problem, "larger than 64 KiB") {
			t.Errorf("got %q", joinLines(problems))
		}
	})
	t.Run("EnvironmentFileBeatsDotEnvValue", func(t *testing.T) {
		// Docker secret in the environment, a stale value in .env: the
		// environment's choice wins instead of "both set".
		e := production()
		delete(e, "MPESA_PASSKEY")
		e["MPESA_PASSKEY_FILE"] = writeFile(t, "passkey", passVal)
		dotenv := writeFile(t, ".env", "MPESA_PASSKEY=stale-passkey\n")
		c, err := Load(e.get, dotenv, needAll)
		if err != nil {
			t.Fatal(err)
		}
		if c.MpesaPasskey.Reveal() != passVal {
			t.Errorf("passkey = %q, want the environment's file", c.MpesaPasskey.Reveal())
		}
	})
	t.Run("DotEnvFileVariable", func(t *testing.T) {
		e := production()
		delete(e, "MPESA_PASSKEY")
		dotenv := writeFile(t, ".env", "MPESA_PASSKEY_FILE="+writeFile(t, "passkey", passVal+"\n")+"\n")
		c, err := Load(e.get, dotenv, needAll)
		if err != nil {
			t.Fatal(err)
		}
		if c.MpesaPasskey.Reveal() != passVal {
			t.Errorf("passkey = %q, want the file named in .env", c.MpesaPasskey.Reveal())
		}
	})
}

func writeBenchFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
