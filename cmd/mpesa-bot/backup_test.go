package main

import (
	"context"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mpesa-bot/mpesa-bot/mpesa/testkit"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

func TestHealthcheck(t *testing.T) {
	t.Parallel()

	t.Run("ReadyBotExits0With200", func(t *testing.T) {
		t.Parallel()
		tg := newFakeTelegram(t)
		env := simulatorEnv(t, tg).with(vars{"HTTP_ADDR": freeAddr(t)})
		startBot(t, tg, env)
		r := runMain(t, context.Background(), vars{"HTTP_ADDR": env["HTTP_ADDR"]}, "", "healthcheck")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "200") {
			t.Fatalf("want exit 0 and 200 from a ready bot:\n%s", r)
		}
	})

	t.Run("AddressWithoutHostDialsThisMachine", func(t *testing.T) {
		t.Parallel()
		tg := newFakeTelegram(t)
		env := simulatorEnv(t, tg).with(vars{"HTTP_ADDR": freeAddr(t)})
		startBot(t, tg, env)
		_, port, _ := net.SplitHostPort(env["HTTP_ADDR"])
		r := runMain(t, context.Background(), vars{"HTTP_ADDR": ":" + port}, "", "healthcheck")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "200") {
			t.Fatalf("HTTP_ADDR=:%s (as in the Docker image) did not reach the bot:\n%s", port, r)
		}
	})

	t.Run("BotThatCannotReachTelegramIsNotReady", func(t *testing.T) {
		t.Parallel()
		tg := newFakeTelegram(t)
		tg.SetDown(true)
		env := simulatorEnv(t, tg).with(vars{"HTTP_ADDR": freeAddr(t)})
		launchBot(t, tg, env)
		// The listener exists before the first getMe: once Telegram was
		// asked, the HTTP server accepts connections.
		testkit.WaitUntil(t, "the first getMe", hangLimit, func() bool { return len(tg.Calls("getMe")) > 0 })
		r := runMain(t, context.Background(), vars{"HTTP_ADDR": env["HTTP_ADDR"]}, "", "healthcheck")
		if r.code == 0 || !strings.HasPrefix(r.stdout, "503") {
			t.Fatalf("want a non-zero exit and 503 from a bot without Telegram:\n%s", r)
		}
	})

	t.Run("OpsAddrServesHealthAndHTTPAddrOnlyCallbacks", func(t *testing.T) {
		t.Parallel()
		tg := newFakeTelegram(t)
		env := simulatorEnv(t, tg).with(vars{"HTTP_ADDR": freeAddr(t), "OPS_ADDR": freeAddr(t)})
		startBot(t, tg, env)
		r := runMain(t, context.Background(), vars{"HTTP_ADDR": env["HTTP_ADDR"], "OPS_ADDR": env["OPS_ADDR"]}, "", "healthcheck")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "200") {
			t.Fatalf("healthcheck through OPS_ADDR: want exit 0 and 200:\n%s", r)
		}
		for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
			resp, err := http.Get("http://" + env["HTTP_ADDR"] + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s on HTTP_ADDR = %d, want 404: operations routes belong on OPS_ADDR", path, resp.StatusCode)
			}
		}
		resp, err := http.Get("http://" + env["OPS_ADDR"] + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /metrics on OPS_ADDR = %d, want 200", resp.StatusCode)
		}
	})

	t.Run("NothingListeningFails", func(t *testing.T) {
		t.Parallel()
		r := runMain(t, context.Background(), vars{"HTTP_ADDR": freeAddr(t)}, "", "healthcheck")
		if r.code == 0 {
			t.Fatalf("healthcheck passed with nothing listening:\n%s", r)
		}
		if !strings.Contains(r.stderr, "mpesa-bot healthcheck:") {
			t.Errorf("stderr does not say what failed:\n%s", r)
		}
	})

	t.Run("MissingHTTPAddrIsNamed", func(t *testing.T) {
		t.Parallel()
		r := runMain(t, context.Background(), vars{}, "", "healthcheck")
		if r.code == 0 || !strings.Contains(r.stderr, "HTTP_ADDR") {
			t.Fatalf("want a non-zero exit naming HTTP_ADDR:\n%s", r)
		}
	})
}

