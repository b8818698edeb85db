package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/httpapi"
	"github.com/ticketq/ticketq/job"
)

// echo is an in-process queue whose handler returns the payload.
func echo(t *testing.T) func(q *ticketq.Queue) {
	return func(q *ticketq.Queue) {
		must(t, q.Handle("echo", func(ctx context.Context, j *ticketq.Job) ([]byte, error) { return j.Payload, nil }, ticketq.QueueOptions{}))
	}
}

// Ensure that New accepts http and https URLs, with or without a path
// prefix, and refuses anything else.
func TestNew(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:8080", "https://tq.example.com/", "http://h/prefix/"} {
		if _, err := client.New(u, client.Options{}); err != nil {
			t.Errorf("New(%q): %v", u, err)
		}
	}
	for _, u := range []string{"", "127.0.0.1:8080", "ftp://h", "http://", "http://h/?x=1", "http://u:p@h", "http://h/#f", "http://h:badport"} {
		if _, err := client.New(u, client.Options{}); err == nil {
			t.Errorf("New(%q) accepted it", u)
		}
	}
}

// Ensure that Submit answers the receipt, and a repeated idempotency key
// the original ticket marked duplicate.
func TestClient_Submit(t *testing.T) {
	tb := setup(t, nil)
	ctx := context.Background()
	s := client.Submission{Payload: json.RawMessage(`{"to":"ada"}`), IdempotencyKey: "order-42", Priority: 5, Delay: time.Hour, MaxAttempts: 3, Timeout: time.Minute}
	r, err := tb.c.Submit(ctx, "emails", s)
	must(t, err)
	if r.Ticket == 0 || r.Queue != "emails" || r.State != job.Queued || r.Duplicate {
		t.Fatalf("receipt = %+v", r)
	}
	again, err := tb.c.Submit(ctx, "emails", s)
	must(t, err)
	if again.Ticket != r.Ticket || !again.Duplicate {
		t.Fatalf("repeat = %+v, want ticket %s duplicate", again, r.Ticket)
	}
	j := tb.status(t, r.Ticket)
	if string(j.Payload) != `{"to":"ada"}` || j.Priority != 5 || j.MaxAttempts != 3 || j.Timeout != time.Minute || j.IdempotencyKey != "order-42" || j.RunAt.Sub(j.CreatedAt) < 59*time.Minute {
		t.Fatalf("stored job = %+v", j)
	}
	runAt := time.Now().Add(time.Hour).Truncate(time.Second)
	r2, err := tb.c.Submit(ctx, "emails", client.Submission{RunAt: runAt})
	must(t, err)
	if j := tb.status(t, r2.Ticket); !j.RunAt.Equal(runAt) || string(j.Payload) != "null" {
		t.Fatalf("run_at job = %+v, want run_at %s and payload null", j, runAt)
	}
}

// Ensure that SubmitBatch stores every job and answers a receipt each.
func TestClient_SubmitBatch(t *testing.T) {
	tb := setup(t, nil)
	rs, err := tb.c.SubmitBatch(context.Background(), "batch", []client.Submission{
		{Payload: json.RawMessage(`1`)}, {Payload: json.RawMessage(`2`), Priority: 10}, {Payload: json.RawMessage(`3`), IdempotencyKey: "k"},
	})
	must(t, err)
	if len(rs) != 3 {
		t.Fatalf("receipts = %+v", rs)
	}
	for i, r := range rs {
		if r.Ticket == 0 || r.Queue != "batch" || r.State != job.Queued || r.Duplicate {
			t.Errorf("receipt %d = %+v", i, r)
		}
		if j := tb.status(t, r.Ticket); string(j.Payload) != string(rune('1'+i)) {
			t.Errorf("job %d payload = %s", i, j.Payload)
		}
	}
	if _, err := tb.c.SubmitBatch(context.Background(), "batch", nil); !errors.Is(err, job.ErrInvalid) {
		t.Fatalf("empty batch: %v", err)
	}
}

// Ensure that Wait long-polls until the job is final and returns it with
// its result, and that a Wait cut short by its context returns the job as
// last seen with the context's error.
func TestClient_Wait(t *testing.T) {
	tb := setup(t, echo(t))
	tk := tb.submit(t, "echo", `{"n":1}`)
	j := tb.waitFinal(t, tk)
	if j.State != job.Succeeded || string(j.Result) != `{"n":1}` || j.Attempts != 1 || j.FinishedAt.IsZero() || len(j.Errors) != 0 {
		t.Fatalf("waited job = %+v", j)
	}

	held := tb.submit(t, "held", `2`)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	j, err := tb.c.Wait(ctx, held, time.Minute)
	if !errors.Is(err, context.DeadlineExceeded) || j.Ticket != held || j.State != job.Queued {
		t.Fatalf("Wait past its deadline = %+v, %v", j, err)
	}
	if j.Result != nil {
		t.Fatalf("result of an unfinished job = %q, want nil", j.Result)
	}
}

