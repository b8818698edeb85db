package ticketq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/dispatcher"
	"github.com/ticketq/ticketq/internal/ratelimit"
	"github.com/ticketq/ticketq/job"
	"github.com/ticketq/ticketq/recovery"
	"github.com/ticketq/ticketq/wal"
)

// Queue is a durable job queue stored in one data directory. It is safe for
// concurrent use. Open it, register handlers, Run it, and Close it.
type Queue struct {
	b        backend.Backend
	opts     Options
	log      zerolog.Logger
	recovery recovery.Report

	mu        sync.Mutex
	queues    map[string]*queueState
	fallback  *queueState // HandleDefault, or nil
	overrides map[string]job.QueueOverrides
	limiters  map[string]*ratelimit.Bucket
	limitsMu  sync.Mutex // serializes UpdateLimits

	readyMu sync.Mutex
	readyCh map[string]*readyWait // lease long-polls waiting for a queue to change

	// bg runs what must go on whenever the queue is open, Run or not:
	// lease expiry and progress flushing.
	bgStop context.CancelFunc
	bg     sync.WaitGroup

	progress progressBuffer
	runCtx   context.Context
	pools    sync.WaitGroup
	running  bool
	closed   bool

	waitMu  sync.Mutex
	waiters map[Ticket][]chan struct{}

	fatal     chan error
	stop      context.CancelFunc
	runDone   chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// queueState is what the Queue knows of one queue in this process.
type queueState struct {
	opts    QueueOptions
	handler Handler
	pool    *dispatcher.Pool
}

// Open opens the queue stored in dir, creating it if needed, and recovers
// it: every job that was running when the previous process stopped goes
// back to queued. When Open returns, the queue is ready. It fails within a
// second if another process holds dir.
//
// After the store stopped on an inconsistency (see Close), a program that
// embeds the queue cannot Open dir again in the same process while the
// abandoned store still holds its lock: it fails as if another process
// held dir. Restart the process.
func Open(dir string, opts Options) (*Queue, error) {
	opts = opts.withDefaults()
	if err := opts.Queue.Validate(); err != nil {
		return nil, fmt.Errorf("default queue options: %w", err)
	}
	q := &Queue{
		opts:      opts,
		log:       opts.Logger,
		queues:    make(map[string]*queueState),
		overrides: make(map[string]job.QueueOverrides),
		limiters:  make(map[string]*ratelimit.Bucket),
		readyCh:   make(map[string]*readyWait),
		waiters:   make(map[Ticket][]chan struct{}),
		fatal:     make(chan error, 1),
	}
	q.progress.pending = make(map[Ticket]backend.Progress)
	l, err := wal.Open(dir, wal.Options{Clock: opts.Clock, Notify: q.onChanges, Logger: opts.Logger, OnCommit: opts.Observer.Committed, MaxQueues: opts.MaxQueues})
	if err != nil {
		return nil, err
	}
	q.b = l
	if opts.wrap != nil {
		q.b = opts.wrap(l)
	}
	rep, err := recovery.Run(context.Background(), q.b, opts.Logger)
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	q.recovery = rep
	opts.Observer.Recovered(rep.Recovered, rep.Duration)
	if err := q.loadOverrides(context.Background()); err != nil {
		_ = l.Close()
		return nil, err
	}
	var bgCtx context.Context
	bgCtx, q.bgStop = context.WithCancel(context.Background())
	q.bg.Go(func() { q.expireLeases(bgCtx) })
	q.bg.Go(func() { q.flushProgressLoop(bgCtx) })
	return q, nil
}

// Recovery reports what Open repaired.
func (q *Queue) Recovery() recovery.Report { return q.recovery }

// Handle registers the handler of a queue with its options, and starts its
// workers if Run is already running. A queue has at most one handler.
func (q *Queue) Handle(queue string, h Handler, opts QueueOptions) error {
	if err := job.ValidateQueueName(queue); err != nil {
		return err
	}
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("queue %q: %w", queue, err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	if qs, ok := q.queues[queue]; ok && qs.handler != nil {
		return fmt.Errorf("%w: queue %q already has a handler", ErrConflict, queue)
	}
	qs := &queueState{opts: opts.withDefaults(q.opts.Queue), handler: h}
	q.queues[queue] = qs
	if b, ok := q.limiters[queue]; ok {
		// A bucket made before this call (by a lease) must follow the
		// options given now.
		eff := q.effective(queue)
		b.Set(eff.Rate, eff.burst())
	}
	if q.running && h != nil {
		q.startPool(queue, qs)
	}
	return nil
}

// Configure sets the options of a queue that has no handler in this process
// (its jobs wait for a worker); it is how limits such as MaxQueued apply to
// such queues.
func (q *Queue) Configure(queue string, opts QueueOptions) error {
	return q.Handle(queue, nil, opts)
}

// HandleDefault registers the handler of every queue that has none of its
// own, including queues created later by a submit. They use Options.Queue.
// Called while Run runs, it starts workers for every queue already stored.
func (q *Queue) HandleDefault(h Handler) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	q.fallback = &queueState{opts: q.opts.Queue.withDefaults(QueueOptions{}), handler: h}
	running := q.running
	q.mu.Unlock()
	if !running {
		return nil // Run starts them
	}
	names, err := q.b.Queues(context.Background())
	if err != nil {
		return fmt.Errorf("list queues: %w", err)
	}
	for _, name := range names {
		q.ensurePool(name)
	}
	return nil
}

// Run runs the workers of every handled queue and the retention sweeper
// until ctx ends, then shuts down gracefully: it stops taking jobs, waits up
// to Options.Grace for running jobs, and cancels the rest, which stay
// unfinished on disk and run again after the next Open. It returns early
// with an error wrapping ErrStoreFailed if the store fails. Run may be called
// once; it fits an oklog/run group as the execute function, with cancel of
// ctx as the interrupt.
func (q *Queue) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Read what can fail before starting anything, so that an error leaves
	// nothing half-running.
	names, err := q.b.Queues(ctx)
	if err != nil {
		return fmt.Errorf("list queues: %w", err)
	}
	q.mu.Lock()
	if q.closed || q.running || q.runDone != nil {
		q.mu.Unlock()
		return fmt.Errorf("%w: Run called on a closed or running queue", ErrClosed)
	}
	q.running, q.runCtx, q.stop, q.runDone = true, ctx, cancel, make(chan struct{})
	defer close(q.runDone)
	for name, qs := range q.queues {
		if qs.handler != nil {
			q.startPool(name, qs)
		}
	}
	q.mu.Unlock()
	for _, name := range names {
		q.ensurePool(name) // a no-op unless a default handler is set
	}

	sweepDone := make(chan struct{})
	go func() { defer close(sweepDone); q.sweep(ctx) }()

	select {
	case <-ctx.Done():
	case err = <-q.fatal:
		// The store's own account of its failure names the file and
		// what to do; the caller's error was the request's answer.
		if serr := q.b.Err(); serr != nil {
			err = serr
		}
		cancel()
	}
	q.mu.Lock()
	q.running = false
	q.mu.Unlock()
	<-sweepDone
	q.pools.Wait()
	return err
}

