package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/ticketq/ticketq"
)

// leased leases one job of queue and returns its ticket and lease token.
func (tb *testBundle) leased(t *testing.T, queue string) (ticket, lease string) {
	t.Helper()
	m := tb.do(t, http.MethodPost, "/v1/queues/"+queue+"/leases", `{"max": 1, "visibility": "1m"}`).expect(t, http.StatusOK)
	jobs := m["jobs"].([]any)
	if len(jobs) != 1 {
		t.Fatalf("leased %d jobs, want 1", len(jobs))
	}
	j := jobs[0].(map[string]any)
	return j["ticket"].(string), j["lease"].(string)
}

// Ensure that a pull worker can lease, report progress, extend, ack and
// nack, with the documented answers.
func TestServer_Pull(t *testing.T) {
	tb := setup(t, nil)
	tk := tb.submit(t, "pull", `{"payload": {"n": 1}, "idempotency_key": "k"}`)
	m := tb.do(t, http.MethodPost, "/v1/queues/pull/leases", `{"max": 10, "visibility": "30s", "wait": "0s"}`).expect(t, http.StatusOK)
	jobs := m["jobs"].([]any)
	if len(jobs) != 1 {
		t.Fatalf("lease = %v", m)
	}
	j := jobs[0].(map[string]any)
	expectKeys(t, j, "ticket", "queue", "payload", "attempt", "max_attempts", "timeout", "idempotency_key", "lease", "lease_expires_at")
	if j["ticket"] != tk || j["queue"] != "pull" || j["attempt"] != json.Number("1") || j["idempotency_key"] != "k" || len(j["lease"].(string)) < 20 ||
		j["max_attempts"] != json.Number("10") || j["timeout"] != "10m0s" {
		t.Fatalf("leased job = %v", j)
	}
	if p, _ := json.Marshal(j["payload"]); string(p) != `{"n":1}` {
		t.Fatalf("payload = %s", p)
	}
	lease := j["lease"].(string)
	body := func(extra string) string { return fmt.Sprintf(`{"lease": %q%s}`, lease, extra) }

	p := tb.do(t, http.MethodPost, "/v1/jobs/"+tk+"/progress", body(`, "progress": 40, "message": "halfway"`)).expect(t, http.StatusOK)
	if p["progress"] != json.Number("40") {
		t.Fatalf("progress answer = %v", p)
	}
	st := tb.do(t, http.MethodGet, "/v1/jobs/"+tk, "").expect(t, http.StatusOK)
	if st["state"] != "running" || st["progress"] != json.Number("40") || st["progress_message"] != "halfway" || st["progress_at"] == nil || st["lease_expires_at"] == nil {
		t.Fatalf("status while leased = %v", st)
	}
	if _, shown := st["lease"]; shown {
		t.Fatal("the status shows the lease token")
	}
	before := st["lease_expires_at"].(string)
	ext := tb.do(t, http.MethodPost, "/v1/jobs/"+tk+"/extend", body(`, "visibility": "5m"`)).expect(t, http.StatusOK)
	if ext["lease_expires_at"].(string) <= before {
		t.Fatalf("extend moved the deadline from %s to %v", before, ext["lease_expires_at"])
	}
	done := tb.do(t, http.MethodPost, "/v1/jobs/"+tk+"/ack", body(`, "result": {"ok": true}`)).expect(t, http.StatusOK)
	if r, _ := json.Marshal(done["result"]); done["state"] != "succeeded" || string(r) != `{"ok":true}` {
		t.Fatalf("ack answer = %v", done)
	}

	tk2 := tb.submit(t, "pull", `{"payload": 2}`)
	_, lease2 := tb.leased(t, "pull")
	n := tb.do(t, http.MethodPost, "/v1/jobs/"+tk2+"/nack", fmt.Sprintf(`{"lease": %q, "error": "disk full", "retry_in": "1h"}`, lease2)).expect(t, http.StatusOK)
	if n["state"] != "queued" || n["last_error"] != "disk full" {
		t.Fatalf("nack answer = %v", n)
	}
	empty := tb.do(t, http.MethodPost, "/v1/queues/pull/leases", `{"wait": "20ms"}`).expect(t, http.StatusOK)
	if len(empty["jobs"].([]any)) != 0 {
		t.Fatalf("leased a job before its retry_in: %v", empty)
	}
	// A stopping worker gives its job back without charging an attempt.
	tk4 := tb.submit(t, "pull", `{"payload": 4}`)
	_, lease4 := tb.leased(t, "pull")
	rel := tb.do(t, http.MethodPost, "/v1/jobs/"+tk4+"/release", fmt.Sprintf(`{"lease": %q}`, lease4)).expect(t, http.StatusOK)
	if rel["state"] != "queued" || rel["interrupted"] != json.Number("1") || rel["attempts"] != json.Number("1") {
		t.Fatalf("release answer = %v", rel)
	}
	tb.do(t, http.MethodPost, "/v1/jobs/"+tk4+"/release", fmt.Sprintf(`{"lease": %q}`, lease4)).expectError(t, http.StatusConflict, "lease_mismatch")
	_, again := tb.leased(t, "pull")
	tb.do(t, http.MethodPost, "/v1/jobs/"+tk4+"/ack", fmt.Sprintf(`{"lease": %q}`, again)).expect(t, http.StatusOK)

	tk3 := tb.submit(t, "pull", `{"payload": 3}`)
	_, lease3 := tb.leased(t, "pull")
	dead := tb.do(t, http.MethodPost, "/v1/jobs/"+tk3+"/nack", fmt.Sprintf(`{"lease": %q, "error": "bad input", "permanent": true}`, lease3)).expect(t, http.StatusOK)
	if dead["state"] != "dead" {
		t.Fatalf("permanent nack answer = %v", dead)
	}
}

