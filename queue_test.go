package ticketq_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
	"github.com/ticketq/ticketq/wal"
)

type testBundle struct {
	q   *ticketq.Queue
	dir string
	ctx context.Context
}

// setup opens a queue in a fresh directory. configure registers handlers
// before Run starts. When the test ends the queue is closed and the file is
// reopened and verified.
func setup(t *testing.T, opts ticketq.Options, configure func(q *ticketq.Queue)) *testBundle {
	t.Helper()
	tb := &testBundle{dir: t.TempDir(), ctx: context.Background()}
	tb.q = openRun(t, tb.dir, opts, configure)
	t.Cleanup(func() {
		if err := tb.q.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		verify(t, tb.dir)
	})
	return tb
}

// openRun opens dir and runs the queue in the background.
func openRun(t *testing.T, dir string, opts ticketq.Options, configure func(q *ticketq.Queue)) *ticketq.Queue {
	t.Helper()
	q, err := ticketq.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if configure != nil {
		configure(q)
	}
	go func() {
		// A test that ends quickly may close the queue before this
		// goroutine gets to Run; that is the only error tolerated.
		if err := q.Run(context.Background()); err != nil && !errors.Is(err, ticketq.ErrClosed) {
			t.Errorf("run: %v", err)
		}
	}()
	return q
}

func verify(t *testing.T, dir string) {
	t.Helper()
	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		t.Errorf("reopen for verification: %v", err)
		return
	}
	defer l.Close()
	if err := l.Verify(); err != nil {
		t.Errorf("invariants broken on disk:\n%v", err)
	}
}

func (tb *testBundle) submit(t *testing.T, queue string, s ticketq.Submission) ticketq.Ticket {
	t.Helper()
	if s.Payload == nil {
		s.Payload = []byte(`{}`)
	}
	r, err := tb.q.Submit(tb.ctx, queue, s)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return r.Ticket
}

func (tb *testBundle) wait(t *testing.T, tk ticketq.Ticket) *ticketq.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	j, err := tb.q.Wait(ctx, tk)
	if err != nil {
		t.Fatalf("wait %s: %v (job %+v)", tk, err, j)
	}
	return j
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var fast = ticketq.QueueOptions{Workers: 2, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}

// Ensure that a submitted job runs and its result is kept.
func TestQueue_Submit(t *testing.T) {
	tb := setup(t, ticketq.Options{}, func(q *ticketq.Queue) {
		must(t, q.Handle("echo", func(ctx context.Context, j *ticketq.Job) ([]byte, error) {
			return append([]byte("got "), j.Payload...), nil
		}, fast))
	})
	tk := tb.submit(t, "echo", ticketq.Submission{Payload: []byte(`"hi"`)})
	j := tb.wait(t, tk)
	if j.State != ticketq.Succeeded || string(j.Result) != `got "hi"` || j.Attempt != 1 || j.FinishedAt.IsZero() {
		t.Fatalf("job = %+v", j)
	}
}

// Ensure that a repeated idempotency key returns the first ticket.
func TestQueue_Submit_Idempotent(t *testing.T) {
	clock := &movableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	tb := setup(t, ticketq.Options{Clock: clock}, nil)
	s := ticketq.Submission{Payload: []byte(`1`), IdempotencyKey: "k", Delay: 10 * time.Second}
	a, err := tb.q.Submit(tb.ctx, "q", s)
	must(t, err)
	// The retry comes three seconds later: the delay resolves to another
	// run-at, but the request is the same.
	clock.advance(3 * time.Second)
	b, err := tb.q.Submit(tb.ctx, "q", s)
	must(t, err)
	if a.Ticket != b.Ticket || a.Duplicate || !b.Duplicate {
		t.Fatalf("receipts %+v %+v", a, b)
	}
	for name, other := range map[string]ticketq.Submission{
		"payload":  {Payload: []byte(`2`), IdempotencyKey: "k", Delay: 10 * time.Second},
		"delay":    {Payload: []byte(`1`), IdempotencyKey: "k", Delay: 7 * time.Second},
		"priority": {Payload: []byte(`1`), IdempotencyKey: "k", Delay: 10 * time.Second, Priority: 1},
	} {
		if _, err := tb.q.Submit(tb.ctx, "q", other); !errors.Is(err, ticketq.ErrIdempotencyKeyReused) {
			t.Errorf("another %s with the key: %v, want ErrIdempotencyKeyReused", name, err)
		}
	}
	st, err := tb.q.Stats(tb.ctx, "q")
	must(t, err)
	if st.Counts[ticketq.Queued] != 1 {
		t.Fatalf("counts %v, want the one job", st.Counts)
	}
}

