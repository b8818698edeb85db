package client_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/job"
)

// Ensure that a lease answer carries the job's attempt budget and timeout,
// and that Release gives the job back without charging an attempt.
func TestClient_Release(t *testing.T) {
	tb := setup(t, nil)
	ctx := context.Background()
	r, err := tb.c.Submit(ctx, "pull", client.Submission{Payload: []byte(`1`), MaxAttempts: 3, Timeout: 90 * time.Second})
	must(t, err)
	lj := tb.lease(t, "pull")
	if lj.Ticket != r.Ticket || lj.MaxAttempts != 3 || lj.Timeout != 90*time.Second {
		t.Fatalf("leased job = %+v", lj)
	}
	j, err := tb.c.Release(ctx, lj.Ticket, lj.Lease)
	if err != nil || j.State != job.Queued || j.Interrupted != 1 || j.Attempts != 1 {
		t.Fatalf("release = %+v, %v", j, err)
	}
	if _, err := tb.c.Release(ctx, lj.Ticket, lj.Lease); !errors.Is(err, job.ErrLeaseMismatch) {
		t.Fatalf("second release: %v", err)
	}
	again := tb.lease(t, "pull")
	if again.Attempt != 2 || again.Lease == lj.Lease {
		t.Fatalf("re-lease = %+v", again)
	}
}

// Ensure that the Worker ends a run at the job's timeout, as the server does
// for its own runs, and the failure says it timed out.
func TestWorker_Timeout(t *testing.T) {
	tb := setup(t, nil)
	ctx := context.Background()
	r, err := tb.c.Submit(ctx, "pull", client.Submission{Payload: []byte(`1`), MaxAttempts: 1, Timeout: time.Second})
	must(t, err)
	causes := make(chan error, 1)
	stop := tb.startWorker(t, &client.Worker{Queue: "pull", Handler: func(ctx context.Context, j *job.Job) ([]byte, error) {
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return nil, ctx.Err()
	}})
	defer stop()
	if cause := recv(t, causes, "the run to time out"); !errors.Is(cause, job.ErrTimeout) {
		t.Fatalf("cause = %v, want job.ErrTimeout", cause)
	}
	j := tb.waitFinal(t, r.Ticket)
	if j.State != job.Dead || !strings.Contains(j.LastError, "timed out after 1s") {
		t.Fatalf("job = %+v", j)
	}
}

// Ensure that the report a handler makes just before returning reaches the
// job, for every job (a send in flight is not cut off by the return).
func TestWorker_LastProgressKept(t *testing.T) {
	tb := setup(t, nil)
	var tks []job.Ticket
	for range 30 {
		tks = append(tks, tb.submit(t, "pull", `1`))
	}
	stop := tb.startWorker(t, &client.Worker{Queue: "pull", Concurrency: 4, Handler: func(ctx context.Context, j *job.Job) ([]byte, error) {
		_ = j.ReportProgress(10, "started")
		return nil, j.ReportProgress(100, "done")
	}})
	defer stop()
	for _, tk := range tks {
		if j := tb.waitFinal(t, tk); j.State != job.Succeeded || j.Progress != 100 || j.ProgressMessage != "done" {
			t.Fatalf("job %s = state %s, progress %d %q", tk, j.State, j.Progress, j.ProgressMessage)
		}
	}
}

// Ensure that Run returns even when a handler ignores the cancel of its
// context: after Grace and HardStop it abandons the handler.
func TestWorker_HardStop(t *testing.T) {
	tb := setup(t, nil)
	tb.submit(t, "pull", `1`)
	started, stuck := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	// The abandoned handler outlives the test; its logs must not reach t.
	stop := tb.startWorker(t, &client.Worker{Queue: "pull", Grace: 20 * time.Millisecond, HardStop: 50 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
		Handler: func(ctx context.Context, j *job.Job) ([]byte, error) {
			close(started)
			<-stuck // ignores ctx
			return nil, nil
		}})
	<-started
	returned := make(chan error, 1)
	go func() { returned <- stop() }()
	select {
	case err := <-returned:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return although its handler was abandoned")
	}
}