func TestBackup(t *testing.T) {
	t.Parallel()

	t.Run("WhileTheBotRuns", func(t *testing.T) {
		t.Parallel()
		tg := newFakeTelegram(t)
		env := simulatorEnv(t, tg).with(vars{"HTTP_ADDR": freeAddr(t), "BACKUP_TOKEN": backupToken})
		startBot(t, tg, env)
		paid, _ := payAndSettle(t, tg, 250)
		cancelledMsg := sendPay(tg, "/pay 0712345672 40 INV002")
		cancelled := checkoutIDPattern.FindString(waitReply(t, tg, cancelledMsg, "request sent").Plain)
		waitReply(t, tg, cancelledMsg, "cancelled")
		dir := t.TempDir()
		operator := vars{"DB_PATH": env["DB_PATH"], "HTTP_ADDR": env["HTTP_ADDR"], "BACKUP_TOKEN": backupToken}

		t.Run("CopyHoldsThePayment", func(t *testing.T) {
			file := filepath.Join(dir, "ok.db")
			r := runMain(t, context.Background(), operator, "", "backup", file)
			if r.code != 0 || !strings.Contains(r.stdout, "taken by the running bot") {
				t.Fatalf("backup through the running bot failed:\n%s", r)
			}
			st := openStore(t, file)
			ps, err := st.ListByUser(payerID, 10)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]storage.State{}
			for _, p := range ps {
				got[p.CheckoutRequestID] = p.State
			}
			want := map[string]storage.State{paid: storage.StateSucceeded, cancelled: storage.StateFailed}
			if !maps.Equal(got, want) {
				t.Fatalf("the backup holds %v; want the chat's payments %v", got, want)
			}
		})

		t.Run("WrongTokenFailsClearly", func(t *testing.T) {
			file := filepath.Join(dir, "wrong.db")
			r := runMain(t, context.Background(), operator.with(vars{"BACKUP_TOKEN": "not-the-bots-token-at-all"}), "", "backup", file)
			if r.code == 0 {
				t.Fatalf("backup succeeded with a wrong token:\n%s", r)
			}
			if !strings.Contains(r.stderr, "401") || !strings.Contains(r.stderr, "BACKUP_TOKEN") {
				t.Errorf("stderr does not say the bot refused BACKUP_TOKEN:\n%s", r)
			}
			if _, err := os.Stat(file); err == nil {
				t.Errorf("a failed backup left %s behind", file)
			}
		})

		t.Run("NoTokenSaysWhatIsNeeded", func(t *testing.T) {
			file := filepath.Join(dir, "none.db")
			r := runMain(t, context.Background(), vars{"DB_PATH": env["DB_PATH"]}, "", "backup", file)
			if r.code == 0 {
				t.Fatalf("backup of a held database succeeded without the bot:\n%s", r)
			}
			if !strings.Contains(r.stderr, "HTTP_ADDR") || !strings.Contains(r.stderr, "BACKUP_TOKEN") {
				t.Errorf("stderr does not say to set HTTP_ADDR and BACKUP_TOKEN:\n%s", r)
			}
		})

		// Only the backups that succeeded are in the folder: no temp files.
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if !slices.Equal(names, []string{"ok.db"}) {
			t.Errorf("backup folder holds %q; want only ok.db", names)
		}
	})

	t.Run("BotWithoutBackupRouteSaysSo", func(t *testing.T) {
		t.Parallel()
		tg := newFakeTelegram(t)
		env := simulatorEnv(t, tg).with(vars{"HTTP_ADDR": freeAddr(t)}) // no BACKUP_TOKEN: no route
		startBot(t, tg, env)
		file := filepath.Join(t.TempDir(), "copy.db")
		r := runMain(t, context.Background(), env.with(vars{"BACKUP_TOKEN": backupToken}), "", "backup", file)
		if r.code == 0 {
			t.Fatalf("backup succeeded from a bot without a backup route:\n%s", r)
		}
		if !strings.Contains(r.stderr, "restart it with BACKUP_TOKEN set") {
			t.Errorf("stderr does not say the bot needs BACKUP_TOKEN:\n%s", r)
		}
	})

	t.Run("WithNoBotCopiesDirectly", func(t *testing.T) {
		t.Parallel()
		db := filepath.Join(t.TempDir(), "bot.db")
		seedStore(t, db, 10, 20)
		file := filepath.Join(t.TempDir(), "copy.db")
		r := runMain(t, context.Background(), vars{"DB_PATH": db}, "", "backup", file)
		if r.code != 0 || !strings.Contains(r.stdout, "read directly") {
			t.Fatalf("direct backup failed:\n%s", r)
		}
		if got := amountsIn(t, file); !slices.Equal(got, []int64{10, 20}) {
			t.Errorf("the copy holds amounts %v; want [10 20]", got)
		}
	})

	t.Run("MissingDatabaseFails", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		file := filepath.Join(dir, "copy.db")
		r := runMain(t, context.Background(), vars{"DB_PATH": filepath.Join(dir, "nothing.db")}, "", "backup", file)
		if r.code == 0 || !strings.Contains(r.stderr, "DB_PATH") {
			t.Fatalf("want a non-zero exit naming DB_PATH:\n%s", r)
		}
		if _, err := os.Stat(file); err == nil {
			t.Errorf("a failed backup left %s behind", file)
		}
	})

	t.Run("WithoutFileShowsUsage", func(t *testing.T) {
		t.Parallel()
		r := runMain(t, context.Background(), vars{}, "", "backup")
		if r.code != 2 || !strings.Contains(r.stderr, "usage: mpesa-bot backup FILE") {
			t.Fatalf("want exit 2 with usage:\n%s", r)
		}
	})
}

// keptDatabases lists the files restore kept beside db, sorted.
func keptDatabases(t *testing.T, db string) []string {
	t.Helper()
	kept, err := filepath.Glob(db + ".before-restore-*")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(kept)
	return kept
}

