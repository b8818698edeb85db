package ticketq

import (
	"time"

	"github.com/ticketq/ticketq/job"
)

// The shared types live in package job so that every layer can use them;
// these aliases let users import only ticketq.
type (
	// Ticket identifies a job; see job.Ticket.
	Ticket = job.Ticket
	// State is where a job is in its lifecycle; see job.State.
	State = job.State
	// Job is a stored job; see job.Job.
	Job = job.Job
	// AttemptError records why one run did not succeed.
	AttemptError = job.AttemptError
	// Submission is one job to submit; see job.Submission.
	Submission = job.Submission
	// Receipt answers one submission; see job.Receipt.
	Receipt = job.Receipt
	// Handler runs one job; see job.Handler.
	Handler = job.Handler
	// Clock tells the time; tests stub it.
	Clock = job.Clock
	// PermanentError marks a handler error that is not retried.
	PermanentError = job.PermanentError
	// RetryAfterError sets the delay before the next attempt.
	RetryAfterError = job.RetryAfterError
	// Digest identifies a submission for its idempotency key; see
	// job.Digest.
	Digest = job.Digest
)

// The job states.
const (
	Queued    = job.Queued
	Running   = job.Running
	Succeeded = job.Succeeded
	Dead      = job.Dead
	Canceled  = job.Canceled
)

// Errors; see package job for each one's meaning.
var (
	ErrInvalid        = job.ErrInvalid
	ErrNotFound       = job.ErrNotFound
	ErrConflict       = job.ErrConflict
	ErrAlreadyFinal   = job.ErrAlreadyFinal
	ErrNotRetryable   = job.ErrNotRetryable
	ErrLeaseMismatch  = job.ErrLeaseMismatch
	ErrLeaseCanceled  = job.ErrLeaseCanceled
	ErrHasExecutor    = job.ErrHasExecutor
	ErrQueueFull      = job.ErrQueueFull
	ErrTooManyQueues  = job.ErrTooManyQueues
	ErrClosed         = job.ErrClosed
	ErrUnknownOutcome = job.ErrUnknownOutcome
	ErrStoreFailed    = job.ErrStoreFailed
	ErrDiskFull       = job.ErrDiskFull
	ErrJobCanceled    = job.ErrJobCanceled
	ErrTimeout        = job.ErrTimeout
	ErrShutdown       = job.ErrShutdown

	// ErrIdempotencyKeyReused: the key names a job submitted with
	// another request.
	ErrIdempotencyKeyReused = job.ErrIdempotencyKeyReused
)

// Permanent wraps a handler error so that the job is not retried.
func Permanent(err error) error { return job.Permanent(err) }

// RetryAfter wraps a handler error with the delay before the next attempt.
func RetryAfter(d time.Duration, err error) error { return job.RetryAfter(d, err) }

// ParseTicket parses the decimal form of a ticket.
func ParseTicket(s string) (Ticket, error) { return job.ParseTicket(s) }

// ParseState parses a state name such as "queued".
func ParseState(s string) (State, error) { return job.ParseState(s) }

// QueueStats describes one queue.
type QueueStats struct {
	job.QueueStats
	// InFlight is the number of jobs this process is running now for the
	// queue. Counts[Running] also includes runs of other workers.
	InFlight int
	// Pull is true when no handler of this process runs the queue's jobs
	// (neither Handle nor HandleDefault): they wait for workers that lease
	// them, and Limits.Workers does not apply.
	Pull bool
	// OldestReadyAge is how long the longest-waiting due job has waited.
	OldestReadyAge time.Duration
	// Limits are the limits in force: configured, with run-time overrides.
	Limits Limits
}

// ListQuery selects a page of a queue's jobs.
type ListQuery struct {
	Queue string
	// State filters by state; zero lists every state.
	State State
	// After is the cursor: list tickets greater than it.
	After Ticket
	// Limit is the page size, 1..1000. Defaults to 100.
	Limit int
}

// Page is one page of a listing; Next is the cursor of the following page,
// zero on the last one.
type Page struct {
	Jobs []*Job
	Next Ticket
}
