package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketq/ticketq/job"
)

// fakeSource hands out jobs from memory and records outcomes on a channel.
type fakeSource struct {
	mu         sync.Mutex
	ready      []*job.Job
	released   map[job.Ticket]bool // Held answers false for these
	claims     chan struct{}       // gets a value after each Claim, while it has room
	progress   chan string         // "ticket:percent:message" per report
	record     bool                // keep the max of every Claim in asks
	asks       []int
	heldCalls  atomic.Int32
	afterClaim func() // runs after a claim that returned jobs, as if a cancel came right then
	maxAsked   int
	claimed    int
	outcomes   chan finished
}

type finished struct {
	ticket job.Ticket
	o      Outcome
}

func newFakeSource(jobs ...*job.Job) *fakeSource {
	return &fakeSource{ready: jobs, outcomes: make(chan finished, 1000), released: map[job.Ticket]bool{}, claims: make(chan struct{}, 1000), progress: make(chan string, 100)}
}

func (s *fakeSource) add(j *job.Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ready = append(s.ready, j)
}

func (s *fakeSource) Claim(_ context.Context, _ string, max int) ([]*job.Job, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxAsked = maxOf(s.maxAsked, max)
	if s.record {
		s.asks = append(s.asks, max)
	}
	now := time.Now()
	var out, keep []*job.Job
	var next time.Time
	for _, j := range s.ready {
		switch {
		case j.RunAt.After(now):
			if next.IsZero() || j.RunAt.Before(next) {
				next = j.RunAt
			}
			keep = append(keep, j)
		case len(out) < max:
			j.Attempt++
			out = append(out, j)
		default:
			keep = append(keep, j)
		}
	}
	s.ready = keep
	s.claimed += len(out)
	// Never blocks: a test that does not read claims may see more than
	// the buffer holds (1000 jobs claimed one at a time, plus empty
	// claims), and a send blocked here, under s.mu, hung the pool.
	select {
	case s.claims <- struct{}{}:
	default:
	}
	if len(out) > 0 && s.afterClaim != nil {
		s.afterClaim()
	}
	return out, next, nil
}

func (s *fakeSource) ReportProgress(j *job.Job, percent int, message string) error {
	s.progress <- fmt.Sprintf("%s:%d:%s", j.Ticket, percent, message)
	return nil
}

func (s *fakeSource) Held(_ context.Context, j *job.Job) (bool, error) {
	s.heldCalls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.released[j.Ticket], nil
}