func TestRestore(t *testing.T) {
	t.Parallel()

	t.Run("ReplacesTheDatabaseAndKeepsTheOld", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		db, backup := filepath.Join(dir, "bot.db"), filepath.Join(dir, "backup.db")
		seedStore(t, db, 1)
		seedStore(t, backup, 2, 3)

		r := runMain(t, context.Background(), vars{"DB_PATH": db}, "", "restore", backup)
		if r.code != 0 {
			t.Fatalf("restore failed:\n%s", r)
		}
		if got := amountsIn(t, db); !slices.Equal(got, []int64{2, 3}) {
			t.Errorf("DB_PATH holds %v after the restore; want the backup's [2 3]", got)
		}
		kept := keptDatabases(t, db)
		if len(kept) != 1 {
			t.Fatalf("kept %q; want the one old database", kept)
		}
		if got := amountsIn(t, kept[0]); !slices.Equal(got, []int64{1}) {
			t.Errorf("the kept database holds %v; want the old [1]", got)
		}
		if !strings.Contains(r.stdout, kept[0]) {
			t.Errorf("stdout does not say where the old database is:\n%s", r)
		}
	})

	t.Run("TwiceKeepsBothOldDatabases", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		db := filepath.Join(dir, "bot.db")
		first, second := filepath.Join(dir, "first.db"), filepath.Join(dir, "second.db")
		seedStore(t, db, 1)
		seedStore(t, first, 2)
		seedStore(t, second, 3)
		for _, backup := range []string{first, second} {
			if r := runMain(t, context.Background(), vars{"DB_PATH": db}, "", "restore", backup); r.code != 0 {
				t.Fatalf("restore %s failed:\n%s", backup, r)
			}
		}
		var held [][]int64
		for _, k := range keptDatabases(t, db) {
			held = append(held, amountsIn(t, k))
		}
		slices.SortFunc(held, func(a, b []int64) int { return int(a[0] - b[0]) })
		if len(held) != 2 || held[0][0] != 1 || held[1][0] != 2 {
			t.Errorf("kept databases hold %v; want the original [1] and the first restore's [2]", held)
		}
	})

	t.Run("WithNoDatabasePutsTheBackupInPlace", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		db, backup := filepath.Join(dir, "data", "bot.db"), filepath.Join(dir, "backup.db")
		seedStore(t, backup, 7)
		if r := runMain(t, context.Background(), vars{"DB_PATH": db}, "", "restore", backup); r.code != 0 {
			t.Fatalf("restore failed:\n%s", r)
		}
		if got := amountsIn(t, db); !slices.Equal(got, []int64{7}) {
			t.Errorf("DB_PATH holds %v; want [7]", got)
		}
		if kept := keptDatabases(t, db); len(kept) != 0 {
			t.Errorf("kept %q although there was no database", kept)
		}
	})

	t.Run("RefusesWhileTheBotRuns", func(t *testing.T) {
		t.Parallel()
		tg := newFakeTelegram(t)
		env := simulatorEnv(t, tg)
		startBot(t, tg, env)
		backup := filepath.Join(t.TempDir(), "backup.db")
		seedStore(t, backup, 9)

		r := runMain(t, context.Background(), vars{"DB_PATH": env["DB_PATH"]}, "", "restore", backup)
		if r.code == 0 {
			t.Fatalf("restore replaced the database of a running bot:\n%s", r)
		}
		if !strings.Contains(r.stderr, "stop the bot") {
			t.Errorf("stderr does not say to stop the bot:\n%s", r)
		}
		if kept := keptDatabases(t, env["DB_PATH"]); len(kept) != 0 {
			t.Errorf("a refused restore moved the database: %q", kept)
		}
		if _, err := os.Stat(env["DB_PATH"] + ".restoring"); err == nil {
			t.Errorf("a refused restore left its temp file behind")
		}
		// The bot did not notice: it still takes payments.
		payAndSettle(t, tg, 30)
	})

	for _, tc := range []struct {
		name    string
		content []byte
	}{
		{"RefusesAnEmptyFile", nil},
		{"RefusesAFileThatIsNotADatabase", []byte(strings.Repeat("not a bbolt file\n", 512))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			db, backup := filepath.Join(dir, "bot.db"), filepath.Join(dir, "backup.db")
			seedStore(t, db, 1)
			if err := os.WriteFile(backup, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			r := runMain(t, context.Background(), vars{"DB_PATH": db}, "", "restore", backup)
			if r.code == 0 {
				t.Fatalf("restore accepted a file that is no backup:\n%s", r)
			}
			if !strings.Contains(r.stderr, "not a usable backup") {
				t.Errorf("stderr does not say the file is no backup:\n%s", r)
			}
			if got := amountsIn(t, db); !slices.Equal(got, []int64{1}) {
				t.Errorf("DB_PATH holds %v after a refused restore; want the untouched [1]", got)
			}
			if kept := keptDatabases(t, db); len(kept) != 0 {
				t.Errorf("a refused restore moved the database: %q", kept)
			}
		})
	}
}
