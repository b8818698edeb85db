package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/ticketq/ticketq"
)

// served sends requests to a real server and checks every answer against
// the document: the status must be documented for the route, the body must
// match the status's schema, the documented headers must be present and
// valid; a request body the server took must match its schema too.
type served struct {
	t    *testing.T
	spec *openapiSpec
	api  *Server
	base string
	// answered collects the operations that answered 2xx, over every
	// server of the test.
	answered map[string]bool
}

// serveAPI serves api on 127.0.0.1 until the test ends.
func serveAPI(t *testing.T, spec *openapiSpec, api *Server, answered map[string]bool) *served {
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &served{t: t, spec: spec, api: api, base: srv.URL, answered: answered}
}

// call sends a request (a JSON body when body is not nil; headers as
// name, value pairs), checks the answer against the document and its
// status against want, and returns the body.
func (s *served) call(ctx context.Context, method, path string, body []byte, want int, headers ...string) []byte {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		s.t.Errorf("%s %s: %v", method, path, err)
		return nil
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	// Errors, not Fatal: call also runs on goroutines of the test.
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			s.t.Errorf("%s %s: %v", method, path, err)
		}
		return nil
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		s.t.Errorf("%s %s: %v", method, path, err)
		return nil
	}
	where := fmt.Sprintf("%s %s → %d", method, path, resp.StatusCode)
	if resp.StatusCode != want {
		s.t.Errorf("%s, want %d: %s", where, want, got)
	}
	s.check(where, req, body, resp, got)
	return got
}

// check holds one answer to the document.
func (s *served) check(where string, req *http.Request, reqBody []byte, resp *http.Response, body []byte) {
	s.t.Helper()
	status := strconv.Itoa(resp.StatusCode)
	var m mux.RouteMatch
	if !s.api.router.Match(req, &m) || m.MatchErr != nil {
		// No operation: the answers of the whole API for an unknown
		// route and for a known path with the wrong method.
		name := map[int]string{http.StatusNotFound: "NotFound", http.StatusMethodNotAllowed: "MethodNotAllowed"}[resp.StatusCode]
		r := s.spec.doc.Components.Responses[name]
		if r == nil {
			s.t.Errorf("%s: a request no route takes got a status the document has no response for", where)
			return
		}
		s.checkResponse(where, req, r, pointer("components", "responses", name), resp, body)
		return
	}
	tmpl, err := m.Route.GetPathTemplate()
	if err != nil {
		s.t.Fatal(err)
	}
	o, ok := s.spec.find(req.Method, tmpl)
	if !ok {
		s.t.Errorf("%s: %s %s is not in the document", where, req.Method, tmpl)
		return
	}
	r, ptr, err := s.spec.response(o, status)
	if err != nil {
		s.t.Errorf("%s: %v", where, err)
		return
	}
	s.checkResponse(where, req, r, ptr, resp, body)
	if resp.StatusCode/100 == 2 {
		s.answered[o.String()] = true
		s.checkParams(where, o, m.Vars, req)
		if reqBody != nil {
			rb, rbPtr, err := s.spec.requestBody(o)
			switch {
			case err != nil:
				s.t.Error(err)
			case rb == nil:
				s.t.Errorf("%s: the server took a body the document does not describe", where)
			default:
				if err := s.spec.validate(rbPtr+pointer("content", "application/json", "schema")[1:], reqBody); err != nil {
					s.t.Errorf("%s: the server took a body that does not match the schema: %v\n%s", where, err, reqBody)
				}
			}
		}
	}
}

