package ticketq

import (
	"fmt"
	"math"
	"time"

	"github.com/rs/zerolog"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/dispatcher"
	"github.com/ticketq/ticketq/job"
)

// Options configure a Queue. Zero values take the documented defaults, so
// Options{} is a working configuration.
type Options struct {
	// Clock tells the time for delays, backoff and retention. Defaults to the
	// system clock.
	Clock Clock
	// Grace is how long Run waits at shutdown for running jobs to finish
	// before canceling them (they are replayed at the next start). Defaults
	// to 30 s.
	Grace time.Duration
	// Logger receives recovery, sweeper and failure logs. Defaults to no logging.
	Logger zerolog.Logger
	// Queue holds the settings of queues that have none of their own (queues
	// created by a submit, and the fallback of HandleDefault).
	Queue QueueOptions
	// RetainSucceeded is how long succeeded and canceled jobs are kept before
	// the sweeper purges them. Defaults to 24 h; -1 keeps them forever.
	RetainSucceeded time.Duration
	// RetainDead is how long dead jobs are kept. Defaults to 7 days; -1
	// keeps them forever.
	RetainDead time.Duration
	// SweepInterval is how often the sweeper runs. Defaults to 1 min.
	SweepInterval time.Duration
	// SweepBatch is how many jobs one sweeper transaction deletes, so that
	// purging never holds the committer long. Defaults to 500.
	SweepBatch int
	// MaxQueues caps how many queues the store may hold: a submit, pause
	// or limit change that would create one more fails with
	// ErrTooManyQueues and stores nothing. It bounds what a client that
	// invents queue names can make the server keep (queues are never
	// deleted). Zero means no cap.
	MaxQueues int
	// Observer receives the events a metrics system counts (see Observer
	// and package metrics). Defaults to none.
	Observer Observer

	// wrap lets this package's tests put a backend in front of the WAL
	// before anything uses it (to hold or observe calls).
	wrap func(backend.Backend) backend.Backend
}

// QueueOptions configure one queue. Zero values take the documented defaults.
type QueueOptions struct {
	// Workers is how many jobs of the queue run at once in this process
	// (MAX_WORKERS of the 1M-requests post). Defaults to 4.
	Workers int
	// MaxAttempts is how many failed runs make a job dead, for jobs that do
	// not set their own. Defaults to 10.
	MaxAttempts int
	// Timeout bounds one run, for jobs that do not set their own:
	// job.MinTimeout (1 s) to job.MaxTimeout (7 days). Defaults to 10 min.
	Timeout time.Duration
	// BackoffBase is the delay before the first retry; it doubles per
	// failure with jitter. Defaults to 1 s.
	BackoffBase time.Duration
	// BackoffMax caps the retry delay. Defaults to 10 min.
	BackoffMax time.Duration
	// MaxQueued is how many queued jobs the queue may hold before submits
	// are refused with ErrQueueFull (MAX_QUEUE of the 1M-requests post). Zero
	// means no limit: the queue lives on disk, not in memory.
	MaxQueued int
	// MaxLeases caps how many jobs of a pull queue are leased out at once;
	// a lease beyond it returns fewer jobs. Zero means no cap.
	MaxLeases int
	// Rate limits how many of the queue's jobs start per second, counting
	// both in-process runs and leases. Zero means no limit.
	Rate float64
	// Burst is how many starts Rate allows at once. Defaults to Rate
	// rounded up (at least 1).
	Burst int
}

// Defaults of QueueOptions, also in DefaultOptions.
const (
	DefaultWorkers     = job.DefaultWorkers
	DefaultMaxAttempts = job.DefaultMaxAttempts
	DefaultTimeout     = job.DefaultTimeout
)

// DefaultOptions returns what the zero values of Options stand for. It is
// the one place where the defaults are set: Open fills a zero field from
// it, and the ticketq binary starts its flags from it, so a default changed
// here changes both. Its Queue is the fallback of every queue's own
// QueueOptions.
func DefaultOptions() Options {
	return Options{
		Clock: job.SystemClock{},
		Grace: job.DefaultGrace,
		Queue: QueueOptions{
			Workers:     job.DefaultWorkers,
			MaxAttempts: job.DefaultMaxAttempts,
			Timeout:     job.DefaultTimeout,
			BackoffBase: job.DefaultBackoffBase,
			BackoffMax:  job.DefaultBackoffMax,
		},
		RetainSucceeded: 24 * time.Hour,
		RetainDead:      7 * 24 * time.Hour,
		SweepInterval:   time.Minute,
		SweepBatch:      500,
		Observer:        noObserver{},
	}
}

