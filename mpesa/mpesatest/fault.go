package mpesatest

import (
	"bufio"
	"cmp"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault is a failure the simulator answers with instead of (or on top of) the
// normal answer.
type Fault struct {
	// Status is the HTTP status to answer (500 when only Body is set).
	Status int
	// Body is the raw body, JSON or HTML.
	Body string
	// ContentType defaults to application/json for a body starting with '{' or
	// '[', text/html for one starting with '<', text/plain otherwise.
	ContentType string
	// Delay answers slowly. The wait ends early when the client gives up (nothing
	// is answered then) or the simulator is closed. A Delay alone delays the
	// normal answer.
	Delay time.Duration
	// Drop closes the connection without an answer, after reading the request.
	Drop bool
	// CutBody sends the headers and part of the body, then closes the connection.
	// The body cut is Body, else the normal answer (Processed), else a plausible
	// answer of the endpoint.
	CutBody bool
	// Times is how many requests the fault applies to (default 1).
	Times int
	// Processed makes Daraja do the work before the fault hits the answer: a
	// faulted push still creates its transaction (and its callback comes), a
	// faulted token request still issues a token. It is how "the push reached
	// Daraja but its answer was lost" is simulated.
	Processed bool
}

type queuedFault struct {
	Fault
	left int
}

// InjectFault applies f to the next f.Times requests to ep, after any faults
// already queued for ep. Faulted requests are recorded like the others.
//
// Note that Go's http.Transport silently retries a GET whose reused connection was
// closed without an answer: a dropped token request can then arrive twice.
func (s *Simulator) InjectFault(ep Endpoint, f Fault) {
	q := &queuedFault{Fault: f, left: max(f.Times, 1)}
	s.mu.Lock()
	s.faults[ep] = append(s.faults[ep], q)
	s.mu.Unlock()
}

// ClearFaults removes every fault not yet applied.
func (s *Simulator) ClearFaults() {
	s.mu.Lock()
	clear(s.faults)
	s.mu.Unlock()
}

func (s *Simulator) takeFaultLocked(ep Endpoint) *Fault {
	q := s.faults[ep]
	if len(q) == 0 {
		return nil
	}
	f := q[0].Fault
	if q[0].left--; q[0].left == 0 {
		s.faults[ep] = q[1:]
	}
	return &f
}

// HTMLFault is a gateway error page with that status, as load balancers in front of
// Daraja send instead of JSON.
func HTMLFault(status int) Fault {
	text := http.StatusText(status)
	switch status {
	case http.StatusServiceUnavailable:
		text = "Service Temporarily Unavailable"
	case http.StatusGatewayTimeout:
		text = "Gateway Time-out"
	}
	title := strconv.Itoa(status) + " " + text
	return Fault{
		Status:      status,
		ContentType: "text/html",
		Body: "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title +
			"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
	}
}

// ErrorFault is a Daraja JSON error answer, e.g. ErrorFault(500, "500.003.02",
// "Error Occurred: Spike Arrest Violation").
func ErrorFault(status int, errorCode, errorMessage string) Fault {
	return Fault{Status: status, ContentType: "application/json", Body: errorJSON(errorCode, errorMessage)}
}

func sniff(body string) string {
	switch {
	case strings.HasPrefix(body, "{"), strings.HasPrefix(body, "["):
		return "application/json"
	case strings.HasPrefix(body, "<"):
		return "text/html"
	}
	return "text/plain; charset=utf-8"
}

// exchange is one request being answered.
type exchange struct {
	s    *Simulator
	w    http.ResponseWriter
	r    *http.Request
	ep   Endpoint
	body []byte
	idx  int // in s.requests
}

// run answers the request, through f if a fault was injected.
func (x *exchange) run(f *Fault) {
	if f != nil && !f.Processed {
		x.applyFault(*f, nil)
		return
	}
	ans := x.s.handle(x.ep, x.r, x.body)
	if ans.reject != nil {
		reject := *ans.reject
		if f == nil {
			def := rejectAnswer()
			x.applyFault(reject, &def)
			return
		}
		ans = faultAnswer(reject, rejectAnswer())
	}
	if f != nil {
		x.applyFault(*f, &ans)
		return
	}
	x.write(ans)
}

// applyFault answers through f; processed is the normal answer when the request
// was already handled.
func (x *exchange) applyFault(f Fault, processed *answer) {
	x.s.cfg.logger.Info("fault applied", "endpoint", string(x.ep), "status", f.Status,
		"delay", f.Delay, "drop", f.Drop, "cut_body", f.CutBody)
	if f.Delay > 0 && !x.wait(f.Delay) {
		return
	}
	if f.Drop {
		x.drop()
		return
	}
	var ans answer
	switch {
	case f.Body != "" || (f.Status != 0 && !f.CutBody):
		ans = faultAnswer(f, answer{})
	case f.CutBody:
		if processed != nil {
			ans = *processed
		} else {
			ans = x.s.plausible(x.ep)
		}
		ans.status = cmp.Or(f.Status, ans.status)
	case processed != nil:
		ans = *processed
	default: // a Delay alone: now do the work
		x.run(nil)
		return
	}
	if f.CutBody {
		x.cut(ans)
		return
	}
	x.write(ans)
}

// faultAnswer is the plain answer of f, or def when f sets neither Status nor Body.
func faultAnswer(f Fault, def answer) answer {
	if f.Status == 0 && f.Body == "" {
		return def
	}
	ct := f.ContentType
	if ct == "" && f.Body != "" {
		ct = sniff(f.Body)
	}
	return answer{status: cmp.Or(f.Status, http.StatusInternalServerError), contentType: ct, body: []byte(f.Body)}
}

// plausible is an answer the endpoint could give, for cutting when the request was
// not processed.
func (s *Simulator) plausible(ep Endpoint) answer {
	switch ep {
	case EndpointToken:
		return jsonAnswer(http.StatusOK, tokenBody{AccessToken: newToken(), ExpiresIn: "3599"})
	case EndpointPush:
		return jsonAnswer(http.StatusOK, pushAccepted{
			MerchantRequestID:   newRequestID(),
			CheckoutRequestID:   "ws_CO_" + s.now().In(eat).Format("02012006150405") + "000000000000",
			ResponseCode:        "0",
			ResponseDescription: acceptedMessage,
			CustomerMessage:     acceptedMessage,
		})
	case EndpointQuery:
		return pendingAnswer(newRequestID(), "ws_CO_"+s.now().In(eat).Format("02012006150405")+"000000000000")
	}
	return notFound()
}

// sent records the status before it goes on the wire, so that a client holding
// the answer finds it recorded.
func (x *exchange) sent(status int) {
	x.s.setStatus(x.idx, status)
}

func (x *exchange) write(a answer) {
	x.sent(a.status)
	a.write(x.w)
}

// wait sleeps d unless the client gives up (no answer) or the simulator closes
// (503); it reports whether to answer.
func (x *exchange) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-x.r.Context().Done():
		return false
	case <-x.s.ctx.Done():
		x.write(unavailable())
		return false
	}
}

