package ticketq_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketq/ticketq"
)

func (tb *testBundle) lease(t *testing.T, queue string, n int, vis time.Duration) []*ticketq.Job {
	t.Helper()
	js, err := tb.q.Lease(tb.ctx, queue, n, vis, 0)
	if err != nil {
		t.Fatalf("lease: %v", err)
	}
	return js
}

// Ensure that a leased job can be extended and acked, and that every
// misuse is refused without a change.
func TestQueue_Lease_AckExtend(t *testing.T) {
	tb := setup(t, ticketq.Options{}, nil)
	tk := tb.submit(t, "pull", ticketq.Submission{IdempotencyKey: "k"})
	ls := tb.lease(t, "pull", 5, time.Minute)
	if len(ls) != 1 || ls[0].Ticket != tk || ls[0].Lease == "" || ls[0].Attempt != 1 || ls[0].IdempotencyKey != "k" {
		t.Fatalf("lease = %+v", ls)
	}
	l := ls[0]
	j, err := tb.q.Extend(tb.ctx, tk, l.Lease, 2*time.Minute)
	if err != nil || !j.LeaseExpiresAt.After(l.LeaseExpiresAt) {
		t.Fatalf("extend = %+v, %v", j, err)
	}
	if _, err := tb.q.Ack(tb.ctx, tk, "not-the-lease", nil); !errors.Is(err, ticketq.ErrLeaseMismatch) {
		t.Fatalf("ack with a wrong lease: %v", err)
	}
	if _, err := tb.q.Extend(tb.ctx, tk, l.Lease, 0); !errors.Is(err, ticketq.ErrInvalid) {
		t.Fatalf("extend by 0: %v", err)
	}
	j, err = tb.q.Ack(tb.ctx, tk, l.Lease, []byte(`{"done":true}`))
	if err != nil || j.State != ticketq.Succeeded || string(j.Result) != `{"done":true}` {
		t.Fatalf("ack = %+v, %v", j, err)
	}
	if _, err := tb.q.Ack(tb.ctx, tk, l.Lease, nil); !errors.Is(err, ticketq.ErrLeaseMismatch) {
		t.Fatalf("second ack: %v", err)
	}
	for _, bad := range []struct {
		n         int
		vis, wait time.Duration
	}{{0, time.Minute, 0}, {101, time.Minute, 0}, {1, 0, 0}, {1, 13 * time.Hour, 0}, {1, time.Minute, time.Minute}} {
		if _, err := tb.q.Lease(tb.ctx, "pull", bad.n, bad.vis, bad.wait); !errors.Is(err, ticketq.ErrInvalid) {
			t.Fatalf("lease %+v: %v", bad, err)
		}
	}
}

// Ensure that a nack follows the queue's rules: retry after retry_in, dead
// when permanent or when the attempts are spent.
func TestQueue_Lease_Nack(t *testing.T) {
	tb := setup(t, ticketq.Options{}, nil)
	a := tb.submit(t, "pull", ticketq.Submission{MaxAttempts: 2})
	l := tb.lease(t, "pull", 1, time.Minute)[0]
	j, err := tb.q.Nack(tb.ctx, a, l.Lease, "boom", 0, false)
	if err != nil || j.State != ticketq.Queued || j.LastError != "boom" {
		t.Fatalf("nack = %+v, %v", j, err)
	}
	l = tb.lease(t, "pull", 1, time.Minute)[0]
	if j, err = tb.q.Nack(tb.ctx, a, l.Lease, "boom again", 0, false); err != nil || j.State != ticketq.Dead {
		t.Fatalf("nack with attempts spent = %+v, %v", j, err)
	}
	b := tb.submit(t, "pull", ticketq.Submission{MaxAttempts: 5})
	l = tb.lease(t, "pull", 1, time.Minute)[0]
	if j, err = tb.q.Nack(tb.ctx, b, l.Lease, "bad input", 0, true); err != nil || j.State != ticketq.Dead || j.Attempt != 1 {
		t.Fatalf("permanent nack = %+v, %v", j, err)
	}
	c := tb.submit(t, "pull", ticketq.Submission{})
	l = tb.lease(t, "pull", 1, time.Minute)[0]
	if j, err = tb.q.Nack(tb.ctx, c, l.Lease, "later", time.Hour, false); err != nil || j.RunAt.Before(time.Now().Add(59*time.Minute)) {
		t.Fatalf("nack with retry_in 1h = %+v, %v", j, err)
	}
	if got := tb.lease(t, "pull", 1, time.Minute); len(got) != 0 {
		t.Fatalf("job leased before its retry_in: %+v", got)
	}
}

