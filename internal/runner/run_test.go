package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ticketq/ticketq/job"
)

// done waits for ctx to end, failing the test after a long while.
func done(t *testing.T, ctx context.Context) error {
	t.Helper()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-time.After(10 * time.Second):
		t.Fatal("the context did not end within 10s")
		return nil
	}
}

// Ensure that a run's timeout ends its context with a cause that matches
// job.ErrTimeout and says how long it was.
func TestStart_Timeout(t *testing.T) {
	r := Start(context.Background(), time.Millisecond)
	defer r.End()
	cause := done(t, r.Context())
	if !errors.Is(cause, job.ErrTimeout) || cause.Error() != "job timed out after 1ms" {
		t.Fatalf("cause = %v", cause)
	}
	if !errors.Is(r.Context().Err(), context.DeadlineExceeded) {
		t.Fatalf("err = %v", r.Context().Err())
	}
}

// Ensure that a run without a timeout has no deadline, ends with the cause
// of Cancel, and keeps the first cause.
func TestStart_Cancel(t *testing.T) {
	r := Start(context.Background(), 0)
	if _, ok := r.Context().Deadline(); ok {
		t.Fatal("a run without a timeout has a deadline")
	}
	r.Cancel(job.ErrJobCanceled)
	r.Cancel(job.ErrShutdown)
	r.End()
	if cause := done(t, r.Context()); cause != job.ErrJobCanceled {
		t.Fatalf("cause = %v", cause)
	}
}

// Ensure that End releases the context of a run that was not canceled.
func TestStart_End(t *testing.T) {
	r := Start(context.Background(), time.Hour)
	if r.Context().Err() != nil {
		t.Fatal("a new run's context has ended")
	}
	r.End()
	if cause := done(t, r.Context()); !errors.Is(cause, context.Canceled) {
		t.Fatalf("cause = %v", cause)
	}
}

// Ensure that WithCause names a cause that the error does not already
// carry, and leaves every other error as it is.
func TestWithCause(t *testing.T) {
	timeout := fmt.Errorf("%w after 1s", job.ErrTimeout)
	boom := errors.New("boom")
	cases := []struct {
		name       string
		err, cause error
		want       string
	}{
		{"no error", nil, timeout, ""},
		{"no cause", boom, nil, "boom"},
		{"cause named", boom, timeout, "job timed out after 1s: boom"},
		{"cause already in the error", fmt.Errorf("step 2: %w", timeout), timeout, "step 2: job timed out after 1s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := WithCause(tc.err, tc.cause)
			if tc.want == "" {
				if got != nil {
					t.Fatalf("got %v, want nil", got)
				}
				return
			}
			if got.Error() != tc.want || !errors.Is(got, tc.err) || (tc.cause != nil && !errors.Is(got, tc.cause)) {
				t.Fatalf("got %q, want %q wrapping both", got, tc.want)
			}
		})
	}
}

// Ensure that the registry cancels a run by its ticket, counts the runs,
// and counts the cancels that find no run.
func TestRegistry_Cancel(t *testing.T) {
	var g Registry
	if g.Cancel(1, job.ErrJobCanceled) || g.Missed() != 1 {
		t.Fatalf("a cancel of nothing: missed = %d, want 1", g.Missed())
	}
	r := g.Start(context.Background(), 1, 0)
	other := g.Start(context.Background(), 2, 0)
	if n := g.Running(); n != 2 {
		t.Fatalf("running = %d, want 2", n)
	}
	if !g.Cancel(1, job.ErrJobCanceled) {
		t.Fatal("the run of ticket 1 was not found")
	}
	if cause := done(t, r.Context()); cause != job.ErrJobCanceled {
		t.Fatalf("cause = %v", cause)
	}
	if other.Context().Err() != nil || g.Missed() != 1 {
		t.Fatalf("the cancel of ticket 1 touched ticket 2 (%v) or was counted as missed (%d)", other.Context().Err(), g.Missed())
	}
	r.End()
	other.End()
	if g.Running() != 0 || g.Cancel(1, job.ErrJobCanceled) || g.Missed() != 2 {
		t.Fatalf("after End: running %d, missed %d", g.Running(), g.Missed())
	}
}

// Ensure that when a ticket's canceled run is still returning while its
// next run has started, both count, the older run's End leaves the newer
// one registered, and a cancel reaches the newer one.
func TestRegistry_TwoRunsOfATicket(t *testing.T) {
	var g Registry
	old := g.Start(context.Background(), 7, 0)
	g.Cancel(7, job.ErrJobCanceled)
	next := g.Start(context.Background(), 7, 0)
	if n := g.Running(); n != 2 {
		t.Fatalf("running = %d, want 2", n)
	}
	old.End()
	if n := g.Running(); n != 1 {
		t.Fatalf("running = %d, want 1", n)
	}
	if !g.Cancel(7, job.ErrShutdown) {
		t.Fatal("the newer run was dropped with the older one")
	}
	if cause := done(t, next.Context()); cause != job.ErrShutdown {
		t.Fatalf("the newer run's cause = %v", cause)
	}
	next.End()
}

// Ensure that a cancel racing with a run's start either reaches the run or
// is counted as missed where the run, reading Missed after Start, sees it:
// the pool's check of its claim depends on it.
func TestRegistry_MissedIsSeen(t *testing.T) {
	var g Registry
	for i := range 1000 {
		tk := job.Ticket(i + 1)
		before := g.Missed()
		var wg sync.WaitGroup
		var found bool
		wg.Go(func() { found = g.Cancel(tk, job.ErrJobCanceled) })
		r := g.Start(context.Background(), tk, 0)
		missed := g.Missed() != before
		wg.Wait()
		canceled := r.Context().Err() != nil
		r.End()
		if found != canceled || (!found && !missed && !canceled) {
			t.Fatalf("round %d: cancel found the run %v, run canceled %v, miss seen %v", i, found, canceled, missed)
		}
	}
}
