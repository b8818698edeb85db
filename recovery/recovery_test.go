package recovery_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/backend/backendtest"
	"github.com/ticketq/ticketq/job"
	"github.com/ticketq/ticketq/recovery"
	"github.com/ticketq/ticketq/wal"
)

// counting wraps a backend and counts the jobs every read hands out, to
// prove recovery reads only what is unfinished.
type counting struct {
	backend.Backend
	jobsRead int
}

func (c *counting) Running(ctx context.Context, q string, after job.Ticket, limit int) ([]*job.Job, error) {
	js, err := c.Backend.Running(ctx, q, after, limit)
	c.jobsRead += len(js)
	return js, err
}

func (c *counting) List(ctx context.Context, req backend.ListRequest) (backend.ListResult, error) {
	r, err := c.Backend.List(ctx, req)
	c.jobsRead += len(r.Jobs)
	return r, err
}

func (c *counting) Get(ctx context.Context, t job.Ticket) (*job.Job, error) {
	c.jobsRead++
	return c.Backend.Get(ctx, t)
}

// crashed builds the state a crash leaves: in queue "a", 2000 finished jobs,
// 5 queued and 3 running; in queue "b", 1 running. The log is closed without
// settling the running jobs, as a killed process would leave it.
func crashed(t *testing.T) (dir string, running []job.Ticket) {
	t.Helper()
	dir = t.TempDir()
	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	add := func(q string, n int) {
		subs := make([]job.Submission, n)
		for i := range subs {
			subs[i] = job.Submission{MaxAttempts: 3, Payload: []byte(`{}`)}
		}
		if _, err := l.Append(ctx, backend.AppendRequest{Queue: q, Jobs: subs}); err != nil {
			t.Fatal(err)
		}
	}
	claim := func(q string, n int) []*job.Job {
		res, err := l.Claim(ctx, backend.ClaimRequest{Queue: q, Max: n})
		if err != nil || len(res.Jobs) != n {
			t.Fatalf("claim %d from %s: %d, %v", n, q, len(res.Jobs), err)
		}
		return res.Jobs
	}
	add("a", 2000)
	var settle []backend.Settlement
	for _, j := range claim("a", 2000) {
		settle = append(settle, backend.Settlement{Ticket: j.Ticket, Lease: j.Lease, Outcome: backend.Succeeded})
	}
	if _, err := l.Settle(ctx, settle); err != nil {
		t.Fatal(err)
	}
	add("a", 8)
	add("b", 1)
	for _, j := range append(claim("a", 3), claim("b", 1)...) {
		running = append(running, j.Ticket)
	}
	return dir, running
}

