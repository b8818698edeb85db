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
	http.StatusBadRequest:            {"invalid_request", "invalid_json", "unknown_field", "invalid_ticket"},
	http.StatusNotFound:              {"not_found"},
	http.StatusMethodNotAllowed:      {"method_not_allowed"},
	http.StatusConflict:              {"already_final", "not_retryable", "job_canceled", "has_executor", "lease_mismatch", "conflict"},
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

// FuzzSubmit fuzzes POST /v1/queues/{queue}/jobs, single and batch bodies and
// the Content-Type, to a queue without a limit or (full) to one with room
// for exactly one more job (MaxQueued), so that 429 is reachable too. A
// refused submit stores nothing; an accepted one stores exactly its new
// (non-duplicate) jobs, and answers 202 only if there is one.
func FuzzSubmit(f *testing.F) {
	const ct = "application/json"
	soon := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, s := range []struct {
		ct      string
		body    string
		chunked bool
		full    bool
	}{
		{ct, `{"payload": {"n": 1}}`, false, false},
		{ct, `{"payload": null}`, false, false},
		{ct, `{"payload": "x", "idempotency_key": "k1", "priority": 5, "max_attempts": 3, "timeout": "30s", "delay": "1m"}`, false, false},
		{ct, `{"payload": "x", "idempotency_key": "k1"}`, false, false},
		{ct, `{"payload": [1, 2], "run_at": "` + soon + `"}`, false, false},
		{ct, `{"payload": 1, "run_at": "1970-01-01T00:00:00Z"}`, false, false},
		{ct, `{"payload": 1, "run_at": "2030-13-01T00:00:00Z"}`, false, false},
		{ct, `{"jobs": [{"payload": 1}, {"payload": 2, "idempotency_key": "b1", "priority": -100}]}`, false, false},
		{ct, `{"jobs": [{"payload": 1, "idempotency_key": "d"}, {"payload": 2, "idempotency_key": "d"}]}`, false, false},
		{ct, `{"jobs": []}`, false, false},
		{ct, `{"jobs": null, "payload": 1}`, false, false},
		{ct, `{"payload": 1, "jobs": [{"payload": 2}]}`, false, false},
		{ct, `{"jobs": [{"payload": 1}, {"delay": "1s"}]}`, false, false},
		{ct, `{"jobs": {"payload": 1}}`, false, false},
		{ct, `{"payload": 1, "max_attemps": 3}`, false, false},
		{ct, `{"payload": 1, "delay": "-1s"}`, false, false},
		{ct, `{"payload": 1, "delay": "8785h"}`, false, false},
		{ct, `{"payload": 1, "delay": "1m", "run_at": "` + soon + `"}`, false, false},
		{ct, `{"payload": 1, "timeout": "169h"}`, false, false},
		{ct, `{"payload": 1, "priority": 101}`, false, false},
		{ct, `{"payload": 1, "priority": 1e3}`, false, false},
		{ct, `{"payload": 1, "priority": "5"}`, false, false},
		{ct, `{"payload": 1, "max_attempts": -1}`, false, false},
		{ct, `{"payload": 1, "max_attempts": 99999999999999999999}`, false, false},
		{ct, `{"payload": 1, "idempotency_key": "a\u0000b"}`, false, false},
		{ct, "{\"payload\": 1, \"idempotency_key\": \"\xff\xfe\"}", false, false},
		{ct, `{"payload": 1, "idempotency_key": "` + strings.Repeat("k", 257) + `"}`, false, false},
		{ct, `{"payload": 1} {"payload": 2}`, false, false},
		{ct, `{"payload": 1}x`, false, false},
		{ct, `{"payload": }`, false, false},
		{ct, `{"payload":`, false, false},
		{ct, `[]`, false, false},
		{ct, `null`, false, false},
		{ct, ``, false, false},
		{ct, ``, true, false},
		{ct, `{"payload": 1}`, true, false},
		{"application/json; charset=utf-8", `{"payload": 1}`, false, false},
		{"APPLICATION/JSON", `{"payload": 1}`, false, false},
		{"text/plain", `{"payload": 1}`, false, false},
		{"application/json;;", `{"payload": 1}`, false, false},
		{"", `{"payload": 1}`, false, false},
		{ct, string(bigJSON(`{"payload": "`, fuzzMaxBody, `"}`)), false, false},
		{ct, string(bigJSON(`{"payload": "`, fuzzMaxBody, `"}`)), true, false},
		{ct, `{"payload": 1}`, false, true},
		{ct, `{"jobs": [{"payload": 1}]}`, false, true},
		{ct, `{"jobs": [{"payload": 1}, {"payload": 2}]}`, false, true},
		{ct, `{"payload": 1, "idempotency_key": "f1"}`, false, true},
	} {
		f.Add(s.ct, []byte(s.body), s.chunked, s.full)
	}
	fb := fuzzSetup(f, func(q *ticketq.Queue) {
		if err := q.Configure("full", ticketq.QueueOptions{MaxQueued: 2}); err != nil {
			f.Fatal(err)
		}
		submitJob(f, q, "full", ticketq.Submission{})
	})
	f.Fuzz(func(t *testing.T, contentType string, body []byte, chunked, full bool) {
		queue := "fuzz"
		if full {
			queue = "full"
		}
		req := fuzzRequest{method: http.MethodPost, path: "/v1/queues/" + queue + "/jobs", contentType: contentType, body: body, chunked: chunked}
		before := fb.state(t, []string{queue})
		a := fb.do(t, req)
		after := fb.state(t, []string{queue})
		if a.refused() {
			expectUnchanged(t, req, a, before, after)
			return
		}
		var ans struct {
			Ticket    string
			Duplicate bool
			Tickets   []string
			Jobs      []struct {
				Ticket    string
				Duplicate bool
			}
		}
		if err := json.Unmarshal(a.body, &ans); err != nil {
			t.Fatalf("%s: answer %s: %v", req, a.body, err)
		}
		type receipt struct {
			ticket    string
			duplicate bool
		}
		var rs []receipt
		if ans.Ticket != "" {
			rs = append(rs, receipt{ans.Ticket, ans.Duplicate})
		}
		for _, j := range ans.Jobs {
			rs = append(rs, receipt{j.Ticket, j.Duplicate})
		}
		if len(rs) == 0 || (ans.Ticket != "") == (ans.Jobs != nil) || len(ans.Tickets) != len(ans.Jobs) {
			t.Fatalf("%s: answer %d is neither a receipt nor a batch: %s", req, a.status, a.body)
		}
		stored := 0
		var fresh []job.Ticket
		for _, rc := range rs {
			tk, err := job.ParseTicket(rc.ticket)
			if err != nil {
				t.Fatalf("%s: answer %s: %v", req, a.body, err)
			}
			if j, err := fb.q.Status(context.Background(), tk); err != nil || j.Queue != queue {
				t.Fatalf("%s: ticket %s of the answer: %v", req, tk, err)
			}
			if !rc.duplicate && !slices.Contains(fresh, tk) {
				stored++
				fresh = append(fresh, tk)
			}
		}
		want := http.StatusOK // only duplicates: nothing new was stored
		if stored > 0 {
			want = http.StatusAccepted
		}
		if a.status != want {
			t.Fatalf("%s: %d new jobs of %d answered %d, want %d", req, stored, len(rs), a.status, want)
		}
		if grew := total(after.counts(queue)) - total(before.counts(queue)); grew != stored {
			t.Fatalf("%s: the answer reports %d new jobs, the queue grew by %d: %s", req, stored, grew, a.body)
		}
		if full {
			// Make room again: a canceled job does not count against MaxQueued.
			for _, tk := range fresh {
				if _, err := fb.q.Cancel(context.Background(), tk); err != nil {
					t.Fatalf("cancel %s: %v", tk, err)
				}
			}
		}
	})
}

