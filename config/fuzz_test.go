package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/joho/godotenv"
)

const fuzzSecret = "FUZZ-passkey-marker-7f3a"

// FuzzLoadEnvFile feeds arbitrary .env text around a secret line and checks
// that Load never panics and never shows the secret: not in an error, not in
// a warning, not in the logged Config.
func FuzzLoadEnvFile(f *testing.F) {
	f.Add("", "")
	f.Add("LOG_LEVEL=debug\n", "DB_PATH=x.db\n")
	f.Add("A=\"unterminated\n", "")
	f.Add("", "B='x\nC=1")
	f.Add("bad name=1\n", "")
	f.Add("MPESA-X=", "\n")
	f.Add("export ", "=\n")
	f.Add("X=\"", "\"\n")
	f.Add("MPESA_PASSKEY_FILE=/nonexistent\n", "")
	f.Add("MAX_AMOUNT=0\nADMIN_IDS=,\n", "TELEGRAM_API_ENDPOINT=%s\n")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, before, after string) {
		content := before + "\nMPESA_PASSKEY=" + fuzzSecret + "\n" + after
		// Text that turns the marker into part of another, non-secret
		// variable's value makes it that value, which may be shown.
		if vars, err := godotenv.Unmarshal(content); err == nil {
			for k, v := range vars {
				if k != "MPESA_PASSKEY" && strings.Contains(v, fuzzSecret) {
					t.Skip()
				}
			}
		}
		path := filepath.Join(dir, fmt.Sprintf("env-%d", os.Getpid()))
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(env{}.get, path, Needs{Telegram: true, Daraja: true, HTTP: true})
		if err != nil {
			if strings.Contains(err.Error(), fuzzSecret) {
				t.Fatalf("error shows the secret:\n%v", err)
			}
			if len(Problems(err)) == 0 {
				t.Fatalf("error without a *FieldError: %v", err)
			}
			return
		}
		out := fmt.Sprintf("%+v %v", c, c.Warnings)
		if strings.Contains(out, fuzzSecret) {
			t.Fatalf("config or warnings show the secret:\n%s", out)
		}
	})
}

// secretProblemWording is every problem a secret's value can cause.
const secretProblemWording = "contains whitespace (the value is not shown) " +
	"starts or ends with whitespace (the value is not shown) " +
	"is too short: use at least 16 characters, e.g. from `openssl rand -hex 32`"

// FuzzLoadValue sets one variable to arbitrary text: Load must either accept
// it or name that variable, never panic, and keep the one-line-per-problem
// form.
func FuzzLoadValue(f *testing.F) {
	for i := range knownVars {
		f.Add(uint8(i), "")
		f.Add(uint8(i), "0")
		f.Add(uint8(i), " -1,2 ")
	}
	f.Add(uint8(0), "https://u:p@h/bot%s/%s")
	f.Add(uint8(1), "%s%s%%")
	f.Fuzz(func(t *testing.T, which uint8, value string) {
		name := knownVars[int(which)%len(knownVars)]
		if strings.HasSuffix(name, "_FILE") {
			return // a path: fuzzing it would read arbitrary files
		}
		_, err := Load(env{name: value}.get, "", Needs{})
		for _, p := range Problems(err) {
			if p.Var != name && p.Var != strings.TrimSuffix(name, "_FILE") {
				t.Fatalf("%s=%q: problem names %s: %v", name, value, p.Var, p)
			}
			if strings.Contains(p.Problem, "\n") {
				t.Fatalf("%s=%q: problem spans lines: %q", name, value, p.Problem)
			}
			// A value that is part of the problem's own wording proves nothing.
			if slices.Contains(secretVars, name) && len(value) >= 3 && strings.Contains(p.Problem, value) &&
				!strings.Contains(secretProblemWording, value) {
				t.Fatalf("%s=%q: problem shows the secret: %q", name, value, p.Problem)
			}
		}
	})
}