// Ensure that canceling a leased job tells its worker at the next call.
func TestQueue_Lease_Canceled(t *testing.T) {
	tb := setup(t, ticketq.Options{}, nil)
	tk := tb.submit(t, "pull", ticketq.Submission{})
	l := tb.lease(t, "pull", 1, time.Minute)[0]
	if _, err := tb.q.Cancel(tb.ctx, tk); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.q.Extend(tb.ctx, tk, l.Lease, time.Minute); !errors.Is(err, ticketq.ErrLeaseCanceled) {
		t.Fatalf("extend of a canceled job: %v", err)
	}
	if _, err := tb.q.Ack(tb.ctx, tk, l.Lease, nil); !errors.Is(err, ticketq.ErrLeaseCanceled) {
		t.Fatalf("ack of a canceled job: %v", err)
	}
	if err := tb.q.Progress(tb.ctx, tk, l.Lease, 50, ""); !errors.Is(err, ticketq.ErrLeaseCanceled) {
		t.Fatalf("progress of a canceled job: %v", err)
	}
	if _, err := tb.q.Nack(tb.ctx, tk, l.Lease, "x", 0, false); !errors.Is(err, ticketq.ErrLeaseCanceled) {
		t.Fatalf("nack of a canceled job: %v", err)
	}
}

// Ensure that an expired lease puts the job back (the attempt counts), and
// that the old token cannot ack the job once it is leased again.
func TestQueue_Lease_Expires(t *testing.T) {
	tb := setup(t, ticketq.Options{}, nil)
	tk := tb.submit(t, "pull", ticketq.Submission{})
	old := tb.lease(t, "pull", 1, time.Second)[0]
	// The expiry loop runs every second; the long-poll wakes when the job
	// comes back.
	fresh, err := tb.q.Lease(tb.ctx, "pull", 1, time.Minute, 10*time.Second)
	if err != nil || len(fresh) != 1 || fresh[0].Ticket != tk || fresh[0].Attempt != 2 {
		t.Fatalf("re-lease after expiry = %+v, %v", fresh, err)
	}
	if !strings.Contains(fresh[0].LastError, "lease expired") {
		t.Fatalf("last error = %q", fresh[0].LastError)
	}
	if _, err := tb.q.Ack(tb.ctx, tk, old.Lease, nil); !errors.Is(err, ticketq.ErrLeaseMismatch) {
		t.Fatalf("stale ack: %v", err)
	}
	j, err := tb.q.Ack(tb.ctx, tk, fresh[0].Lease, nil)
	if err != nil || j.State != ticketq.Succeeded {
		t.Fatalf("fresh ack = %+v, %v", j, err)
	}
}