// FuzzLease fuzzes POST /v1/queues/{queue}/leases: the queue name and the
// body (max, visibility, wait). Every valid queue is stocked with a due job
// first, so that a lease never waits. A refused lease changes nothing; an
// accepted one moves exactly the jobs it answers from queued to running.
func FuzzLease(f *testing.F) {
	for _, s := range []struct{ queue, body string }{
		{"pull", ``},
		{"pull", `{}`},
		{"pull", `{"max": 10, "visibility": "30s", "wait": "0s"}`},
		{"pull", `{"max": 1, "visibility": "1s", "wait": "5s"}`},
		{"pull", `{"max": 0}`},
		{"pull", `{"max": 101}`},
		{"pull", `{"max": -1}`},
		{"pull", `{"max": "1"}`},
		{"pull", `{"max": 1.5}`},
		{"pull", `{"visibility": "999ms"}`},
		{"pull", `{"visibility": "12h0m1s"}`},
		{"pull", `{"visibility": "1d"}`},
		{"pull", `{"wait": "31s"}`},
		{"pull", `{"wait": "-1ns"}`},
		{"pull", `{"wait": 5}`},
		{"pull", `{"maxx": 1}`},
		{"pull", `{"max": 1}{}`},
		{"pull", `[`},
		{"exec", `{}`},
		{"new-queue", `{"wait": "5s"}`},
		{"..", `{}`},
		{"bad name", `{}`},
		{"", `{}`},
		{"a/b", `{}`},
		{strings.Repeat("q", 129), `{}`},
	} {
		f.Add(s.queue, []byte(s.body))
	}
	fb := fuzzSetup(f, func(q *ticketq.Queue) {
		// A queue with an in-process executor cannot be leased from.
		noop := func(context.Context, *ticketq.Job) ([]byte, error) { return nil, nil }
		if err := q.Handle("exec", noop, ticketq.QueueOptions{}); err != nil {
			f.Fatal(err)
		}
	})
	f.Fuzz(func(t *testing.T, queue string, body []byte) {
		queues := []string{"pull", queue}
		if job.ValidateQueueName(queue) == nil && queue != "exec" {
			// Stock the queue, so that the lease answers at once.
			if st, err := fb.q.Stats(context.Background(), queue); err != nil || st.Counts[job.Queued] == 0 {
				submitJob(t, fb.q, queue, ticketq.Submission{})
			}
		}
		req := jsonRequest(http.MethodPost, "/v1/queues/"+queue+"/leases", "", body)
		before := fb.state(t, queues)
		a := fb.do(t, req)
		after := fb.state(t, queues)
		if a.refused() {
			expectUnchanged(t, req, a, before, after)
			return
		}
		var ans struct {
			Jobs []struct{ Ticket, Queue, Lease string }
		}
		if err := json.Unmarshal(a.body, &ans); err != nil {
			t.Fatalf("%s: answer %s: %v", req, a.body, err)
		}
		if n := len(ans.Jobs); n < 1 || n > ticketq.MaxLeaseBatch {
			t.Fatalf("%s: leased %d jobs from a stocked queue: %s", req, n, a.body)
		}
		for _, j := range ans.Jobs {
			if j.Queue != queue || len(j.Lease) < 16 {
				t.Fatalf("%s: leased job %+v", req, j)
			}
		}
		b, c := before.counts(queue), after.counts(queue)
		if n := len(ans.Jobs); c[job.Running]-b[job.Running] != n || b[job.Queued]-c[job.Queued] != n || total(b) != total(c) {
			t.Fatalf("%s: leased %d jobs, counts went from %v to %v", req, n, b, c)
		}
	})
}

