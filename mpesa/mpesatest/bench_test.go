package mpesatest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkPushQuery measures one payment through the handler, without a network:
// an STK Push, a pending query, the result, and the final query.
func BenchmarkPushQuery(b *testing.B) {
	sim := New()
	defer sim.Close()
	const phones = 1000
	for i := range phones {
		sim.SetPhoneOutcome(fmt.Sprintf("25470%07d", i), Outcome{Manual: true, NoCallback: true})
	}
	serve := func(method, path, token, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
		return rec
	}
	treq := httptest.NewRequest(http.MethodGet, pathToken+"?grant_type=client_credentials", nil)
	treq.SetBasicAuth("k", "s")
	trec := httptest.NewRecorder()
	sim.ServeHTTP(trec, treq)
	var tok tokenBody
	if err := json.Unmarshal(trec.Body.Bytes(), &tok); err != nil {
		b.Fatal(err)
	}
	pw := password(SandboxShortCode, SandboxPasskey, testTimestamp)
	pushes := make([]string, phones)
	for i := range pushes {
		pushes[i] = fmt.Sprintf(`{"BusinessShortCode":174379,"Password":%q,"Timestamp":%q,`+
			`"TransactionType":"CustomerPayBillOnline","Amount":1,"PartyA":25470%07d,"PartyB":174379,`+
			`"PhoneNumber":25470%07d,"CallBackURL":"https://bot.example/cb/x","AccountReference":"INV-42",`+
			`"TransactionDesc":"Payment"}`, pw, testTimestamp, i, i)
	}
	query := func(id string) string {
		return fmt.Sprintf(`{"BusinessShortCode":"174379","Password":%q,"Timestamp":%q,"CheckoutRequestID":%q}`,
			pw, testTimestamp, id)
	}

	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rec := serve(http.MethodPost, pathPush, tok.AccessToken, pushes[i%phones])
		var acc pushAccepted
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &acc) != nil {
			b.Fatalf("push: %d %s", rec.Code, rec.Body)
		}
		if rec := serve(http.MethodPost, pathQuery, tok.AccessToken, query(acc.CheckoutRequestID)); rec.Code != http.StatusInternalServerError {
			b.Fatalf("pending query: %d %s", rec.Code, rec.Body)
		}
		if err := sim.Complete(acc.CheckoutRequestID); err != nil {
			b.Fatal(err)
		}
		if rec := serve(http.MethodPost, pathQuery, tok.AccessToken, query(acc.CheckoutRequestID)); rec.Code != http.StatusOK {
			b.Fatalf("final query: %d %s", rec.Code, rec.Body)
		}
		i++
	}
}
