package mpesa_test

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
)

// sandboxPassword is base64("174379" + sandbox passkey + "20240607123045"),
// computed outside Go.
const sandboxPassword = "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjQwNjA3MTIzMDQ1"

func TestTimestamp(t *testing.T) {
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{"IsKenyanTimeForUTC", time.Date(2024, 6, 7, 9, 30, 45, 0, time.UTC), "20240607123045"},
		{"RollsOverTheDayInKenya", time.Date(2023, 12, 31, 22, 0, 0, 0, time.UTC), "20240101010000"},
		{"IgnoresTheCallersZone", time.Date(2024, 6, 7, 2, 30, 45, 0, time.FixedZone("X", -7*3600)), "20240607123045"},
		{"DropsFractions", time.Date(2024, 6, 7, 9, 30, 45, 999999999, time.UTC), "20240607123045"},
		{"HasNoDaylightSaving", time.Date(2024, 1, 15, 9, 0, 0, 0, time.UTC), "20240115120000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := mpesa.Timestamp(tc.in); got != tc.want {
				t.Fatalf("Timestamp(%v) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestPassword(t *testing.T) {
	if got := mpesa.Password(mpesa.SandboxShortCode, mpesa.SandboxPasskey, "20240607123045"); got != sandboxPassword {
		t.Fatalf("Password = %s, want %s", got, sandboxPassword)
	}
}

func TestClientPassword(t *testing.T) {
	t.Run("ComesFromOneClockRead", func(t *testing.T) {
		clock := newFakeClock()
		cfg := testConfig("http://127.0.0.1:1")
		cfg.Now = clock.Now
		c := mustNew(t, cfg)
		before := clock.Reads()
		pw, ts := c.Password("")
		if reads := clock.Reads() - before; reads != 1 {
			t.Fatalf("Password read the clock %d times, want once", reads)
		}
		if ts != "20240607123045" || pw != sandboxPassword {
			t.Fatalf("Password() = %s, %s; want %s, 20240607123045", pw, ts, sandboxPassword)
		}
		raw, _ := base64.StdEncoding.DecodeString(pw)
		if string(raw) != mpesa.SandboxShortCode+mpesa.SandboxPasskey+ts {
			t.Fatalf("password decodes to %q, not shortcode+passkey+timestamp", raw)
		}
	})
	t.Run("AcceptsCustomTimestamp", func(t *testing.T) {
		c := mustNew(t, testConfig("http://127.0.0.1:1"))
		pw, ts := c.Password("20231215143025")
		if ts != "20231215143025" || pw != mpesa.Password(mpesa.SandboxShortCode, mpesa.SandboxPasskey, "20231215143025") {
			t.Fatalf("Password(custom) = %s, %s", pw, ts)
		}
	})
	t.Run("RefusesInvalidCustomTimestamp", func(t *testing.T) {
		c := mustNew(t, testConfig("http://127.0.0.1:1"))
		for _, bad := range []string{"2023121514302", "202312151430255", "2023-12-15 14:", "20231315143025", "20231215253025", "abcdefghijklmn"} {
			if pw, ts := c.Password(bad); pw != "" || ts != "" {
				t.Errorf("Password(%q) = %q, %q; want two empty strings", bad, pw, ts)
			}
		}
	})
}

func TestValidateTimestamp(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"20240607123045", true},
		{"20240229000000", true},
		{"20230229000000", false}, // not a leap year
		{"2024060712304", false},
		{"202406071230456", false},
		{"2024060712304a", false},
		{"", false},
		{"20241301000000", false},
		{"20240607246045", false},
	}
	for _, tc := range tests {
		if err := mpesa.ValidateTimestamp(tc.in); (err == nil) != tc.ok {
			t.Errorf("ValidateTimestamp(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}