// Ensure that a waiting lease returns as soon as a job is submitted.
func TestQueue_Lease_LongPoll(t *testing.T) {
	tb := setup(t, ticketq.Options{}, nil)
	got := make(chan []*ticketq.Job, 1)
	go func() {
		js, _ := tb.q.Lease(tb.ctx, "pull", 1, time.Minute, 30*time.Second)
		got <- js
	}()
	tk := tb.submit(t, "pull", ticketq.Submission{})
	// The lease waits up to 30 s; only the submit's wake-up (or the job
	// being there already) can end it within 10.
	select {
	case js := <-got:
		if len(js) != 1 || js[0].Ticket != tk {
			t.Fatalf("long-poll got %+v", js)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a submit did not wake the waiting lease")
	}
	empty, err := tb.q.Lease(tb.ctx, "pull", 1, time.Minute, 50*time.Millisecond)
	if err != nil || len(empty) != 0 {
		t.Fatalf("empty long-poll = %+v, %v", empty, err)
	}
}

// Ensure that a queue run by the server cannot be leased from.
func TestQueue_Lease_HasExecutor(t *testing.T) {
	tb := setup(t, ticketq.Options{}, func(q *ticketq.Queue) {
		must(t, q.Handle("push", func(ctx context.Context, j *ticketq.Job) ([]byte, error) { return nil, nil }, fast))
	})
	if _, err := tb.q.Lease(tb.ctx, "push", 1, time.Minute, 0); !errors.Is(err, ticketq.ErrHasExecutor) {
		t.Fatalf("lease from an executor queue: %v", err)
	}
}

// Ensure that MaxLeases caps the jobs leased out at once, with fewer jobs
// and no error beyond it.
func TestQueue_Lease_MaxLeases(t *testing.T) {
	tb := setup(t, ticketq.Options{}, func(q *ticketq.Queue) {
		must(t, q.Configure("pull", ticketq.QueueOptions{MaxLeases: 2}))
	})
	for range 5 {
		tb.submit(t, "pull", ticketq.Submission{})
	}
	first := tb.lease(t, "pull", 10, time.Minute)
	if len(first) != 2 {
		t.Fatalf("leased %d under a cap of 2", len(first))
	}
	if more := tb.lease(t, "pull", 10, time.Minute); len(more) != 0 {
		t.Fatalf("leased %d at the cap", len(more))
	}
	if _, err := tb.q.Ack(tb.ctx, first[0].Ticket, first[0].Lease, nil); err != nil {
		t.Fatal(err)
	}
	if more := tb.lease(t, "pull", 10, time.Minute); len(more) != 1 {
		t.Fatalf("leased %d after one ack, want 1", len(more))
	}
}

// Ensure that a rate-limited pull queue never starts more than rate·window
// + burst jobs in any window.
func TestQueue_Lease_Rate(t *testing.T) {
	tb := setup(t, ticketq.Options{}, func(q *ticketq.Queue) {
		must(t, q.Configure("pull", ticketq.QueueOptions{Rate: 20, Burst: 2}))
	})
	subs := make([]ticketq.Submission, 60)
	for i := range subs {
		subs[i] = ticketq.Submission{Payload: []byte(`1`)}
	}
	if _, err := tb.q.SubmitBatch(tb.ctx, "pull", subs); err != nil {
		t.Fatal(err)
	}
	var starts []time.Time
	for len(starts) < 30 {
		js, err := tb.q.Lease(tb.ctx, "pull", 10, time.Minute, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for range js {
			starts = append(starts, time.Now())
		}
	}
	if span := starts[len(starts)-1].Sub(starts[0]); span < 1300*time.Millisecond {
		t.Fatalf("30 leases in %s; 20/s with a burst of 2 needs at least 1.4 s", span)
	}
	for i := range starts {
		n := 0
		for j := i; j < len(starts) && starts[j].Sub(starts[i]) < 500*time.Millisecond; j++ {
			n++
		}
		if n > 20/2+2+1 {
			t.Fatalf("%d leases within 500ms at 20/s, burst 2", n)
		}
	}
}

// Ensure that more workers set at run time start jobs at once, and that
// the change survives a restart.
func TestQueue_UpdateLimits(t *testing.T) {
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	handler := func(q *ticketq.Queue) {
		must(t, q.Handle("q", func(ctx context.Context, j *ticketq.Job) ([]byte, error) {
			started <- struct{}{}
			<-release
			return nil, nil
		}, ticketq.QueueOptions{Workers: 1}))
	}
	dir := t.TempDir()
	q := openRun(t, dir, ticketq.Options{}, handler)
	ctx := context.Background()
	for range 3 {
		if _, err := q.Submit(ctx, "q", ticketq.Submission{Payload: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	<-started
	st, err := q.UpdateLimits(ctx, "q", func(o *ticketq.QueueOverrides) {
		w, r := 3, 50.0
		o.Workers, o.Rate = &w, &r
	})
	if err != nil || st.Limits.Workers != 3 || st.Limits.Rate != 50 || st.Overrides.Workers == nil {
		t.Fatalf("update = %+v, %v", st, err)
	}
	<-started
	<-started // the two waiting jobs started without any other event
	if _, err := q.UpdateLimits(ctx, "q", func(o *ticketq.QueueOverrides) { bad := 0; o.Workers = &bad }); !errors.Is(err, ticketq.ErrInvalid) {
		t.Fatalf("workers 0: %v", err)
	}
	close(release)
	must(t, q.Close())

	q = openRun(t, dir, ticketq.Options{}, handler)
	defer q.Close()
	st, err = q.Stats(ctx, "q")
	if err != nil || st.Limits.Workers != 3 || st.Limits.Rate != 50 {
		t.Fatalf("after restart: %+v, %v", st.Limits, err)
	}
	st, err = q.UpdateLimits(ctx, "q", func(o *ticketq.QueueOverrides) { o.Workers = nil })
	if err != nil || st.Limits.Workers != 1 || st.Overrides.Workers != nil {
		t.Fatalf("cleared override: %+v, %v", st.Limits, err)
	}
}

// Ensure that a MaxQueued set at run time refuses submits beyond it, keeps
// the jobs already queued, survives a restart on its own, and returns to
// the configured value when cleared.
func TestQueue_UpdateMaxQueued(t *testing.T) {
	configure := func(q *ticketq.Queue) { must(t, q.Configure("small", ticketq.QueueOptions{MaxQueued: 10})) }
	dir := t.TempDir()
	q := openRun(t, dir, ticketq.Options{}, configure)
	ctx := context.Background()
	submit := func() error {
		_, err := q.Submit(ctx, "small", ticketq.Submission{Payload: []byte(`{}`)})
		return err
	}
	must(t, submit())
	must(t, submit())
	st, err := q.UpdateLimits(ctx, "small", func(o *ticketq.QueueOverrides) { n := 1; o.MaxQueued = &n })
	if err != nil || st.Limits.MaxQueued != 1 || !st.Pull || st.Counts[ticketq.Queued] != 2 {
		t.Fatalf("update = %+v, %v", st, err)
	}
	if err := submit(); !errors.Is(err, ticketq.ErrQueueFull) {
		t.Fatalf("submit over the lowered limit: %v", err)
	}
	if _, err := q.UpdateLimits(ctx, "small", func(o *ticketq.QueueOverrides) { n := -1; o.MaxQueued = &n }); !errors.Is(err, ticketq.ErrInvalid) {
		t.Fatalf("max queued -1: %v", err)
	}
	must(t, q.Close())

	q = openRun(t, dir, ticketq.Options{}, configure)
	defer q.Close()
	if err := submit(); !errors.Is(err, ticketq.ErrQueueFull) {
		t.Fatalf("submit after a restart: %v (the override was not kept)", err)
	}
	st, err = q.UpdateLimits(ctx, "small", func(o *ticketq.QueueOverrides) { o.MaxQueued = nil })
	if err != nil || st.Limits.MaxQueued != 10 || st.Overrides.MaxQueued != nil {
		t.Fatalf("cleared override: %+v, %v", st, err)
	}
	must(t, submit())
}

// Ensure that progress from an in-process handler and from a pull worker
// shows in Status, fenced by the lease.
func TestQueue_Progress(t *testing.T) {
	reported, release := make(chan struct{}), make(chan struct{})
	tb := setup(t, ticketq.Options{}, func(q *ticketq.Queue) {
		must(t, q.Handle("push", func(ctx context.Context, j *ticketq.Job) ([]byte, error) {
			if err := j.ReportProgress(40, "halfway"); err != nil {
				return nil, err
			}
			close(reported)
			<-release
			return nil, nil
		}, fast))
	})
	tk := tb.submit(t, "push", ticketq.Submission{})
	<-reported
	j, err := tb.q.Status(tb.ctx, tk)
	if err != nil || j.Progress != 40 || j.ProgressMessage != "halfway" || j.ProgressAt.IsZero() {
		t.Fatalf("status while running = %+v, %v", j, err)
	}
	close(release)
	tb.wait(t, tk)

	pull := tb.submit(t, "pull", ticketq.Submission{})
	l := tb.lease(t, "pull", 1, time.Minute)[0]
	must(t, tb.q.Progress(tb.ctx, pull, l.Lease, 75, "uploading"))
	if err := tb.q.Progress(tb.ctx, pull, "wrong", 80, ""); !errors.Is(err, ticketq.ErrLeaseMismatch) {
		t.Fatalf("progress with a wrong lease: %v", err)
	}
	if err := tb.q.Progress(tb.ctx, pull, l.Lease, 101, ""); !errors.Is(err, ticketq.ErrInvalid) {
		t.Fatalf("progress 101: %v", err)
	}
	if j, _ := tb.q.Status(tb.ctx, pull); j.Progress != 75 || j.ProgressMessage != "uploading" {
		t.Fatalf("pull progress = %+v", j)
	}
}

// Ensure that MaxLeases holds while many workers lease and ack at once.
func TestQueue_Lease_MaxLeasesUnderLoad(t *testing.T) {
	const cap, workers, jobs = 5, 16, 200
	tb := setup(t, ticketq.Options{}, func(q *ticketq.Queue) {
		must(t, q.Configure("pull", ticketq.QueueOptions{MaxLeases: cap}))
	})
	subs := make([]ticketq.Submission, jobs)
	for i := range subs {
		subs[i] = ticketq.Submission{Payload: []byte(`1`)}
	}
	if _, err := tb.q.SubmitBatch(tb.ctx, "pull", subs); err != nil {
		t.Fatal(err)
	}
	var done, peak atomic.Int64
	// The server's own count of running jobs is what the cap bounds; a
	// sampler reads it while the workers lease and ack.
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for done.Load() < jobs {
			st, err := tb.q.Stats(tb.ctx, "pull")
			if err != nil {
				t.Error(err)
				return
			}
			if n := int64(st.Counts[ticketq.Running]); n > peak.Load() {
				peak.Store(n)
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done.Load() < jobs {
				js, err := tb.q.Lease(tb.ctx, "pull", 3, time.Minute, 50*time.Millisecond)
				if err != nil {
					t.Error(err)
					return
				}
				for _, j := range js {
					if _, err := tb.q.Ack(tb.ctx, j.Ticket, j.Lease, nil); err != nil {
						t.Error(err)
						return
					}
					done.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	<-sampled
	if peak.Load() > cap {
		t.Fatalf("%d jobs leased out at once under a cap of %d", peak.Load(), cap)
	}
	if peak.Load() < 2 {
		t.Fatalf("at most %d job leased at once: the load never pressed on the cap", peak.Load())
	}
	st, _ := tb.q.Stats(tb.ctx, "pull")
	if st.Counts[ticketq.Succeeded] != jobs {
		t.Fatalf("succeeded = %d, want %d", st.Counts[ticketq.Succeeded], jobs)
	}
}

// Ensure that the report a handler makes just before it returns is stored
// with the check-off instead of being lost with the pending reports.
func TestQueue_Progress_LastReportKept(t *testing.T) {
	tb := setup(t, ticketq.Options{}, func(q *ticketq.Queue) {
		must(t, q.Handle("q", func(ctx context.Context, j *ticketq.Job) ([]byte, error) {
			return nil, j.ReportProgress(100, "done")
		}, fast))
	})
	j := tb.wait(t, tb.submit(t, "q", ticketq.Submission{}))
	if j.State != ticketq.Succeeded || j.Progress != 100 || j.ProgressMessage != "done" || j.ProgressAt.IsZero() {
		t.Fatalf("finished job = %+v", j)
	}
}
