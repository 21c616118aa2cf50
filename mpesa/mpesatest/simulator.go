package mpesatest

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Endpoint names a Daraja endpoint of the simulator.
type Endpoint string

// The simulated endpoints. A request to any other path is recorded with the empty
// Endpoint.
const (
	EndpointToken Endpoint = "token"
	EndpointPush  Endpoint = "stkpush"
	EndpointQuery Endpoint = "stkquery"
)

const (
	pathToken = "/oauth/v1/generate"
	pathPush  = "/mpesa/stkpush/v1/processrequest"
	pathQuery = "/mpesa/stkpushquery/v1/query"

	// maxRequestBody bounds what one request may make the simulator hold; Daraja
	// bodies are a few hundred bytes.
	maxRequestBody = 1 << 20
)

// Path is the URL path of the endpoint, "" for an unknown one.
func (e Endpoint) Path() string {
	switch e {
	case EndpointToken:
		return pathToken
	case EndpointPush:
		return pathPush
	case EndpointQuery:
		return pathQuery
	}
	return ""
}

func endpointFor(path string) Endpoint {
	switch path {
	case pathToken:
		return EndpointToken
	case pathPush:
		return EndpointPush
	case pathQuery:
		return EndpointQuery
	}
	return ""
}

// Simulator is an in-process Daraja: an http.Handler with scripted outcomes,
// injected faults and a recording of everything it saw. It is safe for concurrent
// use. Close stops its timers and callback deliveries.
type Simulator struct {
	cfg    config
	ctx    context.Context // canceled by Close: ends deliveries and slow answers
	cancel context.CancelFunc
	// wg counts every goroutine the simulator started or runs code in (result
	// timers, deliveries, handlers in flight) so that Close can wait for them.
	wg        sync.WaitGroup
	ownClient bool

	mu            sync.Mutex
	closed        bool
	seq           uint64 // makes CheckoutRequestIDs unique
	tokens        map[string]time.Time
	txns          map[string]*txn
	order         []*txn
	locks         map[string]string // phone → CheckoutRequestID of its open prompt
	phoneOutcomes map[string]Outcome
	faults        map[Endpoint][]*queuedFault
	requests      []Request
	callbacks     []CallbackAttempt
	// changed is closed and replaced whenever a request, its status, a
	// transaction or a callback attempt is recorded, so that waiters need not
	// poll.
	changed chan struct{}
}

// New returns a running simulator. Serve it with any http.Server (httptest in
// tests, see NewServer) and Close it when done.
func New(opts ...Option) *Simulator {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	s := &Simulator{
		cfg:           cfg,
		seq:           rand.Uint64N(100_000_000),
		tokens:        make(map[string]time.Time),
		txns:          make(map[string]*txn),
		locks:         make(map[string]string),
		phoneOutcomes: make(map[string]Outcome),
		faults:        make(map[Endpoint][]*queuedFault),
		changed:       make(chan struct{}),
	}
	if s.cfg.callbackClient == nil {
		s.cfg.callbackClient = &http.Client{Timeout: callbackTimeout}
		s.ownClient = true
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Close stops every result timer, cancels callback deliveries and slow answers,
// and waits until none of them runs any more. Pending transactions stay pending.
// Requests after Close are answered 503. Close may be called more than once.
func (s *Simulator) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		for _, t := range s.order {
			s.stopTimerLocked(t)
		}
		s.cancel()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if s.ownClient {
		s.cfg.callbackClient.CloseIdleConnections()
	}
}

func (s *Simulator) now() time.Time { return s.cfg.now() }

func (s *Simulator) changedLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// ServeHTTP answers one Daraja request, records it, and applies the next fault
// injected for its endpoint.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep := endpointFor(r.URL.Path)
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	x := &exchange{s: s, w: w, r: r, ep: ep, body: body}

	s.mu.Lock()
	x.idx = len(s.requests)
	s.requests = append(s.requests, Request{
		Endpoint: ep,
		Method:   r.Method,
		Path:     r.URL.Path,
		Header:   r.Header.Clone(),
		Body:     body,
		At:       s.now(),
	})
	s.changedLocked()
	if s.closed {
		s.mu.Unlock()
		x.write(unavailable())
		return
	}
	s.wg.Add(1)
	f := s.takeFaultLocked(ep)
	s.mu.Unlock()
	defer s.wg.Done()

	if len(body) > maxRequestBody {
		x.write(invalidPayload())
		return
	}
	x.run(f)
}

// handle computes Daraja's answer to a request, doing its work (issuing a token,
// creating a transaction).
func (s *Simulator) handle(ep Endpoint, r *http.Request, body []byte) answer {
	switch ep {
	case EndpointToken:
		return s.handleToken(r)
	case EndpointPush:
		return s.handlePush(r, body)
	case EndpointQuery:
		return s.handleQuery(r, body)
	}
	return notFound()
}