// movableClock is a stub clock that moves when told to.
type movableClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *movableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *movableClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Ensure that a batch with one bad job stores nothing.
func TestQueue_SubmitBatch_AllOrNothing(t *testing.T) {
	tb := setup(t, ticketq.Options{}, nil)
	_, err := tb.q.SubmitBatch(tb.ctx, "q", []ticketq.Submission{{Payload: []byte(`1`)}, {Payload: []byte(`2`), Priority: 1000}})
	if !errors.Is(err, ticketq.ErrInvalid) || !strings.Contains(err.Error(), "job 1") {
		t.Fatalf("error = %v", err)
	}
	if names, _ := tb.q.Queues(tb.ctx); len(names) != 0 {
		t.Fatalf("queues after refused batch: %v", names)
	}
	rs, err := tb.q.SubmitBatch(tb.ctx, "q", []ticketq.Submission{{Payload: []byte(`1`)}, {Payload: []byte(`2`)}})
	if err != nil || len(rs) != 2 || rs[1].Ticket != rs[0].Ticket+1 {
		t.Fatalf("batch = %+v, %v", rs, err)
	}
	if _, err := tb.q.SubmitBatch(tb.ctx, "q", nil); !errors.Is(err, ticketq.ErrInvalid) {
		t.Fatalf("empty batch: %v", err)
	}
}

// Ensure that MaxQueued refuses submits once reached.
func TestQueue_Submit_QueueFull(t *testing.T) {
	tb := setup(t, ticketq.Options{}, func(q *ticketq.Queue) {
		must(t, q.Configure("small", ticketq.QueueOptions{MaxQueued: 2}))
	})
	tb.submit(t, "small", ticketq.Submission{})
	tb.submit(t, "small", ticketq.Submission{})
	if _, err := tb.q.Submit(tb.ctx, "small", ticketq.Submission{Payload: []byte(`{}`)}); !errors.Is(err, ticketq.ErrQueueFull) {
		t.Fatalf("third submit: %v", err)
	}
	st, err := tb.q.Stats(tb.ctx, "small")
	if err != nil || st.Counts[ticketq.Queued] != 2 {
		t.Fatalf("stats = %+v, %v", st, err)
	}
}

// Ensure that a failing job is retried with backoff up to MaxAttempts, then
// dead with every error kept, and that a manual retry runs it again.
func TestQueue_RetryThenDead(t *testing.T) {
	var calls atomic.Int32
	var healed atomic.Bool
	tb := setup(t, ticketq.Options{}, func(q *ticketq.Queue) {
		must(t, q.Handle("flaky", func(ctx context.Context, j *ticketq.Job) ([]byte, error) {
			n := calls.Add(1)
			if healed.Load() {
				return []byte("ok"), nil
			}
			return nil, fmt.Errorf("failure %d", n)
		}, fast))
	})
	tk := tb.submit(t, "flaky", ticketq.Submission{MaxAttempts: 3})
	j := tb.wait(t, tk)
	if j.State != ticketq.Dead || j.Attempt != 3 || len(j.Errors) != 3 || j.LastError != "failure 3" || calls.Load() != 3 {
		t.Fatalf("dead job = %+v (calls %d)", j, calls.Load())
	}
	for i, e := range j.Errors {
		if e.Attempt != i+1 {
			t.Fatalf("error history = %+v", j.Errors)
		}
	}
	healed.Store(true)
	if _, err := tb.q.Retry(tb.ctx, tk); err != nil {
		t.Fatal(err)
	}
	j = tb.wait(t, tk)
	if j.State != ticketq.Succeeded || j.Attempt != 1 || len(j.Errors) != 3 {
		t.Fatalf("retried job = %+v", j)
	}
	if _, err := tb.q.Retry(tb.ctx, tk); !errors.Is(err, ticketq.ErrNotRetryable) {
		t.Fatalf("retry of succeeded: %v", err)
	}
}

