package bot

import (
	"testing"
	"time"
)

func TestBackoffStaysWithinBounds(t *testing.T) {
	b := newBackoff(time.Second, time.Minute)
	for i := range 40 {
		d := b.next()
		if d <= 0 || d > time.Minute {
			t.Fatalf("step %d: %s out of (0, 1m]", i, d)
		}
	}
	b.reset()
	if d := b.next(); d > time.Second {
		t.Errorf("after reset %s, want at most the base", d)
	}
}
