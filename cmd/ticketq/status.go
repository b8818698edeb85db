package main

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/job"
)

// status prints a job as the server reports it; with --wait it waits until
// the job is final or the wait passes.
func status(ctx context.Context, args []string, env map[string]string, stdout, stderr io.Writer) error {
	fs := newCmdFlags("ticketq status", "Usage: ticketq status [flags] TICKET\n\n"+
		"Prints a job as the server reports it, as JSON.\n", stderr)
	server := serverFlag(fs)
	access := addAccessFlags(fs)
	wait := fs.Duration("wait", 0, "wait up to this long for the job to be final")
	fs.doc("wait", "DURATION")
	pos, err := fs.parse(args, env)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{errors.New("want exactly one TICKET")}
	}
	t, err := job.ParseTicket(pos[0])
	if err != nil {
		return usageError{err}
	}
	acc, err := access.resolve()
	if err != nil {
		return usageError{err}
	}
	c, err := client.New(*server, acc.options())
	if err != nil {
		return usageError{err}
	}
	if *wait <= 0 {
		j, err := c.Status(ctx, t)
		if err != nil {
			return err
		}
		return printJSON(stdout, j)
	}
	return waitAndPrint(ctx, c, t, *wait, stdout)
}

// waitAndPrint waits up to wait for the job to be final and prints it as it
// is then, final or not.
func waitAndPrint(ctx context.Context, c *client.Client, t job.Ticket, wait time.Duration, stdout io.Writer) error {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	j, err := c.Wait(wctx, t, 0)
	if err != nil && !(errors.Is(err, context.DeadlineExceeded) && j.Ticket != 0) {
		return err
	}
	return printJSON(stdout, j)
}
