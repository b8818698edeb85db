package dispatcher

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ticketq/ticketq/internal/ratelimit"
	"github.com/ticketq/ticketq/job"
)

// Ensure that SetWorkers raises the number of jobs run at once while the
// pool runs, and lowers it as jobs finish.
func TestPool_SetWorkers(t *testing.T) {
	var jobs []*job.Job
	for i := 1; i <= 6; i++ {
		jobs = append(jobs, newJob(job.Ticket(i)))
	}
	src := newFakeSource(jobs...)
	started := make(chan job.Ticket, 10)
	release := make(chan struct{})
	p := New("q", func(ctx context.Context, j *job.Job) ([]byte, error) {
		started <- j.Ticket
		<-release
		return nil, nil
	}, src, Options{Workers: 1, Poll: time.Hour})
	start(t, p)
	<-started
	p.SetWorkers(3)
	<-started
	<-started
	if n := p.InFlight(); n != 3 {
		t.Fatalf("in flight = %d after raising workers to 3", n)
	}
	select {
	case tk := <-started:
		t.Fatalf("job %s started beyond 3 workers", tk)
	default:
	}
	p.SetWorkers(1)
	src.mu.Lock()
	src.record = true
	src.mu.Unlock()
	close(release)
	for range 6 {
		src.await(t)
	}
	// With one worker, every claim after the drop asks for one job at most.
	src.mu.Lock()
	defer src.mu.Unlock()
	if len(src.asks) == 0 {
		t.Fatal("no claim after lowering the workers")
	}
	for _, n := range src.asks {
		if n > 1 {
			t.Fatalf("claims after lowering workers to 1 asked for %v", src.asks)
		}
	}
}

// Ensure that a shared rate limiter bounds how many jobs start per second.
func TestPool_RateLimit(t *testing.T) {
	var jobs []*job.Job
	for i := 1; i <= 40; i++ {
		jobs = append(jobs, newJob(job.Ticket(i)))
	}
	src := newFakeSource(jobs...)
	var mu sync.Mutex
	var starts []time.Time
	p := New("q", func(ctx context.Context, j *job.Job) ([]byte, error) {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		return nil, nil
	}, src, Options{Workers: 8, Poll: time.Hour, Limiter: ratelimit.New(50, 5)})
	start(t, p)
	for range 40 {
		src.await(t)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	// 40 starts at 50/s with a burst of 5 need at least (40-5)/50 = 0.7 s.
	if span := starts[len(starts)-1].Sub(starts[0]); span < 650*time.Millisecond {
		t.Fatalf("40 starts took %s; the limit of 50/s allows no less than 700ms", span)
	}
	for i := range starts {
		n := 0
		for j := i; j < len(starts) && starts[j].Sub(starts[i]) < 200*time.Millisecond; j++ {
			n++
		}
		if n > 50*2/10+5+1 { // rate·window + burst, +1 for timer slop at the window edge
			t.Fatalf("%d starts within 200ms", n)
		}
	}
}

// Ensure that a handler's progress report reaches the source.
func TestPool_Progress(t *testing.T) {
	src := newFakeSource(newJob(3))
	p := New("q", func(ctx context.Context, j *job.Job) ([]byte, error) {
		return nil, j.ReportProgress(40, "halfway")
	}, src, Options{Workers: 1, Poll: time.Hour})
	start(t, p)
	if f := src.await(t); f.o.Kind != Succeeded {
		t.Fatalf("outcome = %+v", f.o)
	}
	if got := <-src.progress; got != "3:40:halfway" {
		t.Fatalf("progress = %q", got)
	}
}
