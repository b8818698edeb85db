// Package backend declares the storage contract of ticketq: the small,
// batch-first set of operations that the root package needs from a job store.
// The bbolt WAL (package wal) implements it today; a replicated PostgreSQL
// backend can implement it later, and package backendtest is the one
// conformance suite that keeps every implementation equal.
//
// # Rules every implementation follows
//
//   - Every mutating call is all-or-nothing per item it names and durable when
//     it returns without error. Append is all-or-nothing for the whole batch.
//   - When the outcome of a write is unknown (the caller's context ended while
//     the write was in flight, or the commit failed), the error wraps
//     job.ErrUnknownOutcome. Callers retry submits with their idempotency key.
//   - A mutation that the current state forbids returns an error wrapping
//     job.ErrConflict and changes nothing.
//   - The Notify hint of Config is called after changes are durable; it is a
//     wake-up hint only, and correctness never depends on it being called.
//   - No storage type (bbolt, pgx) appears in this contract.
package backend

import (
	"context"
	"time"

	"github.com/ticketq/ticketq/job"
)

// Backend is the storage contract. See the package documentation for the
// rules that apply to every method.
type Backend interface {
	// Append stores a batch of new jobs for one queue in one durable write.
	// A job whose idempotency key is already known in the queue, in the
	// scope of its submitter (or earlier in the same batch), is a repeat of
	// the request that stored it when their digests match
	// (job.Digest.Matches: equal, or either zero): it is not stored again,
	// and its receipt names the original ticket with Duplicate set. When
	// they do not match, the key was reused for another request: nothing
	// of the batch is stored and the error wraps job.ErrIdempotencyKeyReused.
	// A job with a key keeps its digest (job.Job.Digest) for as long as it
	// is stored. If storing the new jobs would take the queue's queued count
	// above MaxQueued (> 0), nothing is stored and the error wraps
	// job.ErrQueueFull.
	Append(ctx context.Context, req AppendRequest) ([]job.Receipt, error)

	// Claim moves up to Max due jobs of a queue from queued to running, in
	// priority order (higher first), then run-at, then ticket. Each claimed
	// job's Attempt is incremented and it gets a fresh, unguessable Lease. A
	// paused queue yields nothing. NextRunAt reports when the earliest job that
	// is not yet due will be (zero if none), so a caller can sleep until then.
	Claim(ctx context.Context, req ClaimRequest) (ClaimResult, error)

	// Extend moves the deadline of a pull lease to now + visibility. The
	// errors follow Settle's; a canceled job answers job.ErrLeaseCanceled,
	// and a run of the server's own (no deadline) job.ErrLeaseMismatch.
	Extend(ctx context.Context, t job.Ticket, lease string, visibility time.Duration) (*job.Job, error)

	// RenewLeases starts kept pull leases over after a restart: each
	// deadline becomes at least now + the lease's visibility, so that a
	// worker that kept running while the server was down is not charged an
	// attempt before its next heartbeat can arrive. Per-item errors follow
	// Settle's.
	RenewLeases(ctx context.Context, refs []LeaseRef) ([]error, error)

	// SetProgress stores progress reports of running jobs, each fenced by
	// its lease like Settle; per-item errors follow Settle's.
	SetProgress(ctx context.Context, p []Progress) ([]error, error)

	// ExpireLeases puts back up to limit jobs whose pull lease passed its
	// deadline: the attempt counts as failed ("lease expired"), so the job is
	// queued again, due at once, or dead if its attempts are spent. It finds
	// them by a range scan of the lease deadlines and returns how many.
	ExpireLeases(ctx context.Context, limit int) (int, error)

	// SetOverrides replaces the run-time limits stored with a queue (creating
	// the queue if needed); Stats reports them.
	SetOverrides(ctx context.Context, queue string, o job.QueueOverrides) error

	// Settle records the end of runs. Each settlement applies only if the job
	// is still running under the given lease; otherwise its slot in the
	// returned slice holds an error wrapping job.ErrLeaseMismatch
	// (job.ErrLeaseCanceled if the job was canceled, job.ErrNotFound if it is
	// gone) and that job is unchanged. The other settlements apply.
	Settle(ctx context.Context, s []Settlement) ([]error, error)

	// Requeue puts running jobs back to queued because their run was cut
	// short (crash, shutdown): Interrupted is incremented, the reason is kept
	// in the job's error history, and the job is due at once. The per-item
	// errors follow the rules of Settle.
	Requeue(ctx context.Context, r []Requeue) ([]error, error)

	// Cancel makes a queued or running job canceled and returns the job and
	// the state it was in. A final job answers job.ErrAlreadyFinal.
	Cancel(ctx context.Context, t job.Ticket) (prev job.State, j *job.Job, err error)

	// Retry puts a dead or canceled job back to queued with a fresh attempt
	// budget, due at once. Other states answer job.ErrNotRetryable.
	Retry(ctx context.Context, t job.Ticket) (*job.Job, error)

	// SetPaused pauses or resumes a queue. Pausing creates an unknown queue
	// (so it can be paused before its first job); resuming one answers
	// job.ErrNotFound. A paused queue keeps accepting jobs but Claim yields
	// none from it.
	SetPaused(ctx context.Context, queue string, paused bool) error

	// Get returns one job, or an error wrapping job.ErrNotFound.
	Get(ctx context.Context, t job.Ticket) (*job.Job, error)

	// List returns a queue's jobs in ticket order, after req.After, optionally
	// only those in one state.
	List(ctx context.Context, req ListRequest) (ListResult, error)

	// Stats describes one queue, or returns an error wrapping job.ErrNotFound.
	Stats(ctx context.Context, queue string) (job.QueueStats, error)

	// Queues lists every queue the store knows, in name order.
	Queues(ctx context.Context) ([]string, error)

	// Running lists a queue's running jobs in ticket order after the given
	// ticket. Recovery pages through it; its cost is proportional to the
	// running jobs, not to the history.
	Running(ctx context.Context, queue string, after job.Ticket, limit int) ([]*job.Job, error)

	// RebuildCounts recomputes the counters of the unfinished states from the
	// indexes, in time proportional to the unfinished jobs, and returns how
	// many counters had to be corrected.
	RebuildCounts(ctx context.Context) (corrected int, err error)

	// Purge deletes up to Limit jobs that reached State before the given time
	// (oldest first), with their index entries and idempotency keys, and
	// returns how many it deleted.
	Purge(ctx context.Context, req PurgeRequest) (int, error)

	// Err returns the error that stopped the store, nil while it serves.
	// A store stops for good when it can no longer vouch for what it
	// stores (a failed commit, a damaged file): every call then fails
	// with an error wrapping job.ErrStoreFailed, and Err is its full
	// account (what failed, and what the operator should do), for the
	// caller to report once.
	Err() error

	// Close releases the store. Calls after Close return job.ErrClosed.
	Close() error
}

