package storage_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mpesa-bot/mpesa-bot/storage"
)

func TestOpen(t *testing.T) {
	t.Run("CreatesParentFolder", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "data", "nested", "mpesa-bot.db")
		s := mustOpenAt(t, path, newFakeClock())
		if s.Path() != path {
			t.Errorf("Path() = %q, want %q", s.Path(), path)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatalf("database file: %v", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("database file mode %v is readable by others", fi.Mode().Perm())
		}
		dir, err := os.Stat(filepath.Dir(path))
		if err != nil {
			t.Fatalf("folder: %v", err)
		}
		if dir.Mode().Perm()&0o077 != 0 {
			t.Errorf("folder mode %v is open to others, want private", dir.Mode().Perm())
		}
	})

	t.Run("ZeroOptionsWork", func(t *testing.T) {
		s, err := storage.Open(filepath.Join(t.TempDir(), "x.db"), storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		p, _, err := s.Create(newPayment(), storage.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if p.CreatedAt.IsZero() || time.Since(p.CreatedAt) > time.Hour || time.Until(p.CreatedAt) > time.Hour {
			t.Errorf("CreatedAt = %v, want about now from the real clock", p.CreatedAt)
		}
	})

	t.Run("ErrLockedWhileAnotherHoldsTheFile", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "mpesa-bot.db")
		first := mustOpenAt(t, path, newFakeClock())
		// bbolt's lock is flock(2) on an open file description, so a second
		// Open in this process contends exactly like a second process would.
		_, err := storage.Open(path, storage.Options{Timeout: 20 * time.Millisecond})
		if !errors.Is(err, storage.ErrLocked) {
			t.Fatalf("second Open: err = %v, want ErrLocked", err)
		}
		if want := "database " + path + " is in use by another process"; !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
		if err := first.Close(); err != nil {
			t.Fatal(err)
		}
		again, err := storage.Open(path, storage.Options{Timeout: 20 * time.Millisecond})
		if err != nil {
			t.Fatalf("Open after the holder closed: %v", err)
		}
		again.Close()
	})

	t.Run("ErrSchemaForNewerVersion", func(t *testing.T) {
		path := rawBolt(t, map[string]map[string]string{"meta": {"schema_version": "3"}})
		_, err := storage.Open(path, storage.Options{})
		if !errors.Is(err, storage.ErrSchema) {
			t.Fatalf("err = %v, want ErrSchema", err)
		}
		for _, want := range []string{path, "version 3", "newer", "upgrade"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
		// The newer file must be left exactly as it was.
		if got := rawBuckets(t, path); !reflect.DeepEqual(got, []string{"meta"}) {
			t.Errorf("buckets after refused Open = %v, want [meta]", got)
		}
	})

	for name, buckets := range map[string]map[string]map[string]string{
		"ErrSchemaForUnreadableVersion": {"meta": {"schema_version": "one"}},
		"ErrSchemaForMissingVersion":    {"meta": {}},
		"ErrSchemaForForeignDatabase":   {"sessions": {"k": "v"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := storage.Open(rawBolt(t, buckets), storage.Options{})
			if !errors.Is(err, storage.ErrSchema) {
				t.Fatalf("err = %v, want ErrSchema", err)
			}
		})
	}

	t.Run("RefusesAFileThatIsNotADatabase", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "notes.txt")
		if err := os.WriteFile(path, bytes.Repeat([]byte("not a database\n"), 600), 0o600); err != nil {
			t.Fatal(err)
		}
		if s, err := storage.Open(path, storage.Options{}); err == nil {
			s.Close()
			t.Fatal("Open accepted a text file")
		}
	})

	t.Run("RefusesEmptyPath", func(t *testing.T) {
		if _, err := storage.Open("", storage.Options{}); !errors.Is(err, storage.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
}

func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mpesa-bot.db")
	clock := newFakeClock()
	s, err := storage.Open(path, storage.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	secret := newPayment()
	var want []storage.Payment
	want = append(want, mustCreate(t, s, secret))
	want = append(want, pendingPayment(t, s, clock))
	want = append(want, paymentIn(t, s, clock, storage.StateSucceeded))
	want = append(want, paymentIn(t, s, clock, storage.StateUnknown))
	want = append(want, paymentIn(t, s, clock, storage.StateRejected))
	if _, err := s.MarkNotified(want[2].ID, storage.StateSucceeded); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvent(want[1].ID, storage.Event{Source: "watcher", Type: "query_answered", Detail: "4999"}); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		want[i] = mustGet(t, s, want[i].ID)
	}
	unnotified, _ := s.ListUnnotified()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpenAt(t, path, clock)
	for _, w := range want {
		if got := mustGet(t, s, w.ID); !reflect.DeepEqual(got, w) {
			t.Errorf("after reopen:\n got %#v\nwant %#v\n got history %v\nwant history %v", got, w, got.History, w.History)
		}
	}
	if got, err := s.GetBySecret(secret.CallbackSecret); err != nil || got.ID != want[0].ID {
		t.Errorf("GetBySecret after reopen = %s, %v; want %s", got.ID, err, want[0].ID)
	}
	if got, err := s.GetByCheckoutID(want[1].CheckoutRequestID); err != nil || got.ID != want[1].ID {
		t.Errorf("GetByCheckoutID after reopen = %s, %v; want %s", got.ID, err, want[1].ID)
	}
	if got, _ := s.ListUnnotified(); !reflect.DeepEqual(ids(got), ids(unnotified)) {
		t.Errorf("ListUnnotified after reopen = %v, want %v", ids(got), ids(unnotified))
	}
	// The sequence behind IDs survives too: a new payment gets a new ID.
	if p := mustCreate(t, s, newPayment()); p.ID <= want[len(want)-1].ID {
		t.Errorf("new ID %s after reopen does not sort after %s", p.ID, want[len(want)-1].ID)
	}
	mustCheck(t, s)
}

func TestClose(t *testing.T) {
	s, err := storage.Open(filepath.Join(t.TempDir(), "x.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := mustCreate(t, s, newPayment())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	t.Run("TwiceIsHarmless", func(t *testing.T) {
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
	t.Run("WritesFailWithErrClosed", func(t *testing.T) {
		if _, _, err := s.Create(newPayment(), storage.Limits{}); !errors.Is(err, storage.ErrClosed) {
			t.Errorf("Create after Close: %v, want ErrClosed", err)
		}
		if err := s.AppendEvent(p.ID, storage.Event{Type: "x"}); !errors.Is(err, storage.ErrClosed) {
			t.Errorf("AppendEvent after Close: %v, want ErrClosed", err)
		}
	})
	t.Run("ReadsFailWithErrClosed", func(t *testing.T) {
		if _, err := s.Get(p.ID); !errors.Is(err, storage.ErrClosed) {
			t.Errorf("Get after Close: %v, want ErrClosed", err)
		}
	})
}

func TestWriteTo(t *testing.T) {
	t.Run("CopyOpensWithTheSamePayments", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		for _, st := range []storage.State{storage.StateInitiating, storage.StatePending, storage.StateSucceeded,
			storage.StateFailed, storage.StateRejected, storage.StateUnknown} {
			paymentIn(t, s, clock, st)
		}
		want := allPayments(t, s)

		var buf bytes.Buffer
		n, err := s.WriteTo(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(buf.Len()) {
			t.Errorf("WriteTo reported %d bytes, wrote %d", n, buf.Len())
		}
		path := filepath.Join(t.TempDir(), "backup.db")
		if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		backup := mustOpenAt(t, path, clock)
		if got := allPayments(t, backup); !reflect.DeepEqual(got, want) {
			t.Errorf("backup holds %v, want %v", ids(got), ids(want))
		}
		mustCheck(t, backup)
	})

	t.Run("HotCopyWhileWritingIsConsistent", func(t *testing.T) {
		s, clock := mustOpenStore(t)
		before := make([]storage.Payment, 20)
		for i := range before {
			before[i] = pendingPayment(t, s, clock)
		}
		var wg sync.WaitGroup
		for i := range before {
			wg.Go(func() {
				if _, _, err := s.Settle(before[i].ID, storage.Result{State: storage.StateSucceeded, Source: "callback"}); err != nil {
					t.Error(err)
				}
				if _, _, err := s.Create(newPayment(), storage.Limits{}); err != nil {
					t.Error(err)
				}
			})
		}
		var buf bytes.Buffer
		_, err := s.WriteTo(&buf)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "backup.db")
		if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		backup := mustOpenAt(t, path, clock)
		mustCheck(t, backup)
		for _, p := range before {
			got := mustGet(t, backup, p.ID)
			if got.State != storage.StatePending && got.State != storage.StateSucceeded {
				t.Errorf("payment %s in backup is %s, want pending or succeeded", p.ID, got.State)
			}
		}
	})
}

func TestBackupFile(t *testing.T) {
	s, clock := mustOpenStore(t)
	p := paymentIn(t, s, clock, storage.StateSucceeded)
	path := filepath.Join(t.TempDir(), "backups", "mpesa-bot.db")

	t.Run("WritesAFileThatOpens", func(t *testing.T) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("an older backup"), 0o600); err != nil {
			t.Fatal(err)
		}
		n, err := s.BackupFile(path)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != n {
			t.Errorf("backup file has %d bytes, BackupFile reported %d", fi.Size(), n)
		}
		entries, _ := os.ReadDir(filepath.Dir(path))
		if len(entries) != 1 {
			t.Errorf("backup folder holds %d entries, want only the backup (no temporary files)", len(entries))
		}
		b, err := storage.Open(path, storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if got, err := b.Get(p.ID); err != nil || got.Receipt != p.Receipt || got.State != storage.StateSucceeded {
			t.Errorf("backup has %v, %v; want %v", got, err, p)
		}
	})

	t.Run("RefusesTheLiveDatabase", func(t *testing.T) {
		if _, err := s.BackupFile(s.Path()); !errors.Is(err, storage.ErrInvalid) {
			t.Fatalf("BackupFile(live path) = %v, want ErrInvalid", err)
		}
		mustGet(t, s, p.ID)
		mustCheck(t, s)
	})
}

func TestSecretIsNotPersistedInClear(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mpesa-bot.db")
	clock := newFakeClock()
	s, err := storage.Open(path, storage.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	req := newPayment()
	req.CallbackSecret = "Secret-7f3c9a1e5b2d4c6a8e0f"
	created, _, err := s.Create(req, storage.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if created.CallbackSecret != "" {
		t.Errorf("Create returned CallbackSecret %q, want empty", created.CallbackSecret)
	}
	if _, err := s.RecordPush(created.ID, "ws_CO_1", "m-1", clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Settle(created.ID, storage.Result{State: storage.StateSucceeded, Source: "callback"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetBySecret(req.CallbackSecret)
	if err != nil || got.ID != created.ID {
		t.Fatalf("GetBySecret = %s, %v; want %s", got.ID, err, created.ID)
	}
	if got.CallbackSecret != "" {
		t.Errorf("read back CallbackSecret %q, want empty", got.CallbackSecret)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(req.CallbackSecret)) {
		t.Fatal("the callback secret is in the database file in clear")
	}
	if !bytes.Contains(raw, []byte(created.ID)) {
		t.Fatal("the scan is broken: the payment ID is not in the file either")
	}
}

func TestGetBySecret(t *testing.T) {
	s, _ := mustOpenStore(t)
	req := newPayment()
	p := mustCreate(t, s, req)
	for name, secret := range map[string]string{
		"WrongSecret":  req.CallbackSecret + "x",
		"EmptySecret":  "",
		"SecretPrefix": req.CallbackSecret[:len(req.CallbackSecret)-1],
	} {
		t.Run(name+"IsNotFound", func(t *testing.T) {
			_, err := s.GetBySecret(secret)
			if !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
			if secret != "" && strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
	t.Run("RightSecretFindsPayment", func(t *testing.T) {
		if got, err := s.GetBySecret(req.CallbackSecret); err != nil || got.ID != p.ID {
			t.Fatalf("GetBySecret = %s, %v; want %s", got.ID, err, p.ID)
		}
	})
	t.Run("PaymentWithoutSecretIsNotFoundByEmptySecret", func(t *testing.T) {
		req := newPayment()
		req.CallbackSecret = ""
		mustCreate(t, s, req)
		if _, err := s.GetBySecret(""); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}

// rawBolt writes a bbolt file with the given buckets, as another program or a
// newer version of this one might have.
func rawBolt(t *testing.T, buckets map[string]map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		for name, kv := range buckets {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			for k, v := range kv {
				if err := b.Put([]byte(k), []byte(v)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func rawBuckets(t *testing.T, path string) []string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var names []string
	_ = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			names = append(names, string(name))
			return nil
		})
	})
	return names
}

// allPayments lists every payment through the state index.
func allPayments(t *testing.T, s *storage.Store) []storage.Payment {
	t.Helper()
	ps, err := s.ListByState(storage.StateInitiating, storage.StatePending, storage.StateSucceeded,
		storage.StateFailed, storage.StateRejected, storage.StateUnknown)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}
