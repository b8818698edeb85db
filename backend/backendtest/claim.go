package backendtest

import (
	"errors"
	"testing"
	"time"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

var errorsIs = errors.Is

// Ensure that claims follow priority (higher first), then run-at, then ticket.
func testClaimOrder(t *testing.T, tb *bundle) {
	r := tb.submit(t, "q",
		job.Submission{Priority: 0},
		job.Submission{Priority: 5},
		job.Submission{Priority: 0},
		job.Submission{Priority: -3},
		job.Submission{Priority: 5},
	)
	res := tb.claim(t, "q", 10)
	want := []job.Ticket{r[1].Ticket, r[4].Ticket, r[0].Ticket, r[2].Ticket, r[3].Ticket}
	if got := jobTickets(res.Jobs); !equalTickets(got, want) {
		t.Fatalf("claim order = %v, want %v", got, want)
	}
	if res := tb.claim(t, "q", 10); len(res.Jobs) != 0 {
		t.Fatalf("second claim got %d jobs", len(res.Jobs))
	}
	wantCounts(t, tb.counts(t, "q"), map[job.State]int{job.Running: 5})
}

// Ensure that a delayed job is not claimed early, that NextRunAt says when
// it is due, and that it is claimed once due.
func testClaimDelayed(t *testing.T, tb *bundle) {
	now := tb.clock.Now()
	late := tb.submit(t, "q", job.Submission{RunAt: now.Add(time.Hour), Priority: 9})
	soon := tb.submit(t, "q", job.Submission{RunAt: now.Add(time.Minute)})
	ready := tb.submit(t, "q", job.Submission{Priority: -5})
	res := tb.claim(t, "q", 10)
	if got := jobTickets(res.Jobs); !equalTickets(got, tickets(ready)) {
		t.Fatalf("claimed %v, want only %v", got, tickets(ready))
	}
	if !res.NextRunAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("NextRunAt = %v, want %v", res.NextRunAt, now.Add(time.Minute))
	}
	tb.clock.Advance(time.Minute)
	if got := jobTickets(tb.claim(t, "q", 10).Jobs); !equalTickets(got, tickets(soon)) {
		t.Fatalf("claimed %v after a minute, want %v", got, tickets(soon))
	}
	tb.clock.Advance(time.Hour)
	if got := jobTickets(tb.claim(t, "q", 10).Jobs); !equalTickets(got, tickets(late)) {
		t.Fatalf("claimed %v after an hour, want %v", got, tickets(late))
	}
}

// Ensure that a paused queue yields nothing until resumed, and keeps accepting jobs.
func testClaimPaused(t *testing.T, tb *bundle) {
	tb.submit(t, "q", job.Submission{})
	if err := tb.b.SetPaused(tb.ctx, "q", true); err != nil {
		t.Fatal(err)
	}
	tb.submit(t, "q", job.Submission{})
	if res := tb.claim(t, "q", 10); len(res.Jobs) != 0 {
		t.Fatalf("paused queue yielded %d jobs", len(res.Jobs))
	}
	st, err := tb.b.Stats(tb.ctx, "q")
	if err != nil || !st.Paused {
		t.Fatalf("stats of paused queue = %+v, %v", st, err)
	}
	if err := tb.b.SetPaused(tb.ctx, "q", false); err != nil {
		t.Fatal(err)
	}
	if res := tb.claim(t, "q", 10); len(res.Jobs) != 2 {
		t.Fatalf("resumed queue yielded %d jobs, want 2", len(res.Jobs))
	}
	// Pausing an unknown queue creates it, so that jobs submitted later wait.
	if err := tb.b.SetPaused(tb.ctx, "later", true); err != nil {
		t.Fatal(err)
	}
	tb.submit(t, "later", job.Submission{})
	if res := tb.claim(t, "later", 10); len(res.Jobs) != 0 {
		t.Fatalf("pre-paused queue yielded %d jobs", len(res.Jobs))
	}
	if err := tb.b.SetPaused(tb.ctx, "bad name", true); !errorsIs(err, job.ErrInvalid) {
		t.Fatalf("pause of an invalid name: %v", err)
	}
	// Resuming an unknown queue is a mistake, not a way to create one.
	if err := tb.b.SetPaused(tb.ctx, "typo", false); !errorsIs(err, job.ErrNotFound) {
		t.Fatalf("resume of an unknown queue: %v", err)
	}
	if names, _ := tb.b.Queues(tb.ctx); len(names) != 2 {
		t.Fatalf("queues after resume of an unknown one: %v", names)
	}
}

