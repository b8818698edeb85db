package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/httpapi"
	"github.com/ticketq/ticketq/job"
)

// The fuzz targets of this file send hostile requests through the whole
// handler (middleware, router, decoders, status mapping) to a real Queue on a
// temporary directory, one per target and fuzz worker process. Every answer
// must be a 2xx or one of the documented 4xx with the documented error body,
// and a refused request must leave the store as it was.
//
// The Queue runs on a stopped clock, so that nothing changes on its own
// between the snapshots taken before and after a request: no lease expires,
// no delay or backoff passes, the sweeper finds nothing old enough. Its
// bodies are capped at fuzzMaxBody so that the fuzzer can reach 413.
//
// `go test` runs the seeds below; scripts/fuzz.sh runs each target for a
// while, and a crasher it finds lands in testdata/fuzz/<Target>/, where it
// stays as a regression case.

const (
	// fuzzMaxBody is small enough for the fuzzer to cross, large enough for
	// an error message over job.MaxErrorLen.
	fuzzMaxBody = 16 << 10
	// fuzzMaxWait bounds a GET ?wait= long-poll, so that one costs little.
	fuzzMaxWait = 20 * time.Millisecond
	// fuzzWatchdog is longer than any request may take: the harness keeps
	// every request from blocking (leased queues are stocked, waits are
	// capped), so a request that needs this long is a finding.
	fuzzWatchdog = 10 * time.Second
)

// stoppedClock always tells the time it was stopped at.
type stoppedClock struct{ at time.Time }

func (c stoppedClock) Now() time.Time { return c.at }

// fuzzBundle is the Queue and API one fuzz target works on.
type fuzzBundle struct {
	q   *ticketq.Queue
	api http.Handler
}

// fuzzSetup opens a Queue on f.TempDir(), lets configure register handlers
// and create fixtures, runs it and serves it. It is called once per target
// in each fuzz worker process, not once per input.
func fuzzSetup(f *testing.F, configure func(q *ticketq.Queue)) *fuzzBundle {
	f.Helper()
	q, err := ticketq.Open(f.TempDir(), ticketq.Options{Clock: stoppedClock{at: time.Now()}, Grace: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- q.Run(ctx) }()
	f.Cleanup(func() {
		cancel()
		if err := q.Close(); err != nil {
			f.Errorf("close queue: %v", err)
		}
		if err := <-ran; err != nil && !errors.Is(err, ticketq.ErrClosed) && !errors.Is(err, context.Canceled) {
			f.Errorf("run: %v", err)
		}
	})
	if configure != nil {
		configure(q)
	}
	return &fuzzBundle{q: q, api: httpapi.New(q, httpapi.Options{MaxBodyBytes: fuzzMaxBody, MaxWait: fuzzMaxWait})}
}

// fuzzRequest is one request. path is the decoded path, so that any bytes
// the fuzzer makes up reach the router (a real server would refuse some of
// them earlier, in net/http).
type fuzzRequest struct {
	method, path, query string
	contentType         string // none when empty
	body                []byte
	chunked             bool // a body of unknown length (ContentLength -1)
}

// jsonRequest has a JSON Content-Type when it has a body, as clients send.
func jsonRequest(method, path, query string, body []byte) fuzzRequest {
	req := fuzzRequest{method: method, path: path, query: query, body: body}
	if len(body) > 0 {
		req.contentType = "application/json"
	}
	return req
}

func (r fuzzRequest) String() string {
	return fmt.Sprintf("%s %q ?%q Content-Type %q chunked=%t body %q", r.method, r.path, r.query, r.contentType, r.chunked, r.body)
}

// fuzzAnswer is a checked answer.
type fuzzAnswer struct {
	status int
	code   string // the error code of a 4xx
	body   []byte
}

func (a fuzzAnswer) refused() bool { return a.status >= 400 }

// fuzzCodes are the documented error statuses with the codes each may carry
// (httpapi/errors.go classify). 503 (not ready, shutting down, store failed)
// and 500 are never the answer to what a client sends.
var fuzzCodes = map[int][]string{
	http.StatusBadRequest:            {"invalid_request", "invalid_json", "unknown_field", "invalid_ticket", "duplicate_key"},
	http.StatusNotFound:              {"not_found"},
	http.StatusMethodNotAllowed:      {"method_not_allowed"},
	http.StatusConflict:              {"already_final", "not_retryable", "job_canceled", "has_executor", "lease_mismatch", "conflict", "idempotency_key_reused"},
	http.StatusRequestEntityTooLarge: {"body_too_large"},
	http.StatusUnsupportedMediaType:  {"unsupported_media_type"},
	http.StatusTooManyRequests:       {"queue_full"},
}

// do serves req in process and checks the invariants every answer must
// hold: no panic (the middleware would answer 500), a 2xx or documented
// 4xx status, UTF-8 JSON, a request id, and for an error exactly
// {"error":{"code","message"}} with a code documented for the status.
func (fb *fuzzBundle) do(t *testing.T, req fuzzRequest) fuzzAnswer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), fuzzWatchdog)
	defer cancel()
	r := httptest.NewRequestWithContext(ctx, req.method, "/", bytes.NewReader(req.body))
	r.URL = &url.URL{Path: req.path, RawQuery: req.query}
	r.RequestURI = r.URL.RequestURI()
	if req.contentType != "" {
		r.Header.Set("Content-Type", req.contentType)
	}
	if req.chunked {
		r.ContentLength = -1
		r.Body = io.NopCloser(bytes.NewReader(req.body))
	}
	rec := httptest.NewRecorder()
	fb.api.ServeHTTP(rec, r)
	if ctx.Err() != nil {
		t.Fatalf("%s: the answer took longer than %s", req, fuzzWatchdog)
	}

	a := fuzzAnswer{status: rec.Code, body: rec.Body.Bytes()}
	_, documented := fuzzCodes[a.status]
	if !(a.status >= 200 && a.status < 300) && !documented {
		t.Fatalf("%s: status %d, want 2xx or one of the documented 4xx; body %s", req, a.status, a.body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: status %d with Content-Type %q; body %s", req, a.status, ct, a.body)
	}
	if rec.Header().Get(httpapi.RequestIDHeader) == "" {
		t.Fatalf("%s: no %s in the answer", req, httpapi.RequestIDHeader)
	}
	// JSON is UTF-8 (RFC 8259); json.Valid does not check that.
	if !json.Valid(a.body) || !utf8.Valid(a.body) || !bytes.HasPrefix(a.body, []byte("{")) {
		t.Fatalf("%s: status %d with a body that is not a UTF-8 JSON object: %q", req, a.status, a.body)
	}
	if !a.refused() {
		return a
	}
	var outer map[string]json.RawMessage
	var detail map[string]json.RawMessage
	var message string
	if json.Unmarshal(a.body, &outer) != nil || len(outer) != 1 || outer["error"] == nil ||
		json.Unmarshal(outer["error"], &detail) != nil || len(detail) != 2 ||
		json.Unmarshal(detail["code"], &a.code) != nil || json.Unmarshal(detail["message"], &message) != nil {
		t.Fatalf("%s: status %d with an error body that is not {\"error\":{\"code\",\"message\"}}: %s", req, a.status, a.body)
	}
	if a.code == "" || message == "" {
		t.Fatalf("%s: status %d with an empty code or message: %s", req, a.status, a.body)
	}
	if !slices.Contains(fuzzCodes[a.status], a.code) {
		t.Fatalf("%s: status %d with code %q, want one of %v; body %s", req, a.status, a.code, fuzzCodes[a.status], a.body)
	}
	if a.status == http.StatusMethodNotAllowed && rec.Header().Get("Allow") == "" {
		t.Fatalf("%s: 405 without Allow", req)
	}
	return a
}

