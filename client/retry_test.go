package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/job"
)

// Ensure that a GET is repeated after 503s and after a dropped connection,
// and gives up after Options.Retries repeats.
func TestClient_RetryGet(t *testing.T) {
	tb := setup(t, nil)
	tk := tb.submit(t, "q", `1`)
	key := "GET /v1/jobs/" + tk.String()

	tb.front.failFirst(key, 2, http.StatusServiceUnavailable, "shutting_down")
	if j := tb.status(t, tk); j.Ticket != tk {
		t.Fatalf("status = %+v", j)
	}
	if n := tb.front.count(key); n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}

	tb.front.dropRequest(t, key, 4)
	tb.status(t, tk)
	if n := tb.front.count(key); n != 3+5 {
		t.Fatalf("%d attempts after dropped connections, want 5 more", n-3)
	}

	tb.front.failFirst(key, 100, http.StatusServiceUnavailable, "store_failed")
	_, err := tb.c.Status(context.Background(), tk)
	if !errors.Is(err, job.ErrStoreFailed) {
		t.Fatalf("status through a failing server: %v", err)
	}
	if n := tb.front.count(key); n != 8+1+client.DefaultRetries {
		t.Fatalf("%d attempts, want 1 + %d retries", n-8, client.DefaultRetries)
	}
}

// Ensure that a submit without an idempotency key is repeated only when
// the server provably stored nothing, and a keyed one after any failure.
func TestClient_RetrySubmit(t *testing.T) {
	ctx := context.Background()
	const key = "POST /v1/queues/q/jobs"
	stored := func(t *testing.T, tb *testBundle) int {
		t.Helper()
		st, err := tb.c.Queue(ctx, "q")
		if errors.Is(err, job.ErrNotFound) {
			return 0
		}
		must(t, err)
		return st.Counts[job.Queued]
	}

	t.Run("UnkeyedOutcomeUnknown", func(t *testing.T) {
		// Ensure that an unkeyed submit is not repeated after a 503
		// outcome_unknown: the first try may have stored the job.
		tb := setup(t, nil)
		tb.front.failFirst(key, 1, http.StatusServiceUnavailable, "outcome_unknown")
		_, err := tb.c.Submit(ctx, "q", client.Submission{})
		if !errors.Is(err, job.ErrUnknownOutcome) || tb.front.count(key) != 1 {
			t.Fatalf("submit = %v after %d attempts, want one attempt", err, tb.front.count(key))
		}
	})
	t.Run("UnkeyedLostAnswer", func(t *testing.T) {
		// Ensure that an unkeyed submit whose answer was lost is not
		// repeated: it was stored, and a repeat would store it twice.
		tb := setup(t, nil)
		tb.front.dropAnswer(t, key, 1)
		if _, err := tb.c.Submit(ctx, "q", client.Submission{}); err == nil || tb.front.count(key) != 1 {
			t.Fatalf("submit = %v after %d attempts, want an error after one", err, tb.front.count(key))
		}
		if n := stored(t, tb); n != 1 {
			t.Fatalf("%d jobs stored, want 1", n)
		}
	})
	t.Run("UnkeyedShuttingDown", func(t *testing.T) {
		// Ensure that an unkeyed submit is repeated after 503
		// shutting_down, which the server answers before storing.
		tb := setup(t, nil)
		tb.front.failFirst(key, 2, http.StatusServiceUnavailable, "shutting_down")
		_, err := tb.c.Submit(ctx, "q", client.Submission{})
		if err != nil || tb.front.count(key) != 3 || stored(t, tb) != 1 {
			t.Fatalf("submit = %v after %d attempts", err, tb.front.count(key))
		}
	})
	t.Run("UnkeyedDiskFull", func(t *testing.T) {
		// Ensure that an unkeyed submit is repeated after 507 disk_full,
		// whose transaction was rolled back, and that a disk that stays
		// full ends in job.ErrDiskFull once the retries are spent.
		tb := setup(t, nil)
		tb.front.failFirst(key, 2, http.StatusInsufficientStorage, "disk_full")
		_, err := tb.c.Submit(ctx, "q", client.Submission{})
		if err != nil || tb.front.count(key) != 3 || stored(t, tb) != 1 {
			t.Fatalf("submit = %v after %d attempts", err, tb.front.count(key))
		}
		tb.front.failFirst(key, 100, http.StatusInsufficientStorage, "disk_full")
		_, err = tb.c.Submit(ctx, "q", client.Submission{})
		if !errors.Is(err, job.ErrDiskFull) || tb.front.count(key) != 3+1+client.DefaultRetries {
			t.Fatalf("submit on a disk that stays full = %v after %d attempts", err, tb.front.count(key)-3)
		}
	})
	t.Run("KeyedOutcomeUnknown", func(t *testing.T) {
		// Ensure that a keyed submit is repeated after a 503.
		tb := setup(t, nil)
		tb.front.failFirst(key, 1, http.StatusServiceUnavailable, "outcome_unknown")
		_, err := tb.c.Submit(ctx, "q", client.Submission{IdempotencyKey: "k"})
		if err != nil || tb.front.count(key) != 2 {
			t.Fatalf("submit = %v after %d attempts", err, tb.front.count(key))
		}
	})
	t.Run("KeyedLostAnswer", func(t *testing.T) {
		// Ensure that a keyed submit whose answer was lost is repeated,
		// and the key makes the repeat name the stored job.
		tb := setup(t, nil)
		tb.front.dropAnswer(t, key, 1)
		r, err := tb.c.Submit(ctx, "q", client.Submission{IdempotencyKey: "k"})
		if err != nil || !r.Duplicate || tb.front.count(key) != 2 || stored(t, tb) != 1 {
			t.Fatalf("submit = %+v, %v after %d attempts", r, err, tb.front.count(key))
		}
	})
	t.Run("BatchPartlyKeyed", func(t *testing.T) {
		// Ensure that a batch is retried like an unkeyed submit unless
		// every job has a key.
		tb := setup(t, nil)
		tb.front.failFirst(key, 1, http.StatusServiceUnavailable, "outcome_unknown")
		_, err := tb.c.SubmitBatch(ctx, "q", []client.Submission{{IdempotencyKey: "a"}, {}})
		if err == nil || tb.front.count(key) != 1 {
			t.Fatalf("batch = %v after %d attempts", err, tb.front.count(key))
		}
		tb.front.failFirst(key, 2, http.StatusServiceUnavailable, "outcome_unknown")
		_, err = tb.c.SubmitBatch(ctx, "q", []client.Submission{{IdempotencyKey: "a"}, {IdempotencyKey: "b"}})
		if err != nil || tb.front.count(key) != 1+3 {
			t.Fatalf("keyed batch = %v after %d attempts", err, tb.front.count(key)-1)
		}
	})
}

