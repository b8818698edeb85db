package ticketq

import (
	"context"
	"testing"
	"time"
)

// Ensure that many reports of one job cost one write, and that the write
// makes the latest report durable.
func TestQueue_ProgressCoalesced(t *testing.T) {
	q, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx := context.Background()
	if _, err := q.Submit(ctx, "pull", Submission{Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	js, err := q.Lease(ctx, "pull", 1, time.Minute, 0)
	if err != nil || len(js) != 1 {
		t.Fatal(err)
	}
	before, _ := q.b.(interface{ CommitStats() (uint64, uint64) }).CommitStats()
	for i := 0; i <= 100; i++ {
		if err := q.Progress(ctx, js[0].Ticket, js[0].Lease, i, "step"); err != nil {
			t.Fatal(err)
		}
	}
	q.flushProgress(ctx)
	after, _ := q.b.(interface{ CommitStats() (uint64, uint64) }).CommitStats()
	if after-before != 1 {
		t.Fatalf("101 reports cost %d commits, want 1", after-before)
	}
	j, err := q.b.Get(ctx, js[0].Ticket)
	if err != nil || j.Progress != 100 {
		t.Fatalf("stored progress = %d, %v", j.Progress, err)
	}
}