// fuzzState is what the API shows of the store: the queue names, the stats
// of some queues and some jobs (or the error reading them). Compared with
// reflect.DeepEqual, so that the overrides' pointers compare by value.
type fuzzState struct {
	Queues []string
	Stats  map[string]any
	Jobs   map[job.Ticket]any
}

// state reads the queue list, the stats of queues and the jobs of tickets.
func (fb *fuzzBundle) state(t *testing.T, queues []string, tickets ...job.Ticket) fuzzState {
	t.Helper()
	ctx := context.Background()
	names, err := fb.q.Queues(ctx)
	if err != nil {
		t.Fatalf("queues: %v", err)
	}
	s := fuzzState{Queues: names, Stats: map[string]any{}, Jobs: map[job.Ticket]any{}}
	for _, name := range queues {
		st, err := fb.q.Stats(ctx, name)
		if err != nil {
			s.Stats[name] = "error: " + err.Error()
			continue
		}
		s.Stats[name] = st
	}
	for _, tk := range tickets {
		j, err := fb.q.Status(ctx, tk)
		if err != nil {
			s.Jobs[tk] = "error: " + err.Error()
			continue
		}
		s.Jobs[tk] = j
	}
	return s
}

// counts returns a queue's job counts in s, nil when it could not be read.
func (s fuzzState) counts(queue string) map[job.State]int {
	st, _ := s.Stats[queue].(ticketq.QueueStats)
	return st.Counts
}

func total(counts map[job.State]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// expectUnchanged fails when a request changed what the API shows.
func expectUnchanged(t *testing.T, req fuzzRequest, a fuzzAnswer, before, after fuzzState) {
	t.Helper()
	if !reflect.DeepEqual(before, after) {
		b, _ := json.Marshal(before)
		c, _ := json.Marshal(after)
		t.Fatalf("%s: answered %d %s but changed the store:\nbefore %s\nafter  %s", req, a.status, a.code, b, c)
	}
}

// submitJob stores a job directly, for fixtures.
func submitJob(tb testing.TB, q *ticketq.Queue, queue string, s ticketq.Submission) job.Ticket {
	tb.Helper()
	if s.Payload == nil {
		s.Payload = []byte(`{"fixture":true}`)
	}
	rc, err := q.Submit(context.Background(), queue, s)
	if err != nil {
		tb.Fatalf("submit fixture to %s: %v", queue, err)
	}
	return rc.Ticket
}

// leaseJob submits a job to queue and leases one (not necessarily that one)
// for an hour, which on the stopped clock never passes.
func leaseJob(tb testing.TB, q *ticketq.Queue, queue string, s ticketq.Submission) *ticketq.Job {
	tb.Helper()
	submitJob(tb, q, queue, s)
	js, err := q.Lease(context.Background(), queue, 1, time.Hour, 0)
	if err != nil || len(js) != 1 {
		tb.Fatalf("lease fixture from %s: %v, %d jobs", queue, err, len(js))
	}
	return js[0]
}

// bigJSON is a body of about n bytes, for the body cap and long strings.
func bigJSON(prefix string, n int, suffix string) []byte {
	return []byte(prefix + strings.Repeat("x", n) + suffix)
}
