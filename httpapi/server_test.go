package httpapi_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/ticketq/ticketq/httpapi"
)

// Ensure that the probes and /v1 follow the life of the server: recovering
// before SetQueue, ready after it, shutting down after Drain.
func TestServer_Readyz(t *testing.T) {
	q := openQueue(t, nil)
	tb := serve(t, q, httpapi.New(nil, httpapi.Options{}))
	expectStatus := func(t *testing.T, path string, status int, want string) {
		t.Helper()
		m := tb.do(t, http.MethodGet, path, "").expect(t, status)
		if len(m) != 1 || m["status"] != want {
			t.Fatalf("%s = %v, want status %q", path, m, want)
		}
	}

	// Ensure that before SetQueue the server is live but not ready, and
	// refuses every /v1 request without touching the queue.
	t.Run("Recovering", func(t *testing.T) {
		expectStatus(t, "/healthz", http.StatusOK, "ok")
		expectStatus(t, "/readyz", http.StatusServiceUnavailable, "recovering")
		tb.expectRefused(t, errorCase{method: "GET", path: "/v1/queues", status: 503, code: "not_ready", retryAfter: "1"})
		tb.expectRefused(t, errorCase{method: "POST", path: "/v1/queues/q/jobs", body: `{"payload": 1}`, status: 503, code: "not_ready", retryAfter: "1"})
		tb.expectRefused(t, errorCase{method: "GET", path: "/v1/nope", status: 503, code: "not_ready", retryAfter: "1"})
	})

	// Ensure that SetQueue makes the server ready.
	t.Run("Ready", func(t *testing.T) {
		tb.api.SetQueue(q)
		expectStatus(t, "/readyz", http.StatusOK, "ready")
		tb.submit(t, "q", `{"payload": 1}`)
		tb.do(t, http.MethodGet, "/v1/queues", "").expect(t, http.StatusOK)
	})

	// Ensure that after Drain the server is live, not ready, and refuses
	// /v1 with Connection: close.
	t.Run("Draining", func(t *testing.T) {
		tb.api.Drain()
		expectStatus(t, "/readyz", http.StatusServiceUnavailable, "shutting_down")
		expectStatus(t, "/healthz", http.StatusOK, "ok")
		for _, c := range []errorCase{
			{method: "GET", path: "/v1/queues", status: 503, code: "shutting_down", retryAfter: "1"},
			{method: "POST", path: "/v1/queues/q/jobs", body: `{"payload": 2}`, status: 503, code: "shutting_down", retryAfter: "1"},
			{method: "DELETE", path: "/v1/jobs/1", status: 503, code: "shutting_down", retryAfter: "1"},
		} {
			tb.expectRefused(t, c)
			if r := tb.do(t, c.method, c.path, c.body); !r.close {
				t.Fatalf("%s %s: no Connection: close while draining", c.method, c.path)
			}
		}
	})
}

