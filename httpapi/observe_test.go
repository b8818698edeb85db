package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketq/ticketq/httpapi"
)

// countingObserver records the label values it is given.
type countingObserver struct {
	mu     sync.Mutex
	labels map[string]int // route|method|status
	acks   int
}

func (o *countingObserver) Request(route, method string, status int, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.labels[fmt.Sprintf("%s|%s|%d", route, method, status)]++
}

func (o *countingObserver) Acked(time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.acks++
}

// Ensure that the labels of the HTTP metrics are bounded whatever a client
// sends: made-up methods and paths fall into "other" and "", requests are
// labelled by route template, and only stored submits count as acks.
func TestServer_ObserverLabels(t *testing.T) {
	obs := &countingObserver{labels: map[string]int{}}
	q := openQueue(t, nil)
	tb := serve(t, q, httpapi.New(q, httpapi.Options{Observer: obs}))
	ticket := tb.submit(t, "q", `{"payload": 1}`)
	tb.do(t, http.MethodGet, "/v1/jobs/"+ticket, "").expect(t, http.StatusOK)
	tb.do(t, http.MethodPost, "/v1/queues/q/jobs", `{"payload": 1, "priority": 1000}`).expectError(t, http.StatusBadRequest, "invalid_request")
	for i := range 20 {
		tb.request(t, t.Context(), fmt.Sprintf("X%d%s", i, strings.Repeat("A", 100)), "/v1/jobs/"+ticket, "", nil)
		tb.do(t, http.MethodGet, fmt.Sprintf("/nowhere/%d", i), "")
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	for k, n := range map[string]int{
		"/v1/queues/{queue}/jobs|POST|202": 1,
		"/v1/queues/{queue}/jobs|POST|400": 1,
		"/v1/jobs/{ticket}|GET|200":        1,
		"|other|405":                       20, // a known path, a method no route takes
		"|GET|404":                         20,
	} {
		if obs.labels[k] != n {
			t.Errorf("label %q counted %d, want %d", k, obs.labels[k], n)
		}
	}
	if len(obs.labels) != 5 {
		t.Errorf("%d label sets, want 5: %v", len(obs.labels), obs.labels)
	}
	if obs.acks != 1 {
		t.Errorf("%d acks observed, want the one stored submit", obs.acks)
	}
}