// drop closes the connection without a word. Where the connection cannot be taken
// over (HTTP/2), the handler is aborted, which resets the stream.
func (x *exchange) drop() {
	conn, _, err := http.NewResponseController(x.w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// cut sends a's status and headers, with the Content-Length of the whole body,
// then half the body, then closes the connection.
func (x *exchange) cut(a answer) {
	if len(a.body) < 2 {
		a.body = x.s.plausible(x.ep).body
	}
	half := a.body[:len(a.body)/2]
	x.sent(a.status)
	rc := http.NewResponseController(x.w)
	conn, brw, err := rc.Hijack()
	if err != nil {
		h := x.w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Content-Length", strconv.Itoa(len(a.body)))
		x.w.WriteHeader(a.status)
		_, _ = x.w.Write(half)
		_ = rc.Flush()
		panic(http.ErrAbortHandler)
	}
	defer conn.Close()
	writeCut(brw.Writer, a, half)
}

func writeCut(w *bufio.Writer, a answer, half []byte) {
	fmt.Fprintf(w, "HTTP/1.1 %d %s\r\n", a.status, http.StatusText(a.status))
	if a.contentType != "" {
		fmt.Fprintf(w, "Content-Type: %s\r\n", a.contentType)
	}
	fmt.Fprintf(w, "Content-Length: %d\r\nDate: %s\r\n\r\n", len(a.body), time.Now().UTC().Format(http.TimeFormat))
	_, _ = w.Write(half)
	_ = w.Flush()
}
