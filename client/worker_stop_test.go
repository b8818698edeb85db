package client_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/job"
)

// blockingHandler signals when a run starts, then waits for its context to
// end and reports the cause. It returns a result, so that a test can see
// that the result of a run that lost its job is dropped.
type blockingHandler struct {
	started chan job.Job
	causes  chan error
}

func newBlockingHandler() *blockingHandler {
	return &blockingHandler{started: make(chan job.Job, 10), causes: make(chan error, 10)}
}

func (h *blockingHandler) handle(ctx context.Context, j *job.Job) ([]byte, error) {
	h.started <- *j
	<-ctx.Done()
	h.causes <- context.Cause(ctx)
	return []byte(`"result of a dropped run"`), nil
}

// Ensure that canceling a running job through the API cancels the
// handler's context with cause job.ErrJobCanceled within a few heartbeats,
// and that the run is neither acked nor nacked.
func TestWorker_Cancel(t *testing.T) {
	tb := setup(t, pullQueue(t, "pull"))
	tk := tb.submit(t, "pull", `1`)
	h := newBlockingHandler()
	stop := tb.startWorker(t, &client.Worker{Queue: "pull", Visibility: time.Second, Handler: h.handle})
	recv(t, h.started, "the run to start")
	_, err := tb.c.Cancel(context.Background(), tk)
	must(t, err)
	if cause := recv(t, h.causes, "the handler's context to end"); !errors.Is(cause, job.ErrJobCanceled) {
		t.Fatalf("cause = %v, want job.ErrJobCanceled", cause)
	}
	must(t, stop())
	if n := tb.settles(tk); n != 0 {
		t.Fatalf("%d acks or nacks sent for a canceled job", n)
	}
	if j := tb.status(t, tk); j.State != job.Canceled || j.Result != nil {
		t.Fatalf("job = %+v", j)
	}
}

// Ensure that a run whose lease expired (its heartbeats did not get
// through) is stopped with cause ErrLeaseLost and not settled, and that
// the job runs again.
func TestWorker_LeaseLost(t *testing.T) {
	tb := setup(t, pullQueue(t, "pull"))
	tk := tb.submit(t, "pull", `1`)
	extendKey := "POST /v1/jobs/" + tk.String() + "/extend"
	h := newBlockingHandler()
	tb.startWorker(t, &client.Worker{Queue: "pull", Visibility: time.Second, Handler: func(ctx context.Context, j *job.Job) ([]byte, error) {
		if j.Attempt > 1 {
			return []byte(`"second run"`), nil
		}
		return h.handle(ctx, j)
	}})
	recv(t, h.started, "the run to start")
	tb.front.failFirst(extendKey, 1<<30, http.StatusServiceUnavailable, "shutting_down")
	tb.await(t, tk, "went back in line", func(j client.Job) bool { return j.State == job.Queued })
	tb.front.set(extendKey, func(http.ResponseWriter, *http.Request, int) bool { return false })
	if cause := recv(t, h.causes, "the handler's context to end"); !errors.Is(cause, client.ErrLeaseLost) || !errors.Is(cause, job.ErrLeaseMismatch) {
		t.Fatalf("cause = %v, want ErrLeaseLost", cause)
	}
	j := tb.waitFinal(t, tk)
	if j.State != job.Succeeded || string(j.Result) != `"second run"` || j.Attempts != 2 {
		t.Fatalf("job = %+v", j)
	}
	if n := tb.settles(tk); n != 1 {
		t.Fatalf("%d acks or nacks sent, want only the second run's", n)
	}
}

// Ensure that when Run's context ends, a running handler may finish within
// Grace, undisturbed, and its result is acked.
func TestWorker_GracefulStop(t *testing.T) {
	tb := setup(t, pullQueue(t, "pull"))
	tk := tb.submit(t, "pull", `1`)
	started, release, ctxErr := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	stop := tb.startWorker(t, &client.Worker{Queue: "pull", Grace: timeout, Handler: func(ctx context.Context, j *job.Job) ([]byte, error) {
		close(started)
		<-release
		ctxErr <- ctx.Err()
		return []byte(`"finished"`), nil
	}})
	recv(t, started, "the run to start")
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	close(release)
	if err := recv(t, ctxErr, "the handler to return"); err != nil {
		t.Fatalf("the handler's context ended during the grace period: %v", err)
	}
	if err := recv(t, stopped, "Run to return"); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if j := tb.status(t, tk); j.State != job.Succeeded || string(j.Result) != `"finished"` {
		t.Fatalf("job = %+v", j)
	}
}

// Ensure that a handler still running when Grace is over is canceled with
// cause job.ErrShutdown, and its job is nacked back to queued, due at once.
func TestWorker_GraceExpired(t *testing.T) {
	tb := setup(t, pullQueue(t, "pull"))
	tk := tb.submit(t, "pull", `1`)
	h := newBlockingHandler()
	stop := tb.startWorker(t, &client.Worker{Queue: "pull", Grace: 100 * time.Millisecond, Handler: func(ctx context.Context, j *job.Job) ([]byte, error) {
		h.started <- *j
		<-ctx.Done()
		h.causes <- context.Cause(ctx)
		return nil, ctx.Err()
	}})
	recv(t, h.started, "the run to start")
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if cause := recv(t, h.causes, "the handler's context to end"); !errors.Is(cause, job.ErrShutdown) {
		t.Fatalf("cause = %v, want job.ErrShutdown", cause)
	}
	// Released, not failed: queued at once, the run counted as interrupted
	// and no attempt charged.
	j := tb.status(t, tk)
	if j.State != job.Queued || j.Interrupted != 1 || !strings.Contains(j.LastError, "released by its worker") || j.RunAt.After(time.Now()) {
		t.Fatalf("job = %+v", j)
	}
}

// Ensure that a failing lease does not stop the worker: it backs off and
// leases again.
func TestWorker_LeaseError(t *testing.T) {
	tb := setup(t, pullQueue(t, "pull"))
	tk := tb.submit(t, "pull", `1`)
	const key = "POST /v1/queues/pull/leases"
	tb.front.failFirst(key, 1, http.StatusInternalServerError, "internal")
	tb.startWorker(t, &client.Worker{Queue: "pull", Handler: func(ctx context.Context, j *job.Job) ([]byte, error) { return nil, nil }})
	if j := tb.waitFinal(t, tk); j.State != job.Succeeded {
		t.Fatalf("job = %+v", j)
	}
	if n := tb.front.count(key); n < 2 {
		t.Fatalf("%d leases", n)
	}
}

// Ensure that Run refuses an invalid Worker, naming the field.
func TestWorker_Config(t *testing.T) {
	c, err := client.New("http://127.0.0.1:1", client.Options{})
	must(t, err)
	h := func(ctx context.Context, j *job.Job) ([]byte, error) { return nil, nil }
	cases := map[string]client.Worker{
		"Client":      {Queue: "q", Handler: h},
		"Handler":     {Client: c, Queue: "q"},
		"Queue":       {Client: c, Queue: "a b", Handler: h},
		"Concurrency": {Client: c, Queue: "q", Handler: h, Concurrency: -1},
		"Visibility":  {Client: c, Queue: "q", Handler: h, Visibility: 500 * time.Millisecond},
		"Wait":        {Client: c, Queue: "q", Handler: h, Wait: 31 * time.Second},
		"Grace":       {Client: c, Queue: "q", Handler: h, Grace: -time.Second},
	}
	for field, w := range cases {
		err := w.Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: Run = %v, want an error naming the field", field, err)
		}
	}
}
