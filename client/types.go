package client

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ticketq/ticketq/job"
)

// The types below mirror the JSON views of the HTTP API. Tickets are
// job.Ticket and states job.State (both decode from the API's strings), so
// that values move between the client and the embedded queue unchanged.
// Times are time.Time, zero where the API says null ("not yet").

// Job is a job as the server shows it. Status, Wait, Cancel, Retry, Ack,
// Nack and Extend return it in full; List leaves Payload, Result and Errors
// empty, because the listing omits them.
type Job struct {
	Ticket      job.Ticket `json:"ticket"`
	Queue       string     `json:"queue"`
	State       job.State  `json:"state"`
	Attempts    int        `json:"attempts"`
	MaxAttempts int        `json:"max_attempts"`
	// Timeout bounds one run: the job's own, or its queue's when it set
	// none (zero only for a job stored without one).
	Timeout        time.Duration `json:"-"`
	Interrupted    int           `json:"interrupted"`
	Priority       int           `json:"priority"`
	IdempotencyKey string        `json:"idempotency_key,omitempty"`
	CreatedAt      time.Time     `json:"created_at,omitzero"`
	UpdatedAt      time.Time     `json:"updated_at,omitzero"`
	RunAt          time.Time     `json:"run_at,omitzero"`
	StartedAt      time.Time     `json:"started_at,omitzero"`
	FinishedAt     time.Time     `json:"finished_at,omitzero"`
	LastError      string        `json:"last_error,omitempty"`
	// SubmittedBy is the name of the token that submitted the job; empty
	// for a job submitted without one. A submit token sees only the jobs
	// it submitted.
	SubmittedBy string `json:"submitted_by,omitempty"`
	// LeaseExpiresAt is the deadline of a pull worker's lease; zero when the
	// job is not leased.
	LeaseExpiresAt time.Time `json:"lease_expires_at,omitzero"`
	// Progress is the last reported progress (0..100) with its message;
	// ProgressAt is zero when none was reported.
	Progress        int       `json:"progress,omitzero"`
	ProgressMessage string    `json:"progress_message,omitempty"`
	ProgressAt      time.Time `json:"progress_at,omitzero"`
	// Payload is the job's input as JSON.
	Payload json.RawMessage `json:"payload"`
	// Result is the job's result as JSON; nil when it has none (the API's
	// null). A result that was not JSON arrives as a JSON string.
	Result json.RawMessage `json:"result"`
	// Errors are the last failed or interrupted runs, oldest first.
	Errors []AttemptError `json:"errors"`
}

// AttemptError records why one run did not succeed.
type AttemptError struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Error   string    `json:"error"`
}

// UnmarshalJSON reads the timeout, which the API spells as a Go duration,
// and turns the API's null result into nil.
func (j *Job) UnmarshalJSON(b []byte) error {
	type plain Job
	var v struct {
		*plain
		Timeout string `json:"timeout"`
	}
	v.plain = (*plain)(j)
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	d, err := parseTimeout(v.Timeout)
	if err != nil {
		return fmt.Errorf("job %s: %w", j.Ticket, err)
	}
	j.Timeout = d
	if string(j.Result) == "null" {
		j.Result = nil
	}
	return nil
}

// MarshalJSON writes the job as the API shows it, the timeout included (a
// Go duration, "" for none), so that a Job printed as JSON (ticketq status,
// submit --wait) reads back the same.
func (j Job) MarshalJSON() ([]byte, error) {
	type plain Job
	return json.Marshal(struct {
		plain
		Timeout string `json:"timeout"`
	}{plain(j), durationField(j.Timeout)})
}

// parseTimeout reads the timeout of a job or lease view: a Go duration, or
// "" for none.
func parseTimeout(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("timeout %q: %w", s, err)
	}
	return d, nil
}

// Submission is one job to submit. Zero fields take the server's defaults.
type Submission struct {
	// Payload is the job's input: any JSON value that is strict (no key
	// twice in an object, no lone surrogate escape), as the server
	// requires. Nil sends JSON null.
	Payload json.RawMessage
	// IdempotencyKey makes a repeated submit answer the first ticket
	// instead of storing a second job. It is also what makes the client
	// retry a submit whose outcome is unknown; see Client.Submit.
	IdempotencyKey string
	// Delay postpones the first run by this much; set Delay or RunAt.
	Delay time.Duration
	// RunAt postpones the first run until this time.
	RunAt time.Time
	// Priority orders ready jobs of a queue, higher first (-100..100).
	Priority int
	// MaxAttempts overrides the queue's failed runs before dead, 1..1000;
	// zero takes the queue's.
	MaxAttempts int
	// Timeout overrides the queue's per-run timeout, 1s..7 days; zero takes
	// the queue's.
	Timeout time.Duration
}

