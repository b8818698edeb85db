package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/ticketq/ticketq/client"
)

// Bounds of the end of a run. Each is far above what a healthy server
// needs; passing one is itself a finding.
const (
	stopSubmitsTimeout = 90 * time.Second // in-flight submits, cancels and job long-polls (waitLimit)
	drainTimeout       = time.Minute      // the pull workers settle what is left
	stopWorkTimeout    = 30 * time.Second // each worker's last lease ends within leaseWait
	checkTimeout       = 10 * time.Minute // the ledger's status reads
)

// result is everything a run found, for the summary.
type result struct {
	cfg     config
	warmup  time.Duration
	elapsed time.Duration // how long the load ran
	samples []sample
	after   *sample // a sample once the load had stopped and drained, if taken
	judged  []judged

	stats     *stats
	byKind    [nKinds]int64 // acked submits
	acked     int64
	submitted int64
	missed    int64
	drainTook time.Duration
	check     *checkResult
	serverLog serverLog
	stopTook  time.Duration
	// problems are the reasons the run fails, each a sentence; none
	// means it passed.
	problems []string
}

// fail adds a reason the run fails.
func (r *result) fail(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// soak runs the load against srv for cfg.duration, sampling the process,
// then stops the load, drains the queues, checks the ledger and stops the
// server. Ctrl-C ends the load early; the end of the run still happens,
// and the run fails as interrupted.
func soak(ctx context.Context, cfg config, srv *server, out io.Writer) (*result, error) {
	c, err := client.New(srv.api, client.Options{
		// Every failure must be seen: a retry would hide a 5xx or a reset
		// connection behind a later success.
		Retries: -1,
	})
	if err != nil {
		return nil, err
	}
	r := &result{cfg: cfg, warmup: warmup(cfg.duration)}
	pr := newProbe(srv.pid, srv.pprof)
	// The calls' context outlives Ctrl-C, so that the load can still end
	// in order; it is canceled only to abandon calls that outlast the
	// bounds above.
	calls, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	l := newLoad(c, cfg.rate)
	start := time.Now()
	l.start(calls)
	died := r.sampleLoop(ctx, cfg, srv, pr, l, start, out)
	r.elapsed = time.Since(start)
	r.stats, r.submitted, r.missed = l.stats, l.submitted.Load(), l.missed.Load()

	if died {
		abandon()
		r.fail("the server exited during the load (%v); last log lines:\n%s", srv.exitErr, srv.tail())
		r.serverLog = srv.logSummary()
		return r, nil
	}
	fmt.Fprintf(out, "soak: load stopped after %s; draining\n", r.elapsed.Round(time.Second))
	bounded := func(d time.Duration, f func(context.Context) error) error {
		bctx, cancel := context.WithTimeout(calls, d)
		defer cancel()
		return f(bctx)
	}
	if err := bounded(stopSubmitsTimeout, l.stopSubmitting); err != nil {
		r.fail("ending the submits: %v", err)
	}
	if err := bounded(drainTimeout, func(ctx context.Context) (err error) {
		r.drainTook, err = drain(ctx, l)
		return err
	}); err != nil {
		r.fail("%v", err)
	}
	if err := bounded(stopWorkTimeout, l.stopWorking); err != nil {
		r.fail("ending the workers: %v", err)
	}
	if s, err := pr.read(calls); err == nil {
		s.at = time.Since(start)
		r.after = &s
	}
	entries, byKind := l.ledger.snapshot()
	r.byKind, r.acked = byKind, int64(len(entries))
	fmt.Fprintf(out, "soak: queues drained in %s; checking %d acked tickets\n", r.drainTook.Round(time.Millisecond), len(entries))
	_ = bounded(checkTimeout, func(ctx context.Context) error {
		r.check = checkLedger(ctx, c, entries)
		return nil
	})
	abandon()
	r.stopTook, err = srv.stop()
	if err != nil {
		r.fail("%v", err)
	}
	r.serverLog = srv.logSummary()
	r.verdict()
	return r, nil
}

// sampleLoop samples the server every interval until the duration is over,
// ctx ends (Ctrl-C) or the server exits; it reports the last.
func (r *result) sampleLoop(ctx context.Context, cfg config, srv *server, pr *probe, l *load, start time.Time, out io.Writer) (died bool) {
	tick := time.NewTicker(cfg.interval)
	defer tick.Stop()
	end := time.NewTimer(cfg.duration)
	defer end.Stop()
	var prev sample
	for {
		select {
		case <-ctx.Done():
			r.fail("interrupted after %s of %s", time.Since(start).Round(time.Second), cfg.duration)
			return false
		case <-srv.exited:
			return true
		case <-end.C:
			return false
		case <-tick.C:
		}
		s, err := pr.read(ctx)
		if err != nil {
			if srv.alive() && ctx.Err() == nil {
				r.fail("sample at %s: %v", time.Since(start).Round(time.Second), err)
			}
			continue
		}
		s.at = time.Since(start)
		s.measured = s.at >= r.warmup
		s.submitted, s.acked = l.submitted.Load(), l.ledger.size()
		s.ops, s.failures = l.stats.total.Load(), l.stats.fails.Load()
		r.samples = append(r.samples, s)
		fmt.Fprintln(out, progressLine(s, prev))
		prev = s
	}
}

// verdict adds the reasons the run fails from the samples, the counts,
// the check and the server's log.
func (r *result) verdict() {
	var measured []sample
	for _, s := range r.samples {
		if s.measured {
			measured = append(measured, s)
		}
	}
	judged, err := judgeAll(measured)
	if err != nil {
		r.fail("no growth verdict: %v", err)
	}
	r.judged = judged
	for _, j := range judged {
		if j.growing {
			r.fail("%s kept growing after warm-up: median %s in the first half, %s in the second, above the limit %s",
				j.name, j.format(j.early), j.format(j.late), j.format(j.limit))
		}
	}
	var bad [nOutcomes]int64
	for _, op := range opNames {
		for o := refused; o < nOutcomes; o++ {
			bad[o] += r.stats.get(op, o)
		}
	}
	if n := bad[refused] + bad[failed5xx] + bad[transport]; n > 0 {
		r.fail("%d calls failed: %d 5xx, %d transport errors, %d unexpected refusals (first: %s)",
			n, bad[failed5xx], bad[transport], bad[refused], firstOr(r.stats.failures(), "none kept"))
	}
	if r.acked == 0 {
		r.fail("no submit was acked")
	}
	if c := r.check; c == nil {
		r.fail("the ledger was not checked")
	} else {
		for _, p := range []struct {
			what string
			p    problem
		}{{"missing (404)", c.missing}, {"not final", c.notFinal}, {"final in a state the load did not steer them to", c.wrongState}, {"unreadable", c.readErrors}} {
			if p.p.n > 0 {
				r.fail("%d of %d acked tickets %s, e.g. %s", p.p.n, c.checked, p.what, firstOr(p.p.examples, ""))
			}
		}
	}
	if n := r.serverLog.errs.n; n > 0 {
		r.fail("the server logged %d errors, e.g. %s", n, firstOr(r.serverLog.errs.examples, ""))
	}
}

// firstOr returns the first of v, or def when v is empty.
func firstOr(v []string, def string) string {
	if len(v) == 0 {
		return def
	}
	return v[0]
}
