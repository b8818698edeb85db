package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/httpapi"
)

// testBundle is a real Queue on a temporary directory behind a real HTTP
// server on 127.0.0.1.
type testBundle struct {
	q   *ticketq.Queue
	api *httpapi.Server
	srv *httptest.Server
	// observer is a second API on the same queue that is always attached,
	// so that snapshots work while api answers 503.
	observer http.Handler
}

// fast makes retries quick, so that a failing job dies in milliseconds.
var fast = ticketq.QueueOptions{Workers: 2, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}

// setup opens a queue, lets configure register handlers before it runs,
// and serves it with default options.
func setup(t *testing.T, configure func(q *ticketq.Queue)) *testBundle {
	t.Helper()
	q := openQueue(t, configure)
	return serve(t, q, httpapi.New(q, httpapi.Options{}))
}

// openQueue opens and runs a queue on t.TempDir(), closed when the test ends.
func openQueue(t *testing.T, configure func(q *ticketq.Queue)) *ticketq.Queue {
	t.Helper()
	// A short grace keeps a failed test that left a handler blocked from
	// hanging the cleanup.
	q, err := ticketq.Open(t.TempDir(), ticketq.Options{Grace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if configure != nil {
		configure(q)
	}
	go func() {
		// A quick test may close the queue before Run starts; that is the
		// only error tolerated.
		if err := q.Run(context.Background()); err != nil && !errors.Is(err, ticketq.ErrClosed) {
			t.Errorf("run: %v", err)
		}
	}()
	t.Cleanup(func() {
		if err := q.Close(); err != nil {
			t.Errorf("close queue: %v", err)
		}
	})
	return q
}

// serve puts api behind an httptest server, closed before the queue.
func serve(t *testing.T, q *ticketq.Queue, api *httpapi.Server) *testBundle {
	t.Helper()
	tb := &testBundle{q: q, api: api, srv: httptest.NewServer(api), observer: httpapi.New(q, httpapi.Options{})}
	t.Cleanup(tb.srv.Close)
	return tb
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// response is an answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
	close  bool // the server asked to close the connection
}

// do sends a request; a non-empty body is sent as application/json.
func (tb *testBundle) do(t *testing.T, method, path, body string) response {
	t.Helper()
	var h map[string]string
	if body != "" {
		h = map[string]string{"Content-Type": "application/json"}
	}
	return tb.request(t, context.Background(), method, path, body, h)
}

// request sends a request with exactly the given headers.
func (tb *testBundle) request(t *testing.T, ctx context.Context, method, path, body string, header map[string]string) response {
	t.Helper()
	r, err := tb.send(ctx, method, path, body, header)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (tb *testBundle) send(ctx context.Context, method, path, body string, header map[string]string) (response, error) {
	req, err := http.NewRequestWithContext(ctx, method, tb.srv.URL+path, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := tb.srv.Client().Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b, close: res.Close}, err
}

// getAsync sends a GET from another goroutine, for long-polls; the test
// reads the answer with wait.
func (tb *testBundle) getAsync(path string) <-chan asyncResponse {
	ch := make(chan asyncResponse, 1)
	go func() {
		r, err := tb.send(context.Background(), http.MethodGet, path, "", nil)
		ch <- asyncResponse{r, err}
	}()
	return ch
}

type asyncResponse struct {
	r   response
	err error
}

// wait returns the answer of getAsync, failing the test on a transport error.
func (a asyncResponse) wait(t *testing.T) response {
	t.Helper()
	if a.err != nil {
		t.Fatal(a.err)
	}
	return a.r
}

// object decodes the body as a JSON object.
func (r response) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

// expect checks the status and that the answer is JSON.
func (r response) expect(t *testing.T, status int) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	return r.object(t)
}

// expectError checks an error answer: status, JSON, exactly
// {"error":{"code","message"}} and the code.
func (r response) expectError(t *testing.T, status int, code string) string {
	t.Helper()
	m := r.expect(t, status)
	e, ok := m["error"].(map[string]any)
	if !ok || len(m) != 1 || !sameKeys(e, "code", "message") {
		t.Fatalf("error body = %s", r.body)
	}
	if e["code"] != code {
		t.Fatalf("code = %v, want %s; body %s", e["code"], code, r.body)
	}
	msg, _ := e["message"].(string)
	if msg == "" {
		t.Fatalf("empty message: %s", r.body)
	}
	return msg
}

// sameKeys reports whether m has exactly the keys.
func sameKeys(m map[string]any, keys ...string) bool {
	got := make([]string, 0, len(m))
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	keys = slices.Clone(keys)
	slices.Sort(keys)
	return slices.Equal(got, keys)
}

func expectKeys(t *testing.T, m map[string]any, keys ...string) {
	t.Helper()
	if !sameKeys(m, keys...) {
		t.Fatalf("keys of %v, want exactly %v", m, keys)
	}
}

// Field lists of the views, as the API documents them.
var (
	summaryKeys = []string{"ticket", "queue", "state", "attempts", "max_attempts", "timeout", "interrupted", "priority",
		"created_at", "updated_at", "run_at", "started_at", "finished_at"}
	jobKeys   = append(slices.Clone(summaryKeys), "result", "payload", "errors")
	statsKeys = []string{"queue", "paused", "kind", "counts", "in_flight", "oldest_queued_age_seconds", "limits", "overrides"}
)

// snapshot returns everything the API shows of the stored state: GET
// /v1/queues and every job of every queue, read through the observer.
// oldest_queued_age_seconds is left out: it grows with the clock, not with
// the state.
func (tb *testBundle) snapshot(t *testing.T) string {
	t.Helper()
	var queues struct{ Queues []map[string]any }
	tb.observe(t, "/v1/queues", &queues)
	state := map[string]any{}
	for _, st := range queues.Queues {
		delete(st, "oldest_queued_age_seconds")
		name := st["queue"].(string)
		var jobs []any
		for after := ""; ; {
			var page struct {
				Jobs []any
				Next string
			}
			tb.observe(t, "/v1/queues/"+name+"/jobs?limit=1000&after="+after, &page)
			jobs = append(jobs, page.Jobs...)
			if after = page.Next; after == "" {
				break
			}
		}
		state[name] = map[string]any{"stats": st, "jobs": jobs}
	}
	b, err := json.Marshal(state)
	must(t, err)
	return string(b)
}

func (tb *testBundle) observe(t *testing.T, path string, v any) {
	t.Helper()
	rec := httptest.NewRecorder()
	tb.observer.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("observe %s: %d %s", path, rec.Code, rec.Body)
	}
	must(t, json.Unmarshal(rec.Body.Bytes(), v))
}

// submit stores a job through the API and returns its ticket.
func (tb *testBundle) submit(t *testing.T, queue, body string) string {
	t.Helper()
	m := tb.do(t, http.MethodPost, "/v1/queues/"+queue+"/jobs", body).expect(t, http.StatusAccepted)
	return m["ticket"].(string)
}

// signalingQueue is a real queue whose Wait reports when it starts and
// what it returned, so that tests can order events without sleeping; its
// Lease reports when it starts if leasing is set.
type signalingQueue struct {
	*ticketq.Queue
	waiting chan struct{}
	waited  chan error
	leasing chan struct{}
}

func newSignalingQueue(q *ticketq.Queue) *signalingQueue {
	return &signalingQueue{Queue: q, waiting: make(chan struct{}, 1), waited: make(chan error, 1)}
}

func (q *signalingQueue) Wait(ctx context.Context, t ticketq.Ticket) (*ticketq.Job, error) {
	q.waiting <- struct{}{}
	j, err := q.Queue.Wait(ctx, t)
	q.waited <- err
	return j, err
}

func (q *signalingQueue) Lease(ctx context.Context, queue string, maxJobs int, visibility, wait time.Duration) ([]*ticketq.Job, error) {
	if q.leasing != nil {
		q.leasing <- struct{}{}
	}
	return q.Queue.Lease(ctx, queue, maxJobs, visibility, wait)
}

// fakeQueue fails every call with err, or panics when err is nil. It stands
// in for the failures a real store does not produce on demand; it has no
// state that an error could change.
type fakeQueue struct{ err error }

var _ httpapi.Queue = fakeQueue{}

func (f fakeQueue) fail() error {
	if f.err == nil {
		panic("fake queue asked to panic")
	}
	return f.err
}

func (f fakeQueue) SubmitBatch(context.Context, string, []ticketq.Submission) ([]ticketq.Receipt, error) {
	return nil, f.fail()
}
func (f fakeQueue) Status(context.Context, ticketq.Ticket) (*ticketq.Job, error) {
	return nil, f.fail()
}
func (f fakeQueue) Wait(context.Context, ticketq.Ticket) (*ticketq.Job, error) { return nil, f.fail() }
func (f fakeQueue) Cancel(context.Context, ticketq.Ticket) (*ticketq.Job, error) {
	return nil, f.fail()
}
func (f fakeQueue) Retry(context.Context, ticketq.Ticket) (*ticketq.Job, error) { return nil, f.fail() }
func (f fakeQueue) List(context.Context, ticketq.ListQuery) (ticketq.Page, error) {
	return ticketq.Page{}, f.fail()
}
func (f fakeQueue) Stats(context.Context, string) (ticketq.QueueStats, error) {
	return ticketq.QueueStats{}, f.fail()
}
func (f fakeQueue) Queues(context.Context) ([]string, error) { return nil, f.fail() }
func (f fakeQueue) Pause(context.Context, string) error      { return f.fail() }
func (f fakeQueue) Resume(context.Context, string) error     { return f.fail() }
func (f fakeQueue) UpdateLimits(context.Context, string, func(*ticketq.QueueOverrides)) (ticketq.QueueStats, error) {
	return ticketq.QueueStats{}, f.fail()
}
func (f fakeQueue) Lease(context.Context, string, int, time.Duration, time.Duration) ([]*ticketq.Job, error) {
	return nil, f.fail()
}
func (f fakeQueue) Ack(context.Context, ticketq.Ticket, string, []byte) (*ticketq.Job, error) {
	return nil, f.fail()
}
func (f fakeQueue) Nack(context.Context, ticketq.Ticket, string, string, time.Duration, bool) (*ticketq.Job, error) {
	return nil, f.fail()
}
func (f fakeQueue) Extend(context.Context, ticketq.Ticket, string, time.Duration) (*ticketq.Job, error) {
	return nil, f.fail()
}
func (f fakeQueue) Release(context.Context, ticketq.Ticket, string) (*ticketq.Job, error) {
	return nil, f.fail()
}
func (f fakeQueue) Progress(context.Context, ticketq.Ticket, string, int, string) error {
	return f.fail()
}

// syncBuffer collects log lines from concurrent requests.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines decodes the JSON log lines written so far.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(b.buf.Bytes()), []byte("\n")) {
		var m map[string]any
		must(t, json.Unmarshal(line, &m))
		out = append(out, m)
	}
	return out
}