// startPool starts the workers of one queue. q.mu must be held.
func (q *Queue) startPool(name string, qs *queueState) {
	po := q.effective(name).pool(q.opts)
	po.Limiter = q.limiter(name, true)
	qs.pool = dispatcher.New(name, qs.handler, source{q}, po)
	q.pools.Add(1)
	go func() {
		defer q.pools.Done()
		_ = qs.pool.Run(q.runCtx)
	}()
}

// ensurePool starts workers for a queue that has no handler of its own when
// a default handler is set. It is called from the commit notification, so
// it only takes q.mu and never calls the backend.
func (q *Queue) ensurePool(name string) *dispatcher.Pool {
	q.mu.Lock()
	defer q.mu.Unlock()
	qs, ok := q.queues[name]
	if ok && qs.pool != nil {
		return qs.pool
	}
	if !q.running || (ok && qs.handler != nil) {
		return nil
	}
	if q.fallback == nil {
		return nil
	}
	if !ok {
		qs = &queueState{opts: q.fallback.opts}
		q.queues[name] = qs
	}
	qs.handler = q.fallback.handler
	q.startPool(name, qs)
	return qs.pool
}

// pool returns the running pool of a queue, or nil.
func (q *Queue) pool(name string) *dispatcher.Pool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if qs, ok := q.queues[name]; ok {
		return qs.pool
	}
	return nil
}

// onChanges is the backend's commit notification: it wakes the workers and
// the lease long-polls of queues that changed, and the waiters of jobs that
// became final. It runs on the committer goroutine, so it must stay short.
func (q *Queue) onChanges(cs []backend.Change) {
	lastQueued, lastChanged := "", ""
	for _, c := range cs {
		if c.Queue != lastChanged {
			// Any change may matter to a lease blocked by MaxLeases.
			lastChanged = c.Queue
			q.signalReady(c.Queue)
		}
		switch {
		case c.State == job.Queued && c.Queue != lastQueued:
			lastQueued = c.Queue
			if p := q.ensurePool(c.Queue); p != nil {
				p.Wake()
			}
		case c.State.Final():
			if c.State == job.Dead {
				q.opts.Observer.Died(c.Queue)
			}
			q.wakeWaiters(c.Ticket)
		}
	}
}

