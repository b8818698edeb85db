package job_test

import (
	"context"
	"testing"
	"time"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
	"github.com/ticketq/ticketq/wal"
)

// Ensure that a wall-clock jump of an hour expires no lease of the log,
// while the leases still expire when their time has really passed.
func TestSteadyClock_LeasesSurviveWallJump(t *testing.T) {
	wall := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var mono time.Duration
	clock := job.NewSteadyClock(func() time.Time { return wall }, func() time.Duration { return mono })
	l, err := wal.Open(t.TempDir(), wal.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	subs := make([]job.Submission, 10)
	for i := range subs {
		subs[i] = job.Submission{Payload: []byte(`1`), MaxAttempts: 3}
	}
	if _, err := l.Append(ctx, backend.AppendRequest{Queue: "q", Jobs: subs}); err != nil {
		t.Fatal(err)
	}
	if cr, err := l.Claim(ctx, backend.ClaimRequest{Queue: "q", Max: 10, Visibility: 30 * time.Second}); err != nil || len(cr.Jobs) != 10 {
		t.Fatalf("claim: %d jobs, %v", len(cr.Jobs), err)
	}
	wall = wall.Add(time.Hour)
	wall, mono = wall.Add(time.Second), mono+time.Second
	if n, err := l.ExpireLeases(ctx, 100); err != nil || n != 0 {
		t.Fatalf("after a one-hour wall jump, %d leases expired (%v); want none", n, err)
	}
	wall, mono = wall.Add(30*time.Second), mono+30*time.Second
	if n, err := l.ExpireLeases(ctx, 100); err != nil || n != 10 {
		t.Fatalf("31 s after the claim, %d leases expired (%v); want all 10", n, err)
	}
}
