package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/job"
)

// stats prints a running server's queues as a table (GET /v1/queues);
// with --watch it redraws the table every interval until Ctrl-C, which
// ends it with status 0.
func stats(ctx context.Context, args []string, env map[string]string, stdout, stderr io.Writer) error {
	flags := newCmdFlags("ticketq stats", "Usage: ticketq stats [--server URL] [--token T] [--watch [--interval 2s]]\n\n"+
		"Prints the server's queues: jobs per state, the age of the longest-waiting due job, and\n"+
		"whether the queue is paused. Needs an admin token on a server with tokens. With --watch\n"+
		"the table is redrawn in place on a terminal, and printed again each interval otherwise.\n", stderr)
	server := serverFlag(flags)
	access := addAccessFlags(flags)
	watch := flags.Bool("watch", false, "redraw the table every --interval until Ctrl-C")
	flags.doc("watch", "")
	interval := flags.Duration("interval", 2*time.Second, "time between two tables with --watch")
	flags.doc("interval", "DURATION")
	pos, err := flags.parse(args, env)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usageError{fmt.Errorf("unexpected argument %q", pos[0])}
	case flags.onCommandLine("interval") && !*watch:
		return usageError{errors.New("--interval applies to --watch only")}
	case *interval < 100*time.Millisecond:
		return usageError{fmt.Errorf("--interval %s: want at least 100ms", *interval)}
	}
	acc, err := access.resolve()
	if err != nil {
		return usageError{err}
	}
	c, err := client.New(*server, acc.options())
	if err != nil {
		return usageError{err}
	}
	if !*watch {
		qs, err := c.Queues(ctx)
		if err != nil {
			return err
		}
		return printStats(stdout, qs)
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	tty := isTerminal(stdout)
	t := time.NewTicker(*interval)
	defer t.Stop()
	for {
		fctx, cancel := context.WithTimeout(ctx, max(*interval, 5*time.Second))
		qs, err := c.Queues(fctx)
		cancel()
		if ctx.Err() != nil {
			return nil // Ctrl-C: the way to end a watch
		}
		if refused(err) {
			return err // a wrong token will not get better
		}
		head := fmt.Sprintf("%s  %s  every %s, Ctrl-C to stop", time.Now().Format(time.TimeOnly), *server, *interval)
		if err := writeFrame(stdout, tty, head, qs, err); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// writeFrame draws one table of --watch: on a terminal over the previous
// one (cursor home, screen cleared), otherwise after it, with a blank line
// between. A failed fetch is shown in place of the table.
func writeFrame(w io.Writer, tty bool, head string, qs []client.QueueStats, fetchErr error) error {
	var b strings.Builder
	if tty {
		b.WriteString("\033[H\033[2J")
	}
	b.WriteString(head + "\n")
	if fetchErr != nil {
		fmt.Fprintf(&b, "error: %v (trying again)\n", fetchErr)
	} else if err := printStats(&b, qs); err != nil {
		return err
	}
	if !tty {
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// refused reports an answer that repeating cannot change: a 4xx other than
// 408 and 429, such as 401 or 403.
func refused(err error) bool {
	var e *client.APIError
	return errors.As(err, &e) && e.Status >= 400 && e.Status < 500 &&
		e.Status != http.StatusRequestTimeout && e.Status != http.StatusTooManyRequests
}

// printStats writes the queues as a table.
func printStats(w io.Writer, qs []client.QueueStats) error {
	if len(qs) == 0 {
		_, err := fmt.Fprintln(w, "no queues yet")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tQUEUED\tRUNNING\tSUCCEEDED\tDEAD\tCANCELED\tOLDEST QUEUED\tPAUSED")
	for _, q := range qs {
		paused := "no"
		if q.Paused {
			paused = "yes"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", q.Queue, q.Counts[job.Queued], q.Counts[job.Running],
			q.Counts[job.Succeeded], q.Counts[job.Dead], q.Counts[job.Canceled], age(q.OldestQueuedAge), paused)
	}
	return tw.Flush()
}

// age formats how long a job has waited: "-" for none, tenths of a second
// below a minute, whole seconds above.
func age(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
