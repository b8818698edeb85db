package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/executor"
)

// work runs a pull worker: it leases jobs of one queue from a server, runs
// a shell command per job (the exec executor's contract), and acks or nacks
// each. It stops gracefully on SIGINT/SIGTERM, giving back unfinished jobs,
// and at once, with an error, when the server refuses its token (401, 403).
func work(ctx context.Context, args []string, env map[string]string, stderr io.Writer) error {
	fs := flag.NewFlagSet("ticketq work", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := serverFlag(fs, env)
	access := addAccessFlags(fs)
	queue := fs.String("queue", env["TICKETQ_WORK_QUEUE"], "queue to work (env TICKETQ_WORK_QUEUE)")
	command := fs.String("exec", env["TICKETQ_EXEC"], "shell command run per job, payload on stdin (env TICKETQ_EXEC)")
	concurrency := fs.Int("concurrency", 1, "jobs run at once")
	visibility := fs.Duration("visibility", 30*time.Second, "lease length; extended every third of it while a job runs")
	wait := fs.Duration("wait", 20*time.Second, "long-poll of each lease request (at most 30s)")
	grace := fs.Duration("grace", 30*time.Second, "on SIGTERM/SIGINT, how long running jobs may finish before they are given back")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	format := fs.String("log-format", "auto", "json, console, or auto (console on a terminal)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: ticketq work --queue Q --exec CMD [flags]\n\nRuns jobs of a pull queue (one without an executor on the server) on this machine.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	switch {
	case fs.NArg() > 0:
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	case *queue == "":
		return usageError{errors.New("--queue is required")}
	case *command == "":
		return usageError{errors.New("--exec is required: the command to run per job")}
	}
	acc, err := access.resolve(env)
	if err != nil {
		return usageError{err}
	}
	c, err := client.New(*server, acc.options())
	if err != nil {
		return usageError{err}
	}
	scrubSecretEnv()
	zl := newLogger(*level, *format, stderr)
	w := &client.Worker{
		Client: c, Queue: *queue, Concurrency: *concurrency, Visibility: *visibility, Wait: *wait, Grace: *grace,
		Handler: executor.Exec(*command, executor.ExecOptions{}),
		Logger:  slog.New(msDurations{zerolog.NewSlogHandler(zl.With().Str("component", "worker").Logger())}),
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	zl.Info().Str("server", *server).Str("queue", *queue).Int("concurrency", *concurrency).Msg("working")
	if err := w.Run(ctx); err != nil {
		if errors.Is(err, client.ErrUnauthorized) || errors.Is(err, client.ErrForbidden) {
			// The worker stopped rather than retry: say what to fix.
			return fmt.Errorf("%w; ticketq work needs a token with the work or admin role (--token or TICKETQ_TOKEN)", err)
		}
		return err
	}
	zl.Info().Msg("stopped")
	return nil
}
