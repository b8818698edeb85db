// Package dispatcher runs jobs: per queue, a Pool of a fixed number of
// workers that takes due jobs from a Source, runs the queue's handler with a
// per-run context (timeout, cancel, shutdown), and reports each outcome back,
// deciding retries with exponential backoff and jitter.
//
// It is the Job/Worker/Dispatcher of "Handling 1 million requests per minute
// with Go", done so that neither of its weaknesses remains: jobs are claimed
// from durable storage only when a worker is free, so memory holds at most one
// job per worker however deep the backlog is, and a submit never waits for a
// worker. The package knows nothing of storage; the root package wires a
// Source to the backend.
package dispatcher

import (
	"context"
	"time"

	"github.com/ticketq/ticketq/job"
)

// Source is where a Pool gets work and reports results.
type Source interface {
	// Claim moves up to max due jobs of queue to running and returns them,
	// with the time the next not-yet-due job becomes due (zero if none).
	Claim(ctx context.Context, queue string, max int) (jobs []*job.Job, next time.Time, err error)
	// Finish records the outcomes of runs, each job carrying its lease, in
	// one call; the per-item errors follow backend.Backend.Settle's.
	Finish(ctx context.Context, done []Done) ([]error, error)
	// Held reports whether the run of j still holds the job (it was not
	// canceled or retried since the claim). The pool asks once per run, after
	// registering the run and before calling the handler, which closes the
	// window in which a cancel could miss a job that was just claimed.
	Held(ctx context.Context, j *job.Job) (bool, error)
	// ReportProgress records a progress report of the running j; it must be
	// cheap (the source coalesces reports) and never block on the disk.
	ReportProgress(j *job.Job, percent int, message string) error
}

// Kind is how a run ended, as decided by the pool's retry policy.
type Kind uint8

// The kinds of Outcome.
const (
	Succeeded Kind = iota + 1
	Retry
	Dead
)

func (k Kind) String() string {
	switch k {
	case Succeeded:
		return "succeeded"
	case Retry:
		return "retry"
	case Dead:
		return "dead"
	}
	return "unknown"
}

// Outcome is the decided result of one run.
type Outcome struct {
	Kind    Kind
	Result  []byte    // Succeeded
	Error   string    // Retry, Dead
	RetryAt time.Time // Retry
}
