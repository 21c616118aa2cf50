package mpesatest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPush(t *testing.T) {
	t.Parallel()

	t.Run("AcceptsWithDarajaShape", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, WithResultDelay(time.Hour))
		c := newClient(t, srv)
		c.login()
		r := c.push(pushFields("254708374149", "https://example.com/cb"))
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		m := r.object(t)
		for key, want := range map[string]string{
			"ResponseCode":        "0",
			"ResponseDescription": "Success. Request accepted for processing",
			"CustomerMessage":     "Success. Request accepted for processing",
		} {
			if m[key] != want {
				t.Errorf("%s = %#v, want %q", key, m[key], want)
			}
		}
		mid, _ := m["MerchantRequestID"].(string)
		if !regexp.MustCompile(`^\d+-\d+-\d+$`).MatchString(mid) {
			t.Errorf("MerchantRequestID = %q, want like 29115-34620561-1", mid)
		}
		id, _ := m["CheckoutRequestID"].(string)
		if !regexp.MustCompile(`^ws_CO_\d{26}$`).MatchString(id) {
			t.Errorf("CheckoutRequestID = %q, want like ws_CO_191220191020363925…", id)
		}
		tx, ok := srv.Transaction(id)
		if !ok || tx.State != StatePending || tx.Amount != 100 || tx.Phone != "254708374149" ||
			tx.AccountReference != "INV-42" || tx.CallbackURL != "https://example.com/cb" || tx.MerchantRequestID != mid {
			t.Errorf("transaction = %+v, %v", tx, ok)
		}
	})

	t.Run("GivesUniqueCheckoutIDs", func(t *testing.T) {
		t.Parallel()
		clock := &fakeClock{now: time.Date(2024, 6, 7, 9, 30, 0, 0, time.UTC)} // IDs carry the time: freeze it
		srv := NewServer(t, WithClock(clock.Now), WithResultDelay(time.Hour))
		c := newClient(t, srv)
		c.login()
		seen := map[string]bool{}
		for i := range 20 {
			id := c.mustPush("2547083741"+twoDigits(i*5), "https://example.com/cb")
			if seen[id] {
				t.Fatalf("CheckoutRequestID %s given twice", id)
			}
			seen[id] = true
		}
	})

	t.Run("AcceptsNumericFieldsAsStrings", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, NewServer(t, WithResultDelay(time.Hour)))
		c.login()
		f := pushFields("254712345678", "https://example.com/cb")
		for _, k := range []string{"BusinessShortCode", "Amount", "PartyA", "PartyB", "PhoneNumber"} {
			f[k] = string(f[k].(json.Number))
		}
		if r := c.push(f); r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})

	t.Run("AcceptsWholeAmountWrittenAsFloat", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, WithResultDelay(time.Hour))
		c := newClient(t, srv)
		c.login()
		f := pushFields("254712345678", "https://example.com/cb")
		f["Amount"] = json.Number("250.0")
		r := c.push(f)
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if tx, _ := srv.Transaction(r.str(t, "CheckoutRequestID")); tx.Amount != 250 {
			t.Errorf("amount = %d, want 250", tx.Amount)
		}
	})

	t.Run("AcceptsBuyGoodsAndPhone2541", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, NewServer(t, WithResultDelay(time.Hour)))
		c.login()
		f := pushFields("254112345678", "http://127.0.0.1:8080/cb/x")
		f["PartyA"] = json.Number("254112345678")
		f["TransactionType"] = "CustomerBuyGoodsOnline"
		f["PartyB"] = json.Number("600000")
		if r := c.push(f); r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
}