// Ensure that a lease waiting with "wait" returns as soon as a job arrives.
func TestServer_LeaseLongPoll(t *testing.T) {
	tb := setup(t, nil)
	ch := make(chan response, 1)
	go func() {
		r, _ := tb.send(context.Background(), http.MethodPost, "/v1/queues/pull/leases", `{"wait": "30s"}`, map[string]string{"Content-Type": "application/json"})
		ch <- r
	}()
	tk := tb.submit(t, "pull", `{"payload": 1}`)
	select {
	case r := <-ch:
		m := r.expect(t, http.StatusOK)
		if jobs := m["jobs"].([]any); len(jobs) != 1 || jobs[0].(map[string]any)["ticket"] != tk {
			t.Fatalf("long-poll answer = %v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the submit did not wake the waiting lease (its wait is 30s)")
	}
}

// Ensure that PATCH sets and clears run-time limits and answers the stats.
func TestServer_PatchQueue(t *testing.T) {
	tb := setup(t, nil)
	m := tb.do(t, http.MethodPatch, "/v1/queues/q", `{"workers": 8, "rate": 2.5, "burst": 3, "max_leases": 10, "max_queue": 1000}`).expect(t, http.StatusOK)
	want := map[string]any{"workers": json.Number("8"), "max_leases": json.Number("10"), "rate": json.Number("2.5"), "burst": json.Number("3"), "max_queue": json.Number("1000")}
	if fmt.Sprint(m["limits"]) != fmt.Sprint(want) || fmt.Sprint(m["overrides"]) != fmt.Sprint(want) {
		t.Fatalf("after PATCH: limits %v, overrides %v", m["limits"], m["overrides"])
	}
	m = tb.do(t, http.MethodPatch, "/v1/queues/q", `{"workers": null, "rate": null}`).expect(t, http.StatusOK)
	limits, overrides := m["limits"].(map[string]any), m["overrides"].(map[string]any)
	if limits["workers"] != json.Number("4") || limits["rate"] != json.Number("0") || overrides["workers"] != nil || overrides["burst"] != json.Number("3") {
		t.Fatalf("after clearing: limits %v, overrides %v", limits, overrides)
	}
	got := tb.do(t, http.MethodGet, "/v1/queues/q", "").expect(t, http.StatusOK)
	if fmt.Sprint(got["overrides"]) != fmt.Sprint(overrides) {
		t.Fatalf("GET shows overrides %v", got["overrides"])
	}
}

// Ensure that a max_queue set by PATCH refuses the submit beyond it, keeps
// the jobs queued before a lowering, and that null lifts it again.
func TestServer_PatchMaxQueue(t *testing.T) {
	tb := setup(t, nil)
	tb.submit(t, "q", `{"payload": 1}`)
	tb.submit(t, "q", `{"payload": 2}`)
	tb.do(t, http.MethodPatch, "/v1/queues/q", `{"max_queue": 1}`).expect(t, http.StatusOK)
	full := tb.do(t, http.MethodPost, "/v1/queues/q/jobs", `{"payload": 3}`)
	full.expectError(t, http.StatusTooManyRequests, "queue_full")
	if m := tb.do(t, http.MethodGet, "/v1/queues/q", "").expect(t, http.StatusOK); m["counts"].(map[string]any)["queued"] != json.Number("2") {
		t.Fatalf("counts after the lowering = %v, want the 2 queued jobs kept", m["counts"])
	}
	tb.do(t, http.MethodPatch, "/v1/queues/q", `{"max_queue": null}`).expect(t, http.StatusOK)
	tb.submit(t, "q", `{"payload": 3}`)
}

// Ensure that every refused pull-mode and PATCH request answers its status
// and code and changes nothing.
func TestServer_PullErrors(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	tb := setup(t, func(q *ticketq.Queue) {
		must(t, q.Handle("push", func(ctx context.Context, j *ticketq.Job) ([]byte, error) { <-block; return nil, nil }, ticketq.QueueOptions{}))
	})
	tb.submit(t, "pull", `{"payload": 1}`)
	held, lease := tb.leased(t, "pull")
	tb.submit(t, "pull", `{"payload": 2}`)
	gone, goneLease := tb.leased(t, "pull")
	tb.do(t, http.MethodDelete, "/v1/jobs/"+gone, "").expect(t, http.StatusOK)
	wrong := `{"lease": "not-the-lease"}`
	withLease := func(l, extra string) string { return fmt.Sprintf(`{"lease": %q%s}`, l, extra) }
	text := map[string]string{"Content-Type": "text/plain"}
	cases := []errorCase{
		{name: "LeaseFromExecutorQueue", method: "POST", path: "/v1/queues/push/leases", body: `{}`, status: 409, code: "has_executor"},
		{name: "LeaseMaxZero", method: "POST", path: "/v1/queues/pull/leases", body: `{"max": 0}`, status: 400, code: "invalid_request"},
		{name: "LeaseMaxTooMany", method: "POST", path: "/v1/queues/pull/leases", body: `{"max": 101}`, status: 400, code: "invalid_request"},
		{name: "LeaseBadVisibility", method: "POST", path: "/v1/queues/pull/leases", body: `{"visibility": "soon"}`, status: 400, code: "invalid_request"},
		{name: "LeaseTinyVisibility", method: "POST", path: "/v1/queues/pull/leases", body: `{"visibility": "10ms"}`, status: 400, code: "invalid_request"},
		{name: "LeaseNegativeVisibility", method: "POST", path: "/v1/queues/pull/leases", body: `{"visibility": "-1s"}`, status: 400, code: "invalid_request", message: "visibility -1s is outside 1s..12h0m0s"},
		{name: "LeaseNegativeWait", method: "POST", path: "/v1/queues/pull/leases", body: `{"wait": "-1s"}`, status: 400, code: "invalid_request", message: "wait -1s is outside 0s..30s"},
		{name: "LeaseWaitTooLong", method: "POST", path: "/v1/queues/pull/leases", body: `{"wait": "31s"}`, status: 400, code: "invalid_request"},
		{name: "LeaseUnknownField", method: "POST", path: "/v1/queues/pull/leases", body: `{"maxx": 1}`, status: 400, code: "unknown_field"},
		{name: "LeaseWrongType", method: "POST", path: "/v1/queues/pull/leases", body: `{"max": "1"}`, status: 400, code: "invalid_request"},
		{name: "LeaseBadQueue", method: "POST", path: "/v1/queues/a%20b/leases", body: `{}`, status: 400, code: "invalid_request"},
		{name: "LeaseDuplicateKey", method: "POST", path: "/v1/queues/pull/leases", body: `{"max": 1, "max": 2}`, status: 400, code: "duplicate_key"},
		{name: "LeaseFieldNameCase", method: "POST", path: "/v1/queues/pull/leases", body: `{"Max": 2}`, status: 400, code: "unknown_field"},
		{name: "GetLeases", method: "GET", path: "/v1/queues/pull/leases", status: 405, code: "method_not_allowed", allow: "POST"},
		{name: "AckWrongLease", method: "POST", path: "/v1/jobs/" + held + "/ack", body: wrong, status: 409, code: "lease_mismatch"},
		{name: "AckNoLease", method: "POST", path: "/v1/jobs/" + held + "/ack", body: `{}`, status: 400, code: "invalid_request"},
		{name: "AckCanceled", method: "POST", path: "/v1/jobs/" + gone + "/ack", body: withLease(goneLease, ""), status: 409, code: "job_canceled"},
		{name: "AckUnknownTicket", method: "POST", path: "/v1/jobs/999/ack", body: withLease(lease, ""), status: 404, code: "not_found"},
		{name: "AckBadTicket", method: "POST", path: "/v1/jobs/abc/ack", body: withLease(lease, ""), status: 400, code: "invalid_ticket"},
		{name: "AckTextBody", method: "POST", path: "/v1/jobs/" + held + "/ack", body: withLease(lease, ""), header: text, status: 415, code: "unsupported_media_type"},
		{name: "AckBadResult", method: "POST", path: "/v1/jobs/" + held + "/ack", body: withLease(lease, `, "result": nope`), status: 400, code: "invalid_json"},
		{name: "AckDuplicateLease", method: "POST", path: "/v1/jobs/" + held + "/ack", body: fmt.Sprintf(`{"lease": "x", "lease": %q}`, lease), status: 400, code: "duplicate_key"},
		{name: "AckDuplicateInResult", method: "POST", path: "/v1/jobs/" + held + "/ack", body: withLease(lease, `, "result": {"n": 1, "n": 2}`), status: 400, code: "duplicate_key"},
		{name: "AckResultLoneSurrogate", method: "POST", path: "/v1/jobs/" + held + "/ack", body: withLease(lease, `, "result": "\udfff"`), status: 400, code: "invalid_json"},
		{name: "NackDuplicateError", method: "POST", path: "/v1/jobs/" + held + "/nack", body: withLease(lease, `, "error": "a", "error": "b"`), status: 400, code: "duplicate_key"},
		{name: "NackLoneSurrogate", method: "POST", path: "/v1/jobs/" + held + "/nack", body: withLease(lease, `, "error": "\ud800"`), status: 400, code: "invalid_json"},
		{name: "ExtendDuplicateVisibility", method: "POST", path: "/v1/jobs/" + held + "/extend", body: withLease(lease, `, "visibility": "1m", "visibility": "2m"`), status: 400, code: "duplicate_key"},
		{name: "ProgressDuplicate", method: "POST", path: "/v1/jobs/" + held + "/progress", body: withLease(lease, `, "progress": 5, "progress": 6`), status: 400, code: "duplicate_key"},
		{name: "NackPermanentString", method: "POST", path: "/v1/jobs/" + held + "/nack", body: withLease(lease, `, "permanent": "yes"`), status: 400, code: "invalid_request"},
		{name: "AckLeaseNumber", method: "POST", path: "/v1/jobs/" + held + "/ack", body: `{"lease": 5}`, status: 400, code: "invalid_request"},
		{name: "NackWrongLease", method: "POST", path: "/v1/jobs/" + held + "/nack", body: wrong, status: 409, code: "lease_mismatch"},
		{name: "NackNegativeRetryIn", method: "POST", path: "/v1/jobs/" + held + "/nack", body: withLease(lease, `, "retry_in": "-5s"`), status: 400, code: "invalid_request", message: "retry_in -5s is outside 0s..8784h0m0s"},
		{name: "NackLongRetryIn", method: "POST", path: "/v1/jobs/" + held + "/nack", body: withLease(lease, `, "retry_in": "8785h"`), status: 400, code: "invalid_request", message: "retry_in 8785h0m0s is outside 0s..8784h0m0s"},
		{name: "NackCanceled", method: "POST", path: "/v1/jobs/" + gone + "/nack", body: withLease(goneLease, ""), status: 409, code: "job_canceled"},
		{name: "ExtendWrongLease", method: "POST", path: "/v1/jobs/" + held + "/extend", body: wrong, status: 409, code: "lease_mismatch"},
		{name: "ExtendZero", method: "POST", path: "/v1/jobs/" + held + "/extend", body: withLease(lease, `, "visibility": "0s"`), status: 400, code: "invalid_request"},
		{name: "ExtendCanceled", method: "POST", path: "/v1/jobs/" + gone + "/extend", body: withLease(goneLease, ""), status: 409, code: "job_canceled"},
		{name: "ReleaseWrongLease", method: "POST", path: "/v1/jobs/" + held + "/release", body: wrong, status: 409, code: "lease_mismatch"},
		{name: "ReleaseCanceled", method: "POST", path: "/v1/jobs/" + gone + "/release", body: withLease(goneLease, ""), status: 409, code: "job_canceled"},
		{name: "ReleaseNoLease", method: "POST", path: "/v1/jobs/" + held + "/release", body: `{}`, status: 400, code: "invalid_request"},
		{name: "ProgressMissing", method: "POST", path: "/v1/jobs/" + held + "/progress", body: withLease(lease, ""), status: 400, code: "invalid_request"},
		{name: "ProgressTooHigh", method: "POST", path: "/v1/jobs/" + held + "/progress", body: withLease(lease, `, "progress": 101`), status: 400, code: "invalid_request"},
		{name: "ProgressWrongLease", method: "POST", path: "/v1/jobs/" + held + "/progress", body: `{"lease": "x", "progress": 5}`, status: 409, code: "lease_mismatch"},
		{name: "ProgressCanceled", method: "POST", path: "/v1/jobs/" + gone + "/progress", body: withLease(goneLease, `, "progress": 5`), status: 409, code: "job_canceled"},
		{name: "PatchNothing", method: "PATCH", path: "/v1/queues/pull", body: `{}`, status: 400, code: "invalid_request"},
		{name: "PatchWorkersZero", method: "PATCH", path: "/v1/queues/pull", body: `{"workers": 0}`, status: 400, code: "invalid_request"},
		{name: "PatchNegativeRate", method: "PATCH", path: "/v1/queues/pull", body: `{"rate": -1}`, status: 400, code: "invalid_request"},
		{name: "PatchWrongType", method: "PATCH", path: "/v1/queues/pull", body: `{"workers": "8"}`, status: 400, code: "invalid_request"},
		{name: "PatchUnknownField", method: "PATCH", path: "/v1/queues/pull", body: `{"max_workers": 8}`, status: 400, code: "unknown_field"},
		{name: "PatchDuplicateWorkers", method: "PATCH", path: "/v1/queues/pull", body: `{"workers": 1, "workers": 2}`, status: 400, code: "duplicate_key"},
		{name: "PatchFieldNameCase", method: "PATCH", path: "/v1/queues/pull", body: `{"Workers": 2}`, status: 400, code: "unknown_field"},
		// A number is judged by its value, however it is spelt, and
		// messages name JSON types, not Go ones.
		{name: "PatchWorkersExponent", method: "PATCH", path: "/v1/queues/pull", body: `{"workers": 1e9}`, status: 400, code: "invalid_request"},
		{name: "PatchWorkersFraction", method: "PATCH", path: "/v1/queues/pull", body: `{"workers": 1.5}`, status: 400, code: "invalid_request"},
		{name: "PatchBurstHuge", method: "PATCH", path: "/v1/queues/pull", body: `{"burst": 1e30}`, status: 400, code: "invalid_request"},
		{name: "PatchRateOverflow", method: "PATCH", path: "/v1/queues/pull", body: `{"rate": 1e309}`, status: 400, code: "invalid_request"},
		{name: "PatchRateString", method: "PATCH", path: "/v1/queues/pull", body: `{"rate": "1"}`, status: 400, code: "invalid_request"},
		{name: "PatchMaxLeasesBool", method: "PATCH", path: "/v1/queues/pull", body: `{"max_leases": true}`, status: 400, code: "invalid_request"},
		{name: "LeaseMaxExponent", method: "POST", path: "/v1/queues/pull/leases", body: `{"max": 1e3}`, status: 400, code: "invalid_request"},
		{name: "ProgressFraction", method: "POST", path: "/v1/jobs/" + held + "/progress", body: withLease(lease, `, "progress": 50.5`), status: 400, code: "invalid_request"},
		{name: "PatchTextBody", method: "PATCH", path: "/v1/queues/pull", body: `{"workers": 2}`, header: text, status: 415, code: "unsupported_media_type"},
	}
	for _, c := range cases {
		// Ensure that this request is refused and changes nothing.
		t.Run(c.name, func(t *testing.T) { tb.expectRefused(t, c) })
	}
}
