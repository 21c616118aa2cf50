package telegramtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

func getUpdates(t testing.TB, srv *Server, params url.Values) []tgbotapi.Update {
	t.Helper()
	raw := callOK(t, srv, "getUpdates", params)
	var ups []tgbotapi.Update
	if err := json.Unmarshal(raw, &ups); err != nil {
		t.Fatal(err)
	}
	return ups
}

// polled is a getUpdates answer obtained off the test goroutine.
type polled struct {
	status int
	resp   apiResponse
	err    error
}

// pollAsync starts a getUpdates on another goroutine; it reports errors
// instead of failing the test, which only the test goroutine may do.
func pollAsync(srv *Server, params url.Values) <-chan polled {
	out := make(chan polled, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost,
			fmt.Sprintf(srv.Endpoint(), srv.Token(), "getUpdates"), strings.NewReader(params.Encode()))
		if err != nil {
			out <- polled{err: err}
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			out <- polled{err: err}
			return
		}
		defer resp.Body.Close()
		var r apiResponse
		err = json.NewDecoder(resp.Body).Decode(&r)
		out <- polled{status: resp.StatusCode, resp: r, err: err}
	}()
	return out
}

// updatesOf unpacks an ok getUpdates answer on the test goroutine.
func updatesOf(t testing.TB, p polled) []tgbotapi.Update {
	t.Helper()
	if p.err != nil {
		t.Fatal(p.err)
	}
	var ups []tgbotapi.Update
	if err := json.Unmarshal(mustOK(t, p.status, p.resp), &ups); err != nil {
		t.Fatal(err)
	}
	return ups
}

func ids(ups []tgbotapi.Update) []int {
	out := []int{}
	for _, u := range ups {
		out = append(out, u.UpdateID)
	}
	return out
}

// waitHeld waits until a getUpdates is held (held) or none is (!held).
func waitHeld(t testing.TB, srv *Server, held bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := srv.waitPoller(ctx, held); err != nil {
		t.Fatalf("waiting for held=%v: %v", held, err)
	}
}

