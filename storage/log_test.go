package storage_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/mpesa-bot/mpesa-bot/storage"
)

func TestPaymentNeverShowsSecretOrFullPhone(t *testing.T) {
	p := newPayment()
	p.ID = "0123456789abcdef"
	p.Phone = "254712345678"
	p.CallbackSecret = "S3cr3t-callback-9d8c7b"

	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	logger.Info("Payment created", slog.Any("payment", p))
	logger.Debug("Payment pointer", "payment", &p)
	logger.Error("Payment failed", "p", p, "err", fmt.Errorf("wrapped: %v", p))
	text := slog.New(slog.NewTextHandler(&buf, nil))
	text.Info("Payment created", "payment", p)

	outputs := map[string]string{
		"slog":         buf.String(),
		"%v":           fmt.Sprintf("%v", p),
		"%+v":          fmt.Sprintf("%+v", p),
		"%#v":          fmt.Sprintf("%#v", p),
		"[%s]":         fmt.Sprintf("[%s]", p),
		"%v of &p":     fmt.Sprintf("%v", &p),
		"%v of []p":    fmt.Sprintf("%v", []storage.Payment{p}),
		"%+v of []p":   fmt.Sprintf("%+v", []storage.Payment{p}),
		"Payment.Str":  p.String(),
		"Payment.GoSt": p.GoString(),
	}
	for name, out := range outputs {
		if strings.Contains(out, p.CallbackSecret) {
			t.Errorf("%s shows the callback secret: %s", name, out)
		}
		if strings.Contains(out, p.Phone) || strings.Contains(out, "712345678") {
			t.Errorf("%s shows the phone number: %s", name, out)
		}
		if !strings.Contains(out, "*********678") {
			t.Errorf("%s lacks the masked phone: %s", name, out)
		}
	}

	// The JSON log still carries what an operator needs.
	var line struct {
		Payment map[string]any `json:"payment"`
	}
	if err := json.Unmarshal([]byte(strings.SplitN(buf.String(), "\n", 2)[0]), &line); err != nil {
		t.Fatal(err)
	}
	if line.Payment["id"] != p.ID || line.Payment["phone"] != "*********678" || line.Payment["amount"] != float64(100) {
		t.Errorf("logged payment = %v", line.Payment)
	}
}

func TestErrorsNeverShowSecretOrFullPhone(t *testing.T) {
	s, clock := mustOpenStore(t)
	req := newPayment()
	first := mustCreate(t, s, req)
	busy := newPayment()
	busy.Phone = req.Phone
	_, _, errBusy := s.Create(busy, storage.Limits{OnePerPhone: true})
	bad := newPayment()
	bad.Phone = req.Phone + "x"
	_, _, errInvalid := s.Create(bad, storage.Limits{})
	_, errSecret := s.GetBySecret(req.CallbackSecret + "x")
	reused := newPayment()
	reused.CallbackSecret = req.CallbackSecret
	_, _, errReused := s.Create(reused, storage.Limits{})
	if _, err := s.RecordPush(first.ID, "ws_CO_a", "m", clock.Now()); err != nil {
		t.Fatal(err)
	}
	_, _, errConflict := s.Settle(first.ID, storage.Result{State: storage.StateSucceeded, CheckoutRequestID: "ws_CO_b", Source: "callback"})

	for name, err := range map[string]error{
		"ErrPhoneBusy": errBusy, "ErrInvalid": errInvalid, "ErrNotFound": errSecret,
		"ErrConflict(secret)": errReused, "ErrConflict(checkout)": errConflict,
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if strings.Contains(err.Error(), req.Phone[3:]) || strings.Contains(err.Error(), req.CallbackSecret) {
			t.Errorf("%s: %q shows the phone or the secret", name, err)
		}
	}
}

func TestMaskPhone(t *testing.T) {
	for in, want := range map[string]string{
		"254712345678": "*********678",
		"0712345678":   "*******678",
		"678":          "***",
		"12":           "**",
		"":             "",
	} {
		if got := storage.MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
	}
}
