package mpesa_test

import (
	"context"
	"testing"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
)

func BenchmarkPassword(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = mpesa.Password(mpesa.SandboxShortCode, mpesa.SandboxPasskey, "20240607123045")
	}
}

// BenchmarkClientPassword includes the clock read and the EAT timestamp.
func BenchmarkClientPassword(b *testing.B) {
	c := mustNew(b, testConfig("http://127.0.0.1:1"))
	b.ReportAllocs()
	for b.Loop() {
		_, _ = c.Password("")
	}
}

func BenchmarkParseCallback(b *testing.B) {
	body := []byte(callbackPaid)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mpesa.ParseCallback(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNormalizePhone(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mpesa.NormalizePhone("+254 712 345 678"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPushQueryRoundTripFakeServer is BenchmarkPushQueryRoundTrip
// against the minimal fake, to tell the client's cost from the simulator's.
func BenchmarkPushQueryRoundTripFakeServer(b *testing.B) {
	f := newFakeDaraja(b)
	c := mustNew(b, testConfig(f.URL))
	ctx := context.Background()
	req := validPush()
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.Push(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Query(ctx, res.CheckoutRequestID); err != nil {
			b.Fatal(err)
		}
	}
}
