package ticketq_test

import (
	"fmt"
	"testing"
)

type leaseAnswer struct {
	Jobs []leased `json:"jobs"`
}

// leased is one job of a lease answer.
type leased struct {
	Ticket  string `json:"ticket"`
	Lease   string `json:"lease"`
	Attempt int    `json:"attempt"`
}

// Ensure that pull leases are in the WAL: after kill -9 and a restart, a
// worker still holding a lease can ack with it, and a lease whose worker
// is gone comes back when its deadline passes (the attempt counted).
func TestServe_LeasesSurviveRestart(t *testing.T) {
	data := t.TempDir()
	p := startServer(t, data)
	var a, b jobView
	p.do("POST", "/v1/queues/pull/jobs", `{"payload": 1}`, &a)
	p.do("POST", "/v1/queues/pull/jobs", `{"payload": 2}`, &b)
	var kept, lost leaseAnswer
	if status, err := p.do("POST", "/v1/queues/pull/leases", `{"visibility": "5m"}`, &kept); err != nil || status != 200 || len(kept.Jobs) != 1 {
		t.Fatalf("lease: %d %+v, %v", status, kept, err)
	}
	if status, err := p.do("POST", "/v1/queues/pull/leases", `{"visibility": "2s"}`, &lost); err != nil || status != 200 || len(lost.Jobs) != 1 {
		t.Fatalf("lease: %d %+v, %v", status, lost, err)
	}
	p.kill()

	q := startServer(t, data)
	if q.recovered != 0 {
		t.Fatalf("recovery requeued %d leased jobs; leases must survive", q.recovered)
	}
	var acked jobView
	body := fmt.Sprintf(`{"lease": %q, "result": "done"}`, kept.Jobs[0].Lease)
	if status, err := q.do("POST", "/v1/jobs/"+kept.Jobs[0].Ticket+"/ack", body, &acked); err != nil || status != 200 || acked.State != "succeeded" {
		t.Fatalf("ack after restart: %d %+v, %v", status, acked, err)
	}
	var again leaseAnswer
	if status, err := q.do("POST", "/v1/queues/pull/leases", `{"wait": "20s"}`, &again); err != nil || status != 200 || len(again.Jobs) != 1 {
		t.Fatalf("re-lease of the expired job: %d %+v, %v", status, again, err)
	}
	if again.Jobs[0].Ticket != lost.Jobs[0].Ticket || again.Jobs[0].Attempt != 2 {
		t.Fatalf("re-leased %+v, want ticket %s at attempt 2", again.Jobs[0], lost.Jobs[0].Ticket)
	}
	var stale struct {
		Error struct{ Code string } `json:"error"`
	}
	body = fmt.Sprintf(`{"lease": %q}`, lost.Jobs[0].Lease)
	if status, _ := q.do("POST", "/v1/jobs/"+lost.Jobs[0].Ticket+"/ack", body, &stale); status != 409 || stale.Error.Code != "lease_mismatch" {
		t.Fatalf("stale ack after re-lease: %d %+v", status, stale)
	}
}

// Ensure that limits set with PATCH survive kill -9 and a restart.
func TestServe_PatchSurvivesRestart(t *testing.T) {
	data := t.TempDir()
	p := startServer(t, data, "--workers", "2")
	type limits struct {
		Limits struct {
			Workers int     `json:"workers"`
			Rate    float64 `json:"rate"`
		} `json:"limits"`
	}
	var l limits
	if status, err := p.do("PATCH", "/v1/queues/q", `{"workers": 7, "rate": 3}`, &l); err != nil || status != 200 || l.Limits.Workers != 7 {
		t.Fatalf("patch: %d %+v, %v", status, l, err)
	}
	p.kill()
	q := startServer(t, data, "--workers", "2")
	if status, err := q.do("GET", "/v1/queues/q", "", &l); err != nil || status != 200 || l.Limits.Workers != 7 || l.Limits.Rate != 3 {
		t.Fatalf("after restart: %d %+v, %v", status, l, err)
	}
}
