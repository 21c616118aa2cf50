package mpesatest

import (
	"net/http"
	"testing"
	"time"
)

func TestToken(t *testing.T) {
	t.Parallel()

	t.Run("IssuesTokenWithStringExpiresIn", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, NewServer(t))
		r := c.getToken("any", "thing")
		if r.status != http.StatusOK {
			t.Fatalf("status = %d, want 200: %s", r.status, r.body)
		}
		m := r.object(t)
		if m["expires_in"] != "3599" {
			t.Errorf("expires_in = %#v, want the string \"3599\"", m["expires_in"])
		}
		if tok, _ := m["access_token"].(string); len(tok) != 28 {
			t.Errorf("access_token = %q, want 28 characters like Daraja's", tok)
		}
	})

	t.Run("ExpiresInFollowsTTL", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, NewServer(t, WithTokenTTL(90*time.Second)))
		if got := c.getToken("", "").str(t, "expires_in"); got != "90" {
			t.Errorf("expires_in = %q, want \"90\"", got)
		}
	})

	t.Run("AcceptsAnyCredentialsWhenNoneConfigured", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, NewServer(t))
		for _, creds := range [][2]string{{"", ""}, {"k", ""}, {"key", "secret"}} {
			if r := c.getToken(creds[0], creds[1]); r.status != http.StatusOK {
				t.Errorf("credentials %q: status %d, want 200", creds, r.status)
			}
		}
	})

	t.Run("RefusesWrongCredentialsWithEmptyBody", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, NewServer(t, WithCredentials("key", "secret")))
		for _, creds := range [][2]string{{"key", "wrong"}, {"wrong", "secret"}, {"", ""}} {
			r := c.getToken(creds[0], creds[1])
			if r.status != http.StatusBadRequest || len(r.body) != 0 {
				t.Errorf("credentials %q: %d %q, want 400 with an empty body", creds, r.status, r.body)
			}
		}
		if r := c.getToken("key", "secret"); r.status != http.StatusOK {
			t.Errorf("right credentials: status %d, want 200", r.status)
		}
	})

	t.Run("RefusesMissingBasicAuth", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, NewServer(t))
		r := c.do(c.request(http.MethodGet, pathToken+"?grant_type=client_credentials", ""))
		r.wantError(t, http.StatusBadRequest, "400.008.01", "Invalid Authentication passed")
	})

	t.Run("RefusesWrongGrantType", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, NewServer(t))
		req := c.request(http.MethodGet, pathToken+"?grant_type=password", "")
		req.SetBasicAuth("k", "s")
		c.do(req).wantError(t, http.StatusBadRequest, "400.008.02", "Invalid grant type passed")
	})

	t.Run("ExpiresByTheClock", func(t *testing.T) {
		t.Parallel()
		clock := &fakeClock{now: time.Date(2024, 6, 7, 9, 30, 0, 0, time.UTC)}
		srv := NewServer(t, WithClock(clock.Now), WithTokenTTL(time.Minute), WithResultDelay(time.Hour))
		rc := newReceiver(t)
		c := newClient(t, srv)
		c.login()

		clock.Advance(59 * time.Second)
		c.mustPush("254708374149", rc.URL)

		clock.Advance(time.Second)
		c.push(pushFields("254708374100", rc.URL)).
			wantError(t, http.StatusNotFound, "404.001.03", "Invalid Access Token")

		c.login()
		c.mustPush("254708374100", rc.URL)
	})

	t.Run("InvalidateTokensRefusesEveryIssuedToken", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, WithResultDelay(time.Hour))
		c := newClient(t, srv)
		c.login()
		id := c.mustPush("254708374149", "https://example.com/cb")

		srv.InvalidateTokens()
		c.query(id).wantError(t, http.StatusNotFound, "404.001.03", "Invalid Access Token")
		c.push(pushFields("254708374100", "https://example.com/cb")).
			wantError(t, http.StatusNotFound, "404.001.03", "Invalid Access Token")

		c.login()
		if r := c.query(id); r.status != http.StatusInternalServerError && r.status != http.StatusOK {
			t.Fatalf("query with a new token: %d %s", r.status, r.body)
		}
	})

	t.Run("RefusesMissingOrUnknownBearer", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, NewServer(t))
		c.push(pushFields("254708374149", "https://example.com/cb")).
			wantError(t, http.StatusNotFound, "404.001.03", "Invalid Access Token")
		c.token = "0A0v8OgxqqoocblflR58m9chMdnU"
		c.query("ws_CO_191220191020363925").
			wantError(t, http.StatusNotFound, "404.001.03", "Invalid Access Token")
	})
}

func TestRouting(t *testing.T) {
	t.Parallel()
	srv := NewServer(t)
	c := newClient(t, srv)

	t.Run("UnknownPathIs404JSON", func(t *testing.T) {
		c.postRaw("/mpesa/b2c/v1/paymentrequest", "{}").
			wantError(t, http.StatusNotFound, "404.001.01", "Resource not found")
	})
	t.Run("WrongMethodIs404JSON", func(t *testing.T) {
		c.do(c.request(http.MethodGet, pathPush, "")).
			wantError(t, http.StatusNotFound, "404.001.01", "Resource not found")
		c.postRaw(pathToken+"?grant_type=client_credentials", "").
			wantError(t, http.StatusNotFound, "404.001.01", "Resource not found")
	})
	t.Run("RecordsUnknownPathsWithoutEndpoint", func(t *testing.T) {
		reqs := srv.Requests()
		if len(reqs) != 3 {
			t.Fatalf("recorded %d requests, want 3", len(reqs))
		}
		if reqs[0].Endpoint != "" || reqs[0].Path != "/mpesa/b2c/v1/paymentrequest" || reqs[0].Status != 404 {
			t.Errorf("first request recorded as %+v", reqs[0])
		}
		if reqs[1].Endpoint != EndpointPush || reqs[2].Endpoint != EndpointToken {
			t.Errorf("known paths recorded as %q and %q", reqs[1].Endpoint, reqs[2].Endpoint)
		}
	})
}