// checkParams requires the path and query parameters of a request the
// server took to be documented and valid against their schemas.
func (s *served) checkParams(where string, o operation, vars map[string]string, req *http.Request) {
	s.t.Helper()
	params, ptrs, err := s.spec.parameters(o)
	if err != nil {
		s.t.Fatal(err)
	}
	check := func(in, name, value string) {
		i := slices.IndexFunc(params, func(p *oaParameter) bool { return p.In == in && p.Name == name })
		if i < 0 {
			s.t.Errorf("%s: the server took the %s parameter %q, which the document does not describe", where, in, name)
			return
		}
		inst, _ := json.Marshal(value)
		if sch, _, err := s.spec.schemaAt(ptrs[i] + "/schema"); err == nil && sch["type"] == "integer" {
			inst = []byte(value)
		}
		if err := s.spec.validate(ptrs[i]+"/schema", inst); err != nil {
			s.t.Errorf("%s: the server took %s parameter %s=%q, which its schema refuses: %v", where, in, name, value, err)
		}
	}
	for name, value := range vars {
		check("path", name, value)
	}
	for name, values := range req.URL.Query() {
		for _, v := range values {
			check("query", name, v)
		}
	}
}

func (s *served) checkResponse(where string, req *http.Request, r *oaResponse, ptr string, resp *http.Response, body []byte) {
	s.t.Helper()
	for name, h := range r.Headers {
		h, hptr, err := s.spec.header(h, ptr+pointer("headers", name)[1:])
		if err != nil {
			s.t.Fatal(err)
		}
		v := resp.Header.Get(name)
		if v == "" {
			if h.Required {
				s.t.Errorf("%s: no %s header, which the document requires", where, name)
			}
			continue
		}
		inst, _ := json.Marshal(v)
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			if sch, _, _ := s.spec.schemaAt(hptr + "/schema"); sch["type"] == "integer" {
				inst = []byte(strconv.FormatInt(n, 10))
			}
		}
		if err := s.spec.validate(hptr+"/schema", inst); err != nil {
			s.t.Errorf("%s: header %s: %q: %v", where, name, v, err)
		}
	}
	if req.Method == http.MethodHead || len(r.Content) == 0 {
		if len(body) != 0 {
			s.t.Errorf("%s: a body where the document has none: %s", where, body)
		}
		return
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || r.Content[mt] == nil {
		s.t.Errorf("%s: Content-Type %q, the document has %v", where, resp.Header.Get("Content-Type"), slices.Sorted(maps.Keys(r.Content)))
		return
	}
	if mt != "application/json" {
		return // text or bytes: the schema describes no JSON to check
	}
	if err := s.spec.validate(ptr+pointer("content", mt, "schema")[1:], body); err != nil {
		s.t.Errorf("%s: the body does not match the document: %v\n%s", where, err, body)
	}
}

// example returns a request-body example of an operation.
func (s *served) example(operationID, name string) []byte {
	s.t.Helper()
	for _, o := range s.spec.operations() {
		if o.op.OperationID != operationID {
			continue
		}
		rb, _, err := s.spec.requestBody(o)
		if err != nil || rb == nil {
			s.t.Fatalf("%s has no request body: %v", operationID, err)
		}
		ex := rb.Content["application/json"].Examples[name]
		if ex == nil {
			s.t.Fatalf("%s has no example %q", operationID, name)
		}
		return ex.Value
	}
	s.t.Fatalf("no operation %s", operationID)
	return nil
}

// withLease is an example with the lease token of a real lease.
func (s *served) withLease(example []byte, lease string) []byte {
	s.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(example, &m); err != nil {
		s.t.Fatal(err)
	}
	m["lease"] = lease
	b, err := json.Marshal(m)
	if err != nil {
		s.t.Fatal(err)
	}
	return b
}

// fakeMetrics stands in for the Prometheus handler, whose format is package
// metrics' business: here only the route and its answer's type matter.
var fakeMetrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = io.WriteString(w, "# TYPE ticketq_up gauge\nticketq_up 1\n")
})

// decode reads an answer into v.
func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