// settleOps are the routes a pull worker reports on.
var settleOps = []string{"ack", "nack", "extend", "progress", "release"}

// FuzzSettle fuzzes POST /v1/jobs/{ticket}/{ack,nack,extend,progress,release}:
// the ticket in the path and the body. In the ticket, $T stands for a job
// leased for the target and $C for a canceled one; in the body, $LEASE
// stands for the lease of $T, so that the fuzzer reaches the paths behind
// the fencing. A refused request changes nothing; only a request with the
// lease can be accepted, after which $T is replaced by a fresh lease.
func FuzzSettle(f *testing.F) {
	for _, s := range []struct {
		op           uint8
		ticket, body string
	}{
		{0, "$T", `{"lease": "$LEASE", "result": {"ok": true}}`},
		{0, "$T", `{"lease": "$LEASE"}`},
		{0, "$T", `{"lease": "$LEASE", "result": }`},
		{0, "$T", `{"lease": "nope"}`},
		{0, "$C", `{"lease": "$LEASE"}`},
		{1, "$T", `{"lease": "$LEASE", "error": "boom", "retry_in": "1h"}`},
		{1, "$T", `{"lease": "$LEASE", "error": "boom", "permanent": true}`},
		{1, "$T", `{"lease": "$LEASE", "retry_in": "-5s"}`},
		{1, "$T", `{"lease": "$LEASE", "retry_in": "8785h"}`},
		{1, "$T", string(bigJSON(`{"lease": "$LEASE", "error": "`, job.MaxErrorLen+100, `"}`))},
		{1, "$C", `{"lease": "x", "error": "boom"}`},
		{2, "$T", `{"lease": "$LEASE", "visibility": "5m"}`},
		{2, "$T", `{"lease": "$LEASE", "visibility": "1ms"}`},
		{2, "$T", `{"lease": "$LEASE", "visibility": "13h"}`},
		{2, "$T", `{"lease": "$LEASE", "visibility": 5}`},
		{3, "$T", `{"lease": "$LEASE", "progress": 40, "message": "halfway"}`},
		{3, "$T", `{"lease": "$LEASE", "progress": 101}`},
		{3, "$T", `{"lease": "$LEASE", "progress": -1}`},
		{3, "$T", `{"lease": "$LEASE"}`},
		{3, "$T", string(bigJSON(`{"lease": "$LEASE", "progress": 1, "message": "`, job.MaxProgressMessageLen+1, `"}`))},
		{4, "$T", `{"lease": "$LEASE"}`},
		{4, "$T", `{"lease": "$LEASE", "x": 1}`},
		{4, "$T", `{"lease": ""}`},
		{4, "$T", `{}`},
		{4, "$T", ``},
		{0, "0", `{"lease": "x"}`},
		{0, "01", `{"lease": "x"}`},
		{0, "-1", `{"lease": "x"}`},
		{0, "abc", `{"lease": "x"}`},
		{0, "99999", `{"lease": "x"}`},
		{0, "18446744073709551615", `{"lease": "x"}`},
		{0, "18446744073709551616", `{"lease": "x"}`},
		{0, "", `{"lease": "x"}`},
		{0, "1/2", `{"lease": "x"}`},
	} {
		f.Add(s.op, s.ticket, []byte(s.body))
	}
	const queue = "work"
	var held *ticketq.Job
	var canceled job.Ticket
	fb := fuzzSetup(f, func(q *ticketq.Queue) {
		held = leaseJob(f, q, queue, ticketq.Submission{})
		canceled = submitJob(f, q, "other", ticketq.Submission{})
		if _, err := q.Cancel(context.Background(), canceled); err != nil {
			f.Fatal(err)
		}
	})
	f.Fuzz(func(t *testing.T, op uint8, ticket string, body []byte) {
		ticket = strings.NewReplacer("$T", held.Ticket.String(), "$C", canceled.String()).Replace(ticket)
		body = bytes.ReplaceAll(body, []byte("$LEASE"), []byte(held.Lease))
		req := jsonRequest(http.MethodPost, "/v1/jobs/"+ticket+"/"+settleOps[int(op)%len(settleOps)], "", body)
		before := fb.state(t, []string{queue}, held.Ticket, canceled)
		a := fb.do(t, req)
		after := fb.state(t, []string{queue}, held.Ticket, canceled)
		if a.refused() {
			expectUnchanged(t, req, a, before, after)
			return
		}
		if ticket != held.Ticket.String() || !bytes.Contains(body, []byte(held.Lease)) {
			t.Fatalf("%s: answered %d without the lease of the job (ticket %s)", req, a.status, held.Ticket)
		}
		// The job moved on; work on a fresh lease from now on.
		held = leaseJob(t, fb.q, queue, ticketq.Submission{})
	})
}

