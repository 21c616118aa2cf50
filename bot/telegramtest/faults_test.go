package telegramtest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

func TestFailNext(t *testing.T) {
	tests := []struct {
		name        string
		fault       Fault
		status      int
		description string
		retryAfter  int
	}{
		{"TooManyRequests", Fault{ErrorCode: 429, RetryAfter: 7}, 429, "Too Many Requests: retry after 7", 7},
		{"TooManyRequestsDefaultRetry", Fault{Status: 429}, 429, "Too Many Requests: retry after 1", 1},
		{"Conflict", Fault{ErrorCode: 409}, 409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running", 0},
		{"ServerError", Fault{Status: 500}, 500, "Internal Server Error", 0},
		{"Default", Fault{}, 500, "Internal Server Error", 0},
		{"Custom", Fault{Status: 400, Description: "Bad Request: chat not found"}, 400, "Bad Request: chat not found", 0},
		{"StatusDiffersFromCode", Fault{Status: 200, ErrorCode: 400, Description: "Bad Request: odd"}, 200, "Bad Request: odd", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _, u, _ := withChat(t)
			srv.FailNext("sendMessage", tt.fault)
			params := url.Values{"chat_id": {fmt.Sprint(u.ID)}, "text": {"x"}}
			status, r := call(t, srv, "sendMessage", params)
			if status != tt.status || r.OK || r.Description != tt.description {
				t.Fatalf("got %d %+v, want %d %q", status, r, tt.status, tt.description)
			}
			if got := 0; r.Parameters != nil {
				got = r.Parameters.RetryAfter
				if got != tt.retryAfter {
					t.Errorf("retry_after = %d, want %d", got, tt.retryAfter)
				}
			} else if tt.retryAfter != 0 {
				t.Errorf("no parameters.retry_after, want %d", tt.retryAfter)
			}
			if len(srv.Sent()) != 0 {
				t.Errorf("a faulted sendMessage was accepted")
			}
			callOK(t, srv, "sendMessage", params) // the fault is spent
			if calls := srv.Calls("sendMessage"); len(calls) != 2 || calls[0].Status != tt.status || calls[1].Status != 200 {
				t.Errorf("calls = %+v", calls)
			}
		})
	}
}

func TestFailNext_TheLibrarySeesRetryAfter(t *testing.T) {
	srv, api, u, _ := withChat(t)
	srv.FailNext("SENDMESSAGE", Fault{ErrorCode: 429, RetryAfter: 3})
	_, err := api.Send(tgbotapi.NewMessage(u.ID, "x"))
	var apiErr *tgbotapi.Error
	if !errors.As(err, &apiErr) || apiErr.Code != 429 || apiErr.RetryAfter != 3 {
		t.Fatalf("got %#v, want a 429 with RetryAfter 3", err)
	}
}

func TestFailNext_TimesQueueAndWildcard(t *testing.T) {
	srv, api, u, _ := withChat(t)
	srv.FailNext("getUpdates", Fault{Status: 502, HTML: true, Times: 2})
	srv.FailNext("getUpdates", Fault{ErrorCode: 409})
	srv.FailNext("*", Fault{Status: 500})
	want := []string{"html", "html", "Conflict", "Internal Server Error", ""}
	for i, w := range want {
		_, err := api.GetUpdates(tgbotapi.UpdateConfig{})
		switch {
		case w == "":
			if err != nil {
				t.Errorf("call %d: %v, want success", i, err)
			}
		case w == "html":
			// The library cannot decode an HTML page: a JSON error, not a tgbotapi.Error.
			var apiErr *tgbotapi.Error
			if err == nil || errors.As(err, &apiErr) {
				t.Errorf("call %d: %#v, want a decode error", i, err)
			}
		case err == nil || !strings.Contains(err.Error(), w):
			t.Errorf("call %d: %v, want %q", i, err, w)
		}
	}
	if srv.Unconfirmed() != 1 {
		t.Errorf("faulted polls confirmed updates: %d left", srv.Unconfirmed())
	}
	// The wildcard applies to any method once its own queue is empty.
	srv.FailNext("*", Fault{Status: 503})
	if _, err := api.Send(tgbotapi.NewMessage(u.ID, "x")); err == nil {
		t.Errorf("wildcard fault not applied to sendMessage")
	}
}

func TestSetDown(t *testing.T) {
	srv, api, u, _ := withChat(t)
	srv.SetDown(true)
	resp, err := http.Post(fmt.Sprintf(srv.Endpoint(), "any-token", "getMe"), "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(body), "502 Bad Gateway") {
		t.Errorf("down: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if _, err := api.Send(tgbotapi.NewMessage(u.ID, "x")); err == nil {
		t.Errorf("sendMessage succeeded while down")
	}
	srv.SetDown(false)
	if _, err := api.Send(tgbotapi.NewMessage(u.ID, "x")); err != nil {
		t.Errorf("after SetDown(false): %v", err)
	}
	if len(srv.Sent()) != 1 || len(srv.Calls("sendMessage")) != 2 || srv.Calls("sendMessage")[0].Status != 502 {
		t.Errorf("sent %d, calls %+v", len(srv.Sent()), srv.Calls("sendMessage"))
	}
}