// Ensure that each claim counts an attempt and gets a fresh lease.
func testClaimLease(t *testing.T, tb *bundle) {
	r := tb.submit(t, "q", job.Submission{}, job.Submission{})
	res := tb.claim(t, "q", 2)
	if len(res.Jobs) != 2 || res.Jobs[0].Lease == "" || res.Jobs[0].Lease == res.Jobs[1].Lease {
		t.Fatalf("leases = %q, %q", res.Jobs[0].Lease, res.Jobs[1].Lease)
	}
	for _, j := range res.Jobs {
		if j.Attempt != 1 || !j.StartedAt.Equal(tb.clock.Now()) {
			t.Fatalf("claimed job = %+v", j)
		}
	}
	stored := tb.get(t, r[0].Ticket)
	if stored.Lease != res.Jobs[0].Lease || stored.State != job.Running {
		t.Fatalf("stored = %+v", stored)
	}
	tb.settle(t, backend.Settlement{Ticket: r[0].Ticket, Lease: stored.Lease, Outcome: backend.Retry, RetryAt: tb.clock.Now()})
	again := tb.claim(t, "q", 1)
	if len(again.Jobs) != 1 || again.Jobs[0].Attempt != 2 || again.Jobs[0].Lease == stored.Lease {
		t.Fatalf("second claim = %+v", again.Jobs)
	}
	if _, err := tb.b.Claim(tb.ctx, backend.ClaimRequest{Queue: "q", Max: 0}); !errorsIs(err, job.ErrInvalid) {
		t.Fatalf("claim of 0: %v", err)
	}
}

// Ensure that claiming from an unknown queue yields nothing and no error.
func testClaimUnknownQueue(t *testing.T, tb *bundle) {
	if res := tb.claim(t, "nobody", 5); len(res.Jobs) != 0 || !res.NextRunAt.IsZero() {
		t.Fatalf("claim = %+v", res)
	}
}

// Ensure that a success is final and keeps its result.
func testSettleSucceeded(t *testing.T, tb *bundle) {
	tb.submit(t, "q", job.Submission{})
	c := tb.claim(t, "q", 1).Jobs[0]
	tb.clock.Advance(time.Second)
	errs := tb.settle(t, backend.Settlement{Ticket: c.Ticket, Lease: c.Lease, Outcome: backend.Succeeded, Result: []byte(`{"ok":true}`)})
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	j := tb.get(t, c.Ticket)
	if j.State != job.Succeeded || string(j.Result) != `{"ok":true}` || !j.FinishedAt.Equal(tb.clock.Now()) || j.Lease != "" {
		t.Fatalf("settled job = %+v", j)
	}
	wantCounts(t, tb.counts(t, "q"), map[job.State]int{job.Succeeded: 1})
	// Settling twice is a conflict: the run no longer holds the job.
	wantErr(t, tb.settle(t, backend.Settlement{Ticket: c.Ticket, Lease: c.Lease, Outcome: backend.Succeeded})[0], job.ErrLeaseMismatch)
}