// submissionBody is the wire form of a Submission.
type submissionBody struct {
	Payload        json.RawMessage `json:"payload"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	Delay          string          `json:"delay,omitempty"`
	RunAt          string          `json:"run_at,omitempty"`
	Priority       int             `json:"priority,omitempty"`
	MaxAttempts    int             `json:"max_attempts,omitempty"`
	Timeout        string          `json:"timeout,omitempty"`
}

func (s Submission) body() submissionBody {
	b := submissionBody{Payload: s.Payload, IdempotencyKey: s.IdempotencyKey, Priority: s.Priority, MaxAttempts: s.MaxAttempts}
	if b.Payload == nil {
		b.Payload = json.RawMessage("null")
	}
	if s.Delay != 0 {
		b.Delay = s.Delay.String()
	}
	if !s.RunAt.IsZero() {
		b.RunAt = s.RunAt.UTC().Format(time.RFC3339Nano)
	}
	if s.Timeout != 0 {
		b.Timeout = s.Timeout.String()
	}
	return b
}

// Receipt answers one submitted job.
type Receipt struct {
	Ticket job.Ticket `json:"ticket"`
	Queue  string     `json:"queue"`
	State  job.State  `json:"state"`
	// Duplicate is true when the idempotency key was already known: Ticket
	// names the original job and nothing was stored.
	Duplicate bool `json:"duplicate"`
}

// ListOptions select a page of a queue's jobs.
type ListOptions struct {
	// State lists only jobs in this state; zero lists every state.
	State job.State
	// Limit is the page size, 1..1000; zero takes the server's 100.
	Limit int
	// After lists tickets greater than it: pass the previous Page.Next.
	After job.Ticket
}

// Page is one page of a listing, in ticket order.
type Page struct {
	Jobs []Job `json:"jobs"`
	// Next is the After of the following page; zero on the last page.
	Next job.Ticket `json:"-"`
}

// QueueStats describes one queue.
type QueueStats struct {
	Queue  string `json:"queue"`
	Paused bool   `json:"paused"`
	// Kind is "push" when the server runs the queue's jobs itself, "pull"
	// when they wait for workers that lease them.
	Kind string `json:"kind"`
	// Counts holds the stored jobs per state; every state is present.
	Counts map[job.State]int `json:"counts"`
	// InFlight is how many of the queue's jobs the server process runs now
	// (its own executors; leased jobs count in Counts[job.Running]).
	InFlight int `json:"in_flight"`
	// OldestQueuedAge is how long the longest-waiting due job has waited.
	OldestQueuedAge time.Duration `json:"-"`
	// Limits are the limits in force; Overrides those set by UpdateLimits.
	Limits    Limits    `json:"limits"`
	Overrides Overrides `json:"overrides"`
}

// UnmarshalJSON decodes the view, whose age is in (fractional) seconds.
func (s *QueueStats) UnmarshalJSON(b []byte) error {
	type plain QueueStats
	v := struct {
		*plain
		Age float64 `json:"oldest_queued_age_seconds"`
	}{plain: (*plain)(s)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	s.OldestQueuedAge = time.Duration(v.Age * float64(time.Second))
	return nil
}

// MarshalJSON writes the view as the API shows it, the age included.
func (s QueueStats) MarshalJSON() ([]byte, error) {
	type plain QueueStats
	return json.Marshal(struct {
		plain
		Age float64 `json:"oldest_queued_age_seconds"`
	}{plain(s), s.OldestQueuedAge.Seconds()})
}

// Limits are a queue's limits in force: configured, with overrides applied.
type Limits struct {
	// Workers is how many jobs the server process runs at once.
	Workers int `json:"workers"`
	// MaxLeases caps the jobs leased out at once (0: no cap).
	MaxLeases int `json:"max_leases"`
	// Rate is how many jobs may start per second (0: no limit), with Burst
	// starts at once.
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst"`
	// MaxQueued is how many queued jobs the queue may hold before submits
	// are refused with ErrQueueFull (0: no limit).
	MaxQueued int `json:"max_queue"`
}