func TestPushValidation(t *testing.T) {
	t.Parallel()
	srv := NewServer(t, WithResultDelay(time.Hour))
	c := newClient(t, srv)
	c.login()

	invalid := func(field string) func(reply) {
		return func(r reply) {
			t.Helper()
			r.wantError(t, http.StatusBadRequest, "400.002.02", "Bad Request - Invalid "+field)
		}
	}
	backend := func(message string) func(reply) {
		return func(r reply) {
			t.Helper()
			r.wantError(t, http.StatusInternalServerError, "500.001.1001", message)
		}
	}
	set := func(key string, v any) func(map[string]any) {
		return func(f map[string]any) { f[key] = v }
	}
	tests := []struct {
		name   string
		change func(map[string]any)
		want   func(reply)
	}{
		{"RefusesDecimalAmount", set("Amount", json.Number("4.99")), invalid("Amount")},
		{"RefusesZeroAmount", set("Amount", json.Number("0")), invalid("Amount")},
		{"RefusesNegativeAmount", set("Amount", json.Number("-5")), invalid("Amount")},
		{"RefusesTextAmount", set("Amount", "abc"), invalid("Amount")},
		{"RefusesMissingAmount", func(f map[string]any) { delete(f, "Amount") }, invalid("Amount")},
		{"RefusesLocalPhoneFormat", set("PhoneNumber", "0712345678"), invalid("PhoneNumber")},
		{"RefusesForeignPhone", set("PhoneNumber", json.Number("255712345678")), invalid("PhoneNumber")},
		{"RefusesShortPhone", set("PhoneNumber", json.Number("25471234567")), invalid("PhoneNumber")},
		{"RefusesBadPartyA", set("PartyA", "+254712345678"), invalid("PartyA")},
		{"RefusesRelativeCallbackURL", set("CallBackURL", "/callback"), invalid("CallBackURL")},
		{"RefusesNonHTTPCallbackURL", set("CallBackURL", "ftp://example.com/cb"), invalid("CallBackURL")},
		{"RefusesMissingCallbackURL", func(f map[string]any) { delete(f, "CallBackURL") }, invalid("CallBackURL")},
		{"RefusesShortTimestamp", set("Timestamp", "2024060712304"), invalid("Timestamp")},
		{"RefusesImpossibleTimestamp", set("Timestamp", "20241399123045"), invalid("Timestamp")},
		{"RefusesMissingTransactionDescAsRemarks", func(f map[string]any) { delete(f, "TransactionDesc") }, invalid("Remarks")},
		{"RefusesEmptyTransactionDescAsRemarks", set("TransactionDesc", ""), invalid("Remarks")},
		{"RefusesLongAccountReference", set("AccountReference", "INV-123456789"), invalid("AccountReference")},
		{"RefusesUnknownTransactionType", set("TransactionType", "CustomerPayBill"), invalid("TransactionType")},
		{"RefusesTextShortCode", set("BusinessShortCode", "abc"), invalid("BusinessShortCode")},
		{"RefusesUnknownMerchant", func(f map[string]any) {
			f["BusinessShortCode"] = json.Number("600000")
			f["Password"] = password("600000", SandboxPasskey, testTimestamp)
		}, backend("Merchant does not exist")},
		{"RefusesWrongPassword", set("Password", password(SandboxShortCode, "wrong-passkey", testTimestamp)), backend("Wrong credentials")},
		{"RefusesPasswordOfAnotherTimestamp", set("Timestamp", "20240607123046"), backend("Wrong credentials")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := pushFields("254708374149", "https://example.com/cb")
			tt.change(f)
			tt.want(c.push(f))
		})
	}

	t.Run("RefusesMalformedJSON", func(t *testing.T) {
		for _, body := range []string{`{"BusinessShortCode":`, ``, `[]`, `null`, `"x"`} {
			c.postRaw(pathPush, body).wantError(t, http.StatusBadRequest, "400.002.05", "Invalid Request Payload")
		}
	})

	t.Run("CreatesNoTransactionForARefusal", func(t *testing.T) {
		if n := len(srv.Transactions()); n != 0 {
			t.Errorf("%d transactions after refused pushes, want 0", n)
		}
	})
}

func TestSubscriberLock(t *testing.T) {
	t.Parallel()

	t.Run("RefusesSecondPromptToSamePhone", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t)
		srv.SetPhoneOutcome("254712345678", Outcome{Manual: true})
		c := newClient(t, srv)
		c.login()
		id := c.mustPush("254712345678", "https://example.com/cb")
		c.push(pushFields("254712345678", "https://example.com/cb")).wantError(t,
			http.StatusInternalServerError, "500.001.1001",
			"Unable to lock subscriber, a transaction is already in process for the current subscriber")
		if n := len(srv.Transactions()); n != 1 {
			t.Fatalf("%d transactions, want 1", n)
		}

		if err := srv.Complete(id); err != nil {
			t.Fatal(err)
		}
		c.mustPush("254712345678", "https://example.com/cb") // released on completion
	})

	t.Run("OnlyOneOfConcurrentPushesToOnePhoneWins", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, WithResultDelay(time.Hour))
		c := newClient(t, srv)
		c.login()
		const n = 12
		statuses := make(chan int, n)
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				r, err := c.tryPush("254700000009", "https://example.com/cb")
				if err != nil {
					errs <- err
					return
				}
				statuses <- r.status
			})
		}
		wg.Wait()
		close(statuses)
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		ok, locked := 0, 0
		for s := range statuses {
			switch s {
			case http.StatusOK:
				ok++
			case http.StatusInternalServerError:
				locked++
			}
		}
		if ok != 1 || locked != n-1 {
			t.Errorf("%d accepted and %d locked, want 1 and %d", ok, locked, n-1)
		}
	})
}

func twoDigits(i int) string {
	return string([]byte{byte('0' + i/10%10), byte('0' + i%10)})
}

// FuzzPushBody proves that any body gets a Daraja-shaped answer: an acceptance or
// a JSON error, never a panic or another shape.
func FuzzPushBody(f *testing.F) {
	valid, _ := json.Marshal(pushFields("254708374149", "https://example.com/cb"))
	f.Add(string(valid))
	f.Add(`{"Amount":"4.99"}`)
	f.Add(`{"BusinessShortCode":174379,"Amount":1e400}`)
	f.Add(`{"PhoneNumber":[254708374149]}`)
	f.Add(`{"Timestamp":"２０２４０６０７１２３０４５"}`)
	f.Add(`not json`)

	sim := New(WithResultDelay(time.Hour))
	f.Cleanup(sim.Close)
	token := sim.issueToken()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, pathPush, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)

		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("answer %d is not JSON: %q", rec.Code, rec.Body)
		}
		switch rec.Code {
		case http.StatusOK:
			if id, _ := m["CheckoutRequestID"].(string); !strings.HasPrefix(id, "ws_CO_") || m["ResponseCode"] != "0" {
				t.Fatalf("accepted without a CheckoutRequestID: %s", rec.Body)
			}
		case http.StatusBadRequest, http.StatusInternalServerError:
			if code, _ := m["errorCode"].(string); code == "" {
				t.Fatalf("error %d without errorCode: %s", rec.Code, rec.Body)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}
