package bot

import (
	"context"
	"errors"
	"sync"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// dispatcher runs update handlers concurrently across chats and in arrival
// order within a chat: each chat with work has one goroutine that
// drains its queue. Three bounds keep it from running away: at most maxQueued
// updates are accepted but unfinished (Submit blocks past that, which slows
// the poll loop, which leaves updates with Telegram); at most maxRunning
// handlers run at once; and one chat may have at most perChat updates
// waiting — past that its updates are dropped (ErrChatBacklog), because a
// chat drains no faster than Telegram lets the bot answer it (one message a
// second), and one flooding chat must not fill the global bound and stall
// every other chat.
type dispatcher struct {
	handle  func(context.Context, tgbotapi.Update)
	ctx     context.Context // handlers' context: outlives the poll loop so in-flight work can finish
	queued  chan struct{}
	running chan struct{}
	perChat int

	mu     sync.Mutex
	queues map[int64][]tgbotapi.Update
	wg     sync.WaitGroup
}

// ErrChatBacklog is returned by Submit for an update of a chat that already
// has perChat updates waiting: the update is dropped.
var ErrChatBacklog = errors.New("too many updates waiting in this chat")

func newDispatcher(ctx context.Context, maxRunning, maxQueued, perChat int, handle func(context.Context, tgbotapi.Update)) *dispatcher {
	if maxRunning < 1 {
		maxRunning = 1
	}
	if maxQueued < maxRunning {
		maxQueued = maxRunning
	}
	return &dispatcher{
		handle:  handle,
		ctx:     ctx,
		queued:  make(chan struct{}, maxQueued),
		running: make(chan struct{}, maxRunning),
		perChat: max(perChat, 1),
		queues:  make(map[int64][]tgbotapi.Update),
	}
}

// Submit hands u to the handler of its chat. It returns only once the update
// is owned by the dispatcher (so the caller may confirm it to Telegram), with
// ErrChatBacklog when the update was dropped, or with ctx's error when ctx
// ends first.
func (d *dispatcher) Submit(ctx context.Context, key int64, u tgbotapi.Update) error {
	d.mu.Lock()
	backlog := len(d.queues[key])
	d.mu.Unlock()
	if backlog >= d.perChat {
		return ErrChatBacklog
	}
	select {
	case d.queued <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	d.mu.Lock()
	q, busy := d.queues[key]
	d.queues[key] = append(q, u)
	if !busy {
		d.wg.Add(1)
		go d.drain(key)
	}
	d.mu.Unlock()
	return nil
}

func (d *dispatcher) drain(key int64) {
	defer d.wg.Done()
	for {
		d.mu.Lock()
		q := d.queues[key]
		if len(q) == 0 {
			delete(d.queues, key)
			d.mu.Unlock()
			return
		}
		u := q[0]
		q[0] = tgbotapi.Update{} // let the update be collected
		d.queues[key] = q[1:]
		d.mu.Unlock()

		d.running <- struct{}{}
		d.handle(d.ctx, u)
		<-d.running
		<-d.queued
	}
}

// Wait blocks until every submitted update was handled, or ctx ends.
func (d *dispatcher) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// idle reports whether no update is queued or being handled.
func (d *dispatcher) idle() bool {
	return len(d.queued) == 0
}
