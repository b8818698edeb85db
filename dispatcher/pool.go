package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/ticketq/ticketq/internal/logfield"
	"github.com/ticketq/ticketq/internal/ratelimit"
	"github.com/ticketq/ticketq/internal/runner"
	"github.com/ticketq/ticketq/job"
)

// Options configure a Pool. Zero values take the documented defaults.
type Options struct {
	// Workers is the number of jobs run at once. Defaults to 4.
	Workers int
	// Timeout bounds a run whose job carries no timeout of its own. Zero
	// means no timeout.
	Timeout time.Duration
	// Backoff spaces retries.
	Backoff Backoff
	// Grace is how long Run waits, once asked to stop, for running jobs to
	// finish before it cancels them. Defaults to 30 s.
	Grace time.Duration
	// HardStop is how long Run waits for handlers to return after canceling
	// them at the end of Grace; a handler that ignores its context is then
	// abandoned (its job stays running on disk and is replayed at the next
	// start). Defaults to 5 s.
	HardStop time.Duration
	// Poll is how often an idle pool asks the source for work when no wake-up
	// came. Wake-ups make this a safety net only. Defaults to 5 s.
	Poll time.Duration
	// Clock tells the time for backoff. Defaults to the system clock.
	Clock job.Clock
	// Rand returns jitter in [0,1). Defaults to math/rand/v2.
	Rand func() float64
	// Logger receives failures of the source. Defaults to no logging.
	Logger zerolog.Logger
	// Limiter, if set, limits how many jobs start per second. It may be
	// shared with other consumers of the queue (pull leases).
	Limiter *ratelimit.Bucket
}

func (o Options) withDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = job.DefaultWorkers
	}
	if o.Grace <= 0 {
		o.Grace = job.DefaultGrace
	}
	if o.HardStop <= 0 {
		o.HardStop = job.DefaultHardStop
	}
	if o.Poll <= 0 {
		o.Poll = 5 * time.Second
	}
	if o.Clock == nil {
		o.Clock = job.SystemClock{}
	}
	if o.Rand == nil {
		o.Rand = defaultRand
	}
	o.Backoff = o.Backoff.withDefaults()
	return o
}

// Pool runs the jobs of one queue with a bounded set of workers.
type Pool struct {
	queue string
	h     job.Handler
	src   Source
	opts  Options
	log   zerolog.Logger

	wake  chan struct{}
	limit atomic.Int64 // workers: jobs run at once
	done  *completer

	// runs are the running runs, by ticket for Cancel. A run claimed
	// before a cancel that missed it (runs.Missed) may have been canceled
	// before it registered; only then is the store asked whether it still
	// holds the job, which saves a read per run in the common case.
	runs runner.Registry
}

// New returns a pool for queue that runs h on jobs from src. Call Run.
func New(queue string, h job.Handler, src Source, opts Options) *Pool {
	opts = opts.withDefaults()
	p := &Pool{
		queue: queue,
		h:     h,
		src:   src,
		opts:  opts,
		log:   opts.Logger.With().Str("component", "dispatcher").Str("queue", queue).Logger(),
		wake:  make(chan struct{}, 1),
	}
	p.limit.Store(int64(opts.Workers))
	p.done = newCompleter(p)
	return p
}

// SetWorkers changes how many jobs run at once. A larger number takes
// effect at once; a smaller one as running jobs finish.
func (p *Pool) SetWorkers(n int) {
	p.limit.Store(int64(min(max(n, 1), job.MaxWorkers)))
	p.Wake()
}

// Wake tells the pool that jobs may be due. It never blocks; wake-ups that
// arrive while one is pending merge into it.
func (p *Pool) Wake() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Cancel cancels the context of the job's run if it is running here, with
// cause job.ErrJobCanceled, and reports whether it was.
func (p *Pool) Cancel(t job.Ticket) bool {
	return p.runs.Cancel(t, job.ErrJobCanceled)
}

// InFlight returns the number of runs going on now.
func (p *Pool) InFlight() int {
	return p.runs.Running()
}

// Run claims and runs jobs until ctx ends, then shuts down gracefully:
// it stops claiming, waits up to Grace for running jobs, cancels the rest
// with cause job.ErrShutdown and waits up to HardStop for them to return.
// Canceled runs are not recorded, so their jobs stay running on disk and are
// replayed by recovery at the next start.
func (p *Pool) Run(ctx context.Context) error {
	// Runs must outlive ctx (stopping to claim is not stopping to run), so
	// their contexts hang off the group's root, canceled only at the end of Grace.
	group := runner.NewGroup(ctx)
	completing := make(chan struct{})
	go func() { defer close(completing); p.done.run(context.WithoutCancel(ctx)) }()
	// However the pool stops, the outcomes handed over so far are recorded
	// before Run returns (the caller closes the store after it).
	// A full disk can hold outcomes back; a stopping pool waits for space
	// up to HardStop, then leaves those jobs to be replayed.
	defer func() {
		close(p.done.quit)
		t := time.AfterFunc(p.opts.HardStop, func() { close(p.done.abandon) })
		<-completing
		t.Stop()
	}()

	// One goroutine per running job, at most limit of them: the limit can
	// change while the pool runs, which a fixed set of workers could not.
	freed := make(chan struct{}, job.MaxWorkers)
	p.feed(ctx, func(j *job.Job, missed uint64) {
		group.Go(func() {
			p.execute(group.Context(), j, missed)
			freed <- struct{}{}
		})
	}, freed)

	group.Stop(runner.Stopping{
		Grace: p.opts.Grace, HardStop: p.opts.HardStop,
		GraceOver: func() {
			p.log.Warn().Int("running", p.InFlight()).Float64("grace_ms", logfield.Millis(p.opts.Grace)).Msg("grace period over; canceling runs, their jobs will be replayed at next start")
		},
		Abandon: func() {
			p.log.Error().Int("running", p.InFlight()).Msg("handlers ignored cancellation; abandoning them")
		},
	})
	return nil
}

