package storage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// testClock is a settable clock for Options.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openWithClock(t *testing.T, path string, c *testClock) *Store {
	t.Helper()
	s, err := Open(path, Options{Timeout: 50 * time.Millisecond, Now: c.Now, BatchDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// keysOf lists the keys of a bucket.
func keysOf(t *testing.T, s *Store, bucket string) []string {
	t.Helper()
	var keys []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucket)).ForEach(func(k, _ []byte) error {
			keys = append(keys, string(k))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestEventsAreKeysOfTheirOwnNotPartOfTheRecord(t *testing.T) {
	s := openInternal(t)
	p, _, err := s.Create(request(1), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.AppendEvent(p.ID, Event{Type: "note", Detail: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte(bucketPayments)).Get([]byte(p.ID)); bytes.Contains(v, []byte("history")) || bytes.Contains(v, []byte("note")) {
			t.Errorf("the record holds events: %s", v)
		}
		c := tx.Bucket([]byte(bucketEvents)).Cursor()
		seq := uint64(0)
		for k, v := c.First(); k != nil; k, v = c.Next() {
			seq++
			if !bytes.Equal(k, eventKey(p.ID, seq)) {
				t.Errorf("event key %q, want %q", k, eventKey(p.ID, seq))
			}
			var e eventRecord
			if err := json.Unmarshal(v, &e); err != nil || e.Type == "" || e.At.IsZero() {
				t.Errorf("event %d = %s (%v)", seq, v, err)
			}
		}
		if seq != 4 {
			t.Errorf("%d events stored, want created and 3 notes", seq)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRecordRefusalPrunesAtMostHourly(t *testing.T) {
	clock := &testClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := openWithClock(t, filepath.Join(t.TempDir(), "mpesa-bot.db"), clock) // pruned at open
	record := func(key string) {
		t.Helper()
		if err := s.RecordRefusal(key, "phone_busy"); err != nil {
			t.Fatal(err)
		}
	}
	want := func(keys ...string) {
		t.Helper()
		if got := keysOf(t, s, bucketRefusals); fmt.Sprint(got) != fmt.Sprint(keys) {
			t.Errorf("refusals bucket holds %v, want %v", got, keys)
		}
	}
	record("1:a")
	clock.Advance(refusalTTL)
	record("1:b") // prunes: 48h since the last prune, and 1:a is 48h old
	want("1:b")
	clock.Advance(refusalTTL - 30*time.Minute)
	record("1:c") // prunes, but 1:b is not old enough yet
	want("1:b", "1:c")
	clock.Advance(40 * time.Minute)
	record("1:d") // 1:b has expired, but the last prune was 40 minutes ago
	want("1:b", "1:c", "1:d")
	if _, ok, _ := s.Refusal("1:b"); ok {
		t.Error("an expired refusal not yet pruned is still reported")
	}
	clock.Advance(20 * time.Minute)
	record("1:e") // an hour since the last prune
	want("1:c", "1:d", "1:e")
}

func TestOpenPrunesExpiredRefusals(t *testing.T) {
	clock := &testClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "mpesa-bot.db")
	s := openWithClock(t, path, clock)
	if err := s.RecordRefusal("1:old", "rate_limited"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if err := s.RecordRefusal("1:new", "rate_limited"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(refusalTTL - time.Hour)
	s = openWithClock(t, path, clock)
	if got := keysOf(t, s, bucketRefusals); fmt.Sprint(got) != "[1:new]" {
		t.Errorf("refusals after reopen = %v, want [1:new]", got)
	}
}

func TestMoveChatReadsInChunks(t *testing.T) {
	s := openInternal(t)
	var moving []string
	for i := range 11 {
		req := request(100 + i)
		if i%2 == 0 {
			req.ChatID = -7
		}
		p, _, err := s.Create(req, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			moving = append(moving, p.ID)
		}
	}
	from := int64(-7)
	for _, chunk := range []int{1, 2, 3, 5, 11, 12} {
		to := from - 1
		t.Run(fmt.Sprintf("Of%d", chunk), func(t *testing.T) {
			n, err := s.moveChat(from, to, chunk)
			if err != nil || n != len(moving) {
				t.Fatalf("moveChat = %d, %v; want %d", n, err, len(moving))
			}
			for _, id := range moving {
				if p, _ := s.Get(id); p.ChatID != to {
					t.Errorf("%s is in chat %d, want %d", id, p.ChatID, to)
				}
			}
		})
		from = to
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}
