package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mpesa-bot/mpesa-bot/mpesa/testkit"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// demoInput is the README's demo: a paid, a cancelled and a refused payment.
const demoInput = "/pay 0712345678 100 INV001\n/pay 0712345672 50 X\n/pay 0712345677 10\n"

func TestDemo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		dbPath bool
	}{
		{"DataInATempDirThatIsRemoved", false},
		{"DataInDBPathThatStays", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			env := vars{"SIMULATOR_DELAY": "200ms", "TMPDIR": tmp}
			db := filepath.Join(t.TempDir(), "demo", "payments.db")
			if tc.dbPath {
				env["DB_PATH"] = db
			}
			cmd, stdout, stderr := command(t, env, "demo")
			cmd.Stdin = strings.NewReader(demoInput)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			err := waitProcess(t, cmd)
			r := result{code: exitCode(err), stdout: stdout.String(), stderr: stderr.String()}
			assertNoSecrets(t, r)
			if r.code != 0 {
				t.Fatalf("demo failed:\n%s", r)
			}

			// Each payment's acknowledgement comes before its outcome.
			for _, p := range []struct{ phone, ack, outcome string }{
				{"*********678", "request sent", "successful"},
				{"*********672", "request sent", "cancelled"},
				{"*********677", "", "not sent"},
			} {
				ack, outcome := -1, -1
				for i, line := range strings.Split(r.stdout, "\n") {
					l := strings.ToLower(line)
					if !strings.HasPrefix(l, "bot> ") || !strings.Contains(l, p.phone) {
						continue
					}
					if p.ack != "" && ack < 0 && strings.Contains(l, p.ack) {
						ack = i
					}
					if outcome < 0 && strings.Contains(l, p.outcome) {
						outcome = i
					}
				}
				if outcome < 0 {
					t.Errorf("no outcome %q for %s:\n%s", p.outcome, p.phone, r.stdout)
				}
				if p.ack != "" && (ack < 0 || ack > outcome) {
					t.Errorf("for %s the acknowledgement (line %d) does not come before the outcome (line %d):\n%s",
						p.phone, ack, outcome, r.stdout)
				}
			}
			if strings.Contains(r.stdout, "still pending") {
				t.Errorf("the demo stopped with payments pending:\n%s", r.stdout)
			}

			// Nothing of the demo is left in the working directory, nor in
			// TMPDIR; with DB_PATH the payments are there afterwards.
			if _, err := os.Stat(filepath.Join(cmd.Dir, "data")); err == nil {
				t.Errorf("the demo wrote data/ into the working directory")
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("the demo left %d entries in TMPDIR", len(left))
			}
			if !tc.dbPath {
				return
			}
			st := openStore(t, db)
			ps, err := st.ListByUser(demoUserID, 10)
			if err != nil {
				t.Fatal(err)
			}
			states := map[storage.State]int{}
			for _, p := range ps {
				states[p.State]++
			}
			if len(ps) != 3 || states[storage.StateSucceeded] != 1 || states[storage.StateFailed] != 1 || states[storage.StateRejected] != 1 {
				t.Errorf("DB_PATH holds %v; want one succeeded, one failed and one rejected payment", ps)
			}
		})
	}
}

func TestSignalStopsTheBotPromptly(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			tg := newFakeTelegram(t)
			env := simulatorEnv(t, tg)
			cmd, stdout, stderr := command(t, env, "run")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
			defer cancel()
			if err := tg.WaitPolling(ctx); err != nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("the bot never long-polled: %v\n%s", err, stderr.String())
			}
			// The long poll is held for 50 s: only a prompt stop exits
			// within waitProcess's limit.
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := waitProcess(t, cmd)
			r := result{code: exitCode(err), stdout: stdout.String(), stderr: stderr.String()}
			assertNoSecrets(t, r)
			if r.code != 0 {
				t.Fatalf("the bot did not exit 0 on %s:\n%s", sig, r)
			}
			if !strings.Contains(r.stderr, "mpesa-bot stopped") {
				t.Errorf("the log does not say the bot stopped:\n%s", r.stderr)
			}
			openStore(t, env["DB_PATH"])
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()

	t.Run("InProcess", func(t *testing.T) {
		t.Parallel()
		r := runMain(t, context.Background(), vars{}, "", "-version")
		if r.code != 0 || r.stdout != "mpesa-bot "+version+"\n" {
			t.Fatalf("want exit 0 and %q:\n%s", "mpesa-bot "+version, r)
		}
	})

	t.Run("StampedAtBuild", func(t *testing.T) {
		t.Parallel()
		cmd, stdout, stderr := command(t, vars{}, "-version")
		err := cmd.Run()
		if code := exitCode(err); code != 0 || stdout.String() != "mpesa-bot "+testVersion+"\n" {
			t.Fatalf("exit %d, stdout %q, stderr %q; want %q", code, stdout.String(), stderr.String(), "mpesa-bot "+testVersion)
		}
	})
}

