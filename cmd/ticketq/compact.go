package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/ticketq/ticketq/wal"
)

// compact rewrites a stopped server's database without its free pages
// (see wal.Compact) and prints its size before and after.
func compact(args []string, env map[string]string, stdout, stderr io.Writer) error {
	flags := newCmdFlags("ticketq compact", "Usage: ticketq compact [--data DIR]\n\n"+
		"Rewrites ticketq.db without the free pages that purged jobs left, and prints the size\n"+
		"before and after. The copy is synced and checked like 'ticketq check' before it replaces\n"+
		"the file; on any failure the file is left as it was. Stop the server first; it needs\n"+
		"free space for the part of the file in use.\n", stderr)
	dir := dataFlag(flags, "data directory to compact; the server must be stopped")
	pos, err := flags.parse(args, env)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (give the directory with --data)", pos[0])}
	}

	var cur wal.CompactProgress
	d := showProgress(stderr, isTerminal(stderr), time.Second, func(elapsed time.Duration, tty bool) (string, bool) {
		if cur.Stage == "" {
			return "", false
		}
		return compactLine(cur, elapsed, tty), cur.Stage == "done"
	})
	// A new stage is drawn at once; the copy's reports, five a second,
	// are left to the display's ticker.
	// (Compact's calls come one after another, so stage needs no lock.)
	stage := ""
	res, err := wal.Compact(*dir, func(p wal.CompactProgress) {
		if p.Stage+p.Detail == stage {
			d.set(func() { cur = p })
			return
		}
		stage = p.Stage + p.Detail
		d.update(func() { cur = p })
	})
	d.end()
	switch {
	case errors.Is(err, wal.ErrInUse):
		return fmt.Errorf("%s is held by a running ticketq: stop the server first (compact rewrites the file); nothing was changed", *dir)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w (is --data the directory 'ticketq serve' was given?)", err)
	case err != nil:
		return err
	}
	change := fmt.Sprintf("%s larger: the file had no free pages to give", byteSize(res.After-res.Before))
	if saved := res.Before - res.After; saved >= 0 {
		change = fmt.Sprintf("%s smaller, %.1f%%", byteSize(saved), float64(saved)*100/float64(res.Before))
	}
	fmt.Fprintf(stdout, "file      %s\n", res.Path)
	fmt.Fprintf(stdout, "before    %s\n", byteSize(res.Before))
	fmt.Fprintf(stdout, "after     %s (%s)\n", byteSize(res.After), change)
	fmt.Fprintf(stdout, "jobs      %d\n", res.Jobs)
	fmt.Fprintf(stdout, "queues    %d\n", res.Queues)
	fmt.Fprintln(stdout, "ok")
	return nil
}

// compactLine draws a compaction's progress: a bar on a terminal (cleared
// when done), a plain line otherwise. The copy's total is an estimate,
// hence the "~".
func compactLine(p wal.CompactProgress, elapsed time.Duration, tty bool) string {
	elapsed = elapsed.Round(100 * time.Millisecond)
	what := p.Stage
	switch p.Stage {
	case "copying":
		what = fmt.Sprintf("copying %s of ~%s", byteSize(p.Done), byteSize(p.Total))
	case "checking":
		what = "checking the copy: " + p.Detail
	}
	switch {
	case !tty:
		return fmt.Sprintf("compact: %3d%% %s (%s)\n", p.Percent, what, elapsed)
	case p.Stage == "done":
		return "\r\033[K"
	}
	return fmt.Sprintf("\r\033[Kcompacting [%s] %3d%% %s (%s)", progressBar(p.Percent, 24), p.Percent, what, elapsed)
}