func maxOf(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func (s *fakeSource) Finish(_ context.Context, done []Done) ([]error, error) {
	for _, d := range done {
		s.outcomes <- finished{d.Job.Ticket, d.Outcome}
	}
	return make([]error, len(done)), nil
}

func (s *fakeSource) await(t *testing.T) finished {
	t.Helper()
	select {
	case f := <-s.outcomes:
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("no outcome within 10s")
		return finished{}
	}
}

func newJob(t job.Ticket) *job.Job {
	return &job.Job{Ticket: t, Queue: "q", State: job.Running, MaxAttempts: 3}
}

// start runs a pool until the test ends and returns a stop function that
// waits for Run to return.
func start(t *testing.T, p *Pool) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("Run did not return within 30s")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// Ensure that every job runs once, results are recorded, and no more than
// Workers run at once.
func TestPool_RunsJobs(t *testing.T) {
	var jobs []*job.Job
	for i := 1; i <= 50; i++ {
		jobs = append(jobs, newJob(job.Ticket(i)))
	}
	src := newFakeSource(jobs...)
	var now, peak atomic.Int32
	p := New("q", func(ctx context.Context, j *job.Job) ([]byte, error) {
		n := now.Add(1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		defer now.Add(-1)
		return []byte(j.Ticket.String()), nil
	}, src, Options{Workers: 3, Poll: time.Hour})
	start(t, p)
	seen := map[job.Ticket]bool{}
	for range jobs {
		f := src.await(t)
		if f.o.Kind != Succeeded || string(f.o.Result) != f.ticket.String() || seen[f.ticket] {
			t.Fatalf("outcome %+v for %s (seen before: %v)", f.o, f.ticket, seen[f.ticket])
		}
		seen[f.ticket] = true
	}
	if peak.Load() > 3 {
		t.Fatalf("%d ran at once with 3 workers", peak.Load())
	}
}

// Ensure that the pool never holds more jobs than workers, however deep the
// backlog: it asks only for as many as are free.
func TestPool_BoundedWindow(t *testing.T) {
	var jobs []*job.Job
	for i := 1; i <= 1000; i++ {
		jobs = append(jobs, newJob(job.Ticket(i)))
	}
	src := newFakeSource(jobs...)
	release := make(chan struct{})
	started := make(chan struct{}, 1000)
	p := New("q", func(ctx context.Context, j *job.Job) ([]byte, error) {
		started <- struct{}{}
		<-release
		return nil, nil
	}, src, Options{Workers: 2, Poll: time.Hour})
	stop := start(t, p)
	<-started
	<-started
	src.mu.Lock()
	claimed, asked := src.claimed, src.maxAsked
	src.mu.Unlock()
	if claimed != 2 || asked > 2 {
		t.Fatalf("claimed %d (asked up to %d) with 2 busy workers and 1000 waiting", claimed, asked)
	}
	close(release)
	for range 1000 {
		src.await(t)
	}
	stop()
}

// Ensure that the retry policy picks retry, dead, Permanent and RetryAfter
// correctly, with backoff inside its jitter bounds.
func TestPool_Decide(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := New("q", nil, nil, Options{
		Backoff: Backoff{Base: time.Second, Max: time.Minute},
		Clock:   stubClock{now}, Rand: func() float64 { return 0.5 },
	})
	boom := errors.New("boom")
	cases := []struct {
		name       string
		attempt    int
		interrupt  int
		err        error
		kind       Kind
		retryAfter time.Duration
	}{
		{"success", 1, 0, nil, Succeeded, 0},
		{"first failure", 1, 0, boom, Retry, 750 * time.Millisecond},   // d=1s: 0.5s + 0.25s
		{"second failure", 2, 0, boom, Retry, 1500 * time.Millisecond}, // d=2s
		{"interrupted runs are free", 3, 1, boom, Retry, 1500 * time.Millisecond},
		{"budget spent", 3, 0, boom, Dead, 0},
		{"permanent", 1, 0, job.Permanent(boom), Dead, 0},
		{"retry after", 1, 0, job.RetryAfter(7*time.Second, boom), Retry, 7 * time.Second},
		{"retry after on last attempt", 3, 0, job.RetryAfter(7*time.Second, boom), Dead, 0},
		{"retry after is capped", 1, 0, job.RetryAfter(time.Duration(1<<62), boom), Retry, job.MaxDelay},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := &job.Job{Ticket: 1, Attempt: tc.attempt, Interrupted: tc.interrupt, MaxAttempts: 3}
			o := p.decide(j, []byte("r"), tc.err)
			if o.Kind != tc.kind {
				t.Fatalf("kind = %s, want %s", o.Kind, tc.kind)
			}
			if tc.kind == Retry && !o.RetryAt.Equal(now.Add(tc.retryAfter)) {
				t.Fatalf("retry at +%s, want +%s", o.RetryAt.Sub(now), tc.retryAfter)
			}
			if tc.err != nil && o.Error != tc.err.Error() {
				t.Fatalf("error = %q", o.Error)
			}
		})
	}
}

type stubClock struct{ t time.Time }

func (c stubClock) Now() time.Time { return c.t }

// Ensure that the backoff grows exponentially, is capped, and jitters
// within [d/2, d).
func TestBackoff_Delay(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Max: time.Second}
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 60: time.Second} {
		if lo := b.Delay(n, 0); lo != want/2 {
			t.Fatalf("failure %d: min delay %s, want %s", n, lo, want/2)
		}
		if hi := b.Delay(n, 0.999999); hi >= want || hi < want*99/100 {
			t.Fatalf("failure %d: max delay %s, want just under %s", n, hi, want)
		}
	}
	if d := (Backoff{}).Delay(1, 0); d != 500*time.Millisecond {
		t.Fatalf("default first delay %s", d)
	}
}

// Ensure that a run exceeding its timeout is canceled and recorded as a
// failed attempt that says it timed out.
func TestPool_Timeout(t *testing.T) {
	j := newJob(1)
	j.Timeout = 20 * time.Millisecond
	src := newFakeSource(j)
	p := New("q", func(ctx context.Context, j *job.Job) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}, src, Options{Workers: 1, Poll: time.Hour})
	start(t, p)
	f := src.await(t)
	if f.o.Kind != Retry || !strings.Contains(f.o.Error, "timed out after 20ms") {
		t.Fatalf("outcome = %+v", f.o)
	}
}

