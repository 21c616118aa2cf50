package storage

import (
	"testing"
	"time"
)

// BenchmarkRecordJSON is the cost of the JSON encoding of a typical settled
// payment: every write that changes it encodes its record, every read decodes
// it. Its events are encoded once each, when appended.
func BenchmarkRecordJSON(b *testing.B) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := &record{
		ID: "06h205t1o400000a", ChatID: -1001234567890, UserID: 123456789, MessageID: 4242,
		IdempotencyKey: "-1001234567890:4242", Phone: "254712345678", Amount: 1500, Reference: "INV-42",
		Description: "Payment", SecretHash: hashSecret("secret"), State: StateSucceeded,
		CheckoutRequestID: "ws_CO_191220191020363925", MerchantRequestID: "29115-34620561-1",
		ResultCode: "0", ResultDesc: "The service request is processed successfully.", Receipt: "NLJ7RT61SV",
		SettledBy: "callback", CreatedAt: at, UpdatedAt: at, PushedAt: at, SettledAt: at, Queries: 3, Notified: true,
	}
	v, err := r.encode()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Encode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(v)))
		for b.Loop() {
			if _, err := r.encode(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(v)))
		for b.Loop() {
			if _, err := decodeRecord([]byte(r.ID), v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
