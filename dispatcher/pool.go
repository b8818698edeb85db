package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/ticketq/ticketq/internal/logfield"
	"github.com/ticketq/ticketq/internal/ratelimit"
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

	mu       sync.Mutex
	running  map[job.Ticket]*run // the latest run of each ticket
	inFlight int

	// missed counts cancels that found no run of their ticket. A run
	// claimed before such a cancel may have been canceled before it
	// registered; only then is the store asked whether it still holds the
	// job, which saves a read per run in the common case.
	missed atomic.Uint64
}

// run is one execution of a job. A ticket can have two at once (a canceled
// run whose handler has not returned yet, and the run after a retry), so
// entries are compared by identity before they are removed.
type run struct {
	cancel context.CancelCauseFunc
}

// New returns a pool for queue that runs h on jobs from src. Call Run.
func New(queue string, h job.Handler, src Source, opts Options) *Pool {
	opts = opts.withDefaults()
	p := &Pool{
		queue:   queue,
		h:       h,
		src:     src,
		opts:    opts,
		log:     opts.Logger.With().Str("component", "dispatcher").Str("queue", queue).Logger(),
		wake:    make(chan struct{}, 1),
		running: make(map[job.Ticket]*run),
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
	p.mu.Lock()
	r, ok := p.running[t]
	if !ok {
		p.missed.Add(1)
	}
	p.mu.Unlock()
	if ok {
		r.cancel(job.ErrJobCanceled)
	}
	return ok
}

// InFlight returns the number of runs going on now.
func (p *Pool) InFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inFlight
}

// Run claims and runs jobs until ctx ends, then shuts down gracefully:
// it stops claiming, waits up to Grace for running jobs, cancels the rest
// with cause job.ErrShutdown and waits up to HardStop for them to return.
// Canceled runs are not recorded, so their jobs stay running on disk and are
// replayed by recovery at the next start.
func (p *Pool) Run(ctx context.Context) error {
	// Runs must outlive ctx (stopping to claim is not stopping to run), so
	// their contexts hang off a separate root canceled only at the end of Grace.
	runCtx, stopRuns := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopRuns(job.ErrShutdown)
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
	var wg sync.WaitGroup
	freed := make(chan struct{}, job.MaxWorkers)
	p.feed(ctx, func(j *job.Job, missed uint64) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.execute(runCtx, j, missed)
			freed <- struct{}{}
		}()
	}, freed)

	idle := make(chan struct{})
	go func() { wg.Wait(); close(idle) }()
	grace := time.NewTimer(p.opts.Grace)
	defer grace.Stop()
	select {
	case <-idle:
		return nil
	case <-grace.C:
	}
	n := p.InFlight()
	p.log.Warn().Int("running", n).Float64("grace_ms", logfield.Millis(p.opts.Grace)).Msg("grace period over; canceling runs, their jobs will be replayed at next start")
	stopRuns(job.ErrShutdown)
	hard := time.NewTimer(p.opts.HardStop)
	defer hard.Stop()
	select {
	case <-idle:
	case <-hard.C:
		p.log.Error().Int("running", p.InFlight()).Msg("handlers ignored cancellation; abandoning them")
	}
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
				missed := p.missed.Load() // before the claim: see execute
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
	ctx, cancel := context.WithCancelCause(base)
	defer cancel(nil)
	timeout := j.Timeout
	if timeout <= 0 {
		timeout = p.opts.Timeout
	}
	if timeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, timeout, fmt.Errorf("%w after %s", job.ErrTimeout, timeout))
		defer stop()
	}
	me := &run{cancel: cancel}
	p.mu.Lock()
	p.running[j.Ticket] = me
	p.inFlight++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		if p.running[j.Ticket] == me {
			delete(p.running, j.Ticket)
		}
		p.inFlight--
		p.mu.Unlock()
	}()

	// A cancel that committed between the claim and the registration above
	// found no run to cancel, and counted itself as missed. Only then is
	// the store asked whether this run still holds the job.
	if p.missed.Load() != missed {
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
	result, err := p.call(ctx, j)

	cause := context.Cause(ctx)
	if errors.Is(cause, job.ErrJobCanceled) || errors.Is(cause, job.ErrShutdown) {
		// Canceled: the store already says canceled. Shutdown: the job stays
		// running on disk so that recovery replays it. Either way the run's
		// result must not be recorded.
		return
	}
	if err != nil && cause != nil && !errors.Is(err, cause) {
		err = fmt.Errorf("%w: %w", cause, err)
	}
	p.done.hand(Done{Job: j, Outcome: p.decide(j, result, err)})
}

// call runs the handler, turning a panic into a failed attempt with the
// panic value and a trimmed stack.
func (p *Pool) call(ctx context.Context, j *job.Job) (result []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			result, err = nil, fmt.Errorf("panic: %v\n%s", v, trimStack(debug.Stack()))
		}
	}()
	return p.h(ctx, j)
}

// trimStack keeps the frames that matter: it drops the runtime's panic
// machinery and this package's own frames at the top, and keeps ten lines.
func trimStack(stack []byte) string {
	lines := strings.Split(strings.TrimSpace(string(stack)), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "panic(") && i+2 < len(lines) {
			lines = lines[i+2:]
			break
		}
	}
	if len(lines) > 10 {
		lines = lines[:10]
	}
	return strings.Join(lines, "\n")
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