// Ensure that a real server answers as the document says: every documented
// operation is called and answers 2xx with a body that matches its schema,
// every request-body example is sent as it is (lease tokens replaced by
// real ones) and taken, and the errors a client can provoke come with a
// documented status, code and body.
func TestOpenAPI_Served(t *testing.T) {
	spec := loadSpec(t)
	ctx := context.Background()
	q, err := ticketq.Open(t.TempDir(), ticketq.Options{Grace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Handle("ok", func(context.Context, *ticketq.Job) ([]byte, error) { return []byte(`{"done":true}`), nil }, ticketq.QueueOptions{Workers: 1}); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- q.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-ran; err != nil && !errors.Is(err, ticketq.ErrClosed) {
			t.Errorf("run: %v", err)
		}
		if err := q.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	answered := map[string]bool{}
	api := New(q, Options{MaxBodyBytes: 4096, MaxBatch: 3, MaxLongPolls: 1, Metrics: fakeMetrics})
	s := serveAPI(t, spec, api, answered)

	// Probes and the document itself.
	for _, p := range []string{"/healthz", "/readyz"} {
		s.call(ctx, http.MethodGet, p, nil, http.StatusOK)
		s.call(ctx, http.MethodHead, p, nil, http.StatusOK)
	}
	if got := s.call(ctx, http.MethodGet, "/v1/openapi.json", nil, http.StatusOK); !bytes.Equal(got, openapiJSON) {
		t.Errorf("GET /v1/openapi.json is not the embedded document")
	}

	// Every submit example, then the first again: a duplicate.
	type receipt struct{ Ticket string }
	tickets := map[string]string{}
	for _, name := range []string{"one", "options", "runAt", "batch"} {
		got := s.call(ctx, http.MethodPost, "/v1/queues/pull/jobs", s.example("submitJobs", name), http.StatusAccepted)
		if name != "batch" {
			tickets[name] = decode[receipt](t, got).Ticket
		}
	}
	dup := decode[receiptView](t, s.call(ctx, http.MethodPost, "/v1/queues/pull/jobs", s.example("submitJobs", "options"), http.StatusOK))
	if !dup.Duplicate || dup.Ticket != tickets["options"] {
		t.Errorf("a repeated idempotency key answered %+v, want the duplicate of ticket %s", dup, tickets["options"])
	}
	for range 5 {
		s.call(ctx, http.MethodPost, "/v1/queues/pull/jobs", s.example("submitJobs", "one"), http.StatusAccepted)
	}

	// Pull mode: lease the due jobs, then settle them with each example.
	type lease struct{ Ticket, Lease string }
	type leases struct{ Jobs []lease }
	leased := decode[leases](t, s.call(ctx, http.MethodPost, "/v1/queues/pull/leases", s.example("leaseJobs", "longPoll"), http.StatusOK)).Jobs
	if len(leased) < 5 {
		t.Fatalf("leased %d jobs, want at least 5 of the 8 due", len(leased))
	}
	if rest := decode[leases](t, s.call(ctx, http.MethodPost, "/v1/queues/pull/leases", s.example("leaseJobs", "defaults"), http.StatusOK)).Jobs; len(rest) != 0 {
		t.Errorf("a second lease got %d jobs; every due job was leased already", len(rest))
	}
	settle := func(j lease, action, operationID, example string) {
		t.Helper()
		s.call(ctx, http.MethodPost, "/v1/jobs/"+j.Ticket+"/"+action, s.withLease(s.example(operationID, example), j.Lease), http.StatusOK)
	}
	settle(leased[0], "progress", "reportProgress", "resizing")
	settle(leased[0], "extend", "extendLease", "minute")
	settle(leased[0], "ack", "ackJob", "result")
	settle(leased[1], "ack", "ackJob", "noResult")
	settle(leased[2], "nack", "nackJob", "retryLater")
	settle(leased[3], "nack", "nackJob", "permanent")
	settle(leased[4], "release", "releaseJob", "release")
	acked, dead, released := "/v1/jobs/"+leased[0].Ticket, "/v1/jobs/"+leased[3].Ticket, leased[4]

	// Reading, canceling and retrying jobs.
	s.call(ctx, http.MethodGet, acked, nil, http.StatusOK)
	s.call(ctx, http.MethodGet, acked+"?wait=1s", nil, http.StatusOK)
	later := "/v1/jobs/" + tickets["runAt"]
	s.call(ctx, http.MethodDelete, later, nil, http.StatusOK)
	s.call(ctx, http.MethodPost, later+"/retry", nil, http.StatusOK)
	s.call(ctx, http.MethodDelete, later, nil, http.StatusOK)
	s.call(ctx, http.MethodPost, later+"/retry", []byte(spec.doc.Components.RequestBodies["Empty"].Content["application/json"].Examples["empty"].Value), http.StatusOK)
	s.call(ctx, http.MethodPost, dead+"/retry", nil, http.StatusOK)

	// Queues.
	s.call(ctx, http.MethodGet, "/v1/queues", nil, http.StatusOK)
	s.call(ctx, http.MethodGet, "/v1/queues/pull", nil, http.StatusOK)
	s.call(ctx, http.MethodPatch, "/v1/queues/pull", s.example("patchQueue", "set"), http.StatusOK)
	s.call(ctx, http.MethodPatch, "/v1/queues/pull", s.example("patchQueue", "unset"), http.StatusOK)
	s.call(ctx, http.MethodPost, "/v1/queues/pull/pause", nil, http.StatusOK)
	s.call(ctx, http.MethodPost, "/v1/queues/pull/resume", []byte(`{}`), http.StatusOK)
	s.call(ctx, http.MethodGet, "/v1/queues/pull/jobs", nil, http.StatusOK)
	page := decode[struct{ Next string }](t, s.call(ctx, http.MethodGet, "/v1/queues/pull/jobs?state=queued&limit=2", nil, http.StatusOK))
	if page.Next == "" {
		t.Errorf("a page of 2 of more queued jobs has no next")
	}
	s.call(ctx, http.MethodGet, "/v1/queues/pull/jobs?state=queued&limit=2&after="+page.Next, nil, http.StatusOK)

	// The backup (the queue on bbolt can make one), and the metrics.
	s.call(ctx, http.MethodGet, "/v1/backup", nil, http.StatusOK)
	s.call(ctx, http.MethodGet, MetricsPath, nil, http.StatusOK)

	// HEAD on every GET route: the same answer without the body.
	for _, p := range []string{acked, "/v1/queues", "/v1/queues/pull", "/v1/queues/pull/jobs", "/v1/openapi.json", "/v1/backup", MetricsPath} {
		s.call(ctx, http.MethodHead, p, nil, http.StatusOK)
	}

	// Errors a client can provoke.
	s.call(ctx, http.MethodPost, "/v1/queues/pull/jobs", []byte(`{"payload":1,"max_attemps":3}`), http.StatusBadRequest)
	s.call(ctx, http.MethodPost, "/v1/queues/pull/jobs", []byte(`{"jobs":[{"payload":1},{"payload":2},{"payload":3},{"payload":4}]}`), http.StatusBadRequest)
	s.call(ctx, http.MethodPost, "/v1/queues/pull/jobs", []byte(`{"payload":`+strconv.Quote(strings.Repeat("x", 5000))+`}`), http.StatusRequestEntityTooLarge)
	s.call(ctx, http.MethodPost, "/v1/queues/pull/jobs", []byte(`payload=1`), http.StatusUnsupportedMediaType, "Content-Type", "application/x-www-form-urlencoded")
	s.call(ctx, http.MethodGet, "/v1/jobs/abc", nil, http.StatusBadRequest)
	s.call(ctx, http.MethodGet, "/v1/jobs/99999", nil, http.StatusNotFound)
	s.call(ctx, http.MethodDelete, acked, nil, http.StatusConflict)
	s.call(ctx, http.MethodPost, "/v1/jobs/"+leased[1].Ticket+"/retry", nil, http.StatusConflict)
	s.call(ctx, http.MethodPost, "/v1/jobs/"+released.Ticket+"/ack", []byte(`{"lease":"stale"}`), http.StatusConflict)
	s.call(ctx, http.MethodPost, "/v1/queues/ok/leases", nil, http.StatusConflict)
	s.call(ctx, http.MethodGet, "/v1/queues/nope", nil, http.StatusNotFound)
	s.call(ctx, http.MethodGet, "/v1/queues/nope/jobs", nil, http.StatusNotFound)
	s.call(ctx, http.MethodPost, "/v1/queues/nope/resume", nil, http.StatusNotFound)
	s.call(ctx, http.MethodGet, "/v1/nope", nil, http.StatusNotFound)
	s.call(ctx, http.MethodPut, acked, nil, http.StatusMethodNotAllowed)
	// Every operation that documents a 400 refuses a query parameter it
	// does not take (the Prometheus handler ignores them).
	for _, o := range spec.operations() {
		if o.op.Responses["400"] == nil {
			continue
		}
		path := strings.NewReplacer("{queue}", "pull", "{ticket}", leased[1].Ticket).Replace(o.path)
		s.call(ctx, o.method, path+"?zz_unknown=1", nil, http.StatusBadRequest)
	}

	// One long-poll at a time (MaxLongPolls 1): a second is refused.
	pollCtx, endPoll := context.WithCancel(ctx)
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		s.call(pollCtx, http.MethodGet, later+"?wait=30s", nil, http.StatusOK)
	}()
	for deadline := time.Now().Add(10 * time.Second); api.LongPolls() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the long-poll did not start within 10s")
		}
	}
	s.call(ctx, http.MethodGet, later+"?wait=1s", nil, http.StatusTooManyRequests)
	endPoll()
	<-polled

	// Tokens: 401 without one, 403 for a role the route does not allow,
	// and the document for every role.
	tokens := []Token{
		{Name: "ci", Role: RoleSubmit, Secret: "submit-secret-0123456789"},
		{Name: "runner", Role: RoleWork, Secret: "work-secret-0123456789"},
	}
	authed := serveAPI(t, spec, New(q, Options{Tokens: tokens, Metrics: fakeMetrics}), answered)
	authed.call(ctx, http.MethodGet, "/v1/queues", nil, http.StatusUnauthorized)
	authed.call(ctx, http.MethodGet, "/v1/queues", nil, http.StatusForbidden, "Authorization", "Bearer "+tokens[0].Secret)
	for _, tok := range tokens {
		authed.call(ctx, http.MethodGet, "/v1/openapi.json", nil, http.StatusOK, "Authorization", "Bearer "+tok.Secret)
	}
	authed.call(ctx, http.MethodGet, "/healthz", nil, http.StatusOK)
	authed.call(ctx, http.MethodGet, MetricsPath, nil, http.StatusForbidden, "Authorization", "Bearer "+tokens[1].Secret)

	// Recovering, then draining: 503.
	recovering := serveAPI(t, spec, New(nil, Options{}), answered)
	recovering.call(ctx, http.MethodGet, "/readyz", nil, http.StatusServiceUnavailable)
	recovering.call(ctx, http.MethodHead, "/readyz", nil, http.StatusServiceUnavailable)
	recovering.call(ctx, http.MethodGet, acked, nil, http.StatusServiceUnavailable)
	draining := New(q, Options{})
	draining.Drain()
	drained := serveAPI(t, spec, draining, answered)
	drained.call(ctx, http.MethodGet, "/readyz", nil, http.StatusServiceUnavailable)
	drained.call(ctx, http.MethodPost, "/v1/queues/pull/jobs", s.example("submitJobs", "one"), http.StatusServiceUnavailable)

	for _, o := range spec.operations() {
		if !answered[o.String()] {
			t.Errorf("%s is documented but was never called with success here; add a call", o)
		}
	}
}
