package backendtest

import (
	"testing"
	"time"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

func (tb *bundle) lease(t *testing.T, queue string, max int, vis time.Duration) []*job.Job {
	t.Helper()
	res, err := tb.b.Claim(tb.ctx, backend.ClaimRequest{Queue: queue, Max: max, Visibility: vis})
	if err != nil {
		t.Fatalf("lease from %s: %v", queue, err)
	}
	return res.Jobs
}

func (tb *bundle) expire(t *testing.T) int {
	t.Helper()
	n, err := tb.b.ExpireLeases(tb.ctx, 100)
	if err != nil {
		t.Fatalf("expire: %v", err)
	}
	return n
}

// Ensure that a lease carries its deadline and an in-process claim none.
func testLeaseDeadline(t *testing.T, tb *bundle) {
	tb.submit(t, "q", job.Submission{}, job.Submission{})
	l := tb.lease(t, "q", 1, 30*time.Second)
	if len(l) != 1 || !l[0].LeaseExpiresAt.Equal(tb.clock.Now().Add(30*time.Second)) {
		t.Fatalf("lease = %+v", l)
	}
	if j := tb.get(t, l[0].Ticket); !j.LeaseExpiresAt.Equal(l[0].LeaseExpiresAt) {
		t.Fatalf("stored deadline = %v", j.LeaseExpiresAt)
	}
	c := tb.claim(t, "q", 1).Jobs[0]
	if !c.LeaseExpiresAt.IsZero() {
		t.Fatalf("in-process claim has a deadline: %v", c.LeaseExpiresAt)
	}
	if _, err := tb.b.Claim(tb.ctx, backend.ClaimRequest{Queue: "q", Max: 1, Visibility: -time.Second}); !errorsIs(err, job.ErrInvalid) {
		t.Fatalf("negative visibility: %v", err)
	}
}

// Ensure that an expired lease puts the job back, due at once, with the
// attempt counted as failed and the old lease fenced off; that only leases
// past their deadline expire; and that in-process runs never do.
func testLeaseExpire(t *testing.T, tb *bundle) {
	tb.submit(t, "q", job.Submission{}, job.Submission{}, job.Submission{})
	short := tb.lease(t, "q", 1, 10*time.Second)[0]
	long := tb.lease(t, "q", 1, time.Hour)[0]
	inproc := tb.claim(t, "q", 1).Jobs[0]
	if n := tb.expire(t); n != 0 {
		t.Fatalf("expired %d before any deadline", n)
	}
	tb.clock.Advance(11 * time.Second)
	if n := tb.expire(t); n != 1 {
		t.Fatalf("expired %d, want the short lease only", n)
	}
	j := tb.get(t, short.Ticket)
	if j.State != job.Queued || j.Attempt != 1 || j.Failures() != 1 || !j.RunAt.Equal(tb.clock.Now()) ||
		j.Lease != "" || !j.LeaseExpiresAt.IsZero() || len(j.Errors) != 1 {
		t.Fatalf("expired job = %+v", j)
	}
	wantErr(t, tb.settle(t, backend.Settlement{Ticket: short.Ticket, Lease: short.Lease, Outcome: backend.Succeeded})[0], job.ErrLeaseMismatch)
	again := tb.lease(t, "q", 1, time.Minute)
	if len(again) != 1 || again[0].Ticket != short.Ticket || again[0].Lease == short.Lease || again[0].Attempt != 2 {
		t.Fatalf("re-lease = %+v", again)
	}
	tb.clock.Advance(24 * time.Hour)
	if n := tb.expire(t); n != 2 {
		t.Fatalf("expired %d, want the long lease and the re-lease", n)
	}
	if j := tb.get(t, inproc.Ticket); j.State != job.Running {
		t.Fatalf("in-process run expired: %+v", j)
	}
	if j := tb.get(t, long.Ticket); j.State != job.Queued {
		t.Fatalf("long lease after a day: %+v", j)
	}
	wantCounts(t, tb.counts(t, "q"), map[job.State]int{job.Queued: 2, job.Running: 1})
}

// Ensure that an expired lease of a job with no attempts left makes it dead.
func testLeaseExpireDead(t *testing.T, tb *bundle) {
	tb.submit(t, "q", job.Submission{MaxAttempts: 1})
	l := tb.lease(t, "q", 1, time.Second)[0]
	tb.clock.Advance(2 * time.Second)
	tb.expire(t)
	if j := tb.get(t, l.Ticket); j.State != job.Dead || j.FinishedAt.IsZero() || j.LastError == "" {
		t.Fatalf("job = %+v", j)
	}
}

// Ensure that Extend moves the deadline, and that a wrong lease, a canceled
// job and a bad visibility are refused without a change.
func testLeaseExtend(t *testing.T, tb *bundle) {
	tb.submit(t, "q", job.Submission{}, job.Submission{})
	ls := tb.lease(t, "q", 2, 10*time.Second)
	tb.clock.Advance(8 * time.Second)
	j, err := tb.b.Extend(tb.ctx, ls[0].Ticket, ls[0].Lease, 30*time.Second)
	if err != nil || !j.LeaseExpiresAt.Equal(tb.clock.Now().Add(30*time.Second)) || j.Lease != ls[0].Lease {
		t.Fatalf("extend = %+v, %v", j, err)
	}
	tb.clock.Advance(5 * time.Second)
	if n := tb.expire(t); n != 1 {
		t.Fatalf("expired %d, want only the lease that was not extended", n)
	}
	_, err = tb.b.Extend(tb.ctx, ls[1].Ticket, ls[1].Lease, time.Minute)
	wantErr(t, err, job.ErrLeaseMismatch)
	_, err = tb.b.Extend(tb.ctx, ls[0].Ticket, "wrong", time.Minute)
	wantErr(t, err, job.ErrLeaseMismatch)
	_, err = tb.b.Extend(tb.ctx, ls[0].Ticket, ls[0].Lease, 0)
	wantErr(t, err, job.ErrInvalid)
	if _, _, err := tb.b.Cancel(tb.ctx, ls[0].Ticket); err != nil {
		t.Fatal(err)
	}
	_, err = tb.b.Extend(tb.ctx, ls[0].Ticket, ls[0].Lease, time.Minute)
	wantErr(t, err, job.ErrLeaseCanceled)
	wantErr(t, tb.settle(t, backend.Settlement{Ticket: ls[0].Ticket, Lease: ls[0].Lease, Outcome: backend.Succeeded})[0], job.ErrLeaseCanceled)
	if j := tb.get(t, ls[0].Ticket); j.State != job.Canceled || !j.LeaseExpiresAt.IsZero() {
		t.Fatalf("canceled job = %+v", j)
	}
}

// Ensure that MaxRunning caps claims by the jobs already running.
func testClaimMaxRunning(t *testing.T, tb *bundle) {
	tb.submit(t, "q", job.Submission{}, job.Submission{}, job.Submission{}, job.Submission{}, job.Submission{})
	capped := func(max, cap int) int {
		res, err := tb.b.Claim(tb.ctx, backend.ClaimRequest{Queue: "q", Max: max, MaxRunning: cap, Visibility: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Jobs)
	}
	if n := capped(10, 2); n != 2 {
		t.Fatalf("first claim under a cap of 2 took %d", n)
	}
	if n := capped(10, 2); n != 0 {
		t.Fatalf("claim at the cap took %d", n)
	}
	if n := capped(1, 4); n != 1 {
		t.Fatalf("claim of 1 under a cap of 4 took %d", n)
	}
	if n := capped(10, 0); n != 2 {
		t.Fatalf("uncapped claim took %d, want the 2 left", n)
	}
}

// Ensure that progress is stored for the run that holds the job only.
func testProgress(t *testing.T, tb *bundle) {
	tb.submit(t, "q", job.Submission{})
	l := tb.lease(t, "q", 1, time.Minute)[0]
	at := tb.clock.Now().Add(time.Second)
	errs, err := tb.b.SetProgress(tb.ctx, []backend.Progress{
		{Ticket: l.Ticket, Lease: l.Lease, Percent: 40, Message: "resizing", At: at},
		{Ticket: l.Ticket, Lease: "stale", Percent: 90},
	})
	if err != nil || errs[0] != nil {
		t.Fatalf("progress: %v %v", errs, err)
	}
	wantErr(t, errs[1], job.ErrLeaseMismatch)
	j := tb.get(t, l.Ticket)
	if j.Progress != 40 || j.ProgressMessage != "resizing" || !j.ProgressAt.Equal(at) || j.State != job.Running {
		t.Fatalf("job = %+v", j)
	}
	if _, err := tb.b.SetProgress(tb.ctx, []backend.Progress{{Ticket: l.Ticket, Lease: l.Lease, Percent: 101}}); !errorsIs(err, job.ErrInvalid) {
		t.Fatalf("progress 101: %v", err)
	}
	wantCounts(t, tb.counts(t, "q"), map[job.State]int{job.Running: 1})
	// The last report can travel with the settlement.
	last := backend.Progress{Percent: 100, Message: "done", At: at.Add(time.Second)}
	tb.settle(t, backend.Settlement{Ticket: l.Ticket, Lease: l.Lease, Outcome: backend.Succeeded, Progress: &last})
	if j := tb.get(t, l.Ticket); j.Progress != 100 || j.ProgressMessage != "done" || !j.ProgressAt.Equal(last.At) {
		t.Fatalf("progress after settling = %+v", j)
	}
}

// Ensure that run-time overrides are stored with the queue and validated.
func testOverrides(t *testing.T, tb *bundle) {
	w, r, b, mq := 3, 2.5, 5, 7
	o := job.QueueOverrides{Workers: &w, Rate: &r, Burst: &b, MaxQueued: &mq}
	if err := tb.b.SetOverrides(tb.ctx, "q", o); err != nil {
		t.Fatal(err)
	}
	st, err := tb.b.Stats(tb.ctx, "q")
	if err != nil || st.Overrides.Workers == nil || *st.Overrides.Workers != 3 || st.Overrides.MaxLeases != nil ||
		*st.Overrides.Rate != 2.5 || *st.Overrides.Burst != 5 || st.Overrides.MaxQueued == nil || *st.Overrides.MaxQueued != 7 {
		t.Fatalf("stats = %+v, %v", st, err)
	}
	bad := -1
	if err := tb.b.SetOverrides(tb.ctx, "q", job.QueueOverrides{Workers: &bad}); !errorsIs(err, job.ErrInvalid) {
		t.Fatalf("bad override: %v", err)
	}
	if err := tb.b.SetOverrides(tb.ctx, "q", job.QueueOverrides{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := tb.b.Stats(tb.ctx, "q"); st.Overrides.Workers != nil || st.Overrides.Rate != nil || st.Overrides.MaxQueued != nil {
		t.Fatalf("cleared overrides = %+v", st.Overrides)
	}
}

// Ensure that a run of the server's own cannot be extended into a lease
// (expiry would then requeue it while it runs).
func testExtendInProcess(t *testing.T, tb *bundle) {
	tb.submit(t, "q", job.Submission{})
	c := tb.claim(t, "q", 1).Jobs[0]
	_, err := tb.b.Extend(tb.ctx, c.Ticket, c.Lease, time.Second)
	wantErr(t, err, job.ErrLeaseMismatch)
	tb.clock.Advance(time.Hour)
	if n := tb.expire(t); n != 0 {
		t.Fatalf("expired %d in-process runs", n)
	}
	if j := tb.get(t, c.Ticket); j.State != job.Running || !j.LeaseExpiresAt.IsZero() {
		t.Fatalf("in-process run after extend = %+v", j)
	}
}

// Ensure that RenewLeases starts a kept lease over at now + its visibility
// (the last one granted or extended), and refuses anything else.
func testRenewLeases(t *testing.T, tb *bundle) {
	tb.submit(t, "q", job.Submission{}, job.Submission{})
	l := tb.lease(t, "q", 1, 10*time.Second)[0]
	if _, err := tb.b.Extend(tb.ctx, l.Ticket, l.Lease, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	inproc := tb.claim(t, "q", 1).Jobs[0]
	tb.clock.Advance(time.Minute) // the server was down past the deadline
	errs, err := tb.b.RenewLeases(tb.ctx, []backend.LeaseRef{
		{Ticket: l.Ticket, Lease: l.Lease}, {Ticket: l.Ticket, Lease: "stale"}, {Ticket: inproc.Ticket, Lease: inproc.Lease},
	})
	if err != nil || errs[0] != nil {
		t.Fatalf("renew: %v %v", errs, err)
	}
	wantErr(t, errs[1], job.ErrLeaseMismatch)
	wantErr(t, errs[2], job.ErrLeaseMismatch)
	if j := tb.get(t, l.Ticket); !j.LeaseExpiresAt.Equal(tb.clock.Now().Add(20*time.Second)) || j.Lease != l.Lease {
		t.Fatalf("renewed lease = %+v", j)
	}
	if n := tb.expire(t); n != 0 {
		t.Fatalf("expired %d right after the renewal", n)
	}
	tb.clock.Advance(21 * time.Second)
	if n := tb.expire(t); n != 1 {
		t.Fatalf("expired %d after the renewed visibility, want 1", n)
	}
}
