package main

import (
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ticketq/ticketq/job"
)

// printSummary writes the run's summary block, fit to paste into the
// README, and then the reasons it failed, if any.
func printSummary(w io.Writer, r *result) {
	fmt.Fprintln(w, "\n==== ticketq soak summary ====")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	secs := r.elapsed.Seconds()
	measured := 0
	for _, s := range r.samples {
		if s.measured {
			measured++
		}
	}
	fmt.Fprintf(tw, "load\t%s at %g submits/s asked, %.1f/s made (%s paced submits dropped: every submitter busy); %s calls in all, %.0f/s\n",
		r.elapsed.Round(time.Second), r.cfg.rate, float64(r.submitted)/secs, count(r.missed), count(r.stats.total.Load()), float64(r.stats.total.Load())/secs)
	fmt.Fprintf(tw, "sampling\tevery %s; warm-up %s; %d samples judged\n", r.cfg.interval, r.warmup, measured)
	fmt.Fprintf(tw, "host\t%d CPUs, %s %s/%s\n", runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(tw, "jobs acked\t%s of %s submits: push %s, pull %s, delayed then canceled %s\n",
		count(r.acked), count(r.submitted), count(r.byKind[kindPush]), count(r.byKind[kindPull]), count(r.byKind[kindDelayed]))
	if c := r.check; c != nil {
		var states []string
		for _, s := range job.States {
			states = append(states, fmt.Sprintf("%s %s", s, count(int64(c.total(s)))))
		}
		fmt.Fprintf(tw, "final check\t%s tickets read in %s: %s; missing %d, not final %d, wrong state %d, read errors %d\n",
			count(int64(c.checked)), c.took.Round(100*time.Millisecond), strings.Join(states, ", "),
			c.missing.n, c.notFinal.n, c.wrongState.n, c.readErrors.n)
	}
	fmt.Fprintf(tw, "end\tqueues drained in %s; SIGTERM to exit in %s\n", r.drainTook.Round(time.Millisecond), r.stopTook.Round(time.Millisecond))
	l := r.serverLog
	fmt.Fprintf(tw, "server log\t%s lines; %d warnings, %d errors, %d requests answered 5xx\n", count(int64(l.lines)), l.warns.n, l.errs.n, l.status5x)
	tw.Flush()

	fmt.Fprintln(w, "\nops")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "op\t")
	for _, n := range outcomeNames {
		fmt.Fprintf(tw, "%s\t", n)
	}
	fmt.Fprintln(tw)
	for _, op := range opNames {
		if r.stats.calls(op) == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t", op)
		for o := range nOutcomes {
			fmt.Fprintf(tw, "%s\t", count(r.stats.get(op, o)))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()

	fmt.Fprintln(w, "\nserver process after warm-up (medians of the first and second half of the samples)")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tfirst half\tsecond half\tlimit\tverdict\t")
	for _, j := range r.judged {
		v := "flat"
		if j.growing {
			v = "GROWING"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", j.name, j.format(j.early), j.format(j.late), j.format(j.limit), v)
	}
	tw.Flush()
	if a := r.after; a != nil {
		fmt.Fprintf(w, "after the drain: rss %.1f MiB (anon %.1f, file %.1f), goroutines %d, fds %d\n",
			float64(a.rss)/mib, float64(a.rssAnon)/mib, float64(a.rssFile)/mib, a.goroutines, a.fds)
	}
	if len(r.problems) == 0 {
		fmt.Fprintln(w, "\nverdict: PASS")
		printSection(w, "server warnings (first kept)", r.serverLog.warns.examples)
		return
	}
	fmt.Fprintln(w, "\nverdict: FAIL")
	for _, p := range r.problems {
		fmt.Fprintln(w, "  -", p)
	}
	printDetails(w, r)
}

// printDetails lists the evidence behind a failure: the failed calls,
// the tickets and the server's warnings and errors that were kept.
func printDetails(w io.Writer, r *result) {
	printSection(w, "failed calls (first kept)", r.stats.failures())
	if c := r.check; c != nil {
		printSection(w, "missing tickets", c.missing.examples)
		printSection(w, "tickets not final", c.notFinal.examples)
		printSection(w, "tickets in an unexpected final state", c.wrongState.examples)
		printSection(w, "unreadable tickets", c.readErrors.examples)
	}
	printSection(w, "server errors (first kept)", r.serverLog.errs.examples)
	printSection(w, "server warnings (first kept)", r.serverLog.warns.examples)
}

// printSection writes a titled list, when it has lines.
func printSection(w io.Writer, title string, lines []string) {
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s:\n", title)
	for _, l := range lines {
		fmt.Fprintln(w, "  ", l)
	}
}

// count formats n with thousands separators, for the summary.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
