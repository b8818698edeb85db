package dispatcher

import (
	"context"
	"sync"
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
	src := &batchSource{fakeSource: newFakeSource(jobs[0]), holding: make(chan struct{}), release: make(chan struct{})}
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