// Overrides are the limits set at run time; nil fields are not overridden.
type Overrides struct {
	Workers   *int     `json:"workers"`
	MaxLeases *int     `json:"max_leases"`
	Rate      *float64 `json:"rate"`
	Burst     *int     `json:"burst"`
	MaxQueued *int     `json:"max_queue"`
}

// LimitsPatch changes a queue's run-time limits: each field is left alone
// (its zero value), set with Set, or cleared with Clear, which returns the
// limit to the server's configured value.
type LimitsPatch struct {
	Workers   Patch[int]
	MaxLeases Patch[int]
	Rate      Patch[float64]
	Burst     Patch[int]
	MaxQueued Patch[int]
}

// Patch is one field of a LimitsPatch. The zero Patch changes nothing.
type Patch[T any] struct {
	op patchOp
	v  T
}

type patchOp uint8

const (
	patchKeep patchOp = iota
	patchSet
	patchClear
)

// Set overrides a limit with v.
func Set[T any](v T) Patch[T] { return Patch[T]{op: patchSet, v: v} }

// Clear removes a limit's override (JSON null).
func Clear[T any]() Patch[T] { return Patch[T]{op: patchClear} }

// add puts the field into a PATCH body: absent, null or the value.
func (p Patch[T]) add(body map[string]any, name string) {
	switch p.op {
	case patchSet:
		body[name] = p.v
	case patchClear:
		body[name] = nil
	}
}

func (p LimitsPatch) body() map[string]any {
	b := map[string]any{}
	p.Workers.add(b, "workers")
	p.MaxLeases.add(b, "max_leases")
	p.Rate.add(b, "rate")
	p.Burst.add(b, "burst")
	p.MaxQueued.add(b, "max_queue")
	return b
}

// LeaseOptions shape a lease. Zero fields take the server's defaults.
type LeaseOptions struct {
	// Max is how many jobs to take at most, 1..100; default 1.
	Max int
	// Visibility is how long the worker holds each job before it must ack,
	// nack or extend, 1s..12h; default 30s.
	Visibility time.Duration
	// Wait is how long to wait for a job when none is due, up to 30s;
	// default 0 (answer at once).
	Wait time.Duration
}

// LeasedJob is a job handed to a worker, with what it needs to settle it.
type LeasedJob struct {
	Ticket         job.Ticket      `json:"ticket"`
	Queue          string          `json:"queue"`
	Payload        json.RawMessage `json:"payload"`
	Attempt        int             `json:"attempt"`
	MaxAttempts    int             `json:"max_attempts"`
	IdempotencyKey string          `json:"idempotency_key"`
	// Timeout bounds one run (zero: none); the Worker cancels its handler
	// after it, as the server does for its own runs.
	Timeout time.Duration `json:"-"`
	// Lease is the fencing token that Ack, Nack, Extend and Progress present.
	Lease          string    `json:"lease"`
	LeaseExpiresAt time.Time `json:"lease_expires_at,omitzero"`
}

// UnmarshalJSON reads the timeout, which the API spells as a Go duration.
func (l *LeasedJob) UnmarshalJSON(b []byte) error {
	type plain LeasedJob
	var v struct {
		*plain
		Timeout string `json:"timeout"`
	}
	v.plain = (*plain)(l)
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	d, err := parseTimeout(v.Timeout)
	if err != nil {
		return fmt.Errorf("lease answer: %w", err)
	}
	l.Timeout = d
	return nil
}

// MarshalJSON writes the lease as the API shows it, the timeout included.
func (l LeasedJob) MarshalJSON() ([]byte, error) {
	type plain LeasedJob
	return json.Marshal(struct {
		plain
		Timeout string `json:"timeout"`
	}{plain(l), durationField(l.Timeout)})
}

// RetryNow, as NackOptions.RetryIn, makes the job due again at once.
const RetryNow time.Duration = -1

// NackOptions describe a failed run.
type NackOptions struct {
	// Error is why the run failed; it is kept in the job's error history.
	Error string
	// RetryIn is the delay before the next attempt: zero takes the queue's
	// backoff, RetryNow (any negative value) retries at once.
	RetryIn time.Duration
	// Permanent makes the job dead at once, whatever attempts remain.
	Permanent bool
}
