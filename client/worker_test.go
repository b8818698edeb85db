package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/job"
)

// startWorker runs w against the bundle's server until the returned stop
// is called (or the test ends); stop returns what Run returned.
func (tb *testBundle) startWorker(t *testing.T, w *client.Worker) (stop func() error) {
	t.Helper()
	if w.Client == nil {
		w.Client = tb.c
	}
	if w.Logger == nil {
		w.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = recv(t, errc, "Run to return")
		})
		return err
	}
	// Registered after setup's cleanups, so it runs before the server stops.
	t.Cleanup(func() { _ = stop() })
	return stop
}

// settles counts the acks and nacks that reached the server for a ticket.
func (tb *testBundle) settles(tk job.Ticket) int {
	p := "POST /v1/jobs/" + tk.String()
	return tb.front.count(p+"/ack") + tb.front.count(p+"/nack")
}

// Ensure that a worker with concurrency 3 acks every job, never runs more
// than 3 at once, and sends results as JSON or as a JSON string.
func TestWorker_Run(t *testing.T) {
	tb := setup(t, pullQueue(t, "pull"))
	const n = 12
	tickets := make([]job.Ticket, n)
	for i := range tickets {
		tickets[i] = tb.submit(t, "pull", fmt.Sprintf(`{"i":%d}`, i))
	}
	var running, peak atomic.Int32
	full := make(chan struct{}) // closed once 3 handlers run at once
	var fullOnce sync.Once
	tb.startWorker(t, &client.Worker{Queue: "pull", Concurrency: 3, Handler: func(ctx context.Context, j *job.Job) ([]byte, error) {
		now := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
		}
		if now == 3 {
			fullOnce.Do(func() { close(full) })
		}
		// Every handler waits until the worker has shown it runs 3 at
		// once; a worker that ran fewer would stall here.
		select {
		case <-full:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if j.State != job.Running || j.Lease == "" || j.Attempt != 1 || j.Queue != "pull" {
			return nil, job.Permanent(fmt.Errorf("job handed over as %+v", j))
		}
		var in struct{ I int }
		if err := json.Unmarshal(j.Payload, &in); err != nil {
			return nil, job.Permanent(err)
		}
		if in.I%3 == 0 {
			return []byte("plain text"), nil
		}
		return j.Payload, nil
	}})
	for i, tk := range tickets {
		j := tb.waitFinal(t, tk)
		want := fmt.Sprintf(`{"i":%d}`, i)
		if i%3 == 0 {
			want = `"plain text"`
		}
		if j.State != job.Succeeded || string(j.Result) != want {
			t.Errorf("job %d = %s %s %q, want succeeded with %s", i, j.State, j.Result, j.LastError, want)
		}
	}
	if p := peak.Load(); p != 3 {
		t.Fatalf("at most %d handlers ran at once, want 3", p)
	}
}

// Ensure that a handler's error nacks the job, which runs again with
// attempt 2 and the error in its history.
func TestWorker_Nack(t *testing.T) {
	tb := setup(t, pullQueue(t, "pull"))
	tk := tb.submit(t, "pull", `1`)
	tb.startWorker(t, &client.Worker{Queue: "pull", Handler: func(ctx context.Context, j *job.Job) ([]byte, error) {
		if j.Attempt == 1 {
			return nil, errors.New("boom")
		}
		return []byte(fmt.Sprintf(`{"attempt":%d}`, j.Attempt)), nil
	}})
	j := tb.waitFinal(t, tk)
	if j.State != job.Succeeded || string(j.Result) != `{"attempt":2}` || j.Attempts != 2 || len(j.Errors) != 1 || j.Errors[0].Error != "boom" {
		t.Fatalf("job = %+v", j)
	}
}

// Ensure that job.Permanent makes the job dead at once.
func TestWorker_Permanent(t *testing.T) {
	tb := setup(t, pullQueue(t, "pull"))
	tk := tb.submit(t, "pull", `1`)
	tb.startWorker(t, &client.Worker{Queue: "pull", Handler: func(ctx context.Context, j *job.Job) ([]byte, error) {
		return nil, job.Permanent(errors.New("bad input"))
	}})
	j := tb.waitFinal(t, tk)
	if j.State != job.Dead || j.Attempts != 1 || j.LastError != "permanent: bad input" {
		t.Fatalf("job = %+v", j)
	}
}

// Ensure that job.RetryAfter sets the delay of the next attempt.
func TestWorker_RetryAfter(t *testing.T) {
	tb := setup(t, pullQueue(t, "pull"))
	tk := tb.submit(t, "pull", `1`)
	before := time.Now()
	tb.startWorker(t, &client.Worker{Queue: "pull", Handler: func(ctx context.Context, j *job.Job) ([]byte, error) {
		return nil, job.RetryAfter(time.Hour, errors.New("busy"))
	}})
	j := tb.await(t, tk, "nacked", func(j client.Job) bool { return j.State == job.Queued && j.LastError != "" })
	if j.RunAt.Before(before.Add(time.Hour)) || !strings.HasPrefix(j.LastError, "busy") {
		t.Fatalf("job = %+v, want run_at ≥ %s", j, before.Add(time.Hour))
	}
}

