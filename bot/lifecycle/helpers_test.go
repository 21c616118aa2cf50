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

// owedLog is a Notifier that remembers every Owed call.
type owedLog struct {
	mu  sync.Mutex
	ids []string
}

func (o *owedLog) Owed(id string) {
	o.mu.Lock()
	o.ids = append(o.ids, id)
	o.mu.Unlock()
}

func (o *owedLog) count(id string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, x := range o.ids {
		if x == id {
			n++
		}
	}
	return n
}

// rig is an engine on a real bbolt file and the Daraja simulator, with no
// front-end: nothing here knows Telegram.
type rig struct {
	t      *testing.T
	e      *Engine
	st     *storage.Store
	sim    *mpesatest.Server
	daraja Daraja
	owed   *owedLog
	dbPath string
	orders int // MessageIDs handed out
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, owed: &owedLog{}, dbPath: filepath.Join(t.TempDir(), "bot.db")}
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
	e, err := New(Config{
		// Nothing listens here: the tests hand callbacks to ApplyCallback.
		CallbackURL:      "http://127.0.0.1:1/cb",
		TransactionDesc:  "Payment",
		PollInitialDelay: 50 * time.Millisecond,
		PollInterval:     20 * time.Millisecond,
		PollTimeout:      5 * time.Second,
	}, st, r.daraja, r.owed, nil, nil)
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