// Ensure that Permanent errors skip the remaining attempts.
func TestQueue_Permanent(t *testing.T) {
	tb := setup(t, ticketq.Options{}, func(q *ticketq.Queue) {
		must(t, q.Handle("q", func(ctx context.Context, j *ticketq.Job) ([]byte, error) {
			return nil, ticketq.Permanent(errors.New("bad payload"))
		}, fast))
	})
	j := tb.wait(t, tb.submit(t, "q", ticketq.Submission{MaxAttempts: 5}))
	if j.State != ticketq.Dead || j.Attempt != 1 || !strings.Contains(j.LastError, "bad payload") {
		t.Fatalf("job = %+v", j)
	}
}

// Ensure that a canceled queued job never runs.
func TestQueue_Cancel_Queued(t *testing.T) {
	var ran atomic.Int32
	tb := setup(t, ticketq.Options{}, func(q *ticketq.Queue) {
		must(t, q.Handle("q", func(ctx context.Context, j *ticketq.Job) ([]byte, error) {
			ran.Add(1)
			return nil, nil
		}, fast))
	})
	must(t, tb.q.Pause(tb.ctx, "q"))
	tk := tb.submit(t, "q", ticketq.Submission{})
	j, err := tb.q.Cancel(tb.ctx, tk)
	if err != nil || j.State != ticketq.Canceled {
		t.Fatalf("cancel = %+v, %v", j, err)
	}
	must(t, tb.q.Resume(tb.ctx, "q"))
	// A later job runs, so the pool did look at the queue after resume.
	tb.wait(t, tb.submit(t, "q", ticketq.Submission{}))
	if ran.Load() != 1 {
		t.Fatalf("handler ran %d times; the canceled job must not run", ran.Load())
	}
	if _, err := tb.q.Cancel(tb.ctx, tk); !errors.Is(err, ticketq.ErrAlreadyFinal) {
		t.Fatalf("second cancel: %v", err)
	}
}

// Ensure that canceling a running job cancels its context and the job stays
// canceled whatever the handler returns.
func TestQueue_Cancel_Running(t *testing.T) {
	running := make(chan struct{})
	cause := make(chan error, 1)
	tb := setup(t, ticketq.Options{}, func(q *ticketq.Queue) {
		must(t, q.Handle("q", func(ctx context.Context, j *ticketq.Job) ([]byte, error) {
			if string(j.Payload) == `"next"` {
				return nil, nil
			}
			close(running)
			<-ctx.Done()
			cause <- context.Cause(ctx)
			return []byte("too late"), nil
		}, ticketq.QueueOptions{Workers: 1}))
	})
	tk := tb.submit(t, "q", ticketq.Submission{})
	<-running
	j, err := tb.q.Cancel(tb.ctx, tk)
	if err != nil || j.State != ticketq.Canceled {
		t.Fatalf("cancel = %+v, %v", j, err)
	}
	if c := <-cause; !errors.Is(c, ticketq.ErrJobCanceled) {
		t.Fatalf("handler saw cause %v", c)
	}
	// With one worker, the next job of the queue runs only after the
	// canceled run is completely done, so its late success had its chance
	// to be recorded. It must not have been.
	tb.wait(t, tb.submit(t, "q", ticketq.Submission{Payload: []byte(`"next"`)}))
	if j, _ := tb.q.Status(tb.ctx, tk); j.State != ticketq.Canceled || j.Result != nil {
		t.Fatalf("after handler returned: %+v", j)
	}
}

// Ensure that a delayed job does not start before its run-at.
func TestQueue_Delayed(t *testing.T) {
	started := make(chan time.Time, 1)
	tb := setup(t, ticketq.Options{}, func(q *ticketq.Queue) {
		must(t, q.Handle("q", func(ctx context.Context, j *ticketq.Job) ([]byte, error) {
			started <- time.Now()
			return nil, nil
		}, fast))
	})
	runAt := time.Now().Add(100 * time.Millisecond)
	tk := tb.submit(t, "q", ticketq.Submission{RunAt: runAt})
	j := tb.wait(t, tk)
	if at := <-started; at.Before(runAt) {
		t.Fatalf("started %s early", runAt.Sub(at))
	}
	if j.StartedAt.Before(runAt) {
		t.Fatalf("StartedAt %v before RunAt %v", j.StartedAt, runAt)
	}
}