// feed claims jobs when workers are free and starts each. Only free
// workers' worth of jobs is ever claimed, so memory holds at most Workers
// jobs whatever the backlog.
func (p *Pool) feed(ctx context.Context, start func(*job.Job, uint64), freed <-chan struct{}) {
	busy := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		wait := p.opts.Poll
		if free := int(p.limit.Load()) - busy; free > 0 && ctx.Err() == nil {
			n, rateWait := p.opts.Limiter.Take(p.opts.Clock.Now(), free)
			if n == 0 {
				wait = min(wait, rateWait)
			} else {
				missed := p.runs.Missed() // before the claim: see execute
				got, next, err := p.src.Claim(ctx, p.queue, n)
				p.opts.Limiter.Refund(n - len(got))
				// Jobs claimed as ctx ended still run: runs outlive ctx, and
				// dropping them would leave them running on disk until a restart.
				for _, j := range got {
					start(j, missed)
					busy++
				}
				switch {
				case ctx.Err() != nil:
					return
				case errors.Is(err, job.ErrDiskFull):
					// The store logs the full disk once; a claim is a
					// write, so none can be taken until space is freed.
					wait = time.Second
				case errors.Is(err, job.ErrStoreFailed):
					// The store logged its failure; Run is stopping.
					wait = time.Second
				case err != nil:
					p.log.Error().Err(err).Msg("claim failed; retrying")
					wait = time.Second
				case len(got) == n && busy < int(p.limit.Load()):
					continue // all it asked for was due: more may be
				case !next.IsZero():
					if d := next.Sub(p.opts.Clock.Now()); d < wait {
						wait = max(d, 0)
					}
				}
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-freed:
			busy--
		case <-p.wake:
		case <-timer.C:
		}
	drain:
		for {
			select {
			case <-freed:
				busy--
			default:
				break drain
			}
		}
	}
}

// execute runs one job and records its outcome. missed is the count of
// missed cancels read before the job was claimed.
func (p *Pool) execute(base context.Context, j *job.Job, missed uint64) {
	timeout := j.Timeout
	if timeout <= 0 {
		timeout = p.opts.Timeout
	}
	r := p.runs.Start(base, j.Ticket, timeout)
	defer r.End()
	ctx := r.Context()

	// A cancel that committed between the claim and the registration above
	// found no run to cancel, and counted itself as missed. Only then is
	// the store asked whether this run still holds the job.
	if p.runs.Missed() != missed {
		if held, err := p.src.Held(base, j); err != nil || !held {
			if err != nil {
				p.log.Error().Stringer("ticket", j.Ticket).Err(err).Msg("checking the claim failed; the job will be replayed")
			}
			return
		}
	}
	job.WithProgress(j, func(percent int, message string) error {
		// A canceled run must not report over the job's next run.
		if errors.Is(context.Cause(ctx), job.ErrJobCanceled) {
			return fmt.Errorf("%w: ticket %s", job.ErrLeaseCanceled, j.Ticket)
		}
		return p.src.ReportProgress(j, percent, message)
	})
	result, err := runner.Call(ctx, p.h, j)

	cause := context.Cause(ctx)
	if errors.Is(cause, job.ErrJobCanceled) || errors.Is(cause, job.ErrShutdown) {
		// Canceled: the store already says canceled. Shutdown: the job stays
		// running on disk so that recovery replays it. Either way the run's
		// result must not be recorded.
		return
	}
	err = runner.WithCause(err, cause)
	p.done.hand(Done{Job: j, Outcome: p.decide(j, result, err)})
}

// decide applies the retry policy to one run.
func (p *Pool) decide(j *job.Job, result []byte, err error) Outcome {
	if err == nil {
		return Outcome{Kind: Succeeded, Result: result}
	}
	msg := err.Error()
	var perm *job.PermanentError
	if errors.As(err, &perm) {
		return Outcome{Kind: Dead, Error: msg}
	}
	failures := j.Failures()
	if failures >= j.MaxAttempts {
		return Outcome{Kind: Dead, Error: msg}
	}
	delay := p.opts.Backoff.Delay(failures, p.opts.Rand())
	var ra *job.RetryAfterError
	if errors.As(err, &ra) {
		// A handler may ask for anything; beyond MaxDelay the run-at would
		// not even fit the store's timestamps.
		delay = min(max(ra.After, 0), job.MaxDelay)
	}
	return Outcome{Kind: Retry, Error: msg, RetryAt: p.opts.Clock.Now().Add(delay)}
}
