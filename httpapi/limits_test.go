package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ticketq/ticketq"
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

// Ensure that a request that would create a queue beyond MaxQueues is
// refused with 409 too_many_queues and changes nothing, whichever route
// would create it, while existing queues keep working.
func TestServer_MaxQueues(t *testing.T) {
	q, err := ticketq.Open(t.TempDir(), ticketq.Options{Grace: time.Second, MaxQueues: 2})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := q.Run(context.Background()); err != nil && !errors.Is(err, ticketq.ErrClosed) {
			t.Errorf("run: %v", err)
		}
	}()
	t.Cleanup(func() {
		if err := q.Close(); err != nil {
			t.Errorf("close queue: %v", err)
		}
	})
	tb := serve(t, q, httpapi.New(q, httpapi.Options{}))
	tb.submit(t, "a", `{"payload": 1}`)
	tb.submit(t, "b", `{"payload": 1}`)
	for _, c := range []errorCase{
		{name: "Submit", method: "POST", path: "/v1/queues/c/jobs", body: `{"payload": 1}`, status: 409, code: "too_many_queues"},
		{name: "Batch", method: "POST", path: "/v1/queues/c/jobs", body: `{"jobs": [{"payload": 1}, {"payload": 2}]}`, status: 409, code: "too_many_queues"},
		{name: "Pause", method: "POST", path: "/v1/queues/c/pause", status: 409, code: "too_many_queues"},
		{name: "Patch", method: "PATCH", path: "/v1/queues/c", body: `{"workers": 2}`, status: 409, code: "too_many_queues"},
	} {
		t.Run(c.name, func(t *testing.T) { tb.expectRefused(t, c) })
	}
	tb.submit(t, "a", `{"payload": 2}`)
	tb.do(t, http.MethodPost, "/v1/queues/b/pause", "").expect(t, http.StatusOK)
}

// Ensure that the default limits agree: a full batch of DefaultMaxBatch
// jobs of 400 bytes of JSON each, a typical job with its key, fits in
// DefaultMaxBodyBytes and is stored whole.
func TestServer_FullBatchFitsDefaultBody(t *testing.T) {
	const jobBytes = 400
	tb := setup(t, nil)
	var b strings.Builder
	b.WriteString(`{"jobs":[`)
	for i := range httpapi.DefaultMaxBatch {
		if i > 0 {
			b.WriteByte(',')
		}
		job := fmt.Sprintf(`{"payload":{"user":"u%05d","email":"user%05d@example.com","action":"welcome","text":""},"idempotency_key":"signup-%05d"}`, i, i, i)
		// Pad the text so that the job, with its comma, is jobBytes long.
		pad := strings.Repeat("x", jobBytes-1-len(job))
		b.WriteString(strings.Replace(job, `"text":""`, `"text":"`+pad+`"`, 1))
	}
	b.WriteString(`]}`)
	if b.Len() > httpapi.DefaultMaxBodyBytes {
		t.Fatalf("a batch of %d jobs of %d bytes is %d bytes, over the default body limit of %d", httpapi.DefaultMaxBatch, jobBytes, b.Len(), httpapi.DefaultMaxBodyBytes)
	}
	m := tb.do(t, http.MethodPost, "/v1/queues/q/jobs", b.String()).expect(t, http.StatusAccepted)
	if n := len(m["tickets"].([]any)); n != httpapi.DefaultMaxBatch {
		t.Fatalf("%d tickets, want %d", n, httpapi.DefaultMaxBatch)
	}
	st := tb.do(t, http.MethodGet, "/v1/queues/q", "").expect(t, http.StatusOK)
	if got := st["counts"].(map[string]any)["queued"]; got != json.Number(strconv.Itoa(httpapi.DefaultMaxBatch)) {
		t.Fatalf("%v jobs queued, want %d", got, httpapi.DefaultMaxBatch)
	}
}
