package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// notifications counts the outbox's Notification calls.
type notifications struct {
	noMetrics
	mu sync.Mutex
	n  map[string]int
}

func (m *notifications) Notification(result string) {
	m.mu.Lock()
	if m.n == nil {
		m.n = make(map[string]int)
	}
	m.n[result]++
	m.mu.Unlock()
}

func (m *notifications) count(result string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n[result]
}

// settled creates a payment and settles it rejected, as a push refused
// would: its outcome (and feed line) is then owed.
func (r *rig) settled(i int) storage.Payment {
	r.t.Helper()
	p := r.create(fmt.Sprintf("2547123457%02d", i), mpesatest.Outcome{})
	p, changed := r.e.settle(p.ID, storage.Result{State: storage.StateRejected, Source: "push", ResultCode: "test", ResultDesc: ReasonStorage})
	if !changed {
		r.t.Fatalf("payment %s not settled", p.ID)
	}
	return p
}

// waitTries waits until id was tried n times, outcomes and feed lines alike.
func (c *fakeChats) waitTries(t *testing.T, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		got := c.tries[id]
		c.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("payment %s: tried %d times, want %d", id, got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A final payment's outcome and feed line go out once each and are marked in
// the store; asking again sends nothing more, and a payment still pending is
// owed nothing.
func TestOutboxTellsAndPostsOnce(t *testing.T) {
	m := &notifications{}
	r := newRigWith(t, func(r *rig) { r.metrics, r.cfg = m, func(c *Config) { c.Feed = true } })
	r.run()
	p := r.settled(1)
	pending := r.push(paidPhone, mpesatest.Outcome{Manual: true})
	r.waitTold(p.ID, 1)
	r.waitFor(p.ID, "notified and posted", func(p storage.Payment) bool { return p.Notified && p.FeedPosted })
	r.e.outbox.owed(p.ID)
	r.e.outbox.owed(pending.ID)
	if !waitIdle(r.e.Outbox()) {
		t.Fatal("the outbox is not idle")
	}
	if n, f := r.chats.count(p.ID), r.chats.postedCount(p.ID); n != 1 || f != 1 {
		t.Errorf("told %d times, posted %d times; want once each", n, f)
	}
	if n := r.chats.count(pending.ID); n != 0 {
		t.Errorf("a pending payment was told %d times", n)
	}
	if m.count("sent") != 1 || m.count("feed_sent") != 1 {
		t.Errorf("notifications %v, want one sent and one feed_sent", m.n)
	}
}

// Without a merchant feed, no feed line is owed.
func TestOutboxWithoutAFeedPostsNothing(t *testing.T) {
	r := newRig(t)
	r.run()
	p := r.settled(1)
	r.waitTold(p.ID, 1)
	if !waitIdle(r.e.Outbox()) {
		t.Fatal("the outbox is not idle")
	}
	if n := r.chats.postedCount(p.ID); n != 0 {
		t.Errorf("posted %d feed lines without a feed", n)
	}
	if got, _ := r.st.Get(p.ID); got.FeedPosted {
		t.Error("marked posted without a feed")
	}
}

// A flood wait is sat out off the worker: with one worker, another chat's
// outcome goes out meanwhile, and the waiting one after the wait.
func TestOutboxFloodWaitDoesNotHoldTheWorker(t *testing.T) {
	r := newRigWith(t, func(r *rig) { r.cfg = func(c *Config) { c.NotifyWorkers = 1 } })
	var waiting string
	r.chats.set(func(p storage.Payment, try int) Delivery {
		if p.ID == waiting && try == 1 {
			return Delivery{RetryAfter: 200 * time.Millisecond, Err: errors.New("429")}
		}
		return Delivery{Sent: true}
	}, nil)
	first := r.create("254712345701", mpesatest.Outcome{})
	waiting = first.ID
	r.run()
	start := time.Now()
	r.e.settle(first.ID, storage.Result{State: storage.StateRejected, Source: "push", ResultCode: "test"})
	r.chats.waitTries(t, first.ID, 1)
	other := r.settled(2)
	r.waitTold(other.ID, 1)
	r.waitTold(first.ID, 1)
	if got := r.chats.order(); !slices.Equal(got, []string{other.ID, first.ID}) {
		t.Errorf("told %v, want the other chat first", got)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("told after %s, before the flood wait ended", d)
	}
}

// A chat that cannot be told is recorded once (notify_failed), not tried
// again this run, and stays owed for the next start.
func TestOutboxPermanentFailureIsRecordedOnce(t *testing.T) {
	m := &notifications{}
	r := newRigWith(t, func(r *rig) { r.metrics = m })
	r.e.outbox.retryFirst, r.e.outbox.retryMax = time.Millisecond, 5*time.Millisecond
	r.chats.set(func(storage.Payment, int) Delivery {
		return Delivery{Permanent: true, Err: errors.New("blocked")}
	}, nil)
	r.run()
	p := r.settled(1)
	r.chats.waitTries(t, p.ID, 1)
	if !waitIdle(r.e.Outbox()) {
		t.Fatal("the outbox is not idle")
	}
	time.Sleep(50 * time.Millisecond) // a retry would come within the backoff
	got, _ := r.st.Get(p.ID)
	n := 0
	for _, ev := range got.History {
		if ev.Type == "notify_failed" {
			n++
			if ev.Detail != "blocked" {
				t.Errorf("notify_failed detail %q, want the error", ev.Detail)
			}
		}
	}
	if n != 1 || got.Notified {
		t.Errorf("%d notify_failed events, notified %v; want one and not notified", n, got.Notified)
	}
	if m.count("failed") != 1 {
		t.Errorf("%d failed notifications, want 1", m.count("failed"))
	}
	owed, err := r.st.ListUnnotified()
	if err != nil || !slices.ContainsFunc(owed, func(q storage.Payment) bool { return q.ID == p.ID }) {
		t.Errorf("not owed at the next start (%v)", err)
	}
}

// A temporary failure is tried again, with the backoff, until it goes out.
func TestOutboxRetriesATemporaryFailure(t *testing.T) {
	r := newRig(t)
	r.e.outbox.retryFirst, r.e.outbox.retryMax = time.Millisecond, 5*time.Millisecond
	r.chats.set(func(_ storage.Payment, try int) Delivery {
		if try < 3 {
			return Delivery{Err: errors.New("timeout")}
		}
		return Delivery{Sent: true}
	}, nil)
	r.run()
	p := r.settled(1)
	r.waitTold(p.ID, 1)
	r.waitFor(p.ID, "notified", func(p storage.Payment) bool { return p.Notified })
	r.chats.mu.Lock()
	tries := r.chats.tries[p.ID]
	r.chats.mu.Unlock()
	if tries != 3 {
		t.Errorf("tried %d times, want 3", tries)
	}
}

// An outcome never overtakes its /pay's acknowledgement: it waits, without
// a worker, until the acknowledgement is out.
func TestOutcomeWaitsForItsAcknowledgement(t *testing.T) {
	r := newRig(t)
	r.run()
	p := r.create("254712345701", mpesatest.Outcome{})
	done := r.e.Outbox().ExpectAck(p.ID)
	r.e.settle(p.ID, storage.Result{State: storage.StateRejected, Source: "push", ResultCode: "test"})
	if !waitIdle(r.e.Outbox()) {
		t.Fatal("a deferred outcome holds the outbox")
	}
	if n := r.chats.count(p.ID); n != 0 {
		t.Fatalf("told %d times before the acknowledgement", n)
	}
	done()
	r.waitTold(p.ID, 1)
}

// More owed than a queue holds: the rest is found in the store by the
// rescan, and every outcome goes out once.
func TestOutboxOverflowIsRescanned(t *testing.T) {
	r := newRigWith(t, func(r *rig) {
		r.cfg = func(c *Config) { c.NotifyWorkers, c.NotifyQueue, c.NotifyRescan = 1, 2, 10*time.Millisecond }
	})
	gate := make(chan struct{})
	r.chats.set(func(storage.Payment, int) Delivery { <-gate; return Delivery{Sent: true} }, nil)
	r.run()
	var ids []string
	for i := range 10 {
		ids = append(ids, r.settled(i).ID)
	}
	close(gate)
	for _, id := range ids {
		r.waitTold(id, 1)
	}
	if !waitIdle(r.e.Outbox()) {
		t.Fatal("the outbox is not idle")
	}
	for _, id := range ids {
		if n := r.chats.count(id); n != 1 {
			t.Errorf("payment %s told %d times, want 1", id, n)
		}
	}
}

// Drain waits for what is being sent, then takes nothing more.
func TestOutboxDrainWaitsThenStops(t *testing.T) {
	r := newRig(t)
	gate := make(chan struct{})
	r.chats.set(func(storage.Payment, int) Delivery { <-gate; return Delivery{Sent: true} }, nil)
	r.run()
	p := r.settled(1)
	r.chats.waitTries(t, p.ID, 1)
	drained := make(chan struct{})
	go func() { r.e.Outbox().Drain(context.Background()); close(drained) }()
	select {
	case <-drained:
		t.Fatal("Drain returned while an outcome was being sent")
	case <-time.After(50 * time.Millisecond):
	}
	close(gate)
	<-drained
	if n := r.chats.count(p.ID); n != 1 {
		t.Errorf("told %d times, want 1", n)
	}
	late := r.settled(2)
	time.Sleep(50 * time.Millisecond)
	if n := r.chats.count(late.ID); n != 0 || !r.e.Outbox().Idle() {
		t.Errorf("after Drain: told %d times, idle %v; want nothing queued", n, r.e.Outbox().Idle())
	}
}
