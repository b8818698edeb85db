package job

import (
	"errors"
	"fmt"
	"time"
)

// Errors returned by every layer. Callers match them with errors.Is; the HTTP
// API maps each to one status code in one place (httpapi/errors.go).
var (
	// ErrInvalid reports input that can never succeed as given: a malformed
	// ticket, an out-of-range priority, an unknown state. Nothing was changed.
	ErrInvalid = errors.New("invalid input")

	// ErrNotFound reports an unknown ticket or queue. Nothing was changed.
	ErrNotFound = errors.New("not found")

	// ErrConflict reports an operation that the job's current state does not
	// allow. Nothing was changed. The more specific errors below wrap it.
	ErrConflict = errors.New("conflict")

	// ErrAlreadyFinal reports a cancel of a job that is already final.
	ErrAlreadyFinal = fmt.Errorf("%w: job is already final", ErrConflict)

	// ErrIdempotencyKeyReused reports a submit whose idempotency key names a
	// stored job (or an earlier job of the same batch) that was submitted
	// with another request: another payload, priority, max attempts,
	// timeout, delay or run-at (Submission.Digest). A retry must repeat
	// the request exactly; different work needs a new key. Nothing was
	// stored.
	ErrIdempotencyKeyReused = fmt.Errorf("%w: the idempotency key was used for another request", ErrConflict)

	// ErrNotRetryable reports a manual retry of a job that is not dead or canceled.
	ErrNotRetryable = fmt.Errorf("%w: only dead or canceled jobs can be retried", ErrConflict)

	// ErrLeaseMismatch reports a check-off whose fencing token does not match the
	// job's current run: the job was canceled, retried or re-run meanwhile,
	// or the lease expired.
	ErrLeaseMismatch = fmt.Errorf("%w: the job is no longer held by this run", ErrConflict)

	// ErrLeaseCanceled is the ErrLeaseMismatch of a run whose job was
	// canceled: the worker should stop working on it.
	ErrLeaseCanceled = fmt.Errorf("%w: it was canceled", ErrLeaseMismatch)

	// ErrHasExecutor reports a lease from a queue whose jobs the server runs
	// itself; only queues without an executor are pull queues.
	ErrHasExecutor = fmt.Errorf("%w: the queue has an in-process executor; only queues without one can be leased from", ErrConflict)

	// ErrQueueFull reports a submit refused because the queue holds its configured
	// maximum of queued jobs. Nothing was stored; retry later.
	ErrQueueFull = errors.New("queue is full")

	// ErrTooManyQueues reports a call that would create a queue beyond the
	// configured number of queues (a submit, pause or limit change naming
	// a new queue). Nothing was stored. Queues are never deleted, so
	// retrying does not help; existing queues are unaffected.
	ErrTooManyQueues = fmt.Errorf("%w: too many queues", ErrConflict)

	// ErrClosed reports a call on a queue that is shutting down or closed.
	ErrClosed = errors.New("queue is closed")

	// ErrUnknownOutcome reports a write whose result is unknown: the caller gave
	// up waiting, or the disk failed during the commit. The operation may or may
	// not be durable; a submit should be retried with the same idempotency key.
	ErrUnknownOutcome = errors.New("outcome unknown")

	// ErrStoreFailed reports that the store failed a commit and stopped taking
	// writes (fail-stop): after a failed fsync the state on disk is unknown, so
	// the process must restart and recover from what is really on disk.
	ErrStoreFailed = errors.New("store failed")

	// ErrDiskFull reports a write refused because the data file's filesystem
	// has no space left. Nothing was written and the store keeps working:
	// retry once space is freed. Unlike ErrStoreFailed it needs no restart.
	ErrDiskFull = errors.New("disk full")
)

// Causes of a canceled run context; a handler can tell them apart with
// context.Cause(ctx).
var (
	// ErrJobCanceled: the job was canceled through the API. Its state is
	// already canceled; whatever the handler returns is discarded.
	ErrJobCanceled = errors.New("job canceled")
	// ErrTimeout: the run exceeded the job's timeout. It counts as a failed attempt.
	ErrTimeout = errors.New("job timed out")
	// ErrShutdown: the process is stopping and the grace period is over. The
	// run is not recorded; the job is replayed at the next start.
	ErrShutdown = errors.New("shutting down")
)

// PermanentError marks a handler error that must not be retried: the job
// goes straight to dead whatever attempts remain. Build one with Permanent.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err so that the attempt is not retried.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// RetryAfterError asks for the next attempt no earlier than After from now
// (a webhook's Retry-After), instead of the queue's backoff. It still consumes
// an attempt. Build one with RetryAfter.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%s (retry after %s)", e.Err.Error(), e.After)
}

// Unwrap returns the underlying error.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter wraps err with the delay the next attempt must wait.
func RetryAfter(d time.Duration, err error) error {
	if err == nil {
		return nil
	}
	return &RetryAfterError{After: d, Err: err}
}