// Ensure that a paused queue runs nothing, even across a restart, until resumed.
func TestQueue_PauseResume(t *testing.T) {
	var ran atomic.Int32
	handler := func(q *ticketq.Queue) {
		must(t, q.Handle("q", func(ctx context.Context, j *ticketq.Job) ([]byte, error) {
			ran.Add(1)
			return nil, nil
		}, fast))
	}
	dir := t.TempDir()
	q := openRun(t, dir, ticketq.Options{}, handler)
	ctx := context.Background()
	must(t, q.Pause(ctx, "q"))
	r, err := q.Submit(ctx, "q", ticketq.Submission{Payload: []byte(`{}`)})
	must(t, err)
	must(t, q.Close())

	q = openRun(t, dir, ticketq.Options{}, handler)
	defer q.Close()
	st, err := q.Stats(ctx, "q")
	if err != nil || !st.Paused || st.Counts[ticketq.Queued] != 1 || ran.Load() != 0 {
		t.Fatalf("after restart: %+v, %v, ran %d", st, err, ran.Load())
	}
	must(t, q.Resume(ctx, "q"))
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if j, err := q.Wait(wctx, r.Ticket); err != nil || j.State != ticketq.Succeeded {
		t.Fatalf("after resume: %+v, %v", j, err)
	}
}

// Ensure that jobs left running by a crash are recovered at Open and run
// again, their interruption recorded and not charged to MaxAttempts.
func TestQueue_RecoversInterruptedJobs(t *testing.T) {
	dir := t.TempDir()
	l, err := wal.Open(dir, wal.Options{})
	must(t, err)
	_, err = l.Append(context.Background(), backend.AppendRequest{Queue: "q", Jobs: []job.Submission{
		{Payload: []byte(`1`), MaxAttempts: 1}, {Payload: []byte(`2`), MaxAttempts: 1},
	}})
	must(t, err)
	res, err := l.Claim(context.Background(), backend.ClaimRequest{Queue: "q", Max: 2})
	must(t, err)
	must(t, l.Close()) // the process "died" with both jobs running

	tb := &testBundle{dir: dir, ctx: context.Background()}
	tb.q = openRun(t, dir, ticketq.Options{}, func(q *ticketq.Queue) {
		must(t, q.Handle("q", func(ctx context.Context, j *ticketq.Job) ([]byte, error) { return nil, nil }, fast))
	})
	defer tb.q.Close()
	if rep := tb.q.Recovery(); rep.Recovered != 2 {
		t.Fatalf("recovery = %+v", rep)
	}
	for _, c := range res.Jobs {
		j := tb.wait(t, c.Ticket)
		if j.State != ticketq.Succeeded || j.Attempt != 2 || j.Interrupted != 1 {
			t.Fatalf("recovered job = %+v", j)
		}
	}
}

// Ensure that Close lets a running job finish within the grace period.
func TestQueue_Close_Graceful(t *testing.T) {
	running, finish := make(chan struct{}), make(chan struct{})
	dir := t.TempDir()
	q := openRun(t, dir, ticketq.Options{Grace: time.Minute}, func(q *ticketq.Queue) {
		must(t, q.Handle("q", func(ctx context.Context, j *ticketq.Job) ([]byte, error) {
			close(running)
			<-finish
			return []byte("finished during shutdown"), nil
		}, fast))
	})
	r, err := q.Submit(context.Background(), "q", ticketq.Submission{Payload: []byte(`{}`)})
	must(t, err)
	<-running
	closed := make(chan error)
	go func() { closed <- q.Close() }()
	close(finish)
	must(t, <-closed)

	q2, err := ticketq.Open(dir, ticketq.Options{})
	must(t, err)
	defer q2.Close()
	j, err := q2.Status(context.Background(), r.Ticket)
	if err != nil || j.State != ticketq.Succeeded || string(j.Result) != "finished during shutdown" || q2.Recovery().Recovered != 0 {
		t.Fatalf("after graceful close: %+v, %v, %+v", j, err, q2.Recovery())
	}
}

