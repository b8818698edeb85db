package wal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/httpapi"
	"github.com/ticketq/ticketq/wal"
)

// lockedBuffer is a log the server's goroutines write to concurrently.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Ensure that an operation that panics inside the committer (a bug)
// reaches an HTTP client as a plain 500, without a Go stack, while the
// server logs the stack once and goes on serving.
func TestHTTP_OpPanicWithoutStack(t *testing.T) {
	var logged lockedBuffer
	log := zerolog.New(&logged)
	q, err := ticketq.Open(t.TempDir(), ticketq.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- q.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("run: %v", err)
		}
		if err := q.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	srv := httptest.NewServer(httpapi.New(q, httpapi.Options{Logger: log}))
	t.Cleanup(srv.Close)
	restore := wal.PanicInQueue("buggy", "index out of range [7] with length 3")
	t.Cleanup(restore)

	post := func(queue string) (int, string) {
		t.Helper()
		res, err := http.Post(srv.URL+"/v1/queues/"+queue+"/jobs", "application/json", strings.NewReader(`{"payload": 1}`))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, string(b)
	}
	status, body := post("buggy")
	var answer struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &answer); err != nil {
		t.Fatalf("answer %q: %v", body, err)
	}
	if status != http.StatusInternalServerError || answer.Error.Code != "internal" ||
		!strings.Contains(answer.Error.Message, "a bug in ticketq") {
		t.Fatalf("submit into the buggy queue: %d %s; want 500 internal naming a bug", status, body)
	}
	for _, stack := range []string{"goroutine ", ".go:", "runtime/debug"} {
		if strings.Contains(body, stack) {
			t.Fatalf("the answer holds a stack (%q): %s", stack, body)
		}
	}
	if n := strings.Count(logged.String(), `"stack":`); n != 1 || !strings.Contains(logged.String(), "goroutine ") {
		t.Fatalf("%d stacks in the log, want 1:\n%s", n, logged.String())
	}
	if status, body := post("sound"); status != http.StatusAccepted {
		t.Fatalf("a submit after the panic: %d %s; want 202", status, body)
	}
}
