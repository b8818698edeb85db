package ticketq

import (
	"context"
	"slices"
	"testing"

	"github.com/ticketq/ticketq/backend"
)

func claimAll(queue string) backend.ClaimRequest {
	return backend.ClaimRequest{Queue: queue, Max: 1000}
}

// settleAll settles claimed jobs: those in dead die, the rest succeed.
func settleAll(t *testing.T, q *Queue, jobs []*Job, dead []Ticket) {
	t.Helper()
	var s []backend.Settlement
	for _, j := range jobs {
		o := backend.Succeeded
		if slices.Contains(dead, j.Ticket) {
			o = backend.Dead
		}
		s = append(s, backend.Settlement{Ticket: j.Ticket, Lease: j.Lease, Outcome: o})
	}
	errs, err := q.b.Settle(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		if e != nil {
			t.Fatal(e)
		}
	}
}
