// Command mpesa-bot is a Telegram bot that takes M-Pesa payments.
//
//	mpesa-bot [run]          the bot (the default)
//	mpesa-bot check          environment info, a timestamp, a masked password and a token
//	mpesa-bot demo           the bot on a fake Telegram and the Daraja simulator; the terminal is the chat
//	mpesa-bot healthcheck    GET /readyz on HTTP_ADDR; exit 0 only on 200
//	mpesa-bot backup FILE    a consistent copy of the database, taken while the bot runs
//	mpesa-bot restore FILE   put a backup in place of the database (the bot must be stopped)
//	mpesa-bot -version       the version
//
// Configuration comes from the environment and a .env file in the working
// directory (see the README and .env.example).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/mpesa-bot/mpesa-bot/bot"
)

// version is stamped at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

// defaultGCPercent is the bot's GOGC when the operator sets none. Its live
// heap is a few megabytes, so letting it grow to five times that before a
// collection (instead of twice) costs little memory and saved a fifth of the
// CPU of a payment under load.
const defaultGCPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	// go-telegram-bot-api logs through a package-level logger, and what it
	// logs holds request URLs, so the token: give it a redacting one, once,
	// for the whole process.
	_ = tgbotapi.SetLogger(bot.LibraryLogger(slog.New(slog.NewTextHandler(os.Stderr, nil)), ""))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal starts a graceful stop; once it has, the default
	// handling is back, so a second Ctrl-C ends the process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env is what a sub-command gets from the process: tests give their own.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// run is main without the process: tests call it directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	cmd := "run"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "-version", "--version", "version", "-h", "-help", "--help", "help", "run", "check", "demo", "healthcheck":
		// A word after these is a mistake (`mpesa-bot run -version`,
		// `mpesa-bot demo input.txt`): doing something else than asked, such
		// as starting the bot, would be worse than saying so.
		if len(args) > 0 {
			fmt.Fprintf(stderr, "mpesa-bot: %s takes no arguments, got %q\n%s", cmd, args, usage)
			return 2
		}
	}
	switch cmd {
	case "-version", "--version", "version":
		fmt.Fprintln(stdout, "mpesa-bot", version)
		return 0
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "run":
		return runBot(ctx, e)
	case "check":
		return runCheck(ctx, e)
	case "demo":
		return runDemo(ctx, e)
	case "healthcheck":
		return runHealthcheck(ctx, e)
	case "backup":
		return runBackup(ctx, e, args)
	case "restore":
		return runRestore(ctx, e, args)
	}
	fmt.Fprintf(stderr, "mpesa-bot: unknown command %q\n%s", cmd, usage)
	return 2
}

const usage = `usage: mpesa-bot [command]

commands:
  run            run the bot (the default)
  check          show the M-Pesa environment, a timestamp, a masked password, and fetch a token
  demo           run the bot on a fake Telegram and the Daraja simulator; type chat messages on stdin
  healthcheck    ask the running bot's /readyz (HTTP_ADDR); exit 0 only when ready
  backup FILE    write a consistent copy of the database to FILE, even while the bot runs
  restore FILE   replace the database with FILE (stop the bot first)
  -version       print the version

Configuration: environment variables, or a .env file in the working directory (see .env.example).
`