// Ensure that a panicking handler becomes a failed attempt with the panic
// value and a stack that names the handler, and the worker survives.
func TestPool_Panic(t *testing.T) {
	src := newFakeSource(newJob(1), newJob(2))
	p := New("q", func(ctx context.Context, j *job.Job) ([]byte, error) {
		if j.Ticket == 1 {
			panicky()
		}
		return []byte("ok"), nil
	}, src, Options{Workers: 1, Poll: time.Hour})
	start(t, p)
	got := map[job.Ticket]Outcome{}
	for range 2 {
		f := src.await(t)
		got[f.ticket] = f.o
	}
	if o := got[1]; o.Kind != Retry || !strings.Contains(o.Error, "panic: kaboom") || !strings.Contains(o.Error, "panicky") {
		t.Fatalf("panic outcome = %+v", o)
	}
	if got[2].Kind != Succeeded {
		t.Fatalf("worker did not survive the panic: %+v", got[2])
	}
}

func panicky() { panic("kaboom") }

// Ensure that Cancel cancels a running job's context with ErrJobCanceled and
// that the run's result is not recorded.
func TestPool_Cancel(t *testing.T) {
	src := newFakeSource(newJob(7), newJob(8))
	running := make(chan struct{})
	causes := make(chan error, 1)
	p := New("q", func(ctx context.Context, j *job.Job) ([]byte, error) {
		if j.Ticket == 8 {
			return nil, nil
		}
		close(running)
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return nil, ctx.Err()
	}, src, Options{Workers: 1, Poll: time.Hour})
	start(t, p)
	<-running
	if p.InFlight() != 1 || !p.Cancel(7) {
		t.Fatal("job 7 not known as running")
	}
	if c := <-causes; !errors.Is(c, job.ErrJobCanceled) {
		t.Fatalf("cause = %v", c)
	}
	// The next outcome is job 8's: job 7's run was not recorded.
	if f := src.await(t); f.ticket != 8 {
		t.Fatalf("recorded %+v for canceled job", f)
	}
	if p.Cancel(7) {
		t.Fatal("canceled job still listed as running")
	}
}

// Ensure that shutdown lets a running job finish within the grace period
// and records it.
func TestPool_GracefulShutdown(t *testing.T) {
	src := newFakeSource(newJob(1))
	running, finish := make(chan struct{}), make(chan struct{})
	p := New("q", func(ctx context.Context, j *job.Job) ([]byte, error) {
		close(running)
		<-finish
		return []byte("done"), ctx.Err()
	}, src, Options{Workers: 1, Poll: time.Hour, Grace: time.Minute})
	stop := start(t, p)
	<-running
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	close(finish)
	<-stopped
	if f := src.await(t); f.o.Kind != Succeeded || string(f.o.Result) != "done" {
		t.Fatalf("outcome = %+v", f.o)
	}
}

// Ensure that after the grace period runs are canceled with ErrShutdown and
// not recorded, so the job stays running on disk for recovery.
func TestPool_GraceExpires(t *testing.T) {
	src := newFakeSource(newJob(1))
	running := make(chan struct{})
	causes := make(chan error, 1)
	p := New("q", func(ctx context.Context, j *job.Job) ([]byte, error) {
		close(running)
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return nil, ctx.Err()
	}, src, Options{Workers: 1, Poll: time.Hour, Grace: 10 * time.Millisecond})
	stop := start(t, p)
	<-running
	stop()
	if c := <-causes; !errors.Is(c, job.ErrShutdown) {
		t.Fatalf("cause = %v", c)
	}
	select {
	case f := <-src.outcomes:
		t.Fatalf("interrupted run was recorded: %+v", f)
	default:
	}
}

// Ensure that Wake makes an idle pool claim at once (the poll is an hour).
func TestPool_Wake(t *testing.T) {
	src := newFakeSource()
	p := New("q", func(ctx context.Context, j *job.Job) ([]byte, error) { return nil, nil }, src, Options{Workers: 1, Poll: time.Hour})
	start(t, p)
	<-src.claims // the first, empty claim: now only a wake-up can bring another
	src.add(newJob(5))
	p.Wake()
	if f := src.await(t); f.ticket != 5 {
		t.Fatalf("ran %s", f.ticket)
	}
}

