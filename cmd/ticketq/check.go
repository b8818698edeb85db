package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/ticketq/ticketq/wal"
)

// check verifies a data directory offline and read-only (see wal.Check)
// and prints a summary on stdout, with every finding. It returns nil when
// the file is sound, an error (exit 1) when it is not or cannot be read,
// and a usage error (exit 2) for bad arguments.
func check(args []string, env map[string]string, stdout, stderr io.Writer) error {
	flags := newCmdFlags("ticketq check", "Usage: ticketq check [--data DIR]\n\n"+
		"Verifies ticketq.db offline without changing it: bbolt's page consistency and\n"+
		"ticketq's indexes and counters. Exit status 0 when sound, 1 on any finding.\n"+
		"Stop the server first: a running ticketq holds the file.\n", stderr)
	dir := dataFlag(flags, "data directory to check, the one 'ticketq serve --data' uses")
	pos, err := flags.parse(args, env)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (give the directory with --data)", pos[0])}
	}
	progress, d := showCheck(stderr)
	rep, err := wal.Check(*dir, progress)
	d.end()
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w (is --data the directory 'ticketq serve' was given?)", err)
	}
	if err != nil {
		return err
	}
	printCheckReport(stdout, &rep)
	if !rep.OK() {
		return fmt.Errorf("%s has %d finding(s) (the file was not changed); restore it from a backup, or copy every job that can still be read into a new directory with 'ticketq salvage --data %s --to NEWDIR'", rep.Path, len(rep.Findings), filepath.Dir(rep.Path))
	}
	return nil
}

// printCheckReport writes the summary: one "name  value" line each, then the
// findings, numbered.
func printCheckReport(w io.Writer, r *wal.Report) {
	line := func(name, format string, args ...any) {
		fmt.Fprintf(w, "%-9s %s\n", name, fmt.Sprintf(format, args...))
	}
	line("file", "%s", r.Path)
	switch {
	case r.Size == 0:
		line("size", "0 B (empty: 'ticketq serve' starts a new database in it)")
	case r.Used > 0:
		line("size", "%s (%s in use)", byteSize(r.Size), byteSize(r.Used))
	default:
		line("size", "%s", byteSize(r.Size))
	}
	switch {
	case r.Format != 0:
		line("format", "%d", r.Format)
	case r.OK():
		line("format", "none yet (a new database)")
	default:
		line("format", "unknown")
	}
	count := func(n int) string {
		if n < 0 {
			return "not counted"
		}
		return fmt.Sprint(n)
	}
	line("jobs", "%s", count(r.Jobs))
	line("queues", "%s", count(r.Queues))
	line("findings", "%d", len(r.Findings))
	for i, f := range r.Findings {
		fmt.Fprintf(w, "  %d. %s\n", i+1, f)
	}
	if r.Capped {
		fmt.Fprintf(w, "  (stopped at %d findings; there may be more)\n", len(r.Findings))
	}
	if len(r.Notes) > 0 {
		line("notes", "%d (not wrong: worth knowing)", len(r.Notes))
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
	if r.OK() {
		fmt.Fprintln(w, "ok")
	}
}

// byteSize formats n in B, KiB, MiB or GiB.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