// FuzzPatchQueue fuzzes PATCH /v1/queues/{queue}: the queue name and the
// limits in the body. A refused patch changes nothing.
func FuzzPatchQueue(f *testing.F) {
	for _, s := range []struct{ queue, body string }{
		{"limits", `{"workers": 2}`},
		{"limits", `{"workers": null}`},
		{"limits", `{"rate": 1.5, "burst": 3}`},
		{"limits", `{"max_leases": 5, "rate": null, "burst": null}`},
		{"limits", `{}`},
		{"limits", ``},
		{"limits", `null`},
		{"limits", `{"workers": 0}`},
		{"limits", `{"workers": 10001}`},
		{"limits", `{"workers": 1.5}`},
		{"limits", `{"workers": "2"}`},
		{"limits", `{"rate": -1}`},
		{"limits", `{"rate": 1e7}`},
		{"limits", `{"rate": 1e400}`},
		{"limits", `{"burst": 0}`},
		{"limits", `{"max_leases": -1}`},
		{"limits", `{"workerz": 1}`},
		{"limits", `{"workers": 1, "workers": 2}`},
		{"unknown", `{"workers": 2}`},
		{"..", `{"workers": 2}`},
		{"a b", `{"workers": 2}`},
	} {
		f.Add(s.queue, []byte(s.body))
	}
	fb := fuzzSetup(f, func(q *ticketq.Queue) { submitJob(f, q, "limits", ticketq.Submission{}) })
	f.Fuzz(func(t *testing.T, queue string, body []byte) {
		queues := []string{"limits", queue}
		req := jsonRequest(http.MethodPatch, "/v1/queues/"+queue, "", body)
		before := fb.state(t, queues)
		a := fb.do(t, req)
		after := fb.state(t, queues)
		if a.refused() {
			expectUnchanged(t, req, a, before, after)
			return
		}
		if job.ValidateQueueName(queue) != nil {
			t.Fatalf("%s: answered %d for an invalid queue name", req, a.status)
		}
	})
}