// Ensure that Cancel is repeated after 503 not_ready but not after an
// answer that may follow a write.
func TestClient_RetryCancel(t *testing.T) {
	tb := setup(t, nil)
	tk := tb.submit(t, "q", `1`)
	key := "DELETE /v1/jobs/" + tk.String()
	tb.front.failFirst(key, 1, http.StatusServiceUnavailable, "outcome_unknown")
	if _, err := tb.c.Cancel(context.Background(), tk); !errors.Is(err, job.ErrUnknownOutcome) || tb.front.count(key) != 1 {
		t.Fatalf("cancel = %v after %d attempts", err, tb.front.count(key))
	}
	tb.front.failFirst(key, 2, http.StatusServiceUnavailable, "not_ready")
	if j, err := tb.c.Cancel(context.Background(), tk); err != nil || j.State != job.Canceled || tb.front.count(key) != 1+3 {
		t.Fatalf("cancel = %v after %d attempts", err, tb.front.count(key)-1)
	}
}

// Ensure that a lease is repeated when the connection could not be made,
// and not when its answer was lost.
func TestClient_RetryLease(t *testing.T) {
	tb := setup(t, nil)
	ctx := context.Background()
	var dials atomic.Int32
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) <= 2 {
			return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	c := newClient(t, tb.srv.URL, client.Options{HTTPClient: &http.Client{Transport: tr}})
	tk := tb.submit(t, "pull", `1`)
	js, err := c.Lease(ctx, "pull", client.LeaseOptions{})
	if err != nil || len(js) != 1 || js[0].Ticket != tk || dials.Load() != 3 {
		t.Fatalf("lease = %+v, %v after %d dials", js, err, dials.Load())
	}

	const key = "POST /v1/queues/pull/leases"
	tb.submit(t, "pull", `2`)
	tb.front.dropAnswer(t, key, 1)
	if _, err := tb.c.Lease(ctx, "pull", client.LeaseOptions{}); err == nil || tb.front.count(key) != 1+1 {
		t.Fatalf("lease = %v after %d attempts, want an error after one", err, tb.front.count(key)-1)
	}
}

// Ensure that a Retry-After that would outlast the context is not waited
// for: the call returns the server's answer at once.
func TestClient_RetryAfterPastDeadline(t *testing.T) {
	tb := setup(t, nil)
	tk := tb.submit(t, "q", `1`)
	key := "GET /v1/jobs/" + tk.String()
	tb.front.set(key, func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := tb.c.Status(ctx, tk)
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.RetryAfter != time.Hour || tb.front.count(key) != 1 {
		t.Fatalf("status = %v after %d attempts", err, tb.front.count(key))
	}
}

// Ensure that an Ack or Nack whose first answer was lost, and whose repeat
// then finds the lease gone, reports success when the first one landed.
func TestClient_AckAmbiguous(t *testing.T) {
	tb := setup(t, nil)
	ctx := context.Background()

	tk := tb.submit(t, "pull", `1`)
	lj := tb.lease(t, "pull")
	key := "POST /v1/jobs/" + tk.String() + "/ack"
	tb.front.dropAnswer(t, key, 1)
	j, err := tb.c.Ack(ctx, tk, lj.Lease, json.RawMessage(`"done"`))
	if err != nil || j.State != job.Succeeded || string(j.Result) != `"done"` || tb.front.count(key) != 2 {
		t.Fatalf("ack = %+v, %v after %d attempts", j, err, tb.front.count(key))
	}

	tk = tb.submit(t, "pull", `2`)
	lj = tb.lease(t, "pull")
	key = "POST /v1/jobs/" + tk.String() + "/nack"
	tb.front.dropAnswer(t, key, 1)
	j, err = tb.c.Nack(ctx, tk, lj.Lease, client.NackOptions{Error: "boom", RetryIn: time.Hour})
	if err != nil || j.State != job.Queued || j.LastError != "boom" || tb.front.count(key) != 2 {
		t.Fatalf("nack = %+v, %v after %d attempts", j, err, tb.front.count(key))
	}

	// Without a lost answer, a 409 is the answer: the job is untouched.
	tk = tb.submit(t, "pull", `3`)
	tb.lease(t, "pull")
	if _, err := tb.c.Ack(ctx, tk, "not-the-lease", nil); !errors.Is(err, job.ErrLeaseMismatch) {
		t.Fatalf("ack with a wrong lease: %v", err)
	}
}