// Ensure that Drain ends the long-polls in flight at once, so that they do
// not hold up the shutdown, and tells their clients that the server is
// going away (503 shutting_down, Retry-After, Connection: close) rather
// than answering as if the wait had passed; and that nothing changes.
func TestServer_Drain(t *testing.T) {
	cases := []struct {
		name, method, path, body string
		started                  func(sq *signalingQueue) <-chan struct{}
	}{
		{"Wait", http.MethodGet, "/v1/jobs/1?wait=60s", "", func(sq *signalingQueue) <-chan struct{} { return sq.waiting }},
		{"Lease", http.MethodPost, "/v1/queues/empty/leases", `{"wait": "30s"}`, func(sq *signalingQueue) <-chan struct{} { return sq.leasing }},
	}
	for _, c := range cases {
		// Ensure that this long-poll is ended by Drain and told why.
		t.Run(c.name, func(t *testing.T) {
			q := openQueue(t, nil)
			sq := newSignalingQueue(q)
			sq.leasing = make(chan struct{}, 1)
			tb := serve(t, q, httpapi.New(sq, httpapi.Options{}))
			tk := tb.submit(t, "idle", `{"payload": 1}`)
			if tk != "1" {
				t.Fatalf("ticket %s, want 1", tk)
			}
			before := tb.snapshot(t)
			res := make(chan response, 1)
			go func() {
				h := map[string]string{}
				if c.body != "" {
					h["Content-Type"] = "application/json"
				}
				r, err := tb.send(context.Background(), c.method, c.path, c.body, h)
				if err != nil {
					t.Errorf("%s %s: %v", c.method, c.path, err)
				}
				res <- r
			}()
			<-c.started(sq)
			tb.api.Drain()
			r := <-res
			msg := r.expectError(t, http.StatusServiceUnavailable, "shutting_down")
			if r.header.Get("Retry-After") != "1" || !r.close {
				t.Fatalf("Retry-After %q, close %t; want 1 and a closed connection", r.header.Get("Retry-After"), r.close)
			}
			if !strings.Contains(msg, "ended before") {
				t.Fatalf("message %q does not say the wait was cut short", msg)
			}
			if after := tb.snapshot(t); after != before {
				t.Fatalf("the drained long-poll changed the state:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// Ensure that a long-poll that got what it waited for is answered with it,
// whatever Drain does after: a job that was already final.
func TestServer_DrainAfterFinal(t *testing.T) {
	q := openQueue(t, nil)
	sq := newSignalingQueue(q)
	tb := serve(t, q, httpapi.New(sq, httpapi.Options{}))
	tk := tb.submit(t, "idle", `{"payload": 1}`)
	tb.do(t, http.MethodDelete, "/v1/jobs/"+tk, "").expect(t, http.StatusOK)
	res := tb.getAsync("/v1/jobs/" + tk + "?wait=60s")
	<-sq.waiting
	if err := <-sq.waited; err != nil {
		t.Fatalf("wait on a final job: %v", err)
	}
	tb.api.Drain()
	if j := (<-res).wait(t).expect(t, http.StatusOK); j["state"] != "canceled" {
		t.Fatalf("job = %v", j)
	}
}

// Ensure that every answer carries a request id, the client's if it is sane,
// and that the access log line carries it too.
func TestServer_RequestID(t *testing.T) {
	logs := &syncBuffer{}
	q := openQueue(t, nil)
	tb := serve(t, q, httpapi.New(q, httpapi.Options{Logger: zerolog.New(logs)}))
	generated := regexp.MustCompile(`^[0-9a-f]{16}$`)
	for _, c := range []struct {
		name, given string
		kept        bool
	}{
		{"Given", "req-42/abc", true},
		{"Missing", "", false},
		{"TooLong", strings.Repeat("a", 129), false},
		{"ControlCharacter", "a\tb", false},
		{"NotASCII", "r\u00e9q", false},
	} {
		// Ensure that this request id is kept or replaced.
		t.Run(c.name, func(t *testing.T) {
			h := map[string]string{}
			if c.given != "" {
				h["X-Request-Id"] = c.given
			}
			r := tb.request(t, context.Background(), http.MethodGet, "/healthz", "", h)
			r.expect(t, http.StatusOK)
			id := r.header.Get("X-Request-Id")
			if c.kept && id != c.given || !c.kept && !generated.MatchString(id) {
				t.Fatalf("request id = %q (given %q)", id, c.given)
			}
			var line map[string]any
			for _, l := range logs.lines(t) {
				if l["request_id"] == id {
					line = l
				}
			}
			if line == nil {
				t.Fatalf("no log line with request id %q", id)
			}
			if line["level"] != "info" || line["method"] != "GET" || line["path"] != "/healthz" ||
				line["status"] != float64(200) || line["bytes"] != float64(len(r.body)) || line["duration_ms"] == nil {
				t.Fatalf("access log line = %v", line)
			}
		})
	}
}
