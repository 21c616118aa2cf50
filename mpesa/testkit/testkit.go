// Package testkit holds the few helpers that the tests of several packages
// share: a buffer that captures concurrent output and a bounded wait for a
// condition that nothing signals.
//
// It sits under mpesa/, the lowest layer whose tests use it, so that every
// import of it points down the cmd → bot → mpesa order. Like mpesatest and
// telegramtest, which the release binary links, it takes a TB rather than
// importing testing, so that they could use it without carrying the test
// framework into the binary.
package testkit

import (
	"bytes"
	"sync"
	"time"
)

// TB is what WaitUntil needs of a test; *testing.T, *testing.B and
// *testing.F satisfy it.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// SyncBuffer is a bytes.Buffer that goroutines may write while a test reads
// it: a logger's output, or a child process's. The zero value is empty and
// ready to use.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pollEvery is short so that a wait ends soon after its condition holds, and
// long enough that the polling goroutine does not starve the code under test
// on a small machine.
const pollEvery = 5 * time.Millisecond

// Poll checks cond every few milliseconds until it holds, and reports whether
// it did before limit passed. It is for state that offers nothing to wait on;
// limit is a deadlock detector, not a timing assertion, so it should be
// generous.
func Poll(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// WaitUntil polls cond as Poll does and fails tb, saying what it waited for,
// if cond does not hold within limit.
func WaitUntil(tb TB, what string, limit time.Duration, cond func() bool) {
	tb.Helper()
	if !Poll(limit, cond) {
		tb.Fatalf("timed out after %s waiting for %s", limit, what)
	}
}
