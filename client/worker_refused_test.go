package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/job"
)

// runUntilStopped runs w until it returns by itself, failing the test if it
// has not within timeout; the context is never canceled, so a nil error or
// a late return means the worker did not stop on its own.
func runUntilStopped(t *testing.T, w *client.Worker) error {
	t.Helper()
	if w.Logger == nil {
		w.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	return recv(t, errc, "Run to stop by itself")
}

// wantRefusal checks Run's error: it says the token was refused, matches
// the sentinel and wraps the server's answer.
func wantRefusal(t *testing.T, err, sentinel error, status int) {
	t.Helper()
	var ae *client.APIError
	if !errors.Is(err, sentinel) || !errors.As(err, &ae) || ae.Status != status || !strings.Contains(err.Error(), "refused the token") {
		t.Fatalf("Run = %v, want a refusal matching %v with an APIError %d", err, sentinel, status)
	}
}

// Ensure that a worker whose lease request is refused with 401 or 403 —
// by ticketq or by a proxy in front of it — stops at once with an error
// saying so, after exactly one request: no retry fixes a refused token.
func TestWorker_TokenRefusedOnLease(t *testing.T) {
	for _, c := range []struct {
		name        string
		status      int
		contentType string
		body        string
		sentinel    error
	}{
		{"Unauthorized", http.StatusUnauthorized, "application/json", `{"error":{"code":"unauthorized","message":"the bearer token is not valid"}}`, client.ErrUnauthorized},
		{"Forbidden", http.StatusForbidden, "application/json", `{"error":{"code":"forbidden","message":"token \"ci\" has the submit role"}}`, client.ErrForbidden},
		{"ProxyForbidden", http.StatusForbidden, "text/html", `<html><body>403 Forbidden</body></html>`, client.ErrForbidden},
	} {
		// Ensure that this refusal stops the worker after one request.
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			var paths []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				paths = append(paths, r.Method+" "+r.URL.Path)
				mu.Unlock()
				w.Header().Set("Content-Type", c.contentType)
				w.WriteHeader(c.status)
				fmt.Fprint(w, c.body)
			}))
			defer srv.Close()
			err := runUntilStopped(t, &client.Worker{
				Client: newClient(t, srv.URL, client.Options{Token: "some-secret-0123456789"}),
				Queue:  "pull", Wait: time.Second,
				Handler: func(context.Context, *job.Job) ([]byte, error) {
					t.Error("the handler ran")
					return nil, nil
				},
			})
			wantRefusal(t, err, c.sentinel, c.status)
			mu.Lock()
			defer mu.Unlock()
			if len(paths) != 1 || paths[0] != "POST /v1/queues/pull/leases" {
				t.Fatalf("requests %q, want exactly one lease", paths)
			}
		})
	}
}

// Ensure that an ack refused with 401 stops the worker: it leases nothing
// more and sends no nack or release for the job, which stays leased until
// its lease expires.
func TestWorker_TokenRefusedOnAck(t *testing.T) {
	tb := setup(t, pullQueue(t, "pull"))
	first := tb.submit(t, "pull", `1`)
	second := tb.submit(t, "pull", `2`)
	tb.front.failFirst("POST /v1/jobs/"+first.String()+"/ack", 1<<30, http.StatusUnauthorized, "unauthorized")
	err := runUntilStopped(t, &client.Worker{Client: tb.c, Queue: "pull", Handler: func(context.Context, *job.Job) ([]byte, error) {
		return []byte(`"done"`), nil
	}})
	wantRefusal(t, err, client.ErrUnauthorized, http.StatusUnauthorized)
	for key, want := range map[string]int{
		"POST /v1/queues/pull/leases": 1, "POST /v1/jobs/" + first.String() + "/ack": 1,
	} {
		if n := tb.front.count(key); n != want {
			t.Fatalf("%d requests to %s, want %d; all: %v", n, key, want, tb.front.requests())
		}
	}
	for _, suffix := range []string{"/nack", "/release", "/extend"} {
		if n := tb.front.countSuffix(suffix); n != 0 {
			t.Fatalf("%d %s requests after the refusal", n, suffix)
		}
	}
	if j := tb.status(t, first); j.State != job.Running {
		t.Fatalf("refused job = %+v, want still running under its lease", j)
	}
	if j := tb.status(t, second); j.State != job.Queued {
		t.Fatalf("second job = %+v, want never leased", j)
	}
}

// Ensure that a heartbeat refused with 403 cancels the running handler
// with a cause matching ErrForbidden, settles nothing and stops the worker.
func TestWorker_TokenRefusedOnHeartbeat(t *testing.T) {
	tb := setup(t, pullQueue(t, "pull"))
	tk := tb.submit(t, "pull", `1`)
	tb.front.failFirst("POST /v1/jobs/"+tk.String()+"/extend", 1<<30, http.StatusForbidden, "forbidden")
	h := newBlockingHandler()
	err := runUntilStopped(t, &client.Worker{Client: tb.c, Queue: "pull", Visibility: time.Second, Grace: time.Hour, Handler: h.handle})
	wantRefusal(t, err, client.ErrForbidden, http.StatusForbidden)
	if cause := recv(t, h.causes, "the handler's cause"); !errors.Is(cause, client.ErrForbidden) {
		t.Fatalf("handler's cause = %v, want one matching ErrForbidden", cause)
	}
	if n := tb.settles(tk) + tb.front.countSuffix("/release"); n != 0 {
		t.Fatalf("%d acks, nacks or releases after the refusal", n)
	}
	if n := tb.front.count("POST /v1/queues/pull/leases"); n != 1 {
		t.Fatalf("%d leases, want 1", n)
	}
}
