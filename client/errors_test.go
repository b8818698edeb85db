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

// Ensure that the server's error answers arrive as *APIError with their
// status and code, and match the sentinels of package job with errors.Is.
func TestAPIError_Is(t *testing.T) {
	tb := setup(t, func(q *ticketq.Queue) {
		echo(t)(q)
		must(t, q.Configure("full", ticketq.QueueOptions{MaxQueued: 1}))
	})
	ctx := context.Background()
	// No retries, so that a 429 answers at once.
	c := newClient(t, tb.srv.URL, client.Options{Retries: -1})

	tb.submit(t, "pull", `1`)
	held := tb.lease(t, "pull")
	tb.submit(t, "pull", `2`)
	gone := tb.lease(t, "pull")
	_, err := c.Cancel(ctx, gone.Ticket)
	must(t, err)
	done := tb.waitFinal(t, tb.submit(t, "echo", `1`))
	tb.submit(t, "full", `1`)
	_, err = c.Submit(ctx, "keyed", client.Submission{Payload: []byte(`1`), IdempotencyKey: "k"})
	must(t, err)

	cases := []struct {
		name   string
		call   func() error
		status int
		code   string
		is     []error
		isNot  []error
	}{
		{name: "NotFound", call: func() error { _, err := c.Status(ctx, 999); return err },
			status: 404, code: "not_found", is: []error{job.ErrNotFound}, isNot: []error{job.ErrConflict}},
		{name: "UnknownQueue", call: func() error { _, err := c.Resume(ctx, "nope"); return err },
			status: 404, code: "not_found", is: []error{job.ErrNotFound}},
		{name: "LeaseMismatch", call: func() error { _, err := c.Ack(ctx, held.Ticket, "not-the-lease", nil); return err },
			status: 409, code: "lease_mismatch", is: []error{job.ErrLeaseMismatch, job.ErrConflict}, isNot: []error{job.ErrLeaseCanceled}},
		{name: "JobCanceled", call: func() error { _, err := c.Extend(ctx, gone.Ticket, gone.Lease, 0); return err },
			status: 409, code: "job_canceled", is: []error{job.ErrLeaseCanceled, job.ErrLeaseMismatch, job.ErrConflict}},
		{name: "AlreadyFinal", call: func() error { _, err := c.Cancel(ctx, done.Ticket); return err },
			status: 409, code: "already_final", is: []error{job.ErrAlreadyFinal, job.ErrConflict}, isNot: []error{job.ErrNotRetryable}},
		{name: "NotRetryable", call: func() error { _, err := c.Retry(ctx, held.Ticket); return err },
			status: 409, code: "not_retryable", is: []error{job.ErrNotRetryable, job.ErrConflict}},
		{name: "HasExecutor", call: func() error { _, err := c.Lease(ctx, "echo", client.LeaseOptions{}); return err },
			status: 409, code: "has_executor", is: []error{job.ErrHasExecutor, job.ErrConflict}},
		{name: "KeyReused", call: func() error {
			_, err := c.Submit(ctx, "keyed", client.Submission{Payload: []byte(`2`), IdempotencyKey: "k"})
			return err
		}, status: 409, code: "idempotency_key_reused", is: []error{job.ErrIdempotencyKeyReused, job.ErrConflict}, isNot: []error{job.ErrInvalid}},
		{name: "QueueFull", call: func() error { _, err := c.Submit(ctx, "full", client.Submission{}); return err },
			status: 429, code: "queue_full", is: []error{job.ErrQueueFull}},
		{name: "InvalidRequest", call: func() error { _, err := c.Lease(ctx, "pull", client.LeaseOptions{Max: 101}); return err },
			status: 400, code: "invalid_request", is: []error{job.ErrInvalid}},
		{name: "InvalidProgress", call: func() error { return c.Progress(ctx, held.Ticket, held.Lease, 101, "") },
			status: 400, code: "invalid_request", is: []error{job.ErrInvalid}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var apiErr *client.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != tc.status || apiErr.Code != tc.code || apiErr.Message == "" {
				t.Fatalf("error = %v, want %d %s", err, tc.status, tc.code)
			}
			for _, s := range tc.is {
				if !errors.Is(err, s) {
					t.Errorf("errors.Is(%v, %v) = false", err, s)
				}
			}
			for _, s := range tc.isNot {
				if errors.Is(err, s) {
					t.Errorf("errors.Is(%v, %v) = true", err, s)
				}
			}
		})
	}
}

// Ensure that a 429 carries the server's Retry-After.
func TestAPIError_RetryAfter(t *testing.T) {
	tb := setup(t, func(q *ticketq.Queue) { must(t, q.Configure("full", ticketq.QueueOptions{MaxQueued: 1})) })
	c := newClient(t, tb.srv.URL, client.Options{Retries: -1})
	tb.submit(t, "full", `1`)
	_, err := c.Submit(context.Background(), "full", client.Submission{})
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.RetryAfter != time.Second || apiErr.RequestID == "" {
		t.Fatalf("queue full: %#v", err)
	}
}

// Ensure that /v1 calls to a server still recovering answer an error
// matching job.ErrClosed.
func TestAPIError_NotReady(t *testing.T) {
	srv := httptest.NewServer(httpapi.New(nil, httpapi.Options{}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, client.Options{Retries: -1})
	_, err := c.Status(context.Background(), 1)
	var apiErr *client.APIError
	if !errors.Is(err, job.ErrClosed) || !errors.As(err, &apiErr) || apiErr.Code != "not_ready" || apiErr.RetryAfter != time.Second {
		t.Fatalf("status while not ready: %v", err)
	}
}

// Ensure that input the server could never take is refused before it is
// sent, as job.ErrInvalid.
func TestClient_InvalidInput(t *testing.T) {
	tb := setup(t, nil)
	ctx := context.Background()
	checks := map[string]error{}
	_, checks["Payload"] = tb.c.Submit(ctx, "q", client.Submission{Payload: json.RawMessage(`{nope`)})
	_, checks["QueueName"] = tb.c.Submit(ctx, "../x", client.Submission{})
	_, checks["ZeroTicket"] = tb.c.Status(ctx, 0)
	_, checks["PayloadKeyTwice"] = tb.c.Submit(ctx, "q", client.Submission{Payload: json.RawMessage(`{"a":1,"a":2}`)})
	_, checks["BatchPayloadLoneSurrogate"] = tb.c.SubmitBatch(ctx, "q", []client.Submission{{Payload: json.RawMessage(`1`)}, {Payload: json.RawMessage(`"\ud800"`)}})
	_, checks["Result"] = tb.c.Ack(ctx, 1, "lease", json.RawMessage(`nope`))
	_, checks["ResultKeyTwice"] = tb.c.Ack(ctx, 1, "lease", json.RawMessage(`{"a":{"b":1,"b":1}}`))
	_, checks["ResultLoneSurrogate"] = tb.c.Ack(ctx, 1, "lease", json.RawMessage(`["\udc00"]`))
	_, checks["ResultNotUTF8"] = tb.c.Ack(ctx, 1, "lease", json.RawMessage("\"\xff\""))
	for name, err := range checks {
		var apiErr *client.APIError
		if !errors.Is(err, job.ErrInvalid) || errors.As(err, &apiErr) {
			t.Errorf("%s: %v, want a client-side ErrInvalid", name, err)
		}
	}
	if n := tb.front.countSuffix(""); n != 0 {
		t.Fatalf("%d requests reached the server", n)
	}
}