// jobRoutes are the routes on one ticket, including ones with the wrong
// method.
var jobRoutes = []struct{ method, suffix string }{
	{http.MethodGet, ""},
	{http.MethodDelete, ""},
	{http.MethodPost, "/retry"},
	{http.MethodPut, ""},
	{http.MethodGet, "/retry"},
}

// FuzzJobRoutes fuzzes the ticket path parameter and the query of
// GET/DELETE /v1/jobs/{ticket} and POST /v1/jobs/{ticket}/retry, among them
// the ?wait= duration. In the ticket, $Q stands for a queued job, $D for a
// dead one and $C for a canceled one. A GET never changes anything; a
// refused request neither.
func FuzzJobRoutes(f *testing.F) {
	for _, s := range []struct {
		route               uint8
		ticket, query, body string
	}{
		{0, "$Q", "", ""},
		{0, "$Q", "wait=5ms", ""},
		{0, "$Q", "wait=0s", ""},
		{0, "$Q", "wait=", ""},
		{0, "$Q", "wait=1m", ""},
		{0, "$Q", "wait=-1s", ""},
		{0, "$Q", "wait=abc", ""},
		{0, "$Q", "wait=9223372036854775808ns", ""},
		{0, "$Q", "wait=1s&wait=2s", ""},
		{0, "$Q", "wait=1ms;x", ""},
		{0, "$Q", "wait=%zz", ""},
		{0, "$Q", "w=1", ""},
		{0, "$D", "wait=10ms", ""},
		{0, "$C", "", ""},
		{0, "0", "", ""},
		{0, "00", "", ""},
		{0, "+1", "", ""},
		{0, "1e3", "", ""},
		{0, " 1", "", ""},
		{0, "99999", "", ""},
		{0, "18446744073709551615", "", ""},
		{0, "18446744073709551616", "", ""},
		{0, "", "", ""},
		{0, "1/ack", "", ""},
		{1, "$Q", "", ""},
		{1, "$C", "", ""},
		{1, "$D", "", ""},
		{1, "99999", "", ""},
		{1, "$Q", "force=1", ""},
		{2, "$D", "", ""},
		{2, "$D", "", `{}`},
		{2, "$D", "", `{"x": 1}`},
		{2, "$C", "", ``},
		{2, "$Q", "", ``},
		{3, "$Q", "", `{}`},
		{4, "$D", "", ``},
	} {
		f.Add(s.route, s.ticket, s.query, []byte(s.body))
	}
	const queue = "jobs"
	var queued, dead, canceled job.Ticket
	// fixtures (re)creates the jobs the placeholders stand for.
	fixtures := func(tb testing.TB, q *ticketq.Queue) {
		queued = submitJob(tb, q, queue, ticketq.Submission{})
		canceled = submitJob(tb, q, queue, ticketq.Submission{})
		if _, err := q.Cancel(context.Background(), canceled); err != nil {
			tb.Fatal(err)
		}
		j := leaseJob(tb, q, "jobs-dead", ticketq.Submission{MaxAttempts: 1})
		if _, err := q.Nack(context.Background(), j.Ticket, j.Lease, "fixture", -1, true); err != nil {
			tb.Fatal(err)
		}
		dead = j.Ticket
	}
	fb := fuzzSetup(f, func(q *ticketq.Queue) { fixtures(f, q) })
	f.Fuzz(func(t *testing.T, route uint8, ticket, query string, body []byte) {
		rt := jobRoutes[int(route)%len(jobRoutes)]
		ticket = strings.NewReplacer("$Q", queued.String(), "$D", dead.String(), "$C", canceled.String()).Replace(ticket)
		req := jsonRequest(rt.method, "/v1/jobs/"+ticket+rt.suffix, query, body)
		queues := []string{queue, "jobs-dead"}
		before := fb.state(t, queues, queued, dead, canceled)
		a := fb.do(t, req)
		after := fb.state(t, queues, queued, dead, canceled)
		if a.refused() || rt.method == http.MethodGet {
			expectUnchanged(t, req, a, before, after)
			return
		}
		// A cancel or a retry went through: start again from fresh jobs.
		fixtures(t, fb.q)
	})
}