// Ensure that Cancel cancels a queued job and Retry puts it back in line.
func TestClient_CancelRetry(t *testing.T) {
	tb := setup(t, nil)
	ctx := context.Background()
	tk := tb.submit(t, "held", `1`)
	j, err := tb.c.Cancel(ctx, tk)
	must(t, err)
	if j.State != job.Canceled || j.Ticket != tk {
		t.Fatalf("canceled job = %+v", j)
	}
	j, err = tb.c.Retry(ctx, tk)
	must(t, err)
	if j.State != job.Queued {
		t.Fatalf("retried job = %+v", j)
	}
}

// Ensure that List pages through a queue by state, with Next zero on the
// last page.
func TestClient_List(t *testing.T) {
	tb := setup(t, nil)
	ctx := context.Background()
	var tickets []job.Ticket
	for range 5 {
		tickets = append(tickets, tb.submit(t, "listed", `1`))
	}
	_, err := tb.c.Cancel(ctx, tickets[1])
	must(t, err)
	var got []job.Ticket
	opts := client.ListOptions{State: job.Queued, Limit: 2}
	for pages := 0; ; pages++ {
		p, err := tb.c.List(ctx, "listed", opts)
		must(t, err)
		for _, j := range p.Jobs {
			if j.State != job.Queued || j.Queue != "listed" || j.Payload != nil {
				t.Fatalf("listed job = %+v", j)
			}
			got = append(got, j.Ticket)
		}
		if p.Next == 0 {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		opts.After = p.Next
	}
	want := []job.Ticket{tickets[0], tickets[2], tickets[3], tickets[4]}
	if len(got) != len(want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("listed %v, want %v", got, want)
		}
	}
	all, err := tb.c.List(ctx, "listed", client.ListOptions{})
	must(t, err)
	if len(all.Jobs) != 5 || all.Next != 0 {
		t.Fatalf("unfiltered list = %d jobs, next %s", len(all.Jobs), all.Next)
	}
}

// Ensure that Queues, Queue, Pause, Resume and UpdateLimits answer the
// queue's stats, and that a patch sets and clears overrides.
func TestClient_Queues(t *testing.T) {
	tb := setup(t, nil)
	ctx := context.Background()
	tb.submit(t, "a", `1`)
	tb.submit(t, "b", `1`)
	qs, err := tb.c.Queues(ctx)
	must(t, err)
	if len(qs) != 2 || qs[0].Queue != "a" || qs[1].Queue != "b" || qs[0].Counts[job.Queued] != 1 || qs[0].Counts[job.Dead] != 0 || len(qs[0].Counts) != 5 {
		t.Fatalf("queues = %+v", qs)
	}
	st, err := tb.c.Pause(ctx, "a")
	must(t, err)
	if !st.Paused || st.Queue != "a" {
		t.Fatalf("after pause = %+v", st)
	}
	st, err = tb.c.Resume(ctx, "a")
	must(t, err)
	if st.Paused {
		t.Fatalf("after resume = %+v", st)
	}
	st, err = tb.c.UpdateLimits(ctx, "a", client.LimitsPatch{Workers: client.Set(8), MaxLeases: client.Set(10), Rate: client.Set(2.5), Burst: client.Set(3), MaxQueued: client.Set(50)})
	must(t, err)
	if st.Limits != (client.Limits{Workers: 8, MaxLeases: 10, Rate: 2.5, Burst: 3, MaxQueued: 50}) || st.Overrides.Workers == nil || *st.Overrides.Workers != 8 ||
		*st.Overrides.Rate != 2.5 || st.Overrides.MaxQueued == nil || *st.Overrides.MaxQueued != 50 || st.Kind != "pull" {
		t.Fatalf("after set: limits %+v, overrides %+v", st.Limits, st.Overrides)
	}
	st, err = tb.c.UpdateLimits(ctx, "a", client.LimitsPatch{Workers: client.Clear[int](), Rate: client.Clear[float64]()})
	must(t, err)
	if st.Overrides.Workers != nil || st.Overrides.Rate != nil || st.Overrides.Burst == nil || *st.Overrides.Burst != 3 || st.Limits.Workers != ticketq.DefaultWorkers {
		t.Fatalf("after clear: limits %+v, overrides %+v", st.Limits, st.Overrides)
	}
	got, err := tb.c.Queue(ctx, "a")
	must(t, err)
	if got.Limits != st.Limits || got.OldestQueuedAge <= 0 || got.Counts[job.Queued] != 1 {
		t.Fatalf("Queue = %+v, want limits %+v and a waiting job", got, st.Limits)
	}
}

