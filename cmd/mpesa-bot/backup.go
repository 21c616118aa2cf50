package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/mpesa-bot/mpesa-bot/config"
	"github.com/mpesa-bot/mpesa-bot/storage"
)

// runHealthcheck is `mpesa-bot healthcheck`: GET /readyz on HTTP_ADDR, for
// container health checks in images without a shell or curl.
func runHealthcheck(ctx context.Context, e env) int {
	cfg, _, code := loadConfig(e, "healthcheck", config.Needs{HTTP: true})
	if code != 0 {
		return code
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+hostForDial(cfg.OpsURLAddr())+"/readyz", nil)
	if err != nil {
		return fail(e, "healthcheck", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fail(e, "healthcheck", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprintf(e.stdout, "%d %s", resp.StatusCode, body)
	if resp.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}

// runBackup is `mpesa-bot backup FILE`. A running bot holds the database's
// lock, so the copy is taken by the bot itself: GET /backup on HTTP_ADDR with
// BACKUP_TOKEN streams a bbolt read transaction (Tx.WriteTo), consistent
// while payments go on. When no bot runs, the file is copied the same way
// directly. Either way the copy is checked by opening it before it replaces
// FILE.
func runBackup(ctx context.Context, e env, args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(e.stderr, "usage: mpesa-bot backup FILE")
		return 2
	}
	dest := args[0]
	cfg, log, code := loadConfig(e, "backup", config.Needs{})
	if code != 0 {
		return code
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".mpesa-bot-backup-*")
	if err != nil {
		return fail(e, "backup", err)
	}
	defer os.Remove(tmp.Name())

	how, err := copyDatabase(ctx, cfg, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(e, "backup", err)
	}
	n, err := verifyDatabase(tmp.Name())
	if err != nil {
		return fail(e, "backup", fmt.Errorf("the copy does not open as a database: %w", err))
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return fail(e, "backup", err)
	}
	log.Info("backup written", slog.String("file", dest), slog.String("via", how), slog.Int("payments", n))
	fmt.Fprintf(e.stdout, "backup written to %s (%d payments, %s)\n", dest, n, how)
	return 0
}

// copyDatabase writes a consistent copy of DB_PATH to w: directly when no
// process holds the database, else from the running bot.
func copyDatabase(ctx context.Context, cfg *config.Config, w io.Writer) (string, error) {
	if _, err := os.Stat(cfg.DBPath); err != nil {
		return "", fmt.Errorf("DB_PATH %s: %w", cfg.DBPath, err)
	}
	st, err := storage.Open(cfg.DBPath, storage.Options{Timeout: 200 * time.Millisecond})
	if err == nil {
		defer st.Close()
		_, err = st.WriteTo(w)
		return "read directly: no bot was running", err
	}
	if !errors.Is(err, storage.ErrLocked) {
		return "", err
	}
	if cfg.OpsURLAddr() == "" || cfg.BackupToken.Reveal() == "" {
		return "", errors.New("the database is in use by a running bot: set OPS_ADDR (or HTTP_ADDR) and BACKUP_TOKEN, the same as the bot's, to back it up through the bot")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+hostForDial(cfg.OpsURLAddr())+"/backup", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+cfg.BackupToken.Reveal())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("asking the running bot for a backup: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return "", fmt.Errorf("the running bot answered %s to /backup: it has no backup route; restart it with BACKUP_TOKEN set", resp.Status)
	default:
		return "", fmt.Errorf("the running bot answered %s to /backup (is BACKUP_TOKEN the bot's?)", resp.Status)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return "", fmt.Errorf("receiving the backup: %w", err)
	}
	return "taken by the running bot", nil
}

// verifyDatabase opens a copy and counts its payments. An empty file is
// refused first: bbolt would happily make a new, empty database of it, and a
// backup cut off before its first byte would pass for one with no payments.
func verifyDatabase(path string) (int, error) {
	info, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if info.Size() == 0 {
		return 0, errors.New("the file is empty")
	}
	st, err := storage.Open(path, storage.Options{Timeout: time.Second})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	total := 0
	for _, state := range []storage.State{storage.StateInitiating, storage.StatePending, storage.StateSucceeded,
		storage.StateFailed, storage.StateRejected, storage.StateUnknown} {
		n, err := st.CountByState(state)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// runRestore is `mpesa-bot restore FILE`: with the bot stopped, FILE (a
// backup) is checked, and replaces DB_PATH; the old database is kept beside
// it as DB_PATH.before-restore-<time>.
func runRestore(_ context.Context, e env, args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(e.stderr, "usage: mpesa-bot restore FILE")
		return 2
	}
	cfg, _, code := loadConfig(e, "restore", config.Needs{})
	if code != 0 {
		return code
	}
	src := args[0]
	if err := os.MkdirAll(filepath.Dir(cfg.DBPath), 0o700); err != nil {
		return fail(e, "restore", err)
	}
	tmp := cfg.DBPath + ".restoring"
	if err := copyFile(src, tmp); err != nil {
		return fail(e, "restore", err)
	}
	defer os.Remove(tmp)
	n, err := verifyDatabase(tmp)
	if err != nil {
		return fail(e, "restore", fmt.Errorf("%s is not a usable backup: %w", src, err))
	}
	if _, err := os.Stat(cfg.DBPath); err == nil {
		// Taking the lock proves no bot is running on it; holding it through
		// the swap keeps one from starting on the old file meanwhile.
		st, err := storage.Open(cfg.DBPath, storage.Options{Timeout: 200 * time.Millisecond})
		if err != nil {
			return fail(e, "restore", fmt.Errorf("stop the bot first: %w", err))
		}
		old, err := keepAside(cfg.DBPath)
		if err == nil {
			err = os.Rename(tmp, cfg.DBPath)
		}
		if cerr := st.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fail(e, "restore", err)
		}
		fmt.Fprintf(e.stdout, "the previous database was kept as %s\n", old)
	} else if err := os.Rename(tmp, cfg.DBPath); err != nil {
		return fail(e, "restore", err)
	}
	fmt.Fprintf(e.stdout, "restored %s to %s (%d payments)\n", src, cfg.DBPath, n)
	return 0
}

// keepAside gives the database at path a second name,
// path.before-restore-<time>[-N], never one already taken: two restores in
// the same second must not overwrite the database the first one kept. A hard
// link leaves path in place, so the restored file then replaces it in one
// rename; where links are not supported the old file is moved instead.
func keepAside(path string) (string, error) {
	base := path + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
	for i := 1; i < 1000; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		err := os.Link(path, name)
		switch {
		case err == nil:
			return name, nil
		case errors.Is(err, fs.ErrExist):
			continue
		}
		if _, serr := os.Lstat(name); serr == nil {
			continue
		}
		return name, os.Rename(path, name)
	}
	return "", fmt.Errorf("keeping the old database: too many %s* files", base)
}

func copyFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err = io.Copy(out, in); err != nil {
		return err
	}
	return out.Sync()
}
