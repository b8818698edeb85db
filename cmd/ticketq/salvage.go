package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/ticketq/ticketq/wal"
)

// salvage copies every job that can still be read from a damaged data
// directory into a new one (see wal.Salvage) and prints what it copied and
// what it could not. It exits 0 when everything was copied, 1 when
// something could not be (the new directory is usable all the same) or on
// an error, 2 on a usage error.
func salvage(args []string, env map[string]string, stdout, stderr io.Writer) error {
	flags := newCmdFlags("ticketq salvage", "Usage: ticketq salvage [--data DIR] --to NEWDIR\n\n"+
		"Copies every job that can still be read from a damaged ticketq.db into a new\n"+
		"database in NEWDIR, and reports what could not be read: records that do not\n"+
		"decode, pages that cannot be read, and the tickets the indexes name without a\n"+
		"readable record. It reads the old file's pages itself, never trusting its\n"+
		"freelist, and never writes to it. Jobs keep their tickets, states and keys,\n"+
		"queues their paused flag and limits where they can be read (it lists the rest);\n"+
		"the new file's indexes and counters are rebuilt from them, and it is checked\n"+
		"like 'ticketq check' before salvage ends. Running jobs are requeued by the\n"+
		"first start on NEWDIR, as after a crash. Exit status 0 when every job was\n"+
		"copied, 1 when some could not be (NEWDIR is usable all the same).\n", stderr)
	dir := dataFlag(flags, "data directory to salvage, read only; the server must be stopped")
	to := flags.String("to", "", "new data directory to write what can be read into; it must not hold a database")
	flags.doc("to", "NEWDIR")
	pos, err := flags.parse(args, env)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (give the directories with --data and --to)", pos[0])}
	}
	if *to == "" {
		return usageError{errors.New("give the new directory to copy into with --to NEWDIR")}
	}

	var cur wal.SalvageProgress
	d := showProgress(stderr, isTerminal(stderr), time.Second, func(elapsed time.Duration, tty bool) (string, bool) {
		if cur.Stage == "" {
			return "", false
		}
		return salvageLine(cur, elapsed, tty), cur.Stage == "done"
	})
	res, err := wal.Salvage(*dir, *to, func(p wal.SalvageProgress) { d.update(func() { cur = p }) })
	d.end()
	switch {
	case errors.Is(err, wal.ErrInUse):
		return fmt.Errorf("%s is held by a running ticketq: stop the server first; nothing was changed", *dir)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w (is --data the directory 'ticketq serve' was given?)", err)
	case err != nil:
		return err
	}
	printSalvage(stdout, &res)
	if !res.Complete() {
		return fmt.Errorf("not everything could be copied: %s (listed above); %s holds the %d jobs that could and passes 'ticketq check': start the server with --data %s, and keep %s aside",
			incomplete(&res), res.To, res.Copied, *to, res.From)
	}
	return nil
}

// incomplete words what a salvage could not copy, from each count that
// makes it incomplete (wal.SalvageResult.Complete).
func incomplete(r *wal.SalvageResult) string {
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(len(r.Missing), "ticket(s) named by the indexes without a readable record")
	add(r.UnreadableCount, "unreadable record(s) or page(s) of records")
	add(r.LostPageCount, "unreadable page(s) of the jobs bucket")
	add(len(r.ResetQueues), "queue(s) whose paused flag and limits were reset")
	add(r.LostQueuePages, "unreadable page(s) of the queues bucket")
	return strings.Join(parts, ", ")
}

// printSalvage writes what a salvage did: one "name  value" line each, then
// the lists.
func printSalvage(w io.Writer, r *wal.SalvageResult) {
	line := func(name, format string, args ...any) {
		fmt.Fprintf(w, "%-10s %s\n", name, fmt.Sprintf(format, args...))
	}
	line("from", "%s (%d pages in use)", r.From, r.Pages)
	line("to", "%s", r.To)
	line("copied", "%s", jobsInQueues(r.Copied, r.Queues))
	line("running", "%d (the first start on the new directory requeues them, as after a crash)", r.Running)
	line("counter", "%d (new tickets start after it)", r.Counter)
	if r.Duplicates > 0 {
		line("duplicates", "%d ticket(s) found twice; the record updated last was kept", r.Duplicates)
	}
	if r.KeyConflicts > 0 {
		line("keys", "%d job(s) copied without their idempotency key, which another job held", r.KeyConflicts)
	}
	line("lost", "%d ticket(s) named by the indexes without a readable record%s", len(r.Missing), prefixed(": ", r.MissingRanges(20)))
	line("unreadable", "%d record(s) or page(s) of records", r.UnreadableCount)
	for _, u := range r.Unreadable {
		if u.Ticket == 0 {
			fmt.Fprintf(w, "  page %d: %s\n", u.Page, u.Reason)
		} else {
			fmt.Fprintf(w, "  ticket %d (page %d): %s\n", u.Ticket, u.Page, u.Reason)
		}
	}
	listMore(w, len(r.Unreadable), r.UnreadableCount)
	line("lost pages", "%d page(s) of the jobs bucket could not be read", r.LostPageCount)
	for _, p := range r.LostPages {
		span := "every ticket"
		switch {
		case p.First != 0 && p.Last != 0:
			span = fmt.Sprintf("tickets %d–%d", p.First, p.Last)
		case p.First != 0:
			span = fmt.Sprintf("tickets from %d", p.First)
		case p.Last != 0:
			span = fmt.Sprintf("tickets up to %d", p.Last)
		}
		fmt.Fprintf(w, "  page %d (%s): %s\n", p.Page, span, p.Reason)
	}
	listMore(w, len(r.LostPages), r.LostPageCount)
	switch {
	case len(r.ResetQueues) == 0 && r.LostQueuePages == 0:
		line("settings", "every queue's paused flag and limits were copied")
	default:
		line("settings", "%d queue(s) come back unpaused with default limits: their settings could not be read; %d page(s) of the queues bucket could not be read",
			len(r.ResetQueues), r.LostQueuePages)
	}
	for _, q := range r.ResetQueues {
		fmt.Fprintf(w, "  queue %q: %s\n", q.Queue, q.Reason)
	}
	line("damage", "%d finding(s) in the old file's pages", len(r.Damage))
	for i, f := range r.Damage {
		fmt.Fprintf(w, "  %d. %s\n", i+1, f)
	}
	line("check", "ok (%s)", jobsInQueues(r.Check.Jobs, r.Check.Queues))
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// listMore says how many entries a capped list left out.
func listMore(w io.Writer, shown, total int) {
	if total > shown {
		fmt.Fprintf(w, "  (and %d more)\n", total-shown)
	}
}

// salvageLine draws a salvage's progress: a bar on a terminal (cleared when
// done), a plain line otherwise.
func salvageLine(p wal.SalvageProgress, elapsed time.Duration, tty bool) string {
	elapsed = elapsed.Round(100 * time.Millisecond)
	what := p.Stage
	switch p.Stage {
	case "reading":
		what = fmt.Sprintf("read %d of %d pages, %d jobs copied", p.Pages, p.Total, p.Copied)
	case "checking":
		what = fmt.Sprintf("checking the new file: %s (%d jobs copied)", p.Detail, p.Copied)
	}
	switch {
	case !tty:
		return fmt.Sprintf("salvage: %3d%% %s (%s)\n", p.Percent, what, elapsed)
	case p.Stage == "done":
		return "\r\033[K"
	}
	return fmt.Sprintf("\r\033[Ksalvaging [%s] %3d%% %s (%s)", progressBar(p.Percent, 24), p.Percent, what, elapsed)
}
