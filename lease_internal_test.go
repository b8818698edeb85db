package ticketq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ticketq/ticketq/backend"
)

func openQueue(t *testing.T, opts Options) *Queue {
	t.Helper()
	q, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// Ensure that leasing from any number of invented queue names leaves no
// state behind: memory must not grow with the names clients send.
func TestQueue_Lease_NoStateForUnknownQueues(t *testing.T) {
	q := openQueue(t, Options{})
	ctx := context.Background()
	for i := range 500 {
		if _, err := q.Lease(ctx, fmt.Sprintf("nope-%d", i), 1, time.Minute, 0); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := q.Lease(short, "waited-on", 1, time.Minute, time.Second); err != nil {
		t.Fatal(err)
	}
	q.readyMu.Lock()
	waits := len(q.readyCh)
	q.readyMu.Unlock()
	q.mu.Lock()
	buckets := len(q.limiters)
	q.mu.Unlock()
	if waits != 0 || buckets != 0 {
		t.Fatalf("after leasing from 501 unknown queues: %d wake-ups and %d rate buckets kept", waits, buckets)
	}
}

// Ensure that a rate bucket made by a lease before Configure follows the
// rate Configure sets.
func TestQueue_Lease_BucketFollowsConfigure(t *testing.T) {
	q := openQueue(t, Options{Queue: QueueOptions{Rate: 1000}})
	ctx := context.Background()
	if _, err := q.Lease(ctx, "pull", 1, time.Minute, 0); err != nil { // makes the bucket at 1000/s
		t.Fatal(err)
	}
	if err := q.Configure("pull", QueueOptions{Rate: 1, Burst: 1}); err != nil {
		t.Fatal(err)
	}
	subs := make([]Submission, 5)
	for i := range subs {
		subs[i] = Submission{Payload: []byte(`1`)}
	}
	if _, err := q.SubmitBatch(ctx, "pull", subs); err != nil {
		t.Fatal(err)
	}
	js, err := q.Lease(ctx, "pull", 5, time.Minute, 0)
	if err != nil || len(js) != 1 {
		t.Fatalf("leased %d at 1/s with a burst of 1 (%v)", len(js), err)
	}
}

// gatedBackend holds SetProgress until released, and can run a hook after
// each claim.
type gatedBackend struct {
	backend.Backend
	inProgress chan struct{}
	release    chan struct{}
	afterClaim func()
}

func (g *gatedBackend) SetProgress(ctx context.Context, p []backend.Progress) ([]error, error) {
	if g.inProgress != nil {
		close(g.inProgress)
		<-g.release
	}
	return g.Backend.SetProgress(ctx, p)
}

func (g *gatedBackend) Claim(ctx context.Context, req backend.ClaimRequest) (backend.ClaimResult, error) {
	res, err := g.Backend.Claim(ctx, req)
	if g.afterClaim != nil {
		g.afterClaim()
	}
	return res, err
}

// Ensure that an ack racing with a progress flush still stores the last
// report: the flush keeps it buffered until its write is done.
func TestQueue_Progress_FlushRacesSettle(t *testing.T) {
	g := &gatedBackend{inProgress: make(chan struct{}), release: make(chan struct{})}
	q := openQueue(t, Options{wrap: func(b backend.Backend) backend.Backend { g.Backend = b; return g }})
	ctx := context.Background()
	if _, err := q.Submit(ctx, "pull", Submission{Payload: []byte(`1`)}); err != nil {
		t.Fatal(err)
	}
	js, err := q.Lease(ctx, "pull", 1, time.Minute, 0)
	if err != nil || len(js) != 1 {
		t.Fatal(err)
	}
	if err := q.Progress(ctx, js[0].Ticket, js[0].Lease, 100, "done"); err != nil {
		t.Fatal(err)
	}
	flushed := make(chan struct{})
	go func() { q.flushProgress(ctx); close(flushed) }()
	<-g.inProgress // the flush has read the report and waits to write it
	if _, err := q.Ack(ctx, js[0].Ticket, js[0].Lease, nil); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	<-flushed
	j, err := q.b.Get(ctx, js[0].Ticket)
	if err != nil || j.Progress != 100 || j.ProgressMessage != "done" {
		t.Fatalf("after ack during a flush: progress %d %q (%v)", j.Progress, j.ProgressMessage, err)
	}
}

// Ensure that jobs claimed for a lease request whose caller left meanwhile
// are given back at once, without an attempt charged, instead of staying
// leased to nobody until their visibility passes.
func TestQueue_Lease_CallerGone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	q := openQueue(t, Options{wrap: func(b backend.Backend) backend.Backend {
		return &gatedBackend{Backend: b, afterClaim: cancel}
	}})
	r, err := q.Submit(context.Background(), "pull", Submission{Payload: []byte(`1`)})
	if err != nil {
		t.Fatal(err)
	}
	if js, err := q.Lease(ctx, "pull", 1, time.Hour, 0); !errors.Is(err, context.Canceled) || len(js) != 0 {
		t.Fatalf("lease with the caller gone = %d jobs, %v", len(js), err)
	}
	j, err := q.Status(context.Background(), r.Ticket)
	if err != nil || j.State != Queued || j.Interrupted != 1 || j.Failures() != 0 {
		t.Fatalf("job after the abandoned lease = %+v, %v", j, err)
	}
}

// Ensure that leases expire while the queue is open even if Run never runs
// (an embedder serving only pull queues).
func TestQueue_Lease_ExpiresWithoutRun(t *testing.T) {
	q := openQueue(t, Options{})
	ctx := context.Background()
	r, err := q.Submit(ctx, "pull", Submission{Payload: []byte(`1`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Lease(ctx, "pull", 1, time.Second, 0); err != nil {
		t.Fatal(err)
	}
	js, err := q.Lease(ctx, "pull", 1, time.Minute, 10*time.Second)
	if err != nil || len(js) != 1 || js[0].Ticket != r.Ticket || js[0].Attempt != 2 {
		t.Fatalf("re-lease without Run = %+v, %v", js, err)
	}
}

// Ensure that a submit wakes a lease that is already waiting (the poll is
// 30 s; only the wake-up can end it sooner). The submit is made after the
// lease's claim found nothing, so the claim cannot be what finds the job.
func TestQueue_Lease_WakesParkedPoll(t *testing.T) {
	claimed := make(chan struct{})
	var once sync.Once
	q := openQueue(t, Options{wrap: func(b backend.Backend) backend.Backend {
		return &gatedBackend{Backend: b, afterClaim: func() { once.Do(func() { close(claimed) }) }}
	}})
	ctx := context.Background()
	got := make(chan []*Job, 1)
	go func() {
		js, _ := q.Lease(ctx, "pull", 1, time.Minute, 30*time.Second)
		got <- js
	}()
	<-claimed
	r, err := q.Submit(ctx, "pull", Submission{Payload: []byte(`1`)})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case js := <-got:
		if len(js) != 1 || js[0].Ticket != r.Ticket {
			t.Fatalf("woken lease got %+v", js)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the submit did not wake the waiting lease")
	}
}