// Ensure that a panicking handler nacks the job with the panic's message.
func TestWorker_Panic(t *testing.T) {
	tb := setup(t, pullQueue(t, "pull"))
	tk := tb.submit(t, "pull", `1`)
	tb.startWorker(t, &client.Worker{Queue: "pull", Handler: func(ctx context.Context, j *job.Job) ([]byte, error) {
		if j.Attempt == 1 {
			panic("kaboom")
		}
		return nil, nil
	}})
	j := tb.waitFinal(t, tk)
	if j.State != job.Succeeded || len(j.Errors) != 1 || !strings.HasPrefix(j.Errors[0].Error, "panic: kaboom") || j.Result != nil {
		t.Fatalf("job = %+v", j)
	}
}

// Ensure that progress reported by the handler shows in Status, that a
// burst of reports is coalesced, and that the last one is sent before the
// ack.
func TestWorker_Progress(t *testing.T) {
	tb := setup(t, pullQueue(t, "pull"))
	tk := tb.submit(t, "pull", `1`)
	progressKey, ackKey := "POST /v1/jobs/"+tk.String()+"/progress", "POST /v1/jobs/"+tk.String()+"/ack"
	reported, release := make(chan struct{}), make(chan struct{})
	var lastErr error
	tb.startWorker(t, &client.Worker{Queue: "pull", Handler: func(ctx context.Context, j *job.Job) ([]byte, error) {
		if err := j.ReportProgress(40, "halfway"); err != nil {
			return nil, err
		}
		close(reported)
		<-release
		for p := 41; p <= 100; p++ {
			lastErr = j.ReportProgress(p, fmt.Sprintf("at %d", p))
		}
		return nil, nil
	}})
	recv(t, reported, "the first report")
	tb.await(t, tk, "showed progress 40", func(j client.Job) bool { return j.Progress == 40 && j.ProgressMessage == "halfway" })
	close(release)
	if j := tb.waitFinal(t, tk); j.State != job.Succeeded || lastErr != nil {
		t.Fatalf("job = %+v, last report: %v", j, lastErr)
	}
	// The first report went at once; of the burst, at most one more went
	// before the handler returned, and the last one after it.
	if n := tb.front.count(progressKey); n < 2 || n > 3 {
		t.Fatalf("%d progress requests, want 2 or 3", n)
	}
	if tb.front.count(ackKey) != 1 {
		t.Fatalf("%d acks", tb.front.count(ackKey))
	}
	var last string
	for _, r := range tb.front.requests() {
		switch r.key {
		case progressKey:
			last = r.body
		case ackKey:
			if !strings.Contains(last, `"progress":100`) || !strings.Contains(last, `"message":"at 100"`) {
				t.Fatalf("the last report before the ack was %s", last)
			}
			return
		}
	}
	t.Fatal("no ack seen")
}

// Ensure that a result the server's strict reader would refuse (a key
// twice, a lone surrogate escape as Python's json.dumps writes, text that
// is not UTF-8) is acked once as a JSON string of its text, instead of
// failing every ack until the job is dead, and that strict JSON is acked
// as it is.
func TestWorker_NonStrictResult(t *testing.T) {
	tb := setup(t, pullQueue(t, "pull"))
	cases := []struct{ out, stored string }{
		{`{"a":1,"a":2}`, `"{\"a\":1,\"a\":2}"`},
		{`{"msg":"\udc00"}`, `"{\"msg\":\"\\udc00\"}"`},
		{"\xff done", `"\ufffd done"`},
		{`{"a":{"b":[1,"\ud83d\ude00"]}}`, `{"a":{"b":[1,"\ud83d\ude00"]}}`},
	}
	tickets := make([]job.Ticket, len(cases))
	for i := range cases {
		tickets[i] = tb.submit(t, "pull", strconv.Itoa(i))
	}
	var runs atomic.Int32
	tb.startWorker(t, &client.Worker{Queue: "pull", Handler: func(ctx context.Context, j *job.Job) ([]byte, error) {
		runs.Add(1)
		i, err := strconv.Atoi(string(j.Payload))
		if err != nil || i < 0 || i >= len(cases) {
			return nil, job.Permanent(fmt.Errorf("payload %q", j.Payload))
		}
		return []byte(cases[i].out), nil
	}})
	for i, tk := range tickets {
		c := cases[i]
		j := tb.waitFinal(t, tk)
		if j.State != job.Succeeded || j.Attempts != 1 || !jsonEqual(j.Result, c.stored) {
			t.Errorf("handler returning %q: job %s after %d attempts with result %s (%q), want succeeded at once with %s",
				c.out, j.State, j.Attempts, j.Result, j.LastError, c.stored)
		}
		if n := tb.settles(tk); n != 1 {
			t.Errorf("handler returning %q: %d acks or nacks, want 1", c.out, n)
		}
	}
	if n := runs.Load(); n != int32(len(cases)) {
		t.Fatalf("%d runs for %d jobs", n, len(cases))
	}
}

// jsonEqual reports whether the JSON values a and b are the same value.
func jsonEqual(a []byte, b string) bool {
	var va, vb any
	return json.Unmarshal(a, &va) == nil && json.Unmarshal([]byte(b), &vb) == nil && reflect.DeepEqual(va, vb)
}