// Ensure that a pull worker's calls work end to end: lease, progress,
// extend, ack, and nack with retry_in and permanent.
func TestClient_Lease(t *testing.T) {
	tb := setup(t, nil)
	ctx := context.Background()
	r, err := tb.c.Submit(ctx, "pull", client.Submission{Payload: json.RawMessage(`{"n":1}`), IdempotencyKey: "k"})
	must(t, err)
	lj := tb.lease(t, "pull")
	if lj.Ticket != r.Ticket || lj.Queue != "pull" || string(lj.Payload) != `{"n":1}` || lj.Attempt != 1 || lj.IdempotencyKey != "k" || lj.Lease == "" || lj.LeaseExpiresAt.IsZero() {
		t.Fatalf("leased job = %+v", lj)
	}
	must(t, tb.c.Progress(ctx, lj.Ticket, lj.Lease, 40, "halfway"))
	if j := tb.status(t, lj.Ticket); j.State != job.Running || j.Progress != 40 || j.ProgressMessage != "halfway" || j.ProgressAt.IsZero() {
		t.Fatalf("status while leased = %+v", j)
	}
	ext, err := tb.c.Extend(ctx, lj.Ticket, lj.Lease, 5*time.Minute)
	must(t, err)
	if !ext.LeaseExpiresAt.After(lj.LeaseExpiresAt) {
		t.Fatalf("extend moved the deadline from %s to %s", lj.LeaseExpiresAt, ext.LeaseExpiresAt)
	}
	done, err := tb.c.Ack(ctx, lj.Ticket, lj.Lease, json.RawMessage(`{"ok":true}`))
	must(t, err)
	if done.State != job.Succeeded || string(done.Result) != `{"ok":true}` {
		t.Fatalf("acked job = %+v", done)
	}

	tk := tb.submit(t, "pull", `2`)
	lj = tb.lease(t, "pull")
	before := time.Now()
	n, err := tb.c.Nack(ctx, tk, lj.Lease, client.NackOptions{Error: "disk full", RetryIn: time.Hour})
	must(t, err)
	if n.State != job.Queued || n.LastError != "disk full" || n.RunAt.Before(before.Add(time.Hour)) {
		t.Fatalf("nacked job = %+v", n)
	}
	empty, err := tb.c.Lease(ctx, "pull", client.LeaseOptions{Max: 5, Wait: 20 * time.Millisecond})
	must(t, err)
	if len(empty) != 0 {
		t.Fatalf("leased %+v before its retry_in", empty)
	}

	tk = tb.submit(t, "pull", `3`)
	lj = tb.lease(t, "pull")
	dead, err := tb.c.Nack(ctx, tk, lj.Lease, client.NackOptions{Error: "bad input", Permanent: true})
	must(t, err)
	if dead.State != job.Dead {
		t.Fatalf("permanently nacked job = %+v", dead)
	}
	tk = tb.submit(t, "pull", `4`)
	lj = tb.lease(t, "pull")
	now, err := tb.c.Nack(ctx, tk, lj.Lease, client.NackOptions{RetryIn: client.RetryNow})
	must(t, err)
	if now.State != job.Queued || now.RunAt.After(time.Now()) {
		t.Fatalf("nacked with RetryNow = %+v", now)
	}
}

// Ensure that the probes answer nil on a ready server, and that Ready
// reports a recovering one as an error matching job.ErrClosed.
func TestClient_Healthy(t *testing.T) {
	tb := setup(t, nil)
	ctx := context.Background()
	must(t, tb.c.Healthy(ctx))
	must(t, tb.c.Ready(ctx))

	srv := httptest.NewServer(httpapi.New(nil, httpapi.Options{}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, client.Options{})
	must(t, c.Healthy(ctx))
	err := c.Ready(ctx)
	var apiErr *client.APIError
	if !errors.Is(err, job.ErrClosed) || !errors.As(err, &apiErr) || apiErr.Status != 503 || apiErr.Code != "recovering" {
		t.Fatalf("Ready while recovering: %v", err)
	}
}
