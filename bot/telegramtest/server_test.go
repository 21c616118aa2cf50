package telegramtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// testTimeout bounds every wait in these tests; it is a guard against a
// hang, never a measurement.
const testTimeout = 10 * time.Second

func newAPI(t testing.TB, srv *Server) *tgbotapi.BotAPI {
	t.Helper()
	api, err := tgbotapi.NewBotAPIWithClient(srv.Token(), srv.Endpoint(), &http.Client{Timeout: testTimeout})
	if err != nil {
		t.Fatalf("NewBotAPIWithClient: %v", err)
	}
	return api
}

type apiResponse struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  *struct {
		RetryAfter      int   `json:"retry_after"`
		MigrateToChatID int64 `json:"migrate_to_chat_id"`
	} `json:"parameters"`
}

// call posts a form to method with the server's token.
func call(t testing.TB, srv *Server, method string, params url.Values) (int, apiResponse) {
	t.Helper()
	return callURL(t, fmt.Sprintf(srv.Endpoint(), srv.Token(), method), params)
}

func callURL(t testing.TB, u string, params url.Values) (int, apiResponse) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(params.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, req)
}

func do(t testing.TB, req *http.Request) (int, apiResponse) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("%s answered %d with non-JSON %q", req.URL.Path, resp.StatusCode, body)
	}
	return resp.StatusCode, r
}

// callOK posts to method and returns the result of an ok answer.
func callOK(t testing.TB, srv *Server, method string, params url.Values) json.RawMessage {
	t.Helper()
	status, r := call(t, srv, method, params)
	return mustOK(t, status, r)
}

func mustOK(t testing.TB, status int, r apiResponse) json.RawMessage {
	t.Helper()
	if status != http.StatusOK || !r.OK {
		t.Fatalf("want ok, got %d %+v", status, r)
	}
	return r.Result
}

func mustFail(t testing.TB, status int, r apiResponse, wantStatus int, wantDescription string) {
	t.Helper()
	if status != wantStatus || r.OK || r.ErrorCode != wantStatus || r.Description != wantDescription {
		t.Fatalf("got %d %+v,\nwant %d %q", status, r, wantStatus, wantDescription)
	}
}

func TestServer_GetMeThroughTheLibrary(t *testing.T) {
	srv := NewServer(t)
	api := newAPI(t, srv)
	if api.Self.ID != 999000111 || api.Self.UserName != "MpesaPayBot" || !api.Self.IsBot {
		t.Errorf("Self = %+v", api.Self)
	}
	if srv.Bot() != api.Self {
		t.Errorf("Bot() = %+v, library saw %+v", srv.Bot(), api.Self)
	}
	// The exact JSON of the reference capture.
	status, r := call(t, srv, "getMe", nil)
	want := `{"id":999000111,"is_bot":true,"first_name":"PayBot","username":"MpesaPayBot","can_join_groups":true,"can_read_all_group_messages":false,"supports_inline_queries":false}`
	if got := string(mustOK(t, status, r)); got != want {
		t.Errorf("getMe result:\n got %s\nwant %s", got, want)
	}
}

func TestServer_Options(t *testing.T) {
	srv := NewServer(t, Options{Token: "12345:other-token", BotUserName: "ShopBot"})
	api := newAPI(t, srv)
	if api.Self.ID != 12345 || api.Self.UserName != "ShopBot" {
		t.Errorf("Self = %+v, want the bot ID from the token and the given name", api.Self)
	}
	if _, err := Start(Options{Token: "bad/token"}); err == nil {
		t.Errorf("Start accepted a token that cannot be in a path")
	}
}

func TestServer_RefusesWrongTokenAndUnknownMethod(t *testing.T) {
	srv := NewServer(t)
	base := strings.TrimSuffix(srv.Endpoint(), "/bot%s/%s")
	tests := []struct {
		name   string
		url    string
		status int
		desc   string
	}{
		{"WrongToken", fmt.Sprintf(srv.Endpoint(), "999000111:wrong", "getMe"), 401, "Unauthorized"},
		{"NoToken", base + "/bot/getMe", 401, "Unauthorized"},
		{"UnknownMethod", fmt.Sprintf(srv.Endpoint(), srv.Token(), "sendPony"), 404, "Not Found"},
		{"NoMethod", base + "/bot" + srv.Token(), 404, "Not Found"},
		{"NotABotPath", base + "/file/bot" + srv.Token() + "/x.jpg", 404, "Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, r := callURL(t, tt.url, nil)
			mustFail(t, status, r, tt.status, tt.desc)
		})
	}
	if _, err := tgbotapi.NewBotAPIWithClient("1:wrong", srv.Endpoint(), &http.Client{Timeout: testTimeout}); err == nil ||
		err.Error() != "Unauthorized" {
		t.Errorf("library with a wrong token: %v, want Unauthorized", err)
	}
	calls := srv.Calls()
	if len(calls) != len(tests)+1 || calls[0].Status != 401 || calls[2].Status != 404 || calls[2].Method != "sendPony" {
		t.Errorf("failed requests not recorded as such: %+v", calls)
	}
}

func TestServer_ParsesEveryBodyShape(t *testing.T) {
	srv := NewServer(t)
	u := User(1111111, "Test")
	srv.SendText(nil, u, "/start")
	endpoint := func(method string) string { return fmt.Sprintf(srv.Endpoint(), srv.Token(), method) }
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	jsonReq, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint("sendMessage"),
		bytes.NewBufferString(`{"chat_id":1111111,"text":"json <b>body</b>","parse_mode":"HTML","reply_markup":{"inline_keyboard":[[{"text":"Status","callback_data":"status:1"}]]}}`))
	jsonReq.Header.Set("Content-Type", "application/json; charset=utf-8")
	status, r := do(t, jsonReq)
	mustOK(t, status, r)

	getReq, _ := http.NewRequestWithContext(ctx, http.MethodGet, endpoint("SENDMESSAGE")+"?chat_id=1111111&text=query+string", nil)
	status, r = do(t, getReq)
	mustOK(t, status, r)

	sent := srv.Sent()
	if len(sent) != 2 || sent[0].Plain != "json body" || sent[0].Params.Get("reply_markup") == "" || sent[1].Text != "query string" {
		t.Fatalf("sent = %+v", sent)
	}
	if sent[1].Method != "sendMessage" {
		t.Errorf("method names are case-insensitive but recorded as the API spells them: got %q", sent[1].Method)
	}
}

func TestServer_CloseStopsEverything(t *testing.T) {
	srv, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	srv.Close() // twice is fine
	client := &http.Client{Timeout: testTimeout}
	if _, err := client.Get(fmt.Sprintf(srv.Endpoint(), srv.Token(), "getMe")); err == nil {
		t.Errorf("server still answers after Close")
	}
}