// Ensure that a run still going at the end of the grace period is canceled,
// not recorded, and replayed at the next start.
func TestQueue_Close_GraceExpires(t *testing.T) {
	running := make(chan struct{})
	dir := t.TempDir()
	q := openRun(t, dir, ticketq.Options{Grace: 20 * time.Millisecond}, func(q *ticketq.Queue) {
		must(t, q.Handle("q", func(ctx context.Context, j *ticketq.Job) ([]byte, error) {
			close(running)
			<-ctx.Done()
			return nil, ctx.Err()
		}, fast))
	})
	r, err := q.Submit(context.Background(), "q", ticketq.Submission{Payload: []byte(`{}`)})
	must(t, err)
	<-running
	must(t, q.Close())
	if _, err := q.Submit(context.Background(), "q", ticketq.Submission{}); !errors.Is(err, ticketq.ErrClosed) {
		t.Fatalf("submit after close: %v", err)
	}

	tb := &testBundle{dir: dir, ctx: context.Background()}
	tb.q = openRun(t, dir, ticketq.Options{}, func(q *ticketq.Queue) {
		must(t, q.Handle("q", func(ctx context.Context, j *ticketq.Job) ([]byte, error) { return nil, nil }, fast))
	})
	defer tb.q.Close()
	if tb.q.Recovery().Recovered != 1 {
		t.Fatalf("recovery = %+v", tb.q.Recovery())
	}
	if j := tb.wait(t, r.Ticket); j.State != ticketq.Succeeded || j.Interrupted != 1 {
		t.Fatalf("replayed job = %+v", j)
	}
}

// Ensure that a default handler serves queues created by a submit.
func TestQueue_HandleDefault(t *testing.T) {
	tb := setup(t, ticketq.Options{Queue: fast}, func(q *ticketq.Queue) {
		must(t, q.HandleDefault(func(ctx context.Context, j *ticketq.Job) ([]byte, error) {
			return []byte(j.Queue), nil
		}))
	})
	for _, name := range []string{"a", "b.c"} {
		if j := tb.wait(t, tb.submit(t, name, ticketq.Submission{})); string(j.Result) != name {
			t.Fatalf("job of %s = %+v", name, j)
		}
	}
}

// Ensure that a default handler registered while Run runs picks up the
// backlog already stored, not only jobs submitted later.
func TestQueue_HandleDefault_AfterRun(t *testing.T) {
	tb := setup(t, ticketq.Options{Queue: fast}, nil)
	tk := tb.submit(t, "backlog", ticketq.Submission{})
	// Run is running (setup started it) and no change will come to wake a
	// pool: only HandleDefault itself can start one.
	waitRunning(t, tb.q)
	must(t, tb.q.HandleDefault(func(ctx context.Context, j *ticketq.Job) ([]byte, error) { return []byte("ok"), nil }))
	if j := tb.wait(t, tk); j.State != ticketq.Succeeded {
		t.Fatalf("backlog job = %+v", j)
	}
}

// waitRunning returns once Run has started: Handle of a new queue then
// starts its pool at once, which a job on that queue proves.
func waitRunning(t *testing.T, q *ticketq.Queue) {
	t.Helper()
	probe := fmt.Sprintf("probe-%d", time.Now().UnixNano())
	must(t, q.Handle(probe, func(ctx context.Context, j *ticketq.Job) ([]byte, error) { return nil, nil }, fast))
	r, err := q.Submit(context.Background(), probe, ticketq.Submission{Payload: []byte(`{}`)})
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := q.Wait(ctx, r.Ticket); err != nil {
		t.Fatalf("Run did not start: %v", err)
	}
}

// Ensure that Wait returns the current job and ctx's error when ctx ends first.
func TestQueue_Wait_Timeout(t *testing.T) {
	tb := setup(t, ticketq.Options{}, nil) // no handler: the job stays queued
	tk := tb.submit(t, "q", ticketq.Submission{})
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Millisecond)
	defer cancel()
	j, err := tb.q.Wait(ctx, tk)
	if !errors.Is(err, context.DeadlineExceeded) || j == nil || j.State != ticketq.Queued {
		t.Fatalf("wait = %+v, %v", j, err)
	}
	if _, err := tb.q.Wait(tb.ctx, tk+100); !errors.Is(err, ticketq.ErrNotFound) {
		t.Fatalf("wait for unknown: %v", err)
	}
}

