package bot

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/mpesa-bot/mpesa-bot/mpesa/testkit"
)

func update(id int) tgbotapi.Update { return tgbotapi.Update{UpdateID: id} }

// Updates of one chat run one after another in arrival order; another chat
// runs while the first is blocked.
func TestDispatcherOrdersPerChatAndRunsChatsConcurrently(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	seen := map[int64][]int{}
	otherDone := make(chan struct{})
	d := newDispatcher(context.Background(), 4, 16, 16, func(_ context.Context, u tgbotapi.Update) {
		chat := int64(u.UpdateID / 100)
		if u.UpdateID == 101 {
			<-release // chat 1's first update is slow
		}
		mu.Lock()
		seen[chat] = append(seen[chat], u.UpdateID)
		n := len(seen[2])
		mu.Unlock()
		if chat == 2 && n == 3 {
			close(otherDone)
		}
	})
	ctx := context.Background()
	for _, id := range []int{101, 102, 201, 103, 202, 203} {
		if err := d.Submit(ctx, int64(id/100), update(id)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-otherDone:
	case <-time.After(10 * time.Second):
		t.Fatal("chat 2 waited for chat 1's slow update")
	}
	close(release)
	if err := d.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if got := seen[1]; len(got) != 3 || got[0] != 101 || got[1] != 102 || got[2] != 103 {
		t.Errorf("chat 1 handled %v, want 101 102 103 in order", got)
	}
	if got := seen[2]; len(got) != 3 || got[0] != 201 || got[2] != 203 {
		t.Errorf("chat 2 handled %v", got)
	}
	if !d.idle() {
		t.Error("dispatcher not idle after Wait")
	}
}

// Submit blocks once maxQueued updates are unfinished: the poll loop slows
// down instead of piling updates up in memory.
func TestDispatcherBoundsQueuedUpdates(t *testing.T) {
	release := make(chan struct{})
	d := newDispatcher(context.Background(), 1, 2, 2, func(context.Context, tgbotapi.Update) { <-release })
	ctx := context.Background()
	for i := range 2 {
		if err := d.Submit(ctx, int64(i), update(i)); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := d.Submit(short, 9, update(9)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("third Submit = %v, want it to wait for room", err)
	}
	close(release)
	if err := d.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// The token never survives in a transport error, and what callers branch on
// (cancellation, timeouts) does.
func TestRedactError(t *testing.T) {
	const token = "123456789:AAH-secret-token-value_0123456789"
	err := &url.Error{Op: "Post", URL: "https://api.telegram.org/bot" + token + "/getUpdates", Err: context.Canceled}
	red := redactError(err, token)
	if strings.Contains(red.Error(), token) || strings.Contains(red.Error(), "AAH-secret") {
		t.Errorf("token in %q", red.Error())
	}
	if !errors.Is(red, context.Canceled) {
		t.Error("redacted error lost context.Canceled")
	}
	var ue *url.Error
	if !errors.As(red, &ue) || strings.Contains(ue.URL, token) {
		t.Errorf("unwrapped url.Error still holds the token: %v", ue)
	}
	timeout := redactError(&url.Error{Op: "Post", URL: "x/bot" + token, Err: context.DeadlineExceeded}, token)
	var te interface{ Timeout() bool }
	if !errors.As(timeout, &te) || !te.Timeout() {
		t.Error("redacted timeout no longer reports Timeout()")
	}
	if got := redact("bot999:"+strings.Repeat("Z", 30)+"/x", ""); strings.Contains(got, "ZZZZ") {
		t.Errorf("token-shaped text survived: %q", got)
	}
}

func TestLibraryLoggerRedacts(t *testing.T) {
	const token = "123456789:AAH-secret-token-value_0123456789"
	var buf testkit.SyncBuffer
	l := LibraryLogger(newTestLogger(&buf), token)
	l.Printf("Endpoint: %s", "https://api.telegram.org/bot"+token+"/getMe")
	l.Println("Post", "https://api.telegram.org/bot"+token+"/getUpdates", "failed")
	if strings.Contains(buf.String(), "AAH-secret") {
		t.Errorf("token logged: %s", buf.String())
	}
	if !strings.Contains(buf.String(), redacted) {
		t.Errorf("nothing logged: %q", buf.String())
	}
}

// One chat with perChat updates waiting gets its next ones dropped at once;
// other chats are still accepted.
func TestDispatcherDropsAFloodingChatsBacklog(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{}, 1)
	d := newDispatcher(context.Background(), 2, 100, 3, func(context.Context, tgbotapi.Update) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-release
	})
	ctx := context.Background()
	if err := d.Submit(ctx, 1, update(0)); err != nil {
		t.Fatal(err)
	}
	<-started // the first is running, no longer waiting
	var dropped int
	for i := 1; i < 10; i++ {
		if err := d.Submit(ctx, 1, update(i)); errors.Is(err, ErrChatBacklog) {
			dropped++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Submit(ctx, 2, update(100)); err != nil {
		t.Errorf("another chat refused: %v", err)
	}
	close(release)
	if err := d.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	// One running and three waiting fit; the other six were dropped.
	if dropped != 6 {
		t.Errorf("dropped %d, want 6", dropped)
	}
}