// queueRoutes are the routes on one queue name, including ones with the
// wrong method; the last one lists every queue and ignores the name.
var queueRoutes = []struct{ method, suffix string }{
	{http.MethodGet, ""},
	{http.MethodGet, "/jobs"},
	{http.MethodPost, "/pause"},
	{http.MethodPost, "/resume"},
	{http.MethodPost, "/jobs"},
	{http.MethodDelete, ""},
	{http.MethodPut, "/jobs"},
	{http.MethodGet, "/pause"},
	{http.MethodGet, "<all>"},
}

// FuzzQueueRoutes fuzzes queue names in paths and the queries of the queue
// routes (the list filters state, limit and after among them). A GET never
// changes anything, a refused request neither, and no request naming an
// invalid queue is accepted.
func FuzzQueueRoutes(f *testing.F) {
	for _, s := range []struct {
		route              uint8
		queue, query, body string
	}{
		{0, "known", "", ""},
		{0, "unknown", "", ""},
		{1, "known", "", ""},
		{1, "known", "state=queued&limit=10", ""},
		{1, "known", "state=running&after=1", ""},
		{1, "known", "state=bogus", ""},
		{1, "known", "limit=0", ""},
		{1, "known", "limit=1001", ""},
		{1, "known", "limit=abc", ""},
		{1, "known", "limit=-1", ""},
		{1, "known", "after=0", ""},
		{1, "known", "after=", ""},
		{1, "known", "after=18446744073709551616", ""},
		{1, "known", "state=queued&state=dead", ""},
		{1, "known", "stat=queued", ""},
		{1, "known", "%", ""},
		{2, "known", "", ""},
		{2, "fresh", "", `{}`},
		{2, "known", "", `{"x": 1}`},
		{3, "known", "", ""},
		{3, "known", "now=1", ""},
		{4, "known", "", `{"payload": 1}`},
		{4, "known", "", `{"payload": 1, "priority": 1000}`},
		{5, "known", "", ""},
		{6, "known", "", `{"payload": 1}`},
		{7, "known", "", ""},
		{8, "", "", ""},
		{8, "", "x=1", ""},
		{0, "..", "", ""},
		{0, ".", "", ""},
		{2, "..", "", ""},
		{0, "a b", "", ""},
		{0, "a%2Fb", "", ""},
		{0, "a/b", "", ""},
		{0, "ü", "", ""},
		{4, "q\x00", "", `{"payload": 1}`},
		{0, strings.Repeat("q", 128), "", ""},
		{2, strings.Repeat("q", 129), "", ""},
		{0, "", "", ""},
	} {
		f.Add(s.route, s.queue, s.query, []byte(s.body))
	}
	fb := fuzzSetup(f, func(q *ticketq.Queue) { submitJob(f, q, "known", ticketq.Submission{}) })
	f.Fuzz(func(t *testing.T, route uint8, queue, query string, body []byte) {
		rt := queueRoutes[int(route)%len(queueRoutes)]
		path := "/v1/queues/" + queue + rt.suffix
		if rt.suffix == "<all>" {
			path = "/v1/queues"
		}
		req := jsonRequest(rt.method, path, query, body)
		queues := []string{"known", queue}
		before := fb.state(t, queues)
		a := fb.do(t, req)
		after := fb.state(t, queues)
		if a.refused() || rt.method == http.MethodGet {
			expectUnchanged(t, req, a, before, after)
		}
		if !a.refused() && rt.suffix != "<all>" && job.ValidateQueueName(queue) != nil {
			t.Fatalf("%s: answered %d for an invalid queue name", req, a.status)
		}
	})
}