// Config is what the root package hands to any backend's constructor.
type Config struct {
	// Clock tells the time for run-at, timestamps and retention.
	Clock job.Clock
	// Notify, if set, is called after changes are durable, with the jobs whose
	// state changed. It must not block and must not call back into the backend.
	Notify func([]Change)
}

// Change tells Notify that a job entered a state.
type Change struct {
	Queue  string
	Ticket job.Ticket
	State  job.State
}

// AppendRequest is a batch of submissions to one queue.
type AppendRequest struct {
	Queue string
	// Jobs must already carry their resolved MaxAttempts and Timeout.
	Jobs []job.Submission
	// Digests are the digests of the submissions as the client gave them
	// (job.Submission.Digest, taken before MaxAttempts, Timeout and Delay
	// were resolved), in the order of Jobs. Nil, or a zero entry, gives
	// none, which matches any stored job. A length other than len(Jobs) is
	// refused with job.ErrInvalid.
	Digests []job.Digest
	// MaxQueued limits the queue's queued jobs; 0 means no limit.
	MaxQueued int
}

// Digest returns the digest of job i, zero when none was given.
func (r *AppendRequest) Digest(i int) job.Digest {
	if r.Digests == nil {
		return job.Digest{}
	}
	return r.Digests[i]
}

// ClaimRequest asks for due jobs of one queue.
type ClaimRequest struct {
	Queue string
	Max   int
	// Visibility, when positive, makes the claims pull leases that expire
	// at now + Visibility unless extended, acked or nacked. Zero claims runs
	// of the server process, which have no deadline.
	Visibility time.Duration
	// MaxRunning caps the queue's running jobs: the claim takes at most
	// MaxRunning minus those already running. Zero means no cap.
	MaxRunning int
}

// ClaimResult holds the claimed jobs, each in state running.
type ClaimResult struct {
	Jobs []*job.Job
	// NextRunAt is when the earliest queued job that is not yet due becomes
	// due; zero when there is none (or the queue is paused).
	NextRunAt time.Time
}

// Outcome is how a run ended.
type Outcome uint8

// The outcomes of Settlement.
const (
	// Succeeded makes the job final with its result.
	Succeeded Outcome = iota + 1
	// Retry records a failed attempt and queues the job again at RetryAt.
	Retry
	// Dead records a failed attempt and makes the job final.
	Dead
)

// Settlement reports the end of one run.
type Settlement struct {
	Ticket  job.Ticket
	Lease   string
	Outcome Outcome
	Result  []byte    // Succeeded
	Error   string    // Retry, Dead
	RetryAt time.Time // Retry
	// Progress, if set, is the run's last progress report, stored with the
	// settlement (a report made just before the end of a run would
	// otherwise be lost).
	Progress *Progress
}

// Progress is one progress report of a running job.
type Progress struct {
	Ticket  job.Ticket
	Lease   string
	Percent int
	Message string
	At      time.Time
}

// LeaseRef names a pull lease.
type LeaseRef struct {
	Ticket job.Ticket
	Lease  string
}

// Requeue names an interrupted run.
type Requeue struct {
	Ticket job.Ticket
	Lease  string
	Reason string
}

// ListRequest selects a page of a queue's jobs.
type ListRequest struct {
	Queue string
	State job.State // 0 means every state
	After job.Ticket
	Limit int
}

// ListResult is one page; Next is the cursor of the following page, or 0.
type ListResult struct {
	Jobs []*job.Job
	Next job.Ticket
}

// PurgeRequest selects finished jobs to delete.
type PurgeRequest struct {
	State  job.State // a final state
	Before time.Time
	Limit  int
}