// Ensure that a run whose claim was canceled before the run registered (the
// cancel found no run, and the store no longer says it holds the job) never
// calls the handler and records nothing.
func TestPool_NotHeld(t *testing.T) {
	src := newFakeSource(newJob(1), newJob(2))
	src.released[1] = true
	var calls atomic.Int32
	p := New("q", func(ctx context.Context, j *job.Job) ([]byte, error) {
		calls.Add(1)
		return nil, nil
	}, src, Options{Workers: 1, Poll: time.Hour})
	// The cancel of job 1 commits right after its claim, before the run
	// registers: it finds no run to cancel.
	var once sync.Once
	src.afterClaim = func() { once.Do(func() { p.Cancel(1) }) }
	start(t, p)
	if f := src.await(t); f.ticket != 2 || calls.Load() != 1 {
		t.Fatalf("outcome %+v after %d calls; job 1 must not run", f, calls.Load())
	}
}

// Ensure that without a missed cancel the store is not asked (a read per
// run saved), and that it is asked after one.
func TestPool_HeldOnlyAfterMissedCancel(t *testing.T) {
	src := newFakeSource(newJob(1))
	p := New("q", func(ctx context.Context, j *job.Job) ([]byte, error) { return nil, nil }, src, Options{Workers: 1, Poll: time.Hour})
	start(t, p)
	src.await(t)
	if n := src.heldCalls.Load(); n != 0 {
		t.Fatalf("Held asked %d times with no cancel at all", n)
	}
	src.mu.Lock()
	src.afterClaim = func() { p.Cancel(99) } // a cancel that misses, after the claim
	src.mu.Unlock()
	src.add(newJob(2))
	p.Wake()
	src.await(t)
	if n := src.heldCalls.Load(); n != 1 {
		t.Fatalf("Held asked %d times after a missed cancel, want 1", n)
	}
}

// Ensure that when a canceled run is still returning while the job's next
// run (after a retry) has started, both count as in flight and a cancel
// reaches the newer run, even after the older one returned.
func TestPool_CancelAfterRetry(t *testing.T) {
	src := newFakeSource(newJob(7))
	firstIn, releaseFirst, firstOut := make(chan struct{}), make(chan struct{}), make(chan struct{})
	secondIn, secondCause := make(chan struct{}), make(chan error, 1)
	var runs atomic.Int32
	p := New("q", func(ctx context.Context, j *job.Job) ([]byte, error) {
		if runs.Add(1) == 1 {
			close(firstIn)
			<-releaseFirst // ignores its cancellation for a while
			defer close(firstOut)
			return nil, ctx.Err()
		}
		close(secondIn)
		<-ctx.Done()
		secondCause <- context.Cause(ctx)
		return nil, ctx.Err()
	}, src, Options{Workers: 2, Poll: time.Hour})
	start(t, p)
	<-firstIn
	if !p.Cancel(7) {
		t.Fatal("first run not found")
	}
	src.add(newJob(7)) // retried and claimed again
	p.Wake()
	<-secondIn
	if n := p.InFlight(); n != 2 {
		t.Fatalf("in flight = %d with two runs going", n)
	}
	close(releaseFirst)
	<-firstOut
	// The first run's cleanup must not have dropped the second run's entry.
	waitFor(t, func() bool { return p.InFlight() == 1 })
	if !p.Cancel(7) {
		t.Fatal("second run not found after the first returned")
	}
	if c := <-secondCause; !errors.Is(c, job.ErrJobCanceled) {
		t.Fatalf("second run's cause = %v", c)
	}
}

// waitFor waits for a condition on the pool's own bookkeeping, which has no
// event to await: it changes as a run's deferred cleanup finishes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// Ensure that a pool sleeps until the next delayed job is due and runs it
// then, without a wake-up (the poll is an hour).
func TestPool_Delayed(t *testing.T) {
	j := newJob(9)
	j.RunAt = time.Now().Add(30 * time.Millisecond)
	src := newFakeSource(j)
	ran := make(chan time.Time, 1)
	p := New("q", func(ctx context.Context, j *job.Job) ([]byte, error) { ran <- time.Now(); return nil, nil }, src, Options{Workers: 1, Poll: time.Hour})
	start(t, p)
	select {
	case at := <-ran:
		if at.Before(j.RunAt) {
			t.Fatalf("ran %s before due", j.RunAt.Sub(at))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("delayed job never ran")
	}
}
