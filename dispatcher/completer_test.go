package dispatcher

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketq/ticketq/job"
)

// batchSource records the size of every Finish call and can hold the first.
type batchSource struct {
	*fakeSource
	mu      sync.Mutex
	sizes   []int
	holding chan struct{} // closed when the first Finish is held
	release chan struct{}
	// idle gets a value for each Claim made after every job was handed
	// out: with one worker, the feed claims only once the worker is free,
	// so by then the last run's outcome has been handed to the completer.
	idle  chan struct{}
	total int
}

func (b *batchSource) Claim(ctx context.Context, queue string, max int) ([]*job.Job, time.Time, error) {
	b.fakeSource.mu.Lock()
	all := b.fakeSource.claimed == b.total
	b.fakeSource.mu.Unlock()
	if all {
		select { // never blocks the feed, however many idle claims come
		case b.idle <- struct{}{}:
		default:
		}
	}
	return b.fakeSource.Claim(ctx, queue, max)
}

func (b *batchSource) Finish(ctx context.Context, done []Done) ([]error, error) {
	b.mu.Lock()
	first := len(b.sizes) == 0
	b.sizes = append(b.sizes, len(done))
	b.mu.Unlock()
	if first {
		close(b.holding)
		<-b.release
	}
	return b.fakeSource.Finish(ctx, done)
}

// Ensure that outcomes finished while a check-off is being recorded are
// recorded together in the next call, and that workers do not wait for
// their own check-off.
func TestCompleter_Batches(t *testing.T) {
	var jobs []*job.Job
	for i := 1; i <= 6; i++ {
		jobs = append(jobs, newJob(job.Ticket(i)))
	}
	src := &batchSource{fakeSource: newFakeSource(jobs[0]), holding: make(chan struct{}), release: make(chan struct{}),
		idle: make(chan struct{}, 100), total: len(jobs)}
	ran := make(chan job.Ticket, 10)
	p := New("q", func(ctx context.Context, j *job.Job) ([]byte, error) { ran <- j.Ticket; return nil, nil }, src, Options{Workers: 1, Poll: time.Hour})
	start(t, p)
	<-ran
	<-src.holding // the first check-off is held
	for _, j := range jobs[1:] {
		src.add(j)
	}
	p.Wake()
	// With one worker and the first check-off still held, all five more
	// runs happen: the worker never waits for a check-off.
	for range 5 {
		select {
		case <-ran:
		case <-time.After(10 * time.Second):
			t.Fatal("a worker waited for its check-off")
		}
	}
	// The fifth run's handler has returned, but its outcome may not be
	// handed over yet: wait for the free worker's next claim.
	select {
	case <-src.idle:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not ask for more work after its last run")
	}
	close(src.release)
	for range 6 {
		src.await(t)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if len(src.sizes) != 2 || src.sizes[0] != 1 || src.sizes[1] != 5 {
		t.Fatalf("check-off calls of sizes %v, want [1 5]", src.sizes)
	}
}

// instantSource hands out jobs from an endless supply and records outcomes
// without storage, so that the benchmark measures the pool alone.
type instantSource struct {
	next     atomic.Uint64
	finished atomic.Int64
	want     int64
	done     chan struct{}
}

func (s *instantSource) Claim(_ context.Context, _ string, max int) ([]*job.Job, time.Time, error) {
	out := make([]*job.Job, max)
	for i := range out {
		out[i] = &job.Job{Ticket: job.Ticket(s.next.Add(1)), State: job.Running, MaxAttempts: 1}
	}
	return out, time.Time{}, nil
}

func (s *instantSource) Finish(_ context.Context, done []Done) ([]error, error) {
	if s.finished.Add(int64(len(done))) >= s.want {
		select {
		case <-s.done:
		default:
			close(s.done)
		}
	}
	return make([]error, len(done)), nil
}

func (s *instantSource) Held(context.Context, *job.Job) (bool, error) { return true, nil }
func (s *instantSource) ReportProgress(*job.Job, int, string) error   { return nil }

// BenchmarkPool_HandOff measures the dispatcher's own cost per job: claim
// hand-off, a goroutine run of a no-op handler, and the batched check-off.
func BenchmarkPool_HandOff(b *testing.B) {
	for _, workers := range []int{4, 64, 512} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			src := &instantSource{want: int64(b.N), done: make(chan struct{})}
			p := New("q", func(context.Context, *job.Job) ([]byte, error) { return nil, nil }, src, Options{Workers: workers, Poll: time.Hour})
			ctx, cancel := context.WithCancel(context.Background())
			b.ResetTimer()
			go func() { _ = p.Run(ctx) }()
			<-src.done
			b.StopTimer()
			cancel()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}

// fullSource refuses check-offs as a full disk would: the first refuse
// calls fail as a whole, the next refuse answer ErrDiskFull per outcome;
// refuse < 0 refuses forever.
type fullSource struct {
	*fakeSource
	mu     sync.Mutex
	refuse int
	calls  int
}

func (f *fullSource) Finish(ctx context.Context, done []Done) ([]error, error) {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.mu.Unlock()
	switch {
	case f.refuse < 0 || n <= f.refuse:
		return nil, fmt.Errorf("%w: test", job.ErrDiskFull)
	case n <= 2*f.refuse:
		errs := make([]error, len(done))
		for i := range errs {
			errs[i] = fmt.Errorf("%w: test", job.ErrDiskFull)
		}
		return errs, nil
	}
	return f.fakeSource.Finish(ctx, done)
}

// Ensure that an outcome the full disk refused is recorded once space
// returns, instead of being dropped for a replay.
func TestCompleter_WaitsForSpace(t *testing.T) {
	src := &fullSource{fakeSource: newFakeSource(newJob(1)), refuse: 2}
	p := New("q", func(ctx context.Context, j *job.Job) ([]byte, error) { return nil, nil }, src, Options{Workers: 1, Poll: time.Hour})
	start(t, p)
	if f := src.await(t); f.ticket != 1 || f.o.Kind != Succeeded {
		t.Fatalf("recorded %+v", f)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.calls != 5 {
		t.Fatalf("%d check-off calls, want 2 refused whole, 2 refused per outcome, 1 recorded", src.calls)
	}
}

// Ensure that a pool stopping while the disk stays full does not hang: it
// gives up on the unrecorded outcome after HardStop.
func TestCompleter_AbandonsWhenStoppingOnFullDisk(t *testing.T) {
	src := &fullSource{fakeSource: newFakeSource(newJob(1)), refuse: -1}
	ran := make(chan struct{})
	p := New("q", func(ctx context.Context, j *job.Job) ([]byte, error) { close(ran); return nil, nil }, src,
		Options{Workers: 1, Poll: time.Hour, HardStop: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-ran
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run hung on a full disk")
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.calls < 1 {
		t.Fatal("the outcome was never tried")
	}
	select {
	case f := <-src.outcomes:
		t.Fatalf("recorded %+v on a disk that is always full", f)
	default:
	}
}
