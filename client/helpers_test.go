package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/httpapi"
	"github.com/ticketq/ticketq/job"
)

// timeout bounds every wait of a test: generous, because it only matters
// when something is broken.
const timeout = 15 * time.Second

// testBundle is a real Queue on a temporary directory, served by the real
// HTTP API on 127.0.0.1 behind a front that tests can make misbehave, and
// a client of it.
type testBundle struct {
	q     *ticketq.Queue
	front *front
	srv   *httptest.Server
	c     *client.Client
}

// setup opens and runs a queue, lets configure register handlers and queue
// options first, and serves it.
func setup(t *testing.T, configure func(q *ticketq.Queue)) *testBundle {
	t.Helper()
	// A short grace keeps a failed test that left a handler blocked from
	// hanging the cleanup.
	q, err := ticketq.Open(t.TempDir(), ticketq.Options{Grace: time.Second})
	must(t, err)
	if configure != nil {
		configure(q)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := q.Run(ctx); err != nil && !errors.Is(err, ticketq.ErrClosed) {
			t.Errorf("run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if err := q.Close(); err != nil {
			t.Errorf("close queue: %v", err)
		}
	})
	f := &front{next: httpapi.New(q, httpapi.Options{}), hits: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return &testBundle{q: q, front: f, srv: srv, c: newClient(t, srv.URL, client.Options{})}
}

// newClient returns a client with quick retries.
func newClient(t *testing.T, url string, opts client.Options) *client.Client {
	t.Helper()
	if opts.RetryBase == 0 {
		opts.RetryBase = time.Millisecond
	}
	c, err := client.New(url, opts)
	must(t, err)
	return c
}

// pullQueue configures a pull queue whose failed jobs are retried within
// milliseconds.
func pullQueue(t *testing.T, name string) func(q *ticketq.Queue) {
	return func(q *ticketq.Queue) {
		must(t, q.Configure(name, ticketq.QueueOptions{BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// submit stores a job with the given JSON payload and returns its ticket.
func (tb *testBundle) submit(t *testing.T, queue, payload string) job.Ticket {
	t.Helper()
	r, err := tb.c.Submit(context.Background(), queue, client.Submission{Payload: []byte(payload)})
	must(t, err)
	return r.Ticket
}

// lease leases exactly one job of queue.
func (tb *testBundle) lease(t *testing.T, queue string) client.LeasedJob {
	t.Helper()
	js, err := tb.c.Lease(context.Background(), queue, client.LeaseOptions{Max: 1, Visibility: time.Minute})
	must(t, err)
	if len(js) != 1 {
		t.Fatalf("leased %d jobs, want 1", len(js))
	}
	return js[0]
}

// status reads a job through the client.
func (tb *testBundle) status(t *testing.T, tk job.Ticket) client.Job {
	t.Helper()
	j, err := tb.c.Status(context.Background(), tk)
	must(t, err)
	return j
}

// waitFinal waits until the job is final.
func (tb *testBundle) waitFinal(t *testing.T, tk job.Ticket) client.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	j, err := tb.c.Wait(ctx, tk, 0)
	must(t, err)
	return j
}

// await polls the job until cond holds, failing the test after timeout.
// It waits for server-side conditions that have no notification (a job
// back in queued); the polling only paces the reads.
func (tb *testBundle) await(t *testing.T, tk job.Ticket, what string, cond func(client.Job) bool) client.Job {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		j := tb.status(t, tk)
		if cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s never %s; last seen %+v", tk, what, j)
		}
		<-tick.C
	}
}

// recv receives from ch, failing the test after timeout.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// front passes requests to the real API, counting them, unless the
// interceptor set by a test answers them itself.
type front struct {
	next http.Handler

	mu        sync.Mutex
	hits      map[string]int // by "METHOD /path", without the query
	log       []request      // every request, in order of arrival
	intercept func(w http.ResponseWriter, r *http.Request, n int) bool
}

// request is one request that reached the front.
type request struct {
	key  string // "METHOD /path"
	body string
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.Path
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client went away
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.mu.Lock()
	f.hits[key]++
	f.log = append(f.log, request{key: key, body: string(body)})
	n, ic := f.hits[key], f.intercept
	f.mu.Unlock()
	if ic != nil && ic(w, r, n) {
		return
	}
	f.next.ServeHTTP(w, r)
}

// requests returns every request so far, in order of arrival.
func (f *front) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

// count returns how many requests reached "METHOD /path".
func (f *front) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[key]
}

// countSuffix returns how many requests had a path ending in suffix.
func (f *front) countSuffix(suffix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for k, v := range f.hits {
		if strings.HasSuffix(k, suffix) {
			n += v
		}
	}
	return n
}

// set installs an interceptor for requests to "METHOD /path", replacing
// the previous one; it sees each request's number among those since it was
// installed (1 for the first).
func (f *front) set(key string, fn func(w http.ResponseWriter, r *http.Request, n int) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var seen atomic.Int32
	f.intercept = func(w http.ResponseWriter, r *http.Request, _ int) bool {
		return r.Method+" "+r.URL.Path == key && fn(w, r, int(seen.Add(1)))
	}
}

// failFirst answers the first n requests to key with status and code and
// "Retry-After: 0".
func (f *front) failFirst(key string, n, status int, code string) {
	f.set(key, func(w http.ResponseWriter, r *http.Request, i int) bool {
		if i > n {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"code":%q,"message":"injected by the test"}}`, code)
		return true
	})
}

// dropAnswer lets the first n requests to key reach the server, which acts
// on them, and then closes the connection instead of answering: the
// client cannot know what happened.
func (f *front) dropAnswer(t *testing.T, key string, n int) {
	f.set(key, func(w http.ResponseWriter, r *http.Request, i int) bool {
		if i > n {
			return false
		}
		f.next.ServeHTTP(httptest.NewRecorder(), r)
		hangUp(t, w)
		return true
	})
}

// dropRequest closes the connection of the first n requests to key before
// the server sees them.
func (f *front) dropRequest(t *testing.T, key string, n int) {
	f.set(key, func(w http.ResponseWriter, r *http.Request, i int) bool {
		if i > n {
			return false
		}
		hangUp(t, w)
		return true
	})
}

// hangUp closes the connection without an answer.
func hangUp(t *testing.T, w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	conn.Close()
}
