package storage_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mpesa-bot/mpesa-bot/storage"
)

// testdata/v1.db was written by the version-1 code (see fixture_gen_test.go)
// and testdata/v1.json holds the payments that code read back from it.

func TestOpenMigratesVersion1File(t *testing.T) {
	want := v1Payments(t)
	path := copyFixture(t, filepath.Join("testdata", "v1.db"))
	clock := newFakeClock()

	s, err := storage.Open(path, storage.Options{Now: clock.Now, BatchDelay: time.Millisecond})
	if err != nil {
		t.Fatalf("Open of the version-1 file: %v", err)
	}
	checkV1Payments(t, s, want)
	mustCheck(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	events := 0
	for _, p := range want {
		events += len(p.History)
	}
	checkRaw := func(t *testing.T) {
		t.Helper()
		rawView(t, path, func(tx *bolt.Tx) {
			if v := tx.Bucket([]byte("meta")).Get([]byte("schema_version")); string(v) != "2" {
				t.Errorf("schema version %q after migration, want 2", v)
			}
			_ = tx.Bucket([]byte("payments")).ForEach(func(k, v []byte) error {
				if bytes.Contains(v, []byte(`"history"`)) {
					t.Errorf("record %s still carries its history: %s", k, v)
				}
				return nil
			})
			if n := tx.Bucket([]byte("events")).Stats().KeyN; n != events {
				t.Errorf("events bucket holds %d events, want %d", n, events)
			}
			for _, name := range []string{"holds", "refusals"} {
				if tx.Bucket([]byte(name)) == nil {
					t.Errorf("bucket %s was not created", name)
				}
			}
		})
	}
	checkRaw(t)

	t.Run("SecondOpenChangesNothing", func(t *testing.T) {
		s := mustOpenAt(t, path, clock)
		checkV1Payments(t, s, want)
		mustCheck(t, s)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		checkRaw(t)
	})

	t.Run("NewEventsFollowTheMigratedOnes", func(t *testing.T) {
		s := mustOpenAt(t, path, clock)
		longest := slices.MaxFunc(want, func(a, b storage.Payment) int { return len(a.History) - len(b.History) })
		ev := storage.Event{At: clock.Now(), Source: "bot", Type: "after_migration"}
		if err := s.AppendEvent(longest.ID, ev); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, s, longest.ID); !reflect.DeepEqual(got.History, append(slices.Clone(longest.History), ev)) {
			t.Errorf("history after a new event:\n got %+v\nwant the migrated %d events and the new one", got.History, len(longest.History))
		}
		mustCheck(t, s)
	})
}

// checkV1Payments compares s with the payments the version-1 code read back.
func checkV1Payments(t *testing.T, s *storage.Store, want []storage.Payment) {
	t.Helper()
	for _, w := range want {
		got, err := s.Get(w.ID)
		if err != nil {
			t.Fatalf("Get(%s): %v", w.ID, err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("payment %s:\n got %+v\nwant %+v\n got history %+v\nwant history %+v", w.ID, got, w, got.History, w.History)
		}
		if p, err := s.GetByIdempotencyKey(w.IdempotencyKey); err != nil || p.ID != w.ID {
			t.Errorf("GetByIdempotencyKey(%s) = %s, %v", w.IdempotencyKey, p.ID, err)
		}
		if p, err := s.GetBySecret("fixture-secret-" + w.IdempotencyKey); err != nil || p.ID != w.ID {
			t.Errorf("GetBySecret of %s = %s, %v", w.ID, p.ID, err)
		}
		if w.CheckoutRequestID != "" {
			if p, err := s.GetByCheckoutID(w.CheckoutRequestID); err != nil || p.ID != w.ID {
				t.Errorf("GetByCheckoutID of %s = %s, %v", w.ID, p.ID, err)
			}
		}
	}
	all := allPayments(t, s)
	if !reflect.DeepEqual(all, want) {
		t.Errorf("ListByState of every state = %v, want %v", ids(all), ids(want))
	}
	var unnotified []string
	for _, w := range want {
		if (w.State.Final() || w.State == storage.StateUnknown) && !w.Notified {
			unnotified = append(unnotified, w.ID)
		}
	}
	if got, err := s.ListUnnotified(); err != nil || !reflect.DeepEqual(ids(got), unnotified) {
		t.Errorf("ListUnnotified = %v, %v; want %v", ids(got), err, unnotified)
	}
}

func TestOpenMigratesAnEmptyVersion1File(t *testing.T) {
	path := rawBolt(t, map[string]map[string]string{"meta": {"schema_version": "1"}})
	s := mustOpenAt(t, path, newFakeClock())
	mustCheck(t, s)
	mustCreate(t, s, newPayment())
	mustCheck(t, s)
}

func TestOpenLeavesAVersion1FileItCannotMigrate(t *testing.T) {
	path := rawBolt(t, map[string]map[string]string{
		"meta":     {"schema_version": "1"},
		"payments": {"06d4hvsm10000001": "{not json"},
	})
	_, err := storage.Open(path, storage.Options{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, storage.ErrCorrupt) {
		t.Fatalf("Open = %v, want ErrCorrupt", err)
	}
	if got := rawBuckets(t, path); !reflect.DeepEqual(got, []string{"meta", "payments"}) {
		t.Errorf("buckets after the failed migration = %v, want [meta payments]", got)
	}
	rawView(t, path, func(tx *bolt.Tx) {
		if v := tx.Bucket([]byte("meta")).Get([]byte("schema_version")); string(v) != "1" {
			t.Errorf("schema version %q after the failed migration, want 1", v)
		}
	})
}

func v1Payments(t *testing.T) []storage.Payment {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ps []storage.Payment
	if err := json.Unmarshal(raw, &ps); err != nil {
		t.Fatal(err)
	}
	if len(ps) == 0 {
		t.Fatal("testdata/v1.json holds no payments")
	}
	for i := range ps {
		// Version 1 knew only /pay: its payments read back as STK pushes.
		ps[i].Source = storage.SourceSTK
	}
	return ps
}

// copyFixture copies a database file into t.TempDir(), so that opening it
// (which migrates it) leaves the fixture as it is.
func copyFixture(t *testing.T, src string) string {
	t.Helper()
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.WriteFile(dst, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// rawView reads a closed database file with bbolt itself.
func rawView(t *testing.T, path string, fn func(*bolt.Tx)) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		fn(tx)
		return nil
	})
}
