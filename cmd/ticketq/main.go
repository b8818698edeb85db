// Command ticketq is the durable job-queue server and its command-line
// client. Run `ticketq help` for the subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

func main() {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	os.Exit(exitCode(run(context.Background(), os.Args[1:], env, os.Stdout, os.Stderr), os.Stderr))
}

const usage = `ticketq: a crash-safe, durable job queue.

Usage:
  ticketq serve [flags]                 run the server (zero config: 127.0.0.1:8080, ./ticketq-data)
  ticketq submit [flags] [PAYLOAD|-]    submit a job to a running server; prints its ticket
  ticketq status [flags] TICKET         print a job's status
  ticketq work --queue Q --exec CMD     run a pull queue's jobs on this machine
  ticketq bench [flags]                 load-test a server: submit, batch, e2e, recovery (--spawn, --baseline)
  ticketq check [--data DIR]            verify a stopped server's data offline, read-only; exit 1 on any finding
  ticketq stats [--watch]               print a running server's queues as a table; --watch redraws it
  ticketq backup [-o FILE]              copy the database of a running server (--server) or a stopped one (--data); checked
  ticketq restore --data DIR FILE       install a backup as a stopped server's database (--force replaces one)
  ticketq compact [--data DIR]          rewrite a stopped server's database without its free pages
  ticketq salvage --data DIR --to NEW   copy every job that can still be read from a damaged database into a new one
  ticketq inspect [--data DIR]          list a stopped server's jobs offline, read-only (--queue, --state, --json)
  ticketq version [--json]              print the version, commit and toolchain of this build

Run 'ticketq COMMAND --help' for a command's flags.
`

// run is the whole program: it parses args and env and runs one subcommand.
// Only main calls os.Exit, so tests can call run directly.
func run(ctx context.Context, args []string, env map[string]string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{errors.New("no command given")}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], env, stderr)
	case "submit":
		return submit(ctx, args[1:], env, stdout, stderr)
	case "status":
		return status(ctx, args[1:], env, stdout, stderr)
	case "bench":
		return bench(ctx, args[1:], env, stdout, stderr)
	case "bench-target": // hidden: the --baseline ceiling
		return benchTarget(ctx, args[1:], stderr)
	case "check":
		return check(args[1:], env, stdout, stderr)
	case "work":
		return work(ctx, args[1:], env, stderr)
	case "stats":
		return stats(ctx, args[1:], env, stdout, stderr)
	case "backup":
		return backup(ctx, args[1:], env, stdout, stderr)
	case "restore":
		return restore(args[1:], env, stdout, stderr)
	case "compact":
		return compact(args[1:], env, stdout, stderr)
	case "salvage":
		return salvage(args[1:], env, stdout, stderr)
	case "inspect":
		return inspect(args[1:], env, stdout, stderr)
	case "version", "--version":
		return versionCmd(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Errorf("unknown command %q", args[0])}
}

// exitCode prints err and maps it to the process status: 0 success, 2 a
// usage error, 3 a data file that serve refuses (see dataFileError), 1
// anything else.
func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	var de dataFileError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "ticketq: %v\n", err)
		return 2
	case errors.As(err, &de):
		fmt.Fprintf(stderr, "ticketq: %v\n", err)
		return exitDataFile
	default:
		fmt.Fprintf(stderr, "ticketq: %v\n", err)
		return 1
	}
}

// newLogger writes JSON lines, or human-readable lines on a terminal.
func newLogger(level, format string, w io.Writer) zerolog.Logger {
	if format == "console" || (format == "auto" && isTerminal(w)) {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return leveled(level, w)
}

// newServerLogger is newLogger with JSON lines buffered (see bufferedLog);
// close flushes them.
func newServerLogger(level, format string, w io.Writer) (zerolog.Logger, func()) {
	if format == "console" || (format == "auto" && isTerminal(w)) {
		return newLogger(level, format, w), func() {}
	}
	b := newBufferedLog(w)
	return leveled(level, b), func() { _ = b.Close() }
}

func leveled(level string, w io.Writer) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}