func TestUnknownCommandExits2WithUsage(t *testing.T) {
	t.Parallel()
	r := runMain(t, context.Background(), vars{}, "", "serve")
	if r.code != 2 {
		t.Fatalf("want exit 2:\n%s", r)
	}
	for _, want := range []string{`unknown command "serve"`, "usage: mpesa-bot", "healthcheck", "backup FILE"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if r.stdout != "" {
		t.Errorf("usage for a mistake goes to stderr, not stdout:\n%s", r.stdout)
	}
}

func TestHelpExits0WithUsage(t *testing.T) {
	t.Parallel()
	r := runMain(t, context.Background(), vars{}, "", "-h")
	if r.code != 0 || !strings.Contains(r.stdout, "usage: mpesa-bot") {
		t.Fatalf("want exit 0 and usage on stdout:\n%s", r)
	}
}

func TestStrayArgumentsExit2WithUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"run", "-version"},
		{"demo", "input.txt"},
		{"check", "now"},
		{"healthcheck", "http://127.0.0.1:8080"},
		{"restore", "a.db", "b.db"},
	} {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			t.Parallel()
			// A complete environment, so that a command started anyway would
			// not fail on configuration (exit 2) but run, and stop at once.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			env := simulatorEnv(t, newFakeTelegram(t)).with(vars{"HTTP_ADDR": freeAddr(t)})
			r := runMain(t, ctx, env, "", args...)
			if r.code != 2 || !strings.Contains(r.stderr, "usage") {
				t.Fatalf("want exit 2 with usage:\n%s", r)
			}
		})
	}
}

// A newcomer's .env for the real bot is in the working directory when they
// try the demo: the demo must stay on the simulator and show none of it.
func TestDemoWithARealDotEnvShowsNoSecret(t *testing.T) {
	t.Parallel()
	cmd, stdout, stderr := command(t, vars{"SIMULATOR_DELAY": "50ms", "TMPDIR": t.TempDir()}, "demo")
	dotEnv := strings.Join([]string{
		"TELEGRAM_BOT_TOKEN=" + fakeToken,
		"ENVIRONMENT=production",
		"MPESA_CONSUMER_KEY=" + consumerKey,
		"MPESA_CONSUMER_SECRET=" + consumerSecret,
		"MPESA_SHORTCODE=600100",
		"MPESA_PASSKEY=" + passkey,
		"CALLBACK_URL=https://example.com/payments/cb",
		"BACKUP_TOKEN=" + backupToken,
		"HTTP_ADDR=127.0.0.1:1",
		"",
	}, "\n")
	if err := os.WriteFile(filepath.Join(cmd.Dir, ".env"), []byte(dotEnv), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = strings.NewReader("/envinfo\n/pay 0712345678 20 ENV\n")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	err := waitProcess(t, cmd)
	r := result{code: exitCode(err), stdout: stdout.String(), stderr: stderr.String()}
	assertNoSecrets(t, r)
	if r.code != 0 {
		t.Fatalf("demo failed:\n%s", r)
	}
	for _, want := range []string{"simulator", "successful"} {
		if !strings.Contains(strings.ToLower(r.stdout), want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "safaricom.co.ke") {
		t.Errorf("the demo points at a real Daraja:\n%s", r.stdout)
	}
}

// Ctrl-C ends a demo whose terminal is still open, without waiting for input
// or for the settle bound.
func TestDemoStopsOnInterrupt(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	cmd, stdout, stderr := command(t, vars{"SIMULATOR_DELAY": "1h", "TMPDIR": tmp}, "demo")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A payment that will not settle for an hour, and input still open.
	if _, err := stdin.Write([]byte("/pay 0712345678 100 INV001\n")); err != nil {
		t.Fatal(err)
	}
	testkit.WaitUntil(t, "the acknowledgement on stdout", hangLimit, func() bool { return strings.Contains(stdout.String(), "request sent") })
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err = waitProcess(t, cmd)
	r := result{code: exitCode(err), stdout: stdout.String(), stderr: stderr.String()}
	assertNoSecrets(t, r)
	if r.code != 0 {
		t.Fatalf("the demo did not exit 0 on Ctrl-C:\n%s", r)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the interrupted demo left %d entries in TMPDIR", len(left))
	}
}
