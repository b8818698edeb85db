package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/httpapi"
)

// apiServer serves a real queue on a loopback port; queue "echo" has a
// handler that returns the payload.
func apiServer(t *testing.T) string {
	t.Helper()
	q, err := ticketq.Open(t.TempDir(), ticketq.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Handle("echo", func(ctx context.Context, j *ticketq.Job) ([]byte, error) { return j.Payload, nil }, ticketq.QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = q.Run(ctx) }()
	srv := httptest.NewServer(httpapi.New(q, httpapi.Options{}))
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
		q.Close()
	})
	return srv.URL
}

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, nil, &stdout, &stderr)
	return stdout.String(), err
}

// Ensure that submit prints the ticket, a repeated request with its key
// names the same one (and another request with it is refused),
// status prints the job, and submit --wait prints the finished job, each
// with its timeout (the queue's default, 10 minutes).
func TestSubmitStatus(t *testing.T) {
	url := apiServer(t)
	out, err := runCLI(t, "submit", "--server", url, "--queue", "held", "--key", "k1", "--priority", "5", `{"a":1}`)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Ticket    string
		State     string
		Duplicate bool
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Ticket == "" || r.State != "queued" {
		t.Fatalf("submit printed %q (%v)", out, err)
	}
	again, err := runCLI(t, "submit", "--server", url, "--queue", "held", "--key", "k1", "--priority", "5", `{"a":1}`)
	if err != nil || !strings.Contains(again, `"ticket":"`+r.Ticket+`"`) || !strings.Contains(again, `"duplicate":true`) {
		t.Fatalf("repeat printed %q, %v", again, err)
	}
	if out, err := runCLI(t, "submit", "--server", url, "--queue", "held", "--key", "k1", "--priority", "5", `{"a":2}`); err == nil || !strings.Contains(err.Error(), "409 idempotency_key_reused") {
		t.Fatalf("the key with another payload printed %q, %v", out, err)
	}
	st, err := runCLI(t, "status", r.Ticket, "--server", url)
	if err != nil || !strings.Contains(st, `"priority":5`) || !strings.Contains(st, `"state":"queued"`) || !strings.Contains(st, `"timeout":"10m0s"`) {
		t.Fatalf("status printed %q, %v", st, err)
	}
	done, err := runCLI(t, "submit", "--server", url, "--queue", "echo", "--wait", "20s", `"hi"`)
	if err != nil || !strings.Contains(done, `"state":"succeeded"`) || !strings.Contains(done, `"result":"hi"`) || !strings.Contains(done, `"timeout":"10m0s"`) {
		t.Fatalf("submit --wait printed %q, %v", done, err)
	}
	if _, err := runCLI(t, "status", "--server", url, "999"); err == nil || !strings.Contains(err.Error(), "404 not_found") {
		t.Fatalf("status of an unknown ticket: %v", err)
	}
}

// Ensure that a short bench run reports throughput and latency.
func TestBench(t *testing.T) {
	url := apiServer(t)
	out, err := runCLI(t, "bench", "--server", url, "--concurrency", "2", "--duration", "300ms")
	if err != nil || !strings.Contains(out, "jobs/s") || !strings.Contains(out, "p99") || strings.Contains(out, "submit: 0 acked") {
		t.Fatalf("bench printed %q, %v", out, err)
	}
}
