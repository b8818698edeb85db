package ticketq

import (
	"errors"
	"time"
)

// Observer receives the events that a metrics system counts. The queue
// calls it on its hot paths (the committer goroutine among them), so every
// method must return at once: increment a counter, observe a histogram,
// nothing that blocks. Package metrics implements it with Prometheus; an
// embedding program may bring its own.
type Observer interface {
	// Submitted reports n jobs of one submit call to queue with the same
	// outcome: SubmitAccepted, SubmitDuplicate, SubmitRefused (invalid
	// input, queue full), SubmitDiskFull or SubmitFailed. A submit refused
	// because it would create a queue beyond Options.MaxQueues is not
	// reported (its queue name would be an unbounded label).
	Submitted(queue, outcome string, n int)
	// Committed reports one store transaction: how many operations it
	// carried, how long the whole commit took, and how much of that was
	// writing pages and syncing them to disk.
	Committed(ops int, commit, write time.Duration)
	// Ran reports one run that ended with a recorded outcome: RunSucceeded,
	// RunRetried (it failed and will run again) or RunDead (failed for
	// good); d is from its start to its check-off. Runs of pull workers
	// are included (Ack, Nack).
	Ran(queue, outcome string, d time.Duration)
	// Died reports a job that became dead, whatever the path (a last failed
	// run, a permanent failure, an expired last lease).
	Died(queue string)
	// LeasesExpired reports leases that passed their deadline; their jobs
	// went back in line or died.
	LeasesExpired(n int)
	// Recovered reports the recovery at Open: jobs put back in line and
	// how long it took.
	Recovered(jobs int, d time.Duration)
}

// Outcomes of Observer.Submitted and Observer.Ran.
const (
	SubmitAccepted  = "accepted"
	SubmitDuplicate = "duplicate"
	SubmitRefused   = "refused"
	SubmitDiskFull  = "disk_full"
	SubmitFailed    = "failed"

	RunSucceeded = "succeeded"
	RunRetried   = "retried"
	RunDead      = "dead"
)

// noObserver is the Observer of a queue opened without one.
type noObserver struct{}

func (noObserver) Submitted(string, string, int)               {}
func (noObserver) Committed(int, time.Duration, time.Duration) {}
func (noObserver) Ran(string, string, time.Duration)           {}
func (noObserver) Died(string)                                 {}
func (noObserver) LeasesExpired(int)                           {}
func (noObserver) Recovered(int, time.Duration)                {}

// observeSubmit reports the receipts or the error of one submit call.
func (q *Queue) observeSubmit(queue string, n int, rs []Receipt, err error) {
	o := q.opts.Observer
	switch {
	case errors.Is(err, ErrTooManyQueues):
		// Not counted: the queue label would be a name the store refused,
		// and the cap exists because clients invent names without end.
	case err == nil:
		dup := 0
		for _, r := range rs {
			if r.Duplicate {
				dup++
			}
		}
		if dup > 0 {
			o.Submitted(queue, SubmitDuplicate, dup)
		}
		if len(rs) > dup {
			o.Submitted(queue, SubmitAccepted, len(rs)-dup)
		}
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrQueueFull):
		o.Submitted(queue, SubmitRefused, n)
	case errors.Is(err, ErrDiskFull):
		o.Submitted(queue, SubmitDiskFull, n)
	default:
		o.Submitted(queue, SubmitFailed, n)
	}
}
