// Package backendtest is the conformance suite of the backend contract. Every
// implementation of backend.Backend runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T, cfg backend.Config) backend.Backend { … })
//	}
//
// The open function must return a fresh, empty store that uses cfg.Clock and
// cfg.Notify, and must close it when the test ends.
package backendtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

// OpenFunc opens a fresh, empty backend for one test.
type OpenFunc func(t *testing.T, cfg backend.Config) backend.Backend

// Clock is a stub clock that only moves when told to.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at a fixed instant.
func NewClock() *Clock {
	return &Clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// Now returns the stub time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the stub time forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// notes records the Notify calls of a backend.
type notes struct {
	mu      sync.Mutex
	changes []backend.Change
}

func (n *notes) notify(c []backend.Change) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.changes = append(n.changes, c...)
}

func (n *notes) take() []backend.Change {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.changes
	n.changes = nil
	return out
}

// bundle is what each conformance test gets.
type bundle struct {
	b     backend.Backend
	clock *Clock
	notes *notes
	ctx   context.Context
}

// Run runs every conformance test against the backend made by open.
func Run(t *testing.T, open OpenFunc) {
	setup := func(t *testing.T) *bundle {
		t.Helper()
		tb := &bundle{clock: NewClock(), notes: &notes{}, ctx: context.Background()}
		tb.b = open(t, backend.Config{Clock: tb.clock, Notify: tb.notes.notify})
		return tb
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, tb *bundle)
	}{
		{"Append/Single", testAppendSingle},
		{"Append/ArrivalOrder", testAppendArrivalOrder},
		{"Append/Idempotent", testAppendIdempotent},
		{"Append/IdempotentWithinBatch", testAppendIdempotentWithinBatch},
		{"Append/IdempotentPerSubmitter", testAppendIdempotentPerSubmitter},
		{"Append/KeyReused", testAppendKeyReused},
		{"Append/QueueFull", testAppendQueueFull},
		{"Append/Invalid", testAppendInvalid},
		{"Append/Concurrent", testAppendConcurrent},
		{"Claim/Order", testClaimOrder},
		{"Claim/Delayed", testClaimDelayed},
		{"Claim/Paused", testClaimPaused},
		{"Claim/Lease", testClaimLease},
		{"Claim/UnknownQueue", testClaimUnknownQueue},
		{"Settle/Succeeded", testSettleSucceeded},
		{"Settle/RetryAndDead", testSettleRetryAndDead},
		{"Settle/WrongLease", testSettleWrongLease},
		{"Requeue", testRequeue},
		{"Cancel/Queued", testCancelQueued},
		{"Cancel/Running", testCancelRunning},
		{"Cancel/Final", testCancelFinal},
		{"Retry", testRetry},
		{"List", testList},
		{"Stats", testStats},
		{"Running", testRunning},
		{"RebuildCounts", testRebuildCounts},
		{"Purge", testPurge},
		{"Purge/PerSubmitter", testPurgePerSubmitter},
		{"Notify", testNotify},
		{"Lease/Deadline", testLeaseDeadline},
		{"Lease/Expire", testLeaseExpire},
		{"Lease/ExpireDead", testLeaseExpireDead},
		{"Lease/Extend", testLeaseExtend},
		{"Lease/ExtendInProcess", testExtendInProcess},
		{"Lease/Renew", testRenewLeases},
		{"Claim/MaxRunning", testClaimMaxRunning},
		{"Progress", testProgress},
		{"Overrides", testOverrides},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, setup(t)) })
	}
}

// submit appends jobs with resolved defaults and fails the test on error.
func (tb *bundle) submit(t *testing.T, queue string, subs ...job.Submission) []job.Receipt {
	t.Helper()
	for i := range subs {
		if subs[i].MaxAttempts == 0 {
			subs[i].MaxAttempts = 3
		}
		if subs[i].Payload == nil {
			subs[i].Payload = []byte(fmt.Sprintf(`{"n":%d}`, i))
		}
	}
	r, err := tb.b.Append(tb.ctx, backend.AppendRequest{Queue: queue, Jobs: subs})
	if err != nil {
		t.Fatalf("append to %s: %v", queue, err)
	}
	if len(r) != len(subs) {
		t.Fatalf("append returned %d receipts for %d jobs", len(r), len(subs))
	}
	return r
}

func (tb *bundle) claim(t *testing.T, queue string, max int) backend.ClaimResult {
	t.Helper()
	res, err := tb.b.Claim(tb.ctx, backend.ClaimRequest{Queue: queue, Max: max})
	if err != nil {
		t.Fatalf("claim %s: %v", queue, err)
	}
	for _, j := range res.Jobs {
		if j.State != job.Running {
			t.Fatalf("claimed ticket %s is %s, want running", j.Ticket, j.State)
		}
	}
	return res
}

func (tb *bundle) get(t *testing.T, tk job.Ticket) *job.Job {
	t.Helper()
	j, err := tb.b.Get(tb.ctx, tk)
	if err != nil {
		t.Fatalf("get %s: %v", tk, err)
	}
	return j
}

func (tb *bundle) settle(t *testing.T, s ...backend.Settlement) []error {
	t.Helper()
	errs, err := tb.b.Settle(tb.ctx, s)
	if err != nil {
		t.Fatalf("settle: %v", err)
	}
	if len(errs) != len(s) {
		t.Fatalf("settle returned %d answers for %d settlements", len(errs), len(s))
	}
	return errs
}

func (tb *bundle) counts(t *testing.T, queue string) map[job.State]int {
	t.Helper()
	st, err := tb.b.Stats(tb.ctx, queue)
	if err != nil {
		t.Fatalf("stats %s: %v", queue, err)
	}
	return st.Counts
}

func wantCounts(t *testing.T, got map[job.State]int, want map[job.State]int) {
	t.Helper()
	for _, s := range job.States {
		if got[s] != want[s] {
			t.Fatalf("counts = %v, want %v", got, want)
		}
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want one wrapping %v", err, target)
	}
}

func tickets(r []job.Receipt) []job.Ticket {
	out := make([]job.Ticket, len(r))
	for i := range r {
		out[i] = r[i].Ticket
	}
	return out
}

func jobTickets(js []*job.Job) []job.Ticket {
	out := make([]job.Ticket, len(js))
	for i := range js {
		out[i] = js[i].Ticket
	}
	return out
}

func equalTickets(a, b []job.Ticket) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
