package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/ticketq/ticketq/httpapi"
)

// awaitLongPolls waits until api holds n waiting requests.
func awaitLongPolls(t *testing.T, api *httpapi.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for api.LongPolls() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d long-polls waiting, want %d", api.LongPolls(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// Ensure that requests beyond MaxLongPolls that would wait are refused at
// once with 429 and change nothing, that requests that do not wait are
// still served, and that a finished wait frees its place.
func TestServer_MaxLongPolls(t *testing.T) {
	q := openQueue(t, nil)
	api := httpapi.New(q, httpapi.Options{MaxLongPolls: 2})
	tb := serve(t, q, api)
	ticket := tb.submit(t, "pull", `{"payload": 1}`)

	waiters := []<-chan asyncResponse{
		tb.getAsync("/v1/jobs/" + ticket + "?wait=30s"),
		tb.getAsync("/v1/jobs/" + ticket + "?wait=30s"),
	}
	awaitLongPolls(t, api, 2)

	for _, c := range []errorCase{
		{name: "StatusWait", method: "GET", path: "/v1/jobs/" + ticket + "?wait=1s", status: 429, code: "too_many_long_polls", retryAfter: "1"},
		{name: "LeaseWait", method: "POST", path: "/v1/queues/pull/leases", body: `{"wait": "1s"}`, status: 429, code: "too_many_long_polls", retryAfter: "1"},
	} {
		t.Run(c.name, func(t *testing.T) { tb.expectRefused(t, c) })
	}
	tb.do(t, http.MethodGet, "/v1/jobs/"+ticket, "").expect(t, http.StatusOK)
	tb.do(t, http.MethodPost, "/v1/queues/empty/leases", `{}`).expect(t, http.StatusOK)
	if n := api.LongPolls(); n != 2 {
		t.Fatalf("refused and non-waiting requests left %d places taken, want the 2 waiters'", n)
	}

	// The cancel ends both waits; their places are free again.
	tb.do(t, http.MethodDelete, "/v1/jobs/"+ticket, "").expect(t, http.StatusOK)
	for _, w := range waiters {
		if got := (<-w).wait(t).expect(t, http.StatusOK)["state"]; got != "canceled" {
			t.Fatalf("waiter saw state %v, want canceled", got)
		}
	}
	awaitLongPolls(t, api, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := tb.request(t, ctx, http.MethodPost, "/v1/queues/empty/leases", `{"wait": "10ms"}`, map[string]string{"Content-Type": "application/json"})
	r.expect(t, http.StatusOK)
}
