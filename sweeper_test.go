package ticketq

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type stubClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stubClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stubClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Ensure that the sweeper purges finished jobs past their retention, in
// batches, and keeps everything else.
func TestQueue_Sweep(t *testing.T) {
	clock := &stubClock{now: time.Now()}
	q, err := Open(t.TempDir(), Options{Clock: clock, SweepBatch: 2, RetainSucceeded: time.Hour, RetainDead: 3 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx := context.Background()
	var succeeded, dead []Ticket
	for i := 0; i < 5; i++ {
		r, err := q.Submit(ctx, "q", Submission{Payload: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		succeeded = append(succeeded, r.Ticket)
	}
	r, err := q.Submit(ctx, "q", Submission{Payload: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	dead = append(dead, r.Ticket)
	// Finish them through the backend the way workers would.
	res, err := q.b.Claim(ctx, claimAll("q"))
	if err != nil {
		t.Fatal(err)
	}
	settleAll(t, q, res.Jobs, dead)
	queued, err := q.Submit(ctx, "q", Submission{Payload: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	canceled, err := q.Submit(ctx, "q", Submission{Payload: []byte(`{}`), IdempotencyKey: "once"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Cancel(ctx, canceled.Ticket); err != nil {
		t.Fatal(err)
	}

	if n := q.sweepOnce(ctx); n != 0 {
		t.Fatalf("purged %d fresh jobs", n)
	}
	clock.advance(2 * time.Hour)
	if n := q.sweepOnce(ctx); n != 6 {
		t.Fatalf("purged %d, want the 5 succeeded jobs and the canceled one", n)
	}
	// The canceled job's idempotency key is free again.
	again, err := q.Submit(ctx, "q", Submission{Payload: []byte(`{}`), IdempotencyKey: "once"})
	if err != nil || again.Duplicate || again.Ticket == canceled.Ticket {
		t.Fatalf("key of a purged job: %+v, %v", again, err)
	}
	for _, tk := range succeeded {
		if _, err := q.Status(ctx, tk); !errors.Is(err, ErrNotFound) {
			t.Fatalf("succeeded %s not purged: %v", tk, err)
		}
	}
	if _, err := q.Status(ctx, dead[0]); err != nil {
		t.Fatalf("dead job purged before its retention: %v", err)
	}
	clock.advance(2 * time.Hour)
	if n := q.sweepOnce(ctx); n != 1 {
		t.Fatalf("purged %d, want the dead job", n)
	}
	if j, err := q.Status(ctx, queued.Ticket); err != nil || j.State != Queued {
		t.Fatalf("queued job touched by the sweeper: %+v, %v", j, err)
	}
}
