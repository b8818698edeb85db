package backendtest

import (
	"testing"
	"time"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

// Ensure that a canceled queued job is final and is never claimed.
func testCancelQueued(t *testing.T, tb *bundle) {
	r := tb.submit(t, "q", job.Submission{})
	prev, j, err := tb.b.Cancel(tb.ctx, r[0].Ticket)
	if err != nil || prev != job.Queued || j.State != job.Canceled || j.FinishedAt.IsZero() {
		t.Fatalf("cancel = %v, %+v, %v", prev, j, err)
	}
	if res := tb.claim(t, "q", 1); len(res.Jobs) != 0 {
		t.Fatal("canceled job was claimed")
	}
	wantCounts(t, tb.counts(t, "q"), map[job.State]int{job.Canceled: 1})
}

// Ensure that canceling a running job reports it was running and fences off
// the run's later settlement.
func testCancelRunning(t *testing.T, tb *bundle) {
	tb.submit(t, "q", job.Submission{})
	c := tb.claim(t, "q", 1).Jobs[0]
	prev, j, err := tb.b.Cancel(tb.ctx, c.Ticket)
	if err != nil || prev != job.Running || j.State != job.Canceled {
		t.Fatalf("cancel = %v, %+v, %v", prev, j, err)
	}
	wantErr(t, tb.settle(t, backend.Settlement{Ticket: c.Ticket, Lease: c.Lease, Outcome: backend.Succeeded})[0], job.ErrLeaseMismatch)
	if got := tb.get(t, c.Ticket).State; got != job.Canceled {
		t.Fatalf("state after late settlement = %s", got)
	}
}

// Ensure that a final job cannot be canceled and an unknown one is not found.
func testCancelFinal(t *testing.T, tb *bundle) {
	r := tb.submit(t, "q", job.Submission{})
	if _, _, err := tb.b.Cancel(tb.ctx, r[0].Ticket); err != nil {
		t.Fatal(err)
	}
	_, _, err := tb.b.Cancel(tb.ctx, r[0].Ticket)
	wantErr(t, err, job.ErrAlreadyFinal)
	_, _, err = tb.b.Cancel(tb.ctx, r[0].Ticket+99)
	wantErr(t, err, job.ErrNotFound)
	wantCounts(t, tb.counts(t, "q"), map[job.State]int{job.Canceled: 1})
}

// Ensure that dead and canceled jobs can be retried with a fresh budget, and
// other states cannot.
func testRetry(t *testing.T, tb *bundle) {
	r := tb.submit(t, "q", job.Submission{}, job.Submission{}, job.Submission{})
	cs := tb.claim(t, "q", 2).Jobs
	tb.settle(t,
		backend.Settlement{Ticket: cs[0].Ticket, Lease: cs[0].Lease, Outcome: backend.Dead, Error: "x"},
		backend.Settlement{Ticket: cs[1].Ticket, Lease: cs[1].Lease, Outcome: backend.Succeeded},
	)
	tb.clock.Advance(time.Second)
	j, err := tb.b.Retry(tb.ctx, cs[0].Ticket)
	if err != nil || j.State != job.Queued || j.Attempt != 0 || !j.FinishedAt.IsZero() || !j.RunAt.Equal(tb.clock.Now()) || j.LastError != "x" {
		t.Fatalf("retry = %+v, %v", j, err)
	}
	_, err = tb.b.Retry(tb.ctx, cs[1].Ticket)
	wantErr(t, err, job.ErrNotRetryable)
	_, err = tb.b.Retry(tb.ctx, r[2].Ticket)
	wantErr(t, err, job.ErrNotRetryable)
	_, err = tb.b.Retry(tb.ctx, r[2].Ticket+50)
	wantErr(t, err, job.ErrNotFound)
	if _, _, err := tb.b.Cancel(tb.ctx, r[2].Ticket); err != nil {
		t.Fatal(err)
	}
	if j, err := tb.b.Retry(tb.ctx, r[2].Ticket); err != nil || j.State != job.Queued {
		t.Fatalf("retry of canceled = %+v, %v", j, err)
	}
	wantCounts(t, tb.counts(t, "q"), map[job.State]int{job.Queued: 2, job.Succeeded: 1})
}

// Ensure that List pages by ticket, filters by state and reports the cursor.
func testList(t *testing.T, tb *bundle) {
	r := tb.submit(t, "q", job.Submission{}, job.Submission{}, job.Submission{}, job.Submission{}, job.Submission{})
	tb.submit(t, "other", job.Submission{})
	c := tb.claim(t, "q", 2).Jobs // tickets 0 and 1 run
	tb.settle(t, backend.Settlement{Ticket: c[0].Ticket, Lease: c[0].Lease, Outcome: backend.Succeeded})

	var all []job.Ticket
	after := job.Ticket(0)
	for pages := 0; ; pages++ {
		res, err := tb.b.List(tb.ctx, backend.ListRequest{Queue: "q", After: after, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, jobTickets(res.Jobs)...)
		if res.Next == 0 {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		after = res.Next
	}
	if !equalTickets(all, tickets(r)) {
		t.Fatalf("listed %v, want %v", all, tickets(r))
	}
	res, err := tb.b.List(tb.ctx, backend.ListRequest{Queue: "q", State: job.Queued, Limit: 10})
	if err != nil || !equalTickets(jobTickets(res.Jobs), tickets(r[2:])) || res.Next != 0 {
		t.Fatalf("queued = %v next %v, %v", jobTickets(res.Jobs), res.Next, err)
	}
	res, err = tb.b.List(tb.ctx, backend.ListRequest{Queue: "q", State: job.Running, Limit: 10})
	if err != nil || !equalTickets(jobTickets(res.Jobs), []job.Ticket{c[1].Ticket}) {
		t.Fatalf("running = %v, %v", jobTickets(res.Jobs), err)
	}
	if _, err := tb.b.List(tb.ctx, backend.ListRequest{Queue: "nope", Limit: 1}); !errorsIs(err, job.ErrNotFound) {
		t.Fatalf("list of unknown queue: %v", err)
	}
	if _, err := tb.b.List(tb.ctx, backend.ListRequest{Queue: "q", Limit: 0}); !errorsIs(err, job.ErrInvalid) {
		t.Fatalf("list with limit 0: %v", err)
	}
}

// Ensure that Stats counts per state and reports the oldest due job.
func testStats(t *testing.T, tb *bundle) {
	start := tb.clock.Now()
	tb.submit(t, "q", job.Submission{Priority: 3})
	tb.clock.Advance(time.Second)
	tb.submit(t, "q", job.Submission{}, job.Submission{RunAt: start.Add(time.Hour)})
	tb.clock.Advance(time.Second)
	tb.claim(t, "q", 1) // takes the priority-3 job
	st, err := tb.b.Stats(tb.ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, st.Counts, map[job.State]int{job.Queued: 2, job.Running: 1})
	if !st.OldestReadyAt.Equal(start.Add(time.Second)) || st.Paused || st.Queue != "q" {
		t.Fatalf("stats = %+v", st)
	}
	if _, err := tb.b.Stats(tb.ctx, "nope"); !errorsIs(err, job.ErrNotFound) {
		t.Fatalf("stats of unknown queue: %v", err)
	}
	tb.submit(t, "a", job.Submission{})
	names, err := tb.b.Queues(tb.ctx)
	if err != nil || len(names) != 2 || names[0] != "a" || names[1] != "q" {
		t.Fatalf("queues = %v, %v", names, err)
	}
}

// Ensure that Running pages through a queue's running jobs only.
func testRunning(t *testing.T, tb *bundle) {
	tb.submit(t, "q", job.Submission{}, job.Submission{}, job.Submission{}, job.Submission{})
	c := tb.claim(t, "q", 3).Jobs
	first, err := tb.b.Running(tb.ctx, "q", 0, 2)
	if err != nil || !equalTickets(jobTickets(first), jobTickets(c[:2])) {
		t.Fatalf("page 1 = %v, %v", jobTickets(first), err)
	}
	rest, err := tb.b.Running(tb.ctx, "q", first[1].Ticket, 2)
	if err != nil || !equalTickets(jobTickets(rest), jobTickets(c[2:])) {
		t.Fatalf("page 2 = %v, %v", jobTickets(rest), err)
	}
}

// Ensure that counters of a consistent store need no correction.
func testRebuildCounts(t *testing.T, tb *bundle) {
	tb.submit(t, "q", job.Submission{}, job.Submission{})
	tb.claim(t, "q", 1)
	n, err := tb.b.RebuildCounts(tb.ctx)
	if err != nil || n != 0 {
		t.Fatalf("corrected %d, %v", n, err)
	}
	wantCounts(t, tb.counts(t, "q"), map[job.State]int{job.Queued: 1, job.Running: 1})
}

// Ensure that Purge deletes only jobs of the state finished before the
// cutoff, at most Limit, and frees their idempotency keys.
func testPurge(t *testing.T, tb *bundle) {
	r := tb.submit(t, "q", job.Submission{IdempotencyKey: "a"}, job.Submission{IdempotencyKey: "b"}, job.Submission{}, job.Submission{})
	c := tb.claim(t, "q", 4).Jobs
	tb.settle(t, backend.Settlement{Ticket: c[0].Ticket, Lease: c[0].Lease, Outcome: backend.Succeeded})
	tb.settle(t, backend.Settlement{Ticket: c[1].Ticket, Lease: c[1].Lease, Outcome: backend.Succeeded})
	tb.settle(t, backend.Settlement{Ticket: c[2].Ticket, Lease: c[2].Lease, Outcome: backend.Dead})
	tb.clock.Advance(time.Hour)
	tb.settle(t, backend.Settlement{Ticket: c[3].Ticket, Lease: c[3].Lease, Outcome: backend.Succeeded})
	cutoff := tb.clock.Now().Add(-time.Minute)

	n, err := tb.b.Purge(tb.ctx, backend.PurgeRequest{State: job.Succeeded, Before: cutoff, Limit: 1})
	if err != nil || n != 1 {
		t.Fatalf("purge 1: %d, %v", n, err)
	}
	if _, err := tb.b.Get(tb.ctx, r[0].Ticket); !errorsIs(err, job.ErrNotFound) {
		t.Fatalf("oldest success not purged: %v", err)
	}
	n, err = tb.b.Purge(tb.ctx, backend.PurgeRequest{State: job.Succeeded, Before: cutoff, Limit: 10})
	if err != nil || n != 1 {
		t.Fatalf("purge 2: %d, %v", n, err)
	}
	for _, keep := range []job.Ticket{r[2].Ticket, r[3].Ticket} {
		if _, err := tb.b.Get(tb.ctx, keep); err != nil {
			t.Fatalf("ticket %s purged too early: %v", keep, err)
		}
	}
	wantCounts(t, tb.counts(t, "q"), map[job.State]int{job.Succeeded: 1, job.Dead: 1})
	again := tb.submit(t, "q", job.Submission{IdempotencyKey: "a"})
	if again[0].Duplicate || again[0].Ticket == r[0].Ticket {
		t.Fatalf("purged key still known: %+v", again[0])
	}
	if _, err := tb.b.Purge(tb.ctx, backend.PurgeRequest{State: job.Queued, Before: cutoff, Limit: 1}); !errorsIs(err, job.ErrInvalid) {
		t.Fatalf("purge of queued jobs: %v", err)
	}
}

// Ensure that Purge frees exactly the purged job's key in its submitter's
// scope: the same key of another submitter still names that one's job.
func testPurgePerSubmitter(t *testing.T, tb *bundle) {
	alice := tb.submit(t, "q", job.Submission{IdempotencyKey: "k", Submitter: "alice"})
	bob := tb.submit(t, "q", job.Submission{IdempotencyKey: "k", Submitter: "bob"})
	for _, c := range tb.claim(t, "q", 2).Jobs {
		outcome := backend.Dead
		if c.Ticket == alice[0].Ticket {
			outcome = backend.Succeeded
		}
		tb.settle(t, backend.Settlement{Ticket: c.Ticket, Lease: c.Lease, Outcome: outcome})
	}
	tb.clock.Advance(time.Hour)
	n, err := tb.b.Purge(tb.ctx, backend.PurgeRequest{State: job.Succeeded, Before: tb.clock.Now(), Limit: 10})
	if err != nil || n != 1 {
		t.Fatalf("purge: %d, %v", n, err)
	}
	again := tb.submit(t, "q", job.Submission{IdempotencyKey: "k", Submitter: "alice"})
	if again[0].Duplicate || again[0].Ticket == alice[0].Ticket {
		t.Fatalf("alice's purged key still known: %+v", again[0])
	}
	kept := tb.submit(t, "q", job.Submission{IdempotencyKey: "k", Submitter: "bob"})
	if !kept[0].Duplicate || kept[0].Ticket != bob[0].Ticket || kept[0].State != job.Dead {
		t.Fatalf("bob's key after purging alice's: %+v, want a duplicate of %s", kept[0], bob[0].Ticket)
	}
}

// Ensure that Notify reports durable state changes, including a resume.
func testNotify(t *testing.T, tb *bundle) {
	r := tb.submit(t, "q", job.Submission{})
	got := tb.notes.take()
	if len(got) != 1 || got[0] != (backend.Change{Queue: "q", Ticket: r[0].Ticket, State: job.Queued}) {
		t.Fatalf("after append: %+v", got)
	}
	c := tb.claim(t, "q", 1).Jobs[0]
	tb.settle(t, backend.Settlement{Ticket: c.Ticket, Lease: c.Lease, Outcome: backend.Succeeded})
	got = tb.notes.take()
	if len(got) != 2 || got[0].State != job.Running || got[1].State != job.Succeeded {
		t.Fatalf("after claim and settle: %+v", got)
	}
	if err := tb.b.SetPaused(tb.ctx, "q", false); err != nil {
		t.Fatal(err)
	}
	got = tb.notes.take()
	if len(got) != 1 || got[0].Queue != "q" || got[0].State != job.Queued {
		t.Fatalf("after resume: %+v", got)
	}
}

// Ensure that a closed backend refuses calls with ErrClosed.
func testClosed(t *testing.T, tb *bundle) {
	r := tb.submit(t, "q", job.Submission{})
	if err := tb.b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.b.Get(tb.ctx, r[0].Ticket); !errorsIs(err, job.ErrClosed) {
		t.Fatalf("get after close: %v", err)
	}
	_, err := tb.b.Append(tb.ctx, backend.AppendRequest{Queue: "q", Jobs: []job.Submission{{MaxAttempts: 1}}})
	wantErr(t, err, job.ErrClosed)
	if err := tb.b.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}
