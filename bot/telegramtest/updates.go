package telegramtest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"time"
)

const (
	conflictPoll    = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
	conflictWebhook = "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)

// poller is one getUpdates request in progress.
type poller struct {
	preempted chan struct{} // closed when a newer getUpdates takes over
	held      bool          // waiting for an update to arrive
}

// getUpdates confirms every update below offset, then returns up to limit
// updates, holding the request up to timeout seconds when there are none.
func (s *Server) getUpdates(r *http.Request, p url.Values) (any, *apiError) {
	offset, err := intParam(p, "offset")
	if err != nil {
		return nil, err
	}
	limit, err := intParam(p, "limit")
	if err != nil {
		return nil, err
	}
	timeout, err := intParam(p, "timeout")
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 100 {
		limit = 100 // as the Bot API: out-of-range limits mean the maximum
	}
	wait := min(time.Duration(max(timeout, 0))*time.Second, s.opts.MaxLongPoll)

	var allowed []string
	allowedRaw, allowedSet := jsonParam(p, "allowed_updates")
	if allowedSet {
		if json.Unmarshal([]byte(allowedRaw), &allowed) != nil {
			return nil, badRequest("can't parse allowed updates JSON object")
		}
	}

	me := &poller{preempted: make(chan struct{})}
	s.mu.Lock()
	if s.webhook != "" {
		s.mu.Unlock()
		return nil, &apiError{status: 409, code: 409, description: conflictWebhook}
	}
	if s.poller != nil {
		close(s.poller.preempted)
	}
	s.setPollerLocked(me)
	if allowedSet {
		s.allowed = nil
		if len(allowed) > 0 {
			s.allowed = allowed
		}
	}
	s.confirmLocked(int(offset))
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.poller == me {
			s.setPollerLocked(nil)
		}
		s.mu.Unlock()
	}()

	var deadline <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		deadline = t.C
	}
	for {
		s.mu.Lock()
		select {
		case <-me.preempted:
			s.mu.Unlock()
			return nil, &apiError{status: 409, code: 409, description: conflictPoll}
		default:
		}
		updates := s.collectLocked(int(limit))
		changed := s.updatesChanged
		if len(updates) > 0 || wait == 0 {
			s.mu.Unlock()
			return updates, nil
		}
		if !me.held {
			me.held = true
			s.setPollerLocked(me) // wake WaitPolling
		}
		s.mu.Unlock()
		select {
		case <-changed:
		case <-me.preempted:
			return nil, &apiError{status: 409, code: 409, description: conflictPoll}
		case <-deadline:
			return []json.RawMessage{}, nil
		case <-r.Context().Done():
			return []json.RawMessage{}, nil // nobody is listening
		case <-s.closed:
			return []json.RawMessage{}, nil
		}
	}
}

func (s *Server) setPollerLocked(p *poller) {
	s.poller = p
	close(s.pollerChanged)
	s.pollerChanged = make(chan struct{})
}

// WaitPolling returns once a getUpdates is being held, waiting for updates:
// the bot has started and is long-polling. It returns ctx's error if that
// does not happen first, and ErrClosed when the server closes.
func (s *Server) WaitPolling(ctx context.Context) error { return s.waitPoller(ctx, true) }

func (s *Server) waitPoller(ctx context.Context, held bool) error {
	for {
		s.mu.Lock()
		now := s.poller != nil && s.poller.held
		changed := s.pollerChanged
		s.mu.Unlock()
		if now == held {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closed:
			return ErrClosed
		}
	}
}

// confirmLocked forgets the updates a getUpdates offset confirms: every ID
// below a positive offset; all but the last -offset for a negative one.
func (s *Server) confirmLocked(offset int) {
	switch {
	case offset > 0:
		i := 0
		for i < len(s.queue) && s.queue[i].id < offset {
			i++
		}
		s.queue = s.queue[i:]
		s.offset = max(s.offset, offset)
	case offset < 0:
		if keep := -offset; keep < len(s.queue) {
			s.queue = s.queue[len(s.queue)-keep:]
		}
		if len(s.queue) > 0 {
			s.offset = max(s.offset, s.queue[0].id)
		}
	}
}

// collectLocked returns up to limit queued updates, dropping those that the
// allowed_updates in force exclude (Telegram never creates them).
func (s *Server) collectLocked(limit int) []json.RawMessage {
	if s.allowed != nil {
		s.queue = slices.DeleteFunc(s.queue, func(q queued) bool { return !slices.Contains(s.allowed, q.kind) })
	}
	n := min(limit, len(s.queue))
	out := make([]json.RawMessage, n)
	for i, q := range s.queue[:n] {
		out[i] = q.raw
		s.delivered[q.id]++
	}
	return out
}

// Offset is the highest offset a getUpdates confirmed: every update ID below
// it is gone.
func (s *Server) Offset() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.offset
}

// Unconfirmed is how many updates wait in the queue, returned or not.
func (s *Server) Unconfirmed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// Delivered is how many times getUpdates returned the update: 2 after a
// redelivery the bot received.
func (s *Server) Delivered(updateID int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delivered[updateID]
}

func (s *Server) setWebhookMethod(_ *http.Request, p url.Values) (any, *apiError) {
	u := p.Get("url")
	if u != "" {
		if parsed, err := url.Parse(u); err != nil || parsed.Scheme != "https" || parsed.Host == "" {
			return nil, badRequest("bad webhook: An HTTPS URL must be provided for webhook")
		}
	}
	s.mu.Lock()
	s.webhook = u
	if boolParam(p, "drop_pending_updates") {
		s.queue = nil
	}
	s.mu.Unlock()
	return true, nil
}

func (s *Server) deleteWebhook(_ *http.Request, p url.Values) (any, *apiError) {
	s.mu.Lock()
	s.webhook = ""
	if boolParam(p, "drop_pending_updates") {
		s.queue = nil
	}
	s.mu.Unlock()
	return true, nil
}

func (s *Server) getWebhookInfo(*http.Request, url.Values) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return struct {
		URL                  string `json:"url"`
		HasCustomCertificate bool   `json:"has_custom_certificate"`
		PendingUpdateCount   int    `json:"pending_update_count"`
	}{s.webhook, false, len(s.queue)}, nil
}
