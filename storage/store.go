package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DefaultTimeout is how long Open waits for another process to release the
// database file before it gives up with ErrLocked.
const DefaultTimeout = time.Second

// DefaultBatchDelay is how long a write waits for others to share its
// fsync. bbolt's own default is 10ms; 2ms still groups the writes of a burst
// (measured: 1,600+ payments/s through the bot on 2 cores) while a lone /pay,
// which makes two writes, answers 16ms sooner.
const DefaultBatchDelay = 2 * time.Millisecond

// schemaVersion is the file format this code reads and writes. Bump it, and
// teach Open to migrate, whenever the record or an index changes shape.
// Version 2 moved events out of the records (see migrateV1).
const schemaVersion = 2

// Options tune Open. The zero value is ready to use.
type Options struct {
	// Timeout is how long to wait for the file lock held by another process
	// [DefaultTimeout]. A negative value tries once. There is deliberately no
	// way to wait forever: a second bot on the same file must fail loudly.
	Timeout time.Duration
	// Now timestamps records and events [time.Now]. It must be safe for
	// concurrent use. Times are stored in UTC.
	Now func() time.Time
	// BatchDelay is how long a write waits for others to share its
	// transaction and fsync [DefaultBatchDelay]. Longer groups more writes
	// under load; every lone write pays it in latency. Tests may use 1ms.
	BatchDelay time.Duration
}

// Store is the bbolt store of payments. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
	now  func() time.Time
	// refusalsPruned is when (store clock, unix ns) expired refusals were
	// last deleted, so that RecordRefusal prunes at most once an hour.
	refusalsPruned atomic.Int64
}

// Open opens (creating if needed, along with its folder) the database at path.
//
// Every bucket is created here, so later transactions never create one. A file
// of schema version 1 is migrated to version 2 in the same transaction (see
// the package documentation); a file written by a newer or unknown version is
// refused with ErrSchema and left as it was. Refusals older than 48 hours are
// pruned. If another process holds the file, Open fails with an error matching
// ErrLocked once opts.Timeout has passed. fsync on commit stays on: a payment
// the store acknowledged is on disk.
func Open(path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("storage: open: %w: empty path", ErrInvalid)
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("storage: create folder of %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("storage: database %s is in use by another process (lock not released within %s): %w",
			path, timeout, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	db.MaxBatchDelay = DefaultBatchDelay
	if opts.BatchDelay > 0 {
		db.MaxBatchDelay = opts.BatchDelay
	}
	s := &Store{db: db, path: path, now: now}
	if err := db.Update(s.prepare); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("storage: database %s: %w", path, err)
	}
	return s, nil
}

// prepare checks the schema version of an existing file, stamps a new one,
// creates every bucket, migrates a version-1 file and prunes old refusals.
func (s *Store) prepare(tx *bolt.Tx) error {
	meta := tx.Bucket([]byte(bucketMeta))
	if meta == nil {
		var foreign []string
		_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			foreign = append(foreign, strconv.Quote(string(name)))
			return nil
		})
		if len(foreign) > 0 {
			return fmt.Errorf("%w: the file has buckets %v but no schema version: it is not an mpesa-bot database",
				ErrSchema, foreign)
		}
		var err error
		if meta, err = tx.CreateBucket([]byte(bucketMeta)); err != nil {
			return err
		}
		if err := meta.Put([]byte(keySchema), []byte(strconv.Itoa(schemaVersion))); err != nil {
			return err
		}
	}
	raw := meta.Get([]byte(keySchema))
	v, err := strconv.Atoi(string(raw))
	switch {
	case err != nil:
		return fmt.Errorf("%w: unreadable schema version %q", ErrSchema, raw)
	case v > schemaVersion:
		return fmt.Errorf("%w: schema version %d was written by a newer mpesa-bot; this build understands version %d: upgrade mpesa-bot",
			ErrSchema, v, schemaVersion)
	case v != schemaVersion && v != 1:
		return fmt.Errorf("%w: unknown schema version %d; this build understands versions 1 and %d", ErrSchema, v, schemaVersion)
	}
	for _, name := range []string{bucketPayments, bucketEvents, bucketHolds, bucketRefusals} {
		if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return err
		}
	}
	for i := range numIndexes {
		if _, err := tx.CreateBucketIfNotExists(i.name()); err != nil {
			return err
		}
	}
	if v == 1 {
		if err := migrateV1(tx); err != nil {
			return fmt.Errorf("migrate from schema version 1: %w", err)
		}
		if err := meta.Put([]byte(keySchema), []byte(strconv.Itoa(schemaVersion))); err != nil {
			return err
		}
	}
	now := s.clock()
	if err := pruneRefusals(tx.Bucket([]byte(bucketRefusals)), now); err != nil {
		return err
	}
	s.refusalsPruned.Store(now.UnixNano())
	return pruneHolds(tx.Bucket([]byte(bucketHolds)), now)
}

