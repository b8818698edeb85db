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
			{method: "GET", path: "/v1/queues", status: 503, code: "shutting_down"},
			{method: "POST", path: "/v1/queues/q/jobs", body: `{"payload": 2}`, status: 503, code: "shutting_down"},
			{method: "DELETE", path: "/v1/jobs/1", status: 503, code: "shutting_down"},
		} {
			tb.expectRefused(t, c)
			if r := tb.do(t, c.method, c.path, c.body); !r.close {
				t.Fatalf("%s %s: no Connection: close while draining", c.method, c.path)
			}
		}
	})
}

// Ensure that Drain ends a long-poll in flight with the job as it is, so
// that it does not hold up the shutdown.
func TestServer_Drain(t *testing.T) {
	q := openQueue(t, nil)
	sq := newSignalingQueue(q)
	tb := serve(t, q, httpapi.New(sq, httpapi.Options{}))
	tk := tb.submit(t, "idle", `{"payload": 1}`)
	res := tb.getAsync("/v1/jobs/" + tk + "?wait=60s")
	<-sq.waiting
	tb.api.Drain()
	r := (<-res).wait(t)
	if j := r.expect(t, http.StatusOK); j["state"] != "queued" || j["ticket"] != tk {
		t.Fatalf("job = %v", j)
	}
	<-sq.waited
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