// Ensure that Stats and List describe the queue.
func TestQueue_StatsAndList(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	started := make(chan struct{}, 1)
	tb := setup(t, ticketq.Options{}, func(q *ticketq.Queue) {
		must(t, q.Handle("q", func(ctx context.Context, j *ticketq.Job) ([]byte, error) {
			started <- struct{}{}
			<-hold
			return nil, nil
		}, ticketq.QueueOptions{Workers: 1}))
	})
	var tks []ticketq.Ticket
	for range 4 {
		tks = append(tks, tb.submit(t, "q", ticketq.Submission{}))
	}
	<-started
	st, err := tb.q.Stats(tb.ctx, "q")
	if err != nil || st.Counts[ticketq.Running] != 1 || st.Counts[ticketq.Queued] != 3 || st.InFlight != 1 || st.OldestReadyAt.IsZero() {
		t.Fatalf("stats = %+v, %v", st, err)
	}
	page, err := tb.q.List(tb.ctx, ticketq.ListQuery{Queue: "q", State: ticketq.Queued, Limit: 2})
	if err != nil || len(page.Jobs) != 2 || page.Next != page.Jobs[1].Ticket {
		t.Fatalf("page 1 = %+v, %v", page, err)
	}
	page2, err := tb.q.List(tb.ctx, ticketq.ListQuery{Queue: "q", State: ticketq.Queued, After: page.Next})
	if err != nil || len(page2.Jobs) != 1 || page2.Next != 0 || page2.Jobs[0].Ticket != tks[3] {
		t.Fatalf("page 2 = %+v, %v", page2, err)
	}
	if _, err := tb.q.List(tb.ctx, ticketq.ListQuery{Queue: "q", Limit: 5000}); !errors.Is(err, ticketq.ErrInvalid) {
		t.Fatalf("oversized page: %v", err)
	}
	if _, err := tb.q.Stats(tb.ctx, "missing"); !errors.Is(err, ticketq.ErrNotFound) {
		t.Fatalf("stats of unknown queue: %v", err)
	}
}

// Ensure that Handle refuses bad names, bad options and a second handler.
func TestQueue_Handle_Invalid(t *testing.T) {
	tb := setup(t, ticketq.Options{}, nil)
	h := func(ctx context.Context, j *ticketq.Job) ([]byte, error) { return nil, nil }
	if err := tb.q.Handle("bad name", h, ticketq.QueueOptions{}); !errors.Is(err, ticketq.ErrInvalid) {
		t.Fatalf("bad name: %v", err)
	}
	if err := tb.q.Handle("q", h, ticketq.QueueOptions{MaxAttempts: -1}); !errors.Is(err, ticketq.ErrInvalid) {
		t.Fatalf("bad options: %v", err)
	}
	// A queue's timeout has a job's own rule, 1 s at least.
	if err := tb.q.Handle("q", h, ticketq.QueueOptions{Timeout: 100 * time.Millisecond}); !errors.Is(err, ticketq.ErrInvalid) || !strings.Contains(err.Error(), "timeout 100ms is outside 1s..168h0m0s") {
		t.Fatalf("timeout under a second: %v", err)
	}
	must(t, tb.q.Handle("q", h, ticketq.QueueOptions{}))
	if err := tb.q.Handle("q", h, ticketq.QueueOptions{}); !errors.Is(err, ticketq.ErrConflict) {
		t.Fatalf("second handler: %v", err)
	}
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// Ensure that a delay is measured on the queue's clock, and that delay and
// run_at together are refused.
func TestQueue_Submit_Delay(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tb := setup(t, ticketq.Options{Clock: fixedClock{now}}, nil)
	tk := tb.submit(t, "q", ticketq.Submission{Delay: time.Hour})
	j, err := tb.q.Status(tb.ctx, tk)
	if err != nil || !j.RunAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("run_at = %v, want %v (%v)", j.RunAt, now.Add(time.Hour), err)
	}
	_, err = tb.q.Submit(tb.ctx, "q", ticketq.Submission{Payload: []byte(`1`), Delay: time.Hour, RunAt: now})
	if !errors.Is(err, ticketq.ErrInvalid) {
		t.Fatalf("delay with run_at: %v", err)
	}
}
