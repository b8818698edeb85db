package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/job"
)

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
		{"limits", `{"max_queue": 100, "max_leases": null}`},
		{"limits", `{"max_queue": -1}`},
		{"limits", `{"max_queue": 1000000001}`},
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