// withDefaults fills each zero field from d (the Options' Queue, the
// settings of queues without their own), else from DefaultOptions.
func (o QueueOptions) withDefaults(d QueueOptions) QueueOptions {
	def := DefaultOptions().Queue
	pick := func(v, fallback, def int) int {
		if v > 0 {
			return v
		}
		if fallback > 0 {
			return fallback
		}
		return def
	}
	pickD := func(v, fallback, def time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		if fallback > 0 {
			return fallback
		}
		return def
	}
	return QueueOptions{
		Workers:     pick(o.Workers, d.Workers, def.Workers),
		MaxAttempts: pick(o.MaxAttempts, d.MaxAttempts, def.MaxAttempts),
		Timeout:     pickD(o.Timeout, d.Timeout, def.Timeout),
		BackoffBase: pickD(o.BackoffBase, d.BackoffBase, def.BackoffBase),
		BackoffMax:  pickD(o.BackoffMax, d.BackoffMax, def.BackoffMax),
		MaxQueued:   pick(o.MaxQueued, d.MaxQueued, def.MaxQueued),
		MaxLeases:   pick(o.MaxLeases, d.MaxLeases, def.MaxLeases),
		Rate:        pickF(o.Rate, d.Rate),
		Burst:       pick(o.Burst, d.Burst, def.Burst),
	}
}

func pickF(v, fallback float64) float64 {
	if v > 0 {
		return v
	}
	return max(fallback, 0)
}

// burst is the effective burst of a rate limit.
func (o QueueOptions) burst() int {
	if o.Burst > 0 {
		return o.Burst
	}
	return max(1, int(math.Ceil(o.Rate)))
}

// override applies run-time overrides on top of configured options.
func (o QueueOptions) override(ov job.QueueOverrides) QueueOptions {
	if ov.Workers != nil {
		o.Workers = *ov.Workers
	}
	if ov.MaxLeases != nil {
		o.MaxLeases = *ov.MaxLeases
	}
	if ov.Rate != nil {
		o.Rate = *ov.Rate
	}
	if ov.Burst != nil {
		o.Burst = *ov.Burst
	}
	if ov.MaxQueued != nil {
		o.MaxQueued = *ov.MaxQueued
	}
	return o
}

// Validate reports the first setting that is out of range, naming it.
func (o QueueOptions) Validate() error {
	switch {
	case o.Workers < 0 || o.Workers > job.MaxWorkers:
		return fmt.Errorf("%w: workers %d is outside 1..%d", job.ErrInvalid, o.Workers, job.MaxWorkers)
	case o.MaxAttempts < 0 || o.MaxAttempts > job.MaxAttemptsLimit:
		return fmt.Errorf("%w: max attempts %d is outside 1..%d", job.ErrInvalid, o.MaxAttempts, job.MaxAttemptsLimit)
	case o.Timeout != 0 && (o.Timeout < job.MinTimeout || o.Timeout > job.MaxTimeout):
		// The rule of a job's own timeout (job.ValidateTimeout), so that
		// a queue cannot give its jobs one that a job could not ask for.
		return fmt.Errorf("%w: timeout %s is outside %s..%s", job.ErrInvalid, o.Timeout, job.MinTimeout, job.MaxTimeout)
	case o.BackoffBase < 0 || o.BackoffMax < 0:
		return fmt.Errorf("%w: backoff must not be negative", job.ErrInvalid)
	case o.BackoffBase > job.MaxDelay || o.BackoffMax > job.MaxDelay:
		return fmt.Errorf("%w: backoff is longer than the limit of %s", job.ErrInvalid, job.MaxDelay)
	case o.BackoffMax > 0 && o.BackoffBase > o.BackoffMax:
		return fmt.Errorf("%w: backoff base %s is above backoff max %s", job.ErrInvalid, o.BackoffBase, o.BackoffMax)
	}
	w, ml, r, b, mq := o.Workers, o.MaxLeases, o.Rate, o.Burst, o.MaxQueued
	ov := job.QueueOverrides{MaxLeases: &ml, Rate: &r, MaxQueued: &mq}
	if w > 0 {
		ov.Workers = &w
	}
	if b > 0 {
		ov.Burst = &b
	}
	return ov.Validate()
}

func (o QueueOptions) pool(opts Options) dispatcher.Options {
	return dispatcher.Options{
		Workers: o.Workers,
		Timeout: o.Timeout,
		Backoff: dispatcher.Backoff{Base: o.BackoffBase, Max: o.BackoffMax},
		Grace:   opts.Grace,
		Clock:   opts.Clock,
		Logger:  opts.Logger,
	}
}

// ProgressInterval is how often coalesced progress reports are written.
const ProgressInterval = 500 * time.Millisecond

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Clock == nil {
		o.Clock = d.Clock
	}
	if o.Grace <= 0 {
		o.Grace = d.Grace
	}
	if o.RetainSucceeded == 0 {
		o.RetainSucceeded = d.RetainSucceeded
	}
	if o.RetainDead == 0 {
		o.RetainDead = d.RetainDead
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = d.SweepInterval
	}
	if o.SweepBatch <= 0 {
		o.SweepBatch = d.SweepBatch
	}
	if o.Observer == nil {
		o.Observer = d.Observer
	}
	return o
}