// Ensure that a retry queues the job at RetryAt with the error kept, and
// that dead is final with the error kept.
func testSettleRetryAndDead(t *testing.T, tb *bundle) {
	tb.submit(t, "q", job.Submission{})
	c := tb.claim(t, "q", 1).Jobs[0]
	retryAt := tb.clock.Now().Add(30 * time.Second)
	tb.settle(t, backend.Settlement{Ticket: c.Ticket, Lease: c.Lease, Outcome: backend.Retry, Error: "boom 1", RetryAt: retryAt})
	j := tb.get(t, c.Ticket)
	if j.State != job.Queued || !j.RunAt.Equal(retryAt) || j.LastError != "boom 1" || len(j.Errors) != 1 || j.Errors[0].Attempt != 1 {
		t.Fatalf("after retry = %+v", j)
	}
	if res := tb.claim(t, "q", 1); len(res.Jobs) != 0 || !res.NextRunAt.Equal(retryAt) {
		t.Fatalf("claimed before backoff ended: %+v", res)
	}
	tb.clock.Advance(30 * time.Second)
	c = tb.claim(t, "q", 1).Jobs[0]
	tb.settle(t, backend.Settlement{Ticket: c.Ticket, Lease: c.Lease, Outcome: backend.Dead, Error: "boom 2"})
	j = tb.get(t, c.Ticket)
	if j.State != job.Dead || j.LastError != "boom 2" || len(j.Errors) != 2 || j.Errors[1].Attempt != 2 || j.FinishedAt.IsZero() {
		t.Fatalf("after dead = %+v", j)
	}
	wantCounts(t, tb.counts(t, "q"), map[job.State]int{job.Dead: 1})
}

// Ensure that a settlement under a wrong lease changes nothing while the
// others in the same call apply.
func testSettleWrongLease(t *testing.T, tb *bundle) {
	tb.submit(t, "q", job.Submission{}, job.Submission{})
	cs := tb.claim(t, "q", 2).Jobs
	errs := tb.settle(t,
		backend.Settlement{Ticket: cs[0].Ticket, Lease: "stale", Outcome: backend.Succeeded},
		backend.Settlement{Ticket: cs[1].Ticket, Lease: cs[1].Lease, Outcome: backend.Succeeded},
		backend.Settlement{Ticket: cs[1].Ticket + 1000, Lease: "x", Outcome: backend.Succeeded},
		backend.Settlement{Ticket: cs[0].Ticket, Lease: "", Outcome: backend.Succeeded},
	)
	wantErr(t, errs[0], job.ErrLeaseMismatch)
	if errs[1] != nil {
		t.Fatal(errs[1])
	}
	wantErr(t, errs[2], job.ErrNotFound)
	wantErr(t, errs[3], job.ErrLeaseMismatch)
	if j := tb.get(t, cs[0].Ticket); j.State != job.Running {
		t.Fatalf("stale settlement changed the job: %+v", j)
	}
	if _, err := tb.b.Settle(tb.ctx, []backend.Settlement{{Ticket: cs[0].Ticket, Lease: cs[0].Lease}}); !errorsIs(err, job.ErrInvalid) {
		t.Fatalf("settlement without outcome: %v", err)
	}
	wantCounts(t, tb.counts(t, "q"), map[job.State]int{job.Running: 1, job.Succeeded: 1})
}

// Ensure that an interrupted run goes back to queued, due at once, without
// consuming the attempt budget.
func testRequeue(t *testing.T, tb *bundle) {
	tb.submit(t, "q", job.Submission{})
	c := tb.claim(t, "q", 1).Jobs[0]
	errs, err := tb.b.Requeue(tb.ctx, []backend.Requeue{{Ticket: c.Ticket, Lease: c.Lease, Reason: "crash"}, {Ticket: c.Ticket, Lease: c.Lease}})
	if err != nil || errs[0] != nil {
		t.Fatalf("requeue: %v %v", err, errs)
	}
	wantErr(t, errs[1], job.ErrLeaseMismatch)
	j := tb.get(t, c.Ticket)
	if j.State != job.Queued || j.Interrupted != 1 || j.Attempt != 1 || j.Failures() != 0 || !j.RunAt.Equal(tb.clock.Now()) || len(j.Errors) != 1 {
		t.Fatalf("requeued = %+v", j)
	}
	again := tb.claim(t, "q", 1).Jobs
	if len(again) != 1 || again[0].Attempt != 2 {
		t.Fatalf("claim after requeue = %+v", again)
	}
}