// Ensure that every running job goes back to queued with its interruption
// recorded, and that recovery reads only the running jobs.
func TestRun_RequeuesRunning(t *testing.T) {
	dir, running := crashed(t)
	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var logs bytes.Buffer
	c := &counting{Backend: l}
	rep, err := recovery.Run(context.Background(), c, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Recovered != 4 || rep.Queues != 2 || rep.Corrected != 0 {
		t.Fatalf("report = %+v", rep)
	}
	if c.jobsRead != 4 {
		t.Fatalf("recovery read %d jobs; it must read only the 4 running ones, not the history", c.jobsRead)
	}
	for _, tk := range running {
		j, err := l.Get(context.Background(), tk)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != job.Queued || j.Interrupted != 1 || j.Attempt != 1 || j.Lease != "" ||
			len(j.Errors) != 1 || !strings.Contains(j.Errors[0].Error, recovery.Reason) {
			t.Fatalf("recovered job = %+v", j)
		}
	}
	st, err := l.Stats(context.Background(), "a")
	if err != nil || st.Counts[job.Queued] != 8 || st.Counts[job.Running] != 0 || st.Counts[job.Succeeded] != 2000 {
		t.Fatalf("stats after recovery = %+v, %v", st, err)
	}
	if !strings.Contains(logs.String(), `"recovered":4`) || !strings.Contains(logs.String(), "recovery done") {
		t.Fatalf("summary not logged: %s", logs.String())
	}
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
}

// Ensure that a second recovery finds nothing left to do.
func TestRun_Idempotent(t *testing.T) {
	dir, _ := crashed(t)
	for i, want := range []int{4, 0} {
		l, err := wal.Open(dir, wal.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := recovery.Run(context.Background(), l, zerolog.Nop())
		l.Close()
		if err != nil || rep.Recovered != want {
			t.Fatalf("run %d: %+v, %v", i, rep, err)
		}
	}
}

// Ensure that recovery pages through more running jobs than one page holds.
func TestRun_ManyRunning(t *testing.T) {
	dir := t.TempDir()
	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	subs := make([]job.Submission, 2500)
	for i := range subs {
		subs[i] = job.Submission{MaxAttempts: 1, Payload: []byte(fmt.Sprint(i))}
	}
	if _, err := l.Append(ctx, backend.AppendRequest{Queue: "q", Jobs: subs}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Claim(ctx, backend.ClaimRequest{Queue: "q", Max: 2500}); err != nil {
		t.Fatal(err)
	}
	rep, err := recovery.Run(ctx, l, zerolog.Nop())
	if err != nil || rep.Recovered != 2500 {
		t.Fatalf("report = %+v, %v", rep, err)
	}
	st, _ := l.Stats(ctx, "q")
	if st.Counts[job.Queued] != 2500 {
		t.Fatalf("queued = %d", st.Counts[job.Queued])
	}
}

// Ensure that a store failure stops recovery with an error that says where.
func TestRun_StoreClosed(t *testing.T) {
	dir, _ := crashed(t)
	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := recovery.Run(context.Background(), l, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "recovery:") {
		t.Fatalf("recovery of a closed store: %v", err)
	}
}

// Ensure that pull leases survive recovery (their workers live elsewhere)
// while in-process runs are requeued.
func TestRun_KeepsLeases(t *testing.T) {
	dir := t.TempDir()
	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	if _, err := l.Append(ctx, backend.AppendRequest{Queue: "q", Jobs: []job.Submission{{MaxAttempts: 1}, {MaxAttempts: 1}}}); err != nil {
		t.Fatal(err)
	}
	leased, err := l.Claim(ctx, backend.ClaimRequest{Queue: "q", Max: 1, Visibility: time.Minute})
	if err != nil || len(leased.Jobs) != 1 {
		t.Fatal(err)
	}
	if _, err := l.Claim(ctx, backend.ClaimRequest{Queue: "q", Max: 1}); err != nil {
		t.Fatal(err)
	}
	rep, err := recovery.Run(ctx, l, zerolog.Nop())
	if err != nil || rep.Recovered != 1 || rep.Leased != 1 {
		t.Fatalf("report = %+v, %v", rep, err)
	}
	j, _ := l.Get(ctx, leased.Jobs[0].Ticket)
	if j.State != job.Running || j.Lease != leased.Jobs[0].Lease || j.LeaseExpiresAt.Before(leased.Jobs[0].LeaseExpiresAt) {
		t.Fatalf("lease after recovery = %+v", j)
	}
}

// Ensure that a restart after downtime longer than a lease's visibility
// does not charge the lease: recovery starts it over from now.
func TestRun_RenewsLeasesAfterDowntime(t *testing.T) {
	clock := backendtest.NewClock()
	l, err := wal.Open(t.TempDir(), wal.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	if _, err := l.Append(ctx, backend.AppendRequest{Queue: "q", Jobs: []job.Submission{{MaxAttempts: 1}}}); err != nil {
		t.Fatal(err)
	}
	res, err := l.Claim(ctx, backend.ClaimRequest{Queue: "q", Max: 1, Visibility: 30 * time.Second})
	if err != nil || len(res.Jobs) != 1 {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Minute) // down for five minutes
	rep, err := recovery.Run(ctx, l, zerolog.Nop())
	if err != nil || rep.Leased != 1 {
		t.Fatalf("report = %+v, %v", rep, err)
	}
	if n, err := l.ExpireLeases(ctx, 10); err != nil || n != 0 {
		t.Fatalf("expired %d right after the restart (%v); the worker gets a full visibility to check in", n, err)
	}
	j, _ := l.Get(ctx, res.Jobs[0].Ticket)
	if j.State != job.Running || !j.LeaseExpiresAt.Equal(clock.Now().Add(30*time.Second)) {
		t.Fatalf("lease after recovery = %+v", j)
	}
}
