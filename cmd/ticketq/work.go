package main

import (
	"context"
	"errors"
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
	fs := newCmdFlags("ticketq work", "Usage: ticketq work --queue Q --exec CMD [flags]\n\n"+
		"Runs jobs of a pull queue (one without an executor on the server) on this machine.\n", stderr)
	server := serverFlag(fs)
	access := addAccessFlags(fs)
	queue := fs.String("queue", "", "queue to work")
	fs.doc("queue", "NAME", "TICKETQ_WORK_QUEUE")
	command := fs.String("exec", "", "shell command run per job, payload on stdin")
	fs.doc("exec", "CMD", "TICKETQ_EXEC")
	concurrency := fs.Int("concurrency", 1, "jobs run at once")
	fs.doc("concurrency", "N")
	visibility := fs.Duration("visibility", 30*time.Second, "lease length; extended every third of it while a job runs")
	fs.doc("visibility", "DURATION")
	wait := fs.Duration("wait", 20*time.Second, "long-poll of each lease request (at most 30s)")
	fs.doc("wait", "DURATION")
	grace := fs.Duration("grace", 30*time.Second, "on SIGTERM/SIGINT, how long running jobs may finish before they are given back")
	fs.doc("grace", "DURATION")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	fs.doc("log-level", "LEVEL")
	format := fs.String("log-format", "auto", "json, console, or auto (console on a terminal)")
	fs.doc("log-format", "FORMAT")
	pos, err := fs.parse(args, env)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usageError{fmt.Errorf("unexpected argument %q", pos[0])}
	case *queue == "":
		return usageError{errors.New("--queue is required")}
	case *command == "":
		return usageError{errors.New("--exec is required: the command to run per job")}
	}
	acc, err := access.resolve()
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
