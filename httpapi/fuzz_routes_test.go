package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/job"
)

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
