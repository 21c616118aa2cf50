//go:build genfixture

package storage_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mpesa-bot/mpesa-bot/storage"
)

// TestGenerateV1Fixture wrote testdata/v1.db and testdata/v1.json: a file in
// schema version 1 and the payments that code read back from it, which
// TestOpenMigratesVersion1File compares with what the current code reads after
// migrating. The clock is fixed, so the output is the same on every run.
//
// The file must come from version-1 code, so regenerating it needs the tree
// of a commit from before schema version 2 (b76c3de is one):
//
//	mkdir /tmp/v1 && git archive b76c3de | tar -x -C /tmp/v1
//	cp storage/fixture_gen_test.go /tmp/v1/storage/
//	(cd /tmp/v1 && go test -tags genfixture -run TestGenerateV1Fixture ./storage/)
//	cp /tmp/v1/storage/testdata/v1.db /tmp/v1/storage/testdata/v1.json storage/testdata/
//
// Run with later code it fails rather than write a file of another version.
func TestGenerateV1Fixture(t *testing.T) {
	// Written aside and moved into place only once known to be version 1,
	// so that a run with later code leaves the fixture as it was.
	dir := "testdata"
	path := filepath.Join(t.TempDir(), "v1.db")
	clock := &fakeClock{t: time.Date(2025, 11, 3, 9, 15, 0, 0, time.UTC)}
	s, err := storage.Open(path, storage.Options{Now: clock.Now, BatchDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	create := func(phone string, amount int64, ref, id string) storage.Payment {
		t.Helper()
		n++
		clock.Advance(time.Second)
		key := "-100200300:" + string(rune('0'+n))
		p, created, err := s.Create(storage.Payment{
			ID: id, ChatID: -100200300, UserID: 4200 + int64(n%3), MessageID: n,
			IdempotencyKey: key, Phone: phone, Amount: amount, Reference: ref, Description: "Fixture",
			CallbackSecret: "fixture-secret-" + key,
		}, storage.Limits{})
		if err != nil || !created {
			t.Fatalf("Create: %v, %v", created, err)
		}
		return p
	}
	push := func(p storage.Payment) {
		t.Helper()
		clock.Advance(2 * time.Second)
		if err := s.AppendEvent(p.ID, storage.Event{Source: "bot", Type: "push_sent", Detail: "phone=" + storage.MaskPhone(p.Phone)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordPush(p.ID, "ws_CO_fixture_"+p.ID, "29115-fixture-"+p.ID, clock.Now().Add(20*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	settle := func(p storage.Payment, r storage.Result) {
		t.Helper()
		clock.Advance(5 * time.Second)
		if _, changed, err := s.Settle(p.ID, r); err != nil || !changed {
			t.Fatalf("Settle: %v, %v", changed, err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	initiating := create("254700000001", 10, "INIT", "")
	pending := create("254700000002", 20, "PEND", "")
	push(pending)

	succeeded := create("254700000003", 1500, "INV-42", "")
	push(succeeded)
	settle(succeeded, storage.Result{State: storage.StateSucceeded, ResultCode: "0",
		ResultDesc: "The service request is processed successfully.", Receipt: "NLJ7RT61SV", Source: "callback", Detail: "callback"})
	clock.Advance(time.Second)
	_, err = s.MarkNotified(succeeded.ID, storage.StateSucceeded)
	must(err)
	must(s.MarkFeedPosted(succeeded.ID))

	failed := create("254700000004", 30, "", "")
	push(failed)
	settle(failed, storage.Result{State: storage.StateFailed, ResultCode: "1032", ResultDesc: "Request cancelled by user", Source: "callback"})

	rejected := create("254700000005", 40, "REJ", "order-42_A")
	settle(rejected, storage.Result{State: storage.StateRejected, ResultCode: "400.002.02", ResultDesc: "Bad Request - Invalid PhoneNumber", Source: "push"})

	unknown := create("254700000006", 50, "UNK", "")
	push(unknown)
	settle(unknown, storage.Result{State: storage.StateUnknown, Source: "watcher", Detail: "no result by the poll timeout"})
	_, err = s.MarkNotified(unknown.ID, storage.StateUnknown)
	must(err)

	busy := create("254700000007", 60, "MANY", "")
	push(busy)
	for i := range 6 {
		clock.Advance(10 * time.Second)
		must(s.ScheduleQuery(busy.ID, clock.Now().Add(15*time.Second), i+1,
			&storage.Event{Source: "watcher", Type: "query_answered", Detail: "ResultCode=4999 still processing"}))
	}
	clock.Advance(time.Second)
	must(s.AppendEvent(busy.ID, storage.Event{Source: "bot", Type: "failure", Detail: "telegram: résumé ✓ not sent"}))
	must(s.AppendEvent(busy.ID, storage.Event{At: time.Date(2025, 11, 3, 12, 0, 0, 0, time.FixedZone("EAT", 3*3600)), Source: "daraja", Type: "note"}))
	settle(busy, storage.Result{State: storage.StateSucceeded, ResultCode: "0", Receipt: "NLK8SU72TW", Source: "query"})

	var ps []storage.Payment
	for _, p := range []storage.Payment{initiating, pending, succeeded, failed, rejected, unknown, busy} {
		got, err := s.Get(p.ID)
		must(err)
		ps = append(ps, got)
	}
	must(s.Check())
	must(s.Close())

	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	must(err)
	var version string
	must(db.View(func(tx *bolt.Tx) error {
		version = string(tx.Bucket([]byte("meta")).Get([]byte("schema_version")))
		return nil
	}))
	must(db.Close())
	if version != "1" {
		t.Fatalf("this code writes schema version %s; run the generator on version-1 code", version)
	}
	out, err := json.MarshalIndent(ps, "", "\t")
	must(err)
	raw, err := os.ReadFile(path)
	must(err)
	must(os.WriteFile(filepath.Join(dir, "v1.db"), raw, 0o644))
	must(os.WriteFile(filepath.Join(dir, "v1.json"), append(out, '\n'), 0o644))
}