func TestGetUpdates_OffsetConfirms(t *testing.T) {
	srv := NewServer(t)
	u := User(1111111, "Test")
	a, _ := srv.SendText(nil, u, "one")
	b, _ := srv.SendText(nil, u, "two")
	c, _ := srv.SendText(nil, u, "three")
	if a != 100000001 || b != a+1 || c != b+1 {
		t.Fatalf("update ids %d %d %d, want consecutive from 100000001", a, b, c)
	}

	if got := ids(getUpdates(t, srv, nil)); !slices.Equal(got, []int{a, b, c}) {
		t.Fatalf("no offset: got %v", got)
	}
	if srv.Unconfirmed() != 3 {
		t.Errorf("returning is not confirming: Unconfirmed() = %d, want 3", srv.Unconfirmed())
	}
	if got := ids(getUpdates(t, srv, url.Values{"offset": {itoa(b)}})); !slices.Equal(got, []int{b, c}) {
		t.Fatalf("offset %d: got %v", b, got)
	}
	if srv.Offset() != b || srv.Unconfirmed() != 2 {
		t.Errorf("Offset() = %d, Unconfirmed() = %d; want %d, 2", srv.Offset(), srv.Unconfirmed(), b)
	}
	if got := ids(getUpdates(t, srv, url.Values{"offset": {itoa(a)}})); !slices.Equal(got, []int{b, c}) {
		t.Errorf("a confirmed update came back: %v", got)
	}
	if got := ids(getUpdates(t, srv, url.Values{"offset": {itoa(c + 1)}})); len(got) != 0 {
		t.Errorf("after confirming all: %v", got)
	}
	if srv.Unconfirmed() != 0 || srv.Offset() != c+1 {
		t.Errorf("Unconfirmed() = %d, Offset() = %d", srv.Unconfirmed(), srv.Offset())
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestGetUpdates_Limit(t *testing.T) {
	srv := NewServer(t)
	u := User(1111111, "Test")
	var all []int
	for range 105 {
		id, _ := srv.SendText(nil, u, "x")
		all = append(all, id)
	}
	tests := []struct {
		limit string
		want  int
	}{{"", 100}, {"1", 1}, {"7", 7}, {"100", 100}, {"101", 100}, {"0", 100}, {"-3", 100}}
	for _, tt := range tests {
		got := ids(getUpdates(t, srv, url.Values{"limit": {tt.limit}}))
		if !slices.Equal(got, all[:tt.want]) {
			t.Errorf("limit %q: got %d updates, want the first %d", tt.limit, len(got), tt.want)
		}
	}
	if got := ids(getUpdates(t, srv, url.Values{"offset": {"-2"}})); !slices.Equal(got, all[103:]) {
		t.Errorf("offset -2: got %v, want the last two", got)
	}
	if srv.Unconfirmed() != 2 {
		t.Errorf("offset -2 should forget all but the last two; %d left", srv.Unconfirmed())
	}
}

func TestGetUpdates_LongPoll(t *testing.T) {
	t.Run("WakesOnUpdate", func(t *testing.T) {
		srv := NewServer(t)
		done := pollAsync(srv, url.Values{"timeout": {"50"}})
		waitHeld(t, srv, true)
		id, _ := srv.SendText(nil, User(1, "A"), "hello")
		if got := ids(updatesOf(t, <-done)); !slices.Equal(got, []int{id}) {
			t.Errorf("held poll returned %v, want [%d]", got, id)
		}
	})
	t.Run("TimeoutCappedAtMaxLongPoll", func(t *testing.T) {
		srv := NewServer(t, Options{MaxLongPoll: 5 * time.Millisecond})
		// Asks for 50 s; with the cap the answer comes well within testTimeout.
		if got := getUpdates(t, srv, url.Values{"timeout": {"50"}}); len(got) != 0 {
			t.Errorf("got %v", got)
		}
	})
	t.Run("ZeroTimeoutAnswersAtOnce", func(t *testing.T) {
		srv := NewServer(t)
		if got := getUpdates(t, srv, url.Values{"timeout": {"0"}}); len(got) != 0 {
			t.Errorf("got %v", got)
		}
	})
	t.Run("ClientGoingAwayReleasesPoll", func(t *testing.T) {
		srv := NewServer(t)
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost,
			fmt.Sprintf(srv.Endpoint(), srv.Token(), "getUpdates")+"?timeout=50", nil)
		errc := make(chan error, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			errc <- err
		}()
		waitHeld(t, srv, true)
		cancel()
		<-errc
		waitHeld(t, srv, false)
		if len(srv.Calls("getUpdates")) != 1 {
			t.Errorf("the abandoned poll was not recorded")
		}
	})
	t.Run("CloseWakesHeldPoll", func(t *testing.T) {
		srv, err := Start(Options{})
		if err != nil {
			t.Fatal(err)
		}
		done := pollAsync(srv, url.Values{"timeout": {"50"}})
		waitHeld(t, srv, true)
		srv.Close()
		if got := updatesOf(t, <-done); len(got) != 0 {
			t.Errorf("poll woken by Close returned %v", got)
		}
	})
}

func TestGetUpdates_SecondPollerConflicts(t *testing.T) {
	srv := NewServer(t)
	first := pollAsync(srv, url.Values{"timeout": {"50"}})
	waitHeld(t, srv, true)
	second := pollAsync(srv, url.Values{"timeout": {"50"}})
	p := <-first
	if p.err != nil {
		t.Fatal(p.err)
	}
	mustFail(t, p.status, p.resp, 409,
		"Conflict: terminated by other getUpdates request; make sure that only one bot instance is running")
	waitHeld(t, srv, true)
	id, _ := srv.SendText(nil, User(1, "A"), "hi")
	if got := ids(updatesOf(t, <-second)); !slices.Equal(got, []int{id}) {
		t.Errorf("second poller got %v, want [%d]", got, id)
	}
	if srv.Delivered(id) != 1 {
		t.Errorf("Delivered(%d) = %d, want 1", id, srv.Delivered(id))
	}
}

func TestGetUpdates_Webhook(t *testing.T) {
	srv := NewServer(t)
	api := newAPI(t, srv)
	srv.SetWebhook("https://bot.example.com/hook")
	_, err := api.GetUpdates(tgbotapi.UpdateConfig{})
	if err == nil || err.Error() != "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first" {
		t.Fatalf("getUpdates with a webhook: %v", err)
	}
	info, err := api.GetWebhookInfo()
	if err != nil || info.URL != "https://bot.example.com/hook" {
		t.Fatalf("GetWebhookInfo = %+v, %v", info, err)
	}
	srv.SendText(nil, User(1, "A"), "queued while the webhook was set")
	if _, err := api.Request(tgbotapi.DeleteWebhookConfig{}); err != nil {
		t.Fatal(err)
	}
	if ups, err := api.GetUpdates(tgbotapi.UpdateConfig{}); err != nil || len(ups) != 1 {
		t.Fatalf("after deleteWebhook: %v, %v", ups, err)
	}

	t.Run("DropPendingUpdates", func(t *testing.T) {
		srv.SendText(nil, User(1, "A"), "to drop")
		if _, err := api.Request(tgbotapi.DeleteWebhookConfig{DropPendingUpdates: true}); err != nil {
			t.Fatal(err)
		}
		if srv.Unconfirmed() != 0 {
			t.Errorf("drop_pending_updates left %d updates", srv.Unconfirmed())
		}
	})
}

func TestGetUpdates_Redeliver(t *testing.T) {
	srv := NewServer(t)
	api := newAPI(t, srv)
	id, _ := srv.SendText(nil, User(1111111, "Test"), "/pay 0712345678 100")
	ups, err := api.GetUpdates(tgbotapi.UpdateConfig{})
	if err != nil || len(ups) != 1 {
		t.Fatal(ups, err)
	}
	if _, err := api.GetUpdates(tgbotapi.UpdateConfig{Offset: id + 1}); err != nil {
		t.Fatal(err)
	}
	if srv.Unconfirmed() != 0 {
		t.Fatalf("not confirmed")
	}
	srv.Redeliver(id)
	// A bot restarted after a crash polls without an offset.
	again, err := api.GetUpdates(tgbotapi.UpdateConfig{})
	if err != nil || len(again) != 1 || again[0].UpdateID != id || again[0].Message.Text != "/pay 0712345678 100" {
		t.Fatalf("redelivered: %+v, %v", again, err)
	}
	if srv.Delivered(id) != 2 {
		t.Errorf("Delivered(%d) = %d, want 2", id, srv.Delivered(id))
	}
	srv.Redeliver(id) // still unconfirmed: no duplicate
	if srv.Unconfirmed() != 1 {
		t.Errorf("Unconfirmed() = %d after redelivering a queued update", srv.Unconfirmed())
	}
	defer func() {
		if recover() == nil {
			t.Errorf("Redeliver of an unknown update did not panic")
		}
	}()
	srv.Redeliver(42)
}

func TestGetUpdates_AllowedUpdates(t *testing.T) {
	srv := NewServer(t)
	api := newAPI(t, srv)
	u := User(1111111, "Test")
	text, _ := srv.SendText(nil, u, "hi")
	srv.SendBlocked(nil, u)
	cb := srv.SendCallbackQuery(nil, u, "status:1")
	ups, err := api.GetUpdates(tgbotapi.UpdateConfig{AllowedUpdates: []string{"message", "callback_query"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(ups); !slices.Equal(got, []int{text, cb}) {
		t.Errorf("allowed message+callback_query: got %v, want [%d %d]", got, text, cb)
	}
	// The setting is remembered: a later call without it keeps filtering.
	srv.SendBlocked(nil, u)
	ups, err = api.GetUpdates(tgbotapi.UpdateConfig{Offset: cb + 1})
	if err != nil || len(ups) != 0 {
		t.Errorf("later poll: %v, %v", ids(ups), err)
	}
}

func TestGetUpdates_ConcurrentInjectionAndPolling(t *testing.T) {
	srv := NewServer(t)
	const writers, each = 4, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			chat := GroupChat(int64(w+1), "G")
			for range each {
				srv.SendText(chat, User(int64(w+1), "U"), "/status")
			}
		}()
	}
	seen := map[int]bool{}
	offset := 0
	injected := make(chan struct{})
	go func() { wg.Wait(); close(injected) }()
	for done := false; !done; {
		select {
		case <-injected:
			done = true
		default:
		}
		for _, u := range getUpdates(t, srv, url.Values{"offset": {itoa(offset)}, "timeout": {"0"}}) {
			if seen[u.UpdateID] {
				t.Fatalf("update %d returned after being confirmed", u.UpdateID)
			}
			if u.UpdateID < offset {
				t.Fatalf("update %d below offset %d", u.UpdateID, offset)
			}
			seen[u.UpdateID] = true
			offset = u.UpdateID + 1
		}
	}
	for _, u := range getUpdates(t, srv, url.Values{"offset": {itoa(offset)}}) {
		seen[u.UpdateID] = true
	}
	if len(seen) != writers*each {
		t.Errorf("saw %d updates, want %d", len(seen), writers*each)
	}
}