// Close waits for running transactions and closes the file. Writes queued
// after Close fail with ErrClosed rather than vanish. Closing twice is harmless.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("storage: close %s: %w", s.path, err)
	}
	return nil
}

// Path is the database file's path as given to Open.
func (s *Store) Path() string { return s.path }

// WriteTo writes a consistent copy of the whole database to w while the store
// stays in use (a hot backup: bbolt's Tx.WriteTo inside a read transaction).
// The copy opens with Open like the original.
//
// Writers are not blocked, except one that must grow the file while the copy
// runs: it waits for the copy to finish, so keep w fast (a local file, not a
// slow network peer).
func (s *Store) WriteTo(w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, wrapDB("backup", err)
	}
	return n, nil
}

// BackupFile writes a hot backup to path atomically: into a temporary file in
// the same folder, flushed to disk, then renamed over path. A crash leaves
// either the old backup or the new one, never half of one. path must not be
// the live database.
func (s *Store) BackupFile(path string) (int64, error) {
	if live, err := os.Stat(s.path); err == nil {
		if fi, err := os.Stat(path); err == nil && os.SameFile(live, fi) {
			return 0, fmt.Errorf("storage: backup: %w: %s is the live database", ErrInvalid, path)
		}
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("storage: backup: %w", err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("storage: backup: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	n, err := s.WriteTo(tmp)
	if err != nil {
		return n, err
	}
	if err := tmp.Sync(); err != nil {
		return n, fmt.Errorf("storage: backup: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return n, fmt.Errorf("storage: backup: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return n, fmt.Errorf("storage: backup: %w", err)
	}
	done = true
	// The rename is durable only once the folder itself is flushed.
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		_ = d.Close()
		if err != nil {
			return n, fmt.Errorf("storage: backup: sync folder: %w", err)
		}
	}
	return n, nil
}

// Check verifies the file (bbolt's page check), that every index agrees with
// the records (each record has exactly its index entries and no entry points
// elsewhere), that every event, hold and refusal reads back, and that every
// event and hold belongs to a stored payment (a hold, to one with that
// phone). Problems match ErrCorrupt. It reads everything: run it at start-up
// or from an admin command, not per request.
func (s *Store) Check() error {
	var problems []error
	err := s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			problems = append(problems, fmt.Errorf("%w: %w", ErrCorrupt, err))
		}
		b, err := bucketsOf(tx)
		if err != nil {
			return err
		}
		var want [numIndexes]map[string]string
		for i := range want {
			want[i] = make(map[string]string)
		}
		err = b.payments.ForEach(func(k, v []byte) error {
			r, err := decodeRecord(k, v)
			if err != nil {
				problems = append(problems, err)
				return nil
			}
			for i, key := range r.indexKeys() {
				if key != nil {
					want[i][string(key)] = r.ID
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i := range numIndexes {
			err := b.idx[i].ForEach(func(k, v []byte) error {
				// Keys are not printed: some hold a phone number.
				id, ok := want[i][string(k)]
				switch {
				case !ok:
					problems = append(problems, fmt.Errorf("%w: %s has a stray entry for payment %s", ErrCorrupt, i.name(), v))
				case id != string(v):
					problems = append(problems, fmt.Errorf("%w: %s entry of payment %s points to %s", ErrCorrupt, i.name(), id, v))
				}
				delete(want[i], string(k))
				return nil
			})
			if err != nil {
				return err
			}
			for _, id := range want[i] {
				problems = append(problems, fmt.Errorf("%w: %s lacks the entry of payment %s", ErrCorrupt, i.name(), id))
			}
		}
		problems = append(problems, b.checkOthers()...)
		return nil
	})
	if err != nil {
		return wrapDB("check", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("storage: check %s: %w", s.path, errors.Join(problems...))
	}
	return nil
}

// wrapDB names the operation and turns bbolt's "not open" into ErrClosed.
func wrapDB(op string, err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("storage: %s: %w", op, ErrClosed)
	}
	return fmt.Errorf("storage: %s: %w", op, err)
}

// clock is the store's time, in UTC.
func (s *Store) clock() time.Time { return s.now().UTC() }
