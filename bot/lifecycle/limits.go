package lifecycle

import (
	"sync"
	"time"
)

// userLimits enforces PAY_PER_USER_PER_HOUR as a sliding window: a user may
// start at most perHour /pay commands in any 60 minutes. It keeps the times of
// each user's recent /pay in memory; a restart forgets them (documented).
type userLimits struct {
	perHour int // < 1 = no limit

	mu        sync.Mutex
	seen      map[int64][]time.Time
	lastSweep time.Time
}

func newUserLimits(perHour int) *userLimits {
	return &userLimits{perHour: perHour, seen: make(map[int64][]time.Time)}
}

// allow records an attempt by userID at now if the window has room, and
// otherwise says how long until it will.
func (l *userLimits) allow(userID int64, now time.Time) (bool, time.Duration) {
	if l.perHour < 1 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	times := recent(l.seen[userID], now)
	if len(times) >= l.perHour {
		l.seen[userID] = times
		return false, times[0].Add(time.Hour).Sub(now)
	}
	l.seen[userID] = append(times, now)
	return true, 0
}

// recent drops the times that left the window; the slice stays sorted.
func recent(times []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(times) && now.Sub(times[i]) >= time.Hour {
		i++
	}
	return times[i:]
}

// sweep forgets users with nothing in the window, at most once a minute.
func (l *userLimits) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < time.Minute {
		return
	}
	l.lastSweep = now
	for id, times := range l.seen {
		if len(recent(times, now)) == 0 {
			delete(l.seen, id)
		}
	}
}
