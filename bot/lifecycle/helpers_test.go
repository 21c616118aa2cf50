package lifecycle

import (
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mpesa-bot/mpesa-bot/mpesa"
	"github.com/mpesa-bot/mpesa-bot/mpesa/mpesatest"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// fakeChats is a Deliverer that remembers every delivery. Until told
// otherwise every message is sent; outcome and feed, when set, decide what
// comes of each attempt instead.
type fakeChats struct {
	mu      sync.Mutex
	told    []storage.Payment // outcomes sent, in order
	posted  []storage.Payment // feed lines sent, in order
	tries   map[string]int    // attempts per payment, outcomes and feed lines alike
	outcome func(p storage.Payment, try int) Delivery
	feed    func(p storage.Payment, try int) Delivery
}

func (c *fakeChats) DeliverOutcome(_ context.Context, p storage.Payment) Delivery {
	return c.attempt(p, &c.told, func() func(storage.Payment, int) Delivery { return c.outcome })
}

func (c *fakeChats) DeliverFeed(_ context.Context, p storage.Payment) Delivery {
	return c.attempt(p, &c.posted, func() func(storage.Payment, int) Delivery { return c.feed })
}

func (c *fakeChats) attempt(p storage.Payment, sent *[]storage.Payment, how func() func(storage.Payment, int) Delivery) Delivery {
	c.mu.Lock()
	if c.tries == nil {
		c.tries = make(map[string]int)
	}
	c.tries[p.ID]++
	try, f := c.tries[p.ID], how()
	c.mu.Unlock()
	d := Delivery{Sent: true}
	if f != nil {
		d = f(p, try)
	}
	if d.Sent {
		c.mu.Lock()
		*sent = append(*sent, p)
		c.mu.Unlock()
	}
	return d
}

// set changes what comes of deliveries from now on.
func (c *fakeChats) set(outcome, feed func(storage.Payment, int) Delivery) {
	c.mu.Lock()
	c.outcome, c.feed = outcome, feed
	c.mu.Unlock()
}

// count is how many times id's outcome was sent.
func (c *fakeChats) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, p := range c.told {
		if p.ID == id {
			n++
		}
	}
	return n
}

// postedCount is how many times id's feed line was sent.
func (c *fakeChats) postedCount(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, p := range c.posted {
		if p.ID == id {
			n++
		}
	}
	return n
}

// states is the states id's outcome was sent in, in order.
func (c *fakeChats) states(id string) []storage.State {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s []storage.State
	for _, p := range c.told {
		if p.ID == id {
			s = append(s, p.State)
		}
	}
	return s
}

// waitIdle waits a while for o to have nothing queued or being sent.
func waitIdle(o *Outbox) bool {
	deadline := time.Now().Add(10 * time.Second)
	for !o.Idle() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// order is the payments whose outcomes were sent, in order.
func (c *fakeChats) order() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, len(c.told))
	for i, p := range c.told {
		ids[i] = p.ID
	}
	return ids
}

// rig is an engine on a real bbolt file and the Daraja simulator, with no
// front-end: nothing here knows Telegram.
type rig struct {
	t       *testing.T
	e       *Engine
	st      *storage.Store
	sim     *mpesatest.Server
	daraja  Daraja
	chats   *fakeChats
	cfg     func(*Config) // changes the engine's configuration, when set
	metrics Metrics       // nil: not counted
	dbPath  string
	orders  int // MessageIDs handed out
}

func newRig(t *testing.T) *rig { t.Helper(); return newRigWith(t, nil) }

// newRigWith is newRig with its fields (cfg, metrics) set by with before the
// engine is built.
func newRigWith(t *testing.T, with func(*rig)) *rig {
	t.Helper()
	r := &rig{t: t, chats: &fakeChats{}, dbPath: filepath.Join(t.TempDir(), "bot.db")}
	r.sim = mpesatest.NewServer(t, mpesatest.WithResultDelay(20*time.Millisecond))
	client, err := mpesa.New(mpesa.Config{
		Environment:    mpesa.Simulator,
		BaseURL:        r.sim.URL,
		ConsumerKey:    "key",
		ConsumerSecret: "secret",
		ShortCode:      mpesa.SandboxShortCode,
		Passkey:        mpesa.SandboxPasskey,
		RetryWaitMin:   time.Millisecond,
		RetryWaitMax:   5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.daraja = client
	if with != nil {
		with(r)
	}
	r.open()
	return r
}

// open starts an engine on the rig's store, as a process start would.
func (r *rig) open() {
	r.t.Helper()
	st, err := storage.Open(r.dbPath, storage.Options{})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = st.Close() })
	cfg := Config{
		// Nothing listens here: the tests hand callbacks to ApplyCallback.
		CallbackURL:      "http://127.0.0.1:1/cb",
		TransactionDesc:  "Payment",
		PollInitialDelay: 50 * time.Millisecond,
		PollInterval:     20 * time.Millisecond,
		PollTimeout:      5 * time.Second,
	}
	if r.cfg != nil {
		r.cfg(&cfg)
	}
	e, err := New(cfg, st, r.daraja, r.chats, r.metrics, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.e, r.st = e, st
}

// close stops the engine's store, as a process exit would.
func (r *rig) close() {
	r.t.Helper()
	if err := r.st.Close(); err != nil {
		r.t.Fatal(err)
	}
}

// run watches until the test ends.
func (r *rig) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.e.Run(ctx); close(done) }()
	r.t.Cleanup(func() { cancel(); <-done })
}

// create writes a payment ahead for phone; the simulator's outcome for it is o.
func (r *rig) create(phone string, o mpesatest.Outcome) storage.Payment {
	r.t.Helper()
	r.sim.SetPhoneOutcome(phone, o)
	r.orders++
	p, err := r.e.Create(Order{ChatID: 1, UserID: 2, MessageID: r.orders, Key: "1:" + strconv.Itoa(r.orders),
		Phone: phone, Amount: 10})
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

// push creates and pushes a payment; it must end up pending.
func (r *rig) push(phone string, o mpesatest.Outcome) storage.Payment {
	r.t.Helper()
	p, ok := r.e.Push(context.Background(), r.create(phone, o))
	if !ok || p.State != storage.StatePending || p.CheckoutRequestID == "" {
		r.t.Fatalf("push: %s %q ok=%v, want pending with a CheckoutRequestID", p.State, p.CheckoutRequestID, ok)
	}
	return p
}

// waitTold waits until id's outcome was sent n times.
func (r *rig) waitTold(id string, n int) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for r.chats.count(id) < n {
		if time.Now().After(deadline) {
			r.t.Fatalf("payment %s: told %d times, want %d", id, r.chats.count(id), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitFor polls the store until the payment satisfies ok.
func (r *rig) waitFor(id string, what string, ok func(storage.Payment) bool) storage.Payment {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p, err := r.st.Get(id)
		if err == nil && ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("payment %s: never %s (now %s, err %v)", id, what, p.State, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hasEvent(p storage.Payment, typ string) bool {
	return slices.ContainsFunc(p.History, func(ev storage.Event) bool { return ev.Type == typ })
}
