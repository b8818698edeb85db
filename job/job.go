package job

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"
)

// Job is one stored job: what was submitted and everything that happened to it.
// A *Job handed to a Handler is the handler's own copy.
type Job struct {
	Ticket         Ticket
	Queue          string
	State          State
	Payload        []byte
	IdempotencyKey string
	Priority       int
	// Submitter is the name of the token that submitted the job over HTTP;
	// empty for a job submitted without auth or by an embedding Go program.
	// It scopes the idempotency key and decides which submit token may
	// read the job.
	Submitter string
	// Digest identifies the request that submitted the job
	// (Submission.Digest), kept with an idempotency key so that a reuse of
	// the key for another request is told from a retry of this one. Zero
	// for a job without a key, and for one stored before digests existed,
	// which matches any request.
	Digest Digest

	// Attempt counts the runs started, including runs cut short by a crash
	// or shutdown; a handler sees it as the attempt number (1 on the first run).
	Attempt int
	// Interrupted counts the runs cut short by a crash or a shutdown. They do
	// not consume MaxAttempts: a crash is not the job's failure.
	Interrupted int
	// MaxAttempts is the number of failed runs after which the job is dead.
	MaxAttempts int
	// Timeout bounds one run; the handler's context is canceled after it.
	Timeout time.Duration

	CreatedAt  time.Time
	UpdatedAt  time.Time
	RunAt      time.Time // not before this time (delay, run_at, backoff)
	StartedAt  time.Time // start of the latest run; zero before the first
	FinishedAt time.Time // zero until the job is final

	LastError string
	Result    []byte
	// Errors keeps the most recent failed or interrupted runs, oldest first,
	// at most MaxErrorHistory of them.
	Errors []AttemptError

	// Lease is the fencing token of the current run. A check-off must present
	// it, so that a run that was canceled, retried or recovered meanwhile cannot
	// overwrite the newer state.
	Lease string
	// LeaseExpiresAt is the deadline of a pull worker's lease: if the worker
	// neither acks nor extends by then, the job goes back to queued and the
	// attempt counts as failed. Zero for runs inside the server process,
	// which end with the process instead.
	LeaseExpiresAt time.Time
	// LeaseVisibility is the length of the lease as last granted or
	// extended; a restart starts kept leases over with it.
	LeaseVisibility time.Duration

	// Progress is the last progress the running job reported, 0..100, with
	// its message and time. Reports are coalesced, so this may lag the most
	// recent report by a moment.
	Progress        int
	ProgressMessage string
	ProgressAt      time.Time

	report func(percent int, message string) error
}

// ReportProgress records how far the running job is (0..100) and what it is
// doing. It is cheap: reports are coalesced before they are written. It
// returns ErrLeaseMismatch once the run no longer holds the job (it was
// canceled or retried), and does nothing for a job that is not being run by
// a ticketq worker.
func (j *Job) ReportProgress(percent int, message string) error {
	if percent < 0 || percent > 100 {
		return fmt.Errorf("%w: progress %d is outside 0..100", ErrInvalid, percent)
	}
	if len(message) > MaxProgressMessageLen {
		return fmt.Errorf("%w: progress message is %d bytes long; the limit is %d", ErrInvalid, len(message), MaxProgressMessageLen)
	}
	if j.report == nil {
		return nil
	}
	return j.report(percent, message)
}

// WithProgress connects a job handed to a handler to the infrastructure
// that stores its progress reports. Only workers call it.
func WithProgress(j *Job, report func(percent int, message string) error) { j.report = report }

// Failures is the number of runs that consumed the attempt budget.
func (j *Job) Failures() int { return j.Attempt - j.Interrupted }

// AttemptError records why one run did not succeed.
type AttemptError struct {
	Attempt int
	At      time.Time
	Error   string
}

// Handler runs one job. It returns the result to keep (may be nil) or an
// error. The result is kept as it is, except JSON that is not strict,
// which is kept as a JSON string of its text (NormalizeResult). A plain
// error is a failed attempt that is retried with backoff,
// Permanent(err) kills the job at once and RetryAfter(d, err) sets the delay.
// The context is canceled on timeout, on cancel of the job and at shutdown;
// a handler that ignores it delays shutdown until the grace period ends.
type Handler func(ctx context.Context, j *Job) (result []byte, err error)

// Submission is one job to submit.
type Submission struct {
	// Payload is the job's input, opaque to ticketq, except that a payload
	// that is JSON must be strict JSON (ValidatePayload). The HTTP API
	// stores JSON only, and shows a payload that is not JSON as a JSON
	// string of its text.
	Payload []byte
	// IdempotencyKey makes retries of a submit safe: a second submit with the
	// same key to the same queue returns the first ticket and changes nothing,
	// for as long as the first job is retained.
	IdempotencyKey string
	// RunAt delays the first run until this time; zero means now.
	RunAt time.Time
	// Delay delays the first run by this much from when the job is stored,
	// measured on the queue's clock. Set RunAt or Delay, not both.
	Delay time.Duration
	// Priority orders ready jobs of one queue: higher runs first. Range
	// MinPriority..MaxPriority, default 0.
	Priority int
	// MaxAttempts overrides the queue's setting: 1..MaxAttemptsLimit, or
	// zero for the queue's.
	MaxAttempts int
	// Timeout overrides the queue's per-run timeout: MinTimeout..MaxTimeout,
	// or zero for the queue's.
	Timeout time.Duration
	// Submitter is the name of the token that submitted the job over HTTP;
	// empty for a job submitted without auth or by an embedding Go program.
	// IdempotencyKey is scoped to it: the same key from two submitters
	// names two jobs, so a submitter cannot reach another's job by reusing
	// (or guessing) its key. At most MaxSubmitterLen characters of
	// [A-Za-z0-9._-], the alphabet of token names.
	Submitter string
}