// readyWait is the wake-up of the lease long-polls of one queue. It is
// counted, so that it lives only while someone waits: any client can name
// any queue, and memory must not grow with the names.
type readyWait struct {
	ch chan struct{}
	n  int
}

// readySignal returns a channel closed at the next change of queue, and the
// function to call when no longer waiting on it.
func (q *Queue) readySignal(queue string) (<-chan struct{}, func()) {
	q.readyMu.Lock()
	defer q.readyMu.Unlock()
	rw, ok := q.readyCh[queue]
	if !ok {
		rw = &readyWait{ch: make(chan struct{})}
		q.readyCh[queue] = rw
	}
	rw.n++
	return rw.ch, func() {
		q.readyMu.Lock()
		defer q.readyMu.Unlock()
		rw.n--
		if rw.n == 0 && q.readyCh[queue] == rw {
			delete(q.readyCh, queue)
		}
	}
}

// signalReady releases everyone waiting for a change of queue.
func (q *Queue) signalReady(queue string) {
	q.readyMu.Lock()
	rw, ok := q.readyCh[queue]
	delete(q.readyCh, queue)
	q.readyMu.Unlock()
	if ok {
		close(rw.ch)
	}
}

// noteFailure stops Run when the store has failed: nothing more can be
// written, so the process must restart and recover.
func (q *Queue) noteFailure(err error) {
	if errors.Is(err, job.ErrStoreFailed) {
		select {
		case q.fatal <- err:
		default:
		}
	}
}

// Close stops Run (gracefully, as when its context ends) if it is running,
// waits for it, and closes the store. Every other method returns ErrClosed
// afterwards; a second Close returns what the first returned.
//
// After the store stopped on an inconsistency (an error wrapping
// ErrStoreFailed that names `ticketq check`), bbolt's state is unknown and
// its close may never end: Close waits for it at most 5 seconds, then
// returns an error and leaves a goroutine blocked in it, holding the data
// file open and locked until the process exits. The binary exits then; a
// program that embeds the queue should too.
func (q *Queue) Close() error {
	q.closeOnce.Do(func() {
		q.mu.Lock()
		q.closed = true
		stop, done := q.stop, q.runDone
		q.mu.Unlock()
		if stop != nil {
			stop()
			<-done
		}
		q.bgStop()
		q.bg.Wait()
		// Reports made since the last flush are worth keeping.
		q.flushProgress(context.Background())
		q.closeErr = q.b.Close()
	})
	return q.closeErr
}

// source adapts the backend to what a dispatcher pool needs.
type source struct{ q *Queue }

func (s source) Claim(ctx context.Context, queue string, max int) ([]*job.Job, time.Time, error) {
	res, err := s.q.b.Claim(ctx, backend.ClaimRequest{Queue: queue, Max: max})
	s.q.noteFailure(err)
	return res.Jobs, res.NextRunAt, err
}

func (s source) Finish(ctx context.Context, done []dispatcher.Done) ([]error, error) {
	sts := make([]backend.Settlement, len(done))
	for i, d := range done {
		j, o := d.Job, d.Outcome
		// A result is stored as the HTTP API serves it (job.Handler).
		sts[i] = backend.Settlement{Ticket: j.Ticket, Lease: j.Lease, Result: job.NormalizeResult(o.Result), Error: o.Error, RetryAt: o.RetryAt,
			Progress: s.q.progress.take(j.Ticket, j.Lease)}
		switch o.Kind {
		case dispatcher.Succeeded:
			sts[i].Outcome = backend.Succeeded
		case dispatcher.Retry:
			sts[i].Outcome = backend.Retry
		default:
			sts[i].Outcome = backend.Dead
		}
	}
	errs, err := s.q.b.Settle(ctx, sts)
	s.q.noteFailure(err)
	if err == nil {
		now := s.q.opts.Clock.Now()
		for i, d := range done {
			if errs[i] == nil {
				s.q.opts.Observer.Ran(d.Job.Queue, runOutcome(sts[i].Outcome), max(now.Sub(d.Job.StartedAt), 0))
			}
		}
	}
	return errs, err
}

// runOutcome names a settlement's outcome for Observer.Ran.
func runOutcome(o backend.Outcome) string {
	switch o {
	case backend.Succeeded:
		return RunSucceeded
	case backend.Retry:
		return RunRetried
	}
	return RunDead
}

func (s source) ReportProgress(j *job.Job, percent int, message string) error {
	return s.q.bufferProgress(j.Ticket, j.Lease, percent, message)
}

func (s source) Held(ctx context.Context, j *job.Job) (bool, error) {
	cur, err := s.q.b.Get(ctx, j.Ticket)
	s.q.noteFailure(err)
	if errors.Is(err, job.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return cur.State == job.Running && cur.Lease == j.Lease, nil
}
