package executor

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ticketq/ticketq/job"
)

// testJob returns a job with every field a handler reads.
func testJob() *job.Job {
	return &job.Job{
		Ticket:         42,
		Queue:          "emails",
		Attempt:        3,
		IdempotencyKey: "key-1",
		Payload:        []byte(`{"to":"a@example.com"}`),
	}
}

// call runs h and fails the test if it has not returned within a generous
// deadline, so that a hang fails the test that caused it instead of the
// whole binary timing out ten minutes later.
func call(t *testing.T, h job.Handler, ctx context.Context, j *job.Job) ([]byte, error) {
	t.Helper()
	type answer struct {
		res []byte
		err error
	}
	done := make(chan answer, 1)
	go func() {
		res, err := h(ctx, j)
		done <- answer{res, err}
	}()
	select {
	case a := <-done:
		return a.res, a.err
	case <-time.After(30 * time.Second):
		t.Fatal("handler did not return within 30s")
		return nil, nil
	}
}

// assertRetryable fails unless err is a plain failed attempt: neither
// permanent nor carrying its own delay.
func assertRetryable(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("got success, want an error")
	}
	if _, ok := errors.AsType[*job.PermanentError](err); ok {
		t.Errorf("error is permanent, want retryable: %v", err)
	}
	if _, ok := errors.AsType[*job.RetryAfterError](err); ok {
		t.Errorf("error carries a Retry-After, want plain: %v", err)
	}
}

// newServer starts an httptest server (on 127.0.0.1) closed at cleanup.
func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// reply returns a handler that answers with status, headers and body.
func reply(status int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}