// Digest is a SHA-256 of a submission as its client gave it. The zero
// Digest stands for none.
type Digest [sha256.Size]byte

// IsZero reports whether d is the zero Digest.
func (d Digest) IsZero() bool { return d == Digest{} }

// Matches reports whether a submission with digest d repeats the request
// that stored a job with digest stored: they are equal, or either is zero
// (a record written before digests existed, or a caller that gave none).
func (d Digest) Matches(stored Digest) bool {
	return d == stored || d.IsZero() || stored.IsZero()
}

// digestVersion starts the hashed bytes, so that a future change of what
// Digest covers cannot match a digest of the old kind by accident.
const digestVersion = "ticketq submission digest v1\x00"

// Digest returns the digest of the submission as given: the payload bytes,
// priority, max attempts, timeout, delay and run-at, before the queue
// resolves its defaults or turns Delay into a run-at, so that a retry of
// the same request matches however late it comes (a "delay": "10s" sent
// again three seconds later is the same request). MaxAttempts and Timeout
// count as given, zero for the queue's: a retry that spells out the
// queue's default is another request. The idempotency key, the queue and
// the submitter are not in it: they are the scope in which the key is
// looked up.
func (s *Submission) Digest() Digest {
	h := sha256.New()
	var b [8]byte
	num := func(v int64) {
		binary.BigEndian.PutUint64(b[:], uint64(v))
		h.Write(b[:])
	}
	h.Write([]byte(digestVersion))
	num(int64(s.Priority))
	num(int64(s.MaxAttempts))
	num(int64(s.Timeout))
	num(int64(s.Delay))
	// An instant, so that the same time written in any zone digests the
	// same; seconds and nanoseconds cover every time.Time, unlike UnixNano.
	if s.RunAt.IsZero() {
		num(0)
		num(0)
		num(0)
	} else {
		num(1)
		num(s.RunAt.Unix())
		num(int64(s.RunAt.Nanosecond()))
	}
	num(int64(len(s.Payload)))
	h.Write(s.Payload)
	var d Digest
	h.Sum(d[:0])
	return d
}

// MaxSubmitterLen bounds Submission.Submitter; it is the longest token name
// the HTTP API accepts, so every token name fits.
const MaxSubmitterLen = 64

// validateSubmitter checks a submitter name. Besides the limit, the
// alphabet matters for the store: it keeps NUL out, which separates the
// submitter from the key in the idempotency index.
func validateSubmitter(name string) error {
	if len(name) > MaxSubmitterLen {
		return fmt.Errorf("%w: submitter is %d bytes long; the limit is %d", ErrInvalid, len(name), MaxSubmitterLen)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: submitter %q has a character outside [A-Za-z0-9._-]", ErrInvalid, clip(name))
		}
	}
	return nil
}

// Receipt answers one submission.
type Receipt struct {
	Ticket Ticket
	State  State
	// Duplicate is true when the idempotency key was already known: Ticket is
	// the original job's and nothing was stored.
	Duplicate bool
}

// QueueOverrides are per-queue limits changed at run time (PATCH), stored
// with the queue so that a restart keeps them; they beat the limits given by
// flags or environment. A nil field is not overridden.
type QueueOverrides struct {
	// Workers is how many jobs run at once in the server process.
	Workers *int
	// MaxLeases caps the jobs a pull queue has leased out at once (0: no cap).
	MaxLeases *int
	// Rate is how many jobs may start per second (0: no limit), with Burst
	// starts allowed at once.
	Rate  *float64
	Burst *int
	// MaxQueued is how many queued jobs the queue may hold before submits
	// are refused (0: no limit).
	MaxQueued *int
}

// MaxQueuedLimit bounds a queue's MaxQueued.
const MaxQueuedLimit = 1_000_000_000

// Validate checks every set field against its range.
func (o QueueOverrides) Validate() error {
	switch {
	case o.Workers != nil && (*o.Workers < 1 || *o.Workers > MaxWorkers):
		return fmt.Errorf("%w: workers %d is outside 1..%d", ErrInvalid, *o.Workers, MaxWorkers)
	case o.MaxLeases != nil && (*o.MaxLeases < 0 || *o.MaxLeases > 1_000_000):
		return fmt.Errorf("%w: max_leases %d is outside 0..1000000", ErrInvalid, *o.MaxLeases)
	case o.Rate != nil && !(*o.Rate >= 0 && *o.Rate <= 1e6):
		return fmt.Errorf("%w: rate %v is outside 0..1000000 per second", ErrInvalid, *o.Rate)
	case o.Burst != nil && (*o.Burst < 1 || *o.Burst > 1_000_000):
		return fmt.Errorf("%w: burst %d is outside 1..1000000", ErrInvalid, *o.Burst)
	case o.MaxQueued != nil && (*o.MaxQueued < 0 || *o.MaxQueued > MaxQueuedLimit):
		return fmt.Errorf("%w: max_queue %d is outside 0..%d", ErrInvalid, *o.MaxQueued, MaxQueuedLimit)
	}
	return nil
}

// QueueStats describes one queue.
type QueueStats struct {
	Queue  string
	Paused bool
	// Overrides are the limits set at run time, stored with the queue.
	Overrides QueueOverrides
	// Counts holds the number of stored jobs per state (finished jobs count
	// until retention purges them).
	Counts map[State]int
	// OldestReadyAt is the run-at time of the longest-waiting job that is due
	// (zero when none is waiting).
	OldestReadyAt time.Time
}
