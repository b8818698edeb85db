package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ticketq/ticketq/httpapi"
)

// Ensure that HEAD on every GET route answers as GET does, status and
// headers (Content-Length included), without the body; errors included,
// and that it changes nothing.
func TestServer_Head(t *testing.T) {
	q := openQueue(t, nil)
	tb := serve(t, q, httpapi.New(q, httpapi.Options{Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ticketq_up 1\n"))
	})}))
	tk := tb.submit(t, "q", `{"payload": {"n": 1}}`)
	paths := []string{
		"/v1/jobs/" + tk, "/v1/jobs/" + tk + "?wait=0s", "/v1/queues", "/v1/queues/q", "/v1/queues/q/jobs?state=queued",
		"/v1/openapi.json", "/v1/backup", httpapi.MetricsPath, "/healthz", "/readyz",
		// Errors: the same status and headers, no body.
		"/v1/jobs/999", "/v1/jobs/abc", "/v1/queues/nope", "/v1/queues/q/jobs?limit=0", "/v1/queues?x=1",
		"/v1/jobs/" + tk + "?wait=soon", "/v1/jobs/" + tk + "?wait=-1s", "/v1/jobs/" + tk + "?wait=1h",
	}
	for _, p := range paths {
		// Ensure that HEAD of this path is its GET without the body.
		t.Run(p, func(t *testing.T) {
			before := tb.snapshot(t)
			get := tb.do(t, http.MethodGet, p, "")
			head := tb.do(t, http.MethodHead, p, "")
			if head.status != get.status || len(head.body) != 0 {
				t.Fatalf("HEAD = %d with %d bytes of body; GET = %d", head.status, len(head.body), get.status)
			}
			for _, h := range []string{"Content-Type", "Content-Length", "Allow", "Retry-After", "Content-Disposition"} {
				// Queue stats carry the age of the oldest job, which grows
				// between the two requests, and with it the length.
				if h == "Content-Length" && strings.HasPrefix(p, "/v1/queues") && !strings.Contains(p, "/jobs") && get.status == http.StatusOK {
					continue
				}
				if head.header.Get(h) != get.header.Get(h) {
					t.Errorf("%s: HEAD %q, GET %q", h, head.header.Get(h), get.header.Get(h))
				}
			}
			if head.header.Get("Content-Length") == "" {
				t.Errorf("HEAD has no Content-Length")
			}
			if after := tb.snapshot(t); after != before {
				t.Fatalf("HEAD changed the state:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// Ensure that a HEAD with ?wait= is answered at once, as without the wait,
// and takes no long-poll place: its body would be thrown away. A bad wait
// is refused as GET refuses it (TestServer_Head).
func TestServer_HeadDoesNotWait(t *testing.T) {
	q := openQueue(t, nil)
	api := httpapi.New(q, httpapi.Options{MaxLongPolls: 1})
	tb := serve(t, q, api)
	tk := tb.submit(t, "pull", `{"payload": 1}`)
	waiter := tb.getAsync("/v1/jobs/" + tk + "?wait=30s")
	awaitLongPolls(t, api, 1)

	head := tb.do(t, http.MethodHead, "/v1/jobs/"+tk+"?wait=30s", "")
	get := tb.do(t, http.MethodGet, "/v1/jobs/"+tk, "")
	if head.status != http.StatusOK || head.header.Get("Content-Length") != get.header.Get("Content-Length") {
		t.Fatalf("HEAD ?wait=30s with every long-poll place taken = %d, Content-Length %q; want 200 as GET without a wait (%q)",
			head.status, head.header.Get("Content-Length"), get.header.Get("Content-Length"))
	}
	if n := api.LongPolls(); n != 1 {
		t.Fatalf("%d long-polls after the HEAD, want the GET's 1", n)
	}
	tb.do(t, http.MethodDelete, "/v1/jobs/"+tk, "").expect(t, http.StatusOK)
	if got := (<-waiter).wait(t).expect(t, http.StatusOK)["state"]; got != "canceled" {
		t.Fatalf("waiter saw state %v, want canceled", got)
	}
}
