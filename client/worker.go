package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ticketq/ticketq/internal/runner"
	"github.com/ticketq/ticketq/job"
)

// Defaults of Worker.
const (
	DefaultConcurrency = 1
	DefaultVisibility  = 30 * time.Second
	DefaultLeaseWait   = 20 * time.Second
	DefaultGrace       = 30 * time.Second
)

// Limits of the server's lease call.
const (
	minVisibility = time.Second
	maxLeaseWait  = 30 * time.Second
	maxLeaseBatch = 100
)

// Backoff of the lease loop after a failed lease: 1s, doubling, capped.
const (
	leaseBackoffBase = time.Second
	leaseBackoffMax  = 30 * time.Second
)

// Worker runs the jobs of one pull queue with a job.Handler, the same kind
// of handler an in-process queue takes: it leases jobs, runs them, keeps
// their leases alive and acks or nacks them. Set the fields, then call Run.
//
// What the handler returns decides the outcome: a result is acked (as JSON
// when it is strict JSON, else as a JSON string: the server refuses JSON
// with a key twice or a lone surrogate escape); an error is nacked and
// retried with the queue's backoff; job.Permanent(err) makes the job dead;
// job.RetryAfter(d, err) sets the delay. A panic is nacked with its message.
//
// The handler's context is canceled with cause job.ErrJobCanceled when the
// job is canceled on the server, with ErrLeaseLost when the lease expired,
// with an error matching ErrUnauthorized or ErrForbidden when the server
// refuses the worker's token, and with job.ErrShutdown when Run stops and
// Grace is over; in the first three cases the result is dropped, because
// the job is no longer this worker's or could not be acked. A run
// interrupted by the shutdown is released: queued again at once, without
// an attempt charged. A handler that ignores the cancel of its context for
// longer than HardStop is abandoned (Run returns; the job comes back when
// its lease expires).
type Worker struct {
	// Client talks to the server. Required.
	Client *Client
	// Queue is the pull queue to work. Required.
	Queue string
	// Handler runs one job. Required.
	Handler job.Handler
	// Concurrency is how many jobs run at once. Defaults to 1.
	Concurrency int
	// Visibility is how long a lease holds a job without news from the
	// worker; while the handler runs, the lease is extended every
	// Visibility/3. At least 1s. Defaults to 30s.
	Visibility time.Duration
	// Wait is how long one lease call waits for a job, at most 30s.
	// Defaults to 20s.
	Wait time.Duration
	// Grace is how long running handlers may finish once Run's context
	// ends, before their contexts are canceled. Defaults to 30s.
	Grace time.Duration
	// HardStop is how long Run waits, after canceling the handlers at the
	// end of Grace, for them to return before it abandons them. Defaults
	// to DefaultHardStop.
	HardStop time.Duration
	// Logger receives what the worker does and every error it recovers
	// from. Defaults to discarding everything.
	Logger *slog.Logger
}

// workerConfig is a Worker with its defaults applied, read once by Run.
type workerConfig struct {
	c           *Client
	queue       string
	handler     job.Handler
	concurrency int
	visibility  time.Duration
	wait        time.Duration
	grace       time.Duration
	hardStop    time.Duration
	log         *slog.Logger
}

// config applies the defaults and checks every field, naming the bad one.
func (w *Worker) config() (workerConfig, error) {
	cfg := workerConfig{
		c: w.Client, queue: w.Queue, handler: w.Handler, concurrency: w.Concurrency,
		visibility: w.Visibility, wait: w.Wait, grace: w.Grace, hardStop: w.HardStop, log: w.Logger,
	}
	switch {
	case cfg.c == nil:
		return cfg, errors.New("worker: Client is nil")
	case cfg.handler == nil:
		return cfg, errors.New("worker: Handler is nil")
	case cfg.concurrency < 0:
		return cfg, fmt.Errorf("worker: Concurrency %d is negative", cfg.concurrency)
	case cfg.visibility != 0 && cfg.visibility < minVisibility:
		return cfg, fmt.Errorf("worker: Visibility %s is below the server's minimum of %s", cfg.visibility, minVisibility)
	case cfg.wait < 0 || cfg.wait > maxLeaseWait:
		return cfg, fmt.Errorf("worker: Wait %s is outside 0..%s", cfg.wait, maxLeaseWait)
	case cfg.grace < 0:
		return cfg, fmt.Errorf("worker: Grace %s is negative", cfg.grace)
	}
	if err := job.ValidateQueueName(cfg.queue); err != nil {
		return cfg, fmt.Errorf("worker: Queue: %w", err)
	}
	if cfg.concurrency == 0 {
		cfg.concurrency = DefaultConcurrency
	}
	if cfg.visibility == 0 {
		cfg.visibility = DefaultVisibility
	}
	if cfg.wait == 0 {
		cfg.wait = DefaultLeaseWait
	}
	if cfg.grace == 0 {
		cfg.grace = DefaultGrace
	}
	if cfg.hardStop <= 0 {
		cfg.hardStop = DefaultHardStop
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	cfg.log = cfg.log.With("queue", cfg.queue)
	return cfg, nil
}

// Run works the queue until ctx ends. It then stops leasing at once, lets
// running handlers finish for Grace, cancels the rest (cause
// job.ErrShutdown) and settles them, and returns nil once every handler has
// returned. Errors talking to the server are logged and retried with
// backoff, so a server restart does not stop the worker. Run returns an
// error only for what no retry can fix: an invalid Worker, a lease request
// that the server refuses as invalid (400), or the worker's token refused
// (401 or 403) on any call. A refused token stops the worker at once: it
// leases nothing more, cancels the running handlers and sends nothing more,
// since every call would be refused alike; their jobs run again when their
// leases expire. The error says that the token was refused, matches
// ErrUnauthorized or ErrForbidden, and wraps the *APIError.
func (w *Worker) Run(ctx context.Context) error {
	cfg, err := w.config()
	if err != nil {
		return err
	}
	// Handlers and their calls to the server outlive ctx by design (the
	// grace period and the final ack), so they hang off contexts that
	// keep ctx's values but not its end: the group's root for handlers,
	// base for calls.
	base := context.WithoutCancel(ctx)
	runs := runner.NewGroup(ctx)
	// Leasing ends with ctx, or earlier when the token is refused.
	leasing, stopLeasing := context.WithCancel(ctx)
	defer stopLeasing()
	wk := &worker{
		workerConfig: cfg, base: base, runs: runs, slots: make(chan struct{}, cfg.concurrency),
		stopLeasing: stopLeasing, refused: make(chan struct{}),
	}

	err = wk.lease(leasing)

	runs.Stop(runner.Stopping{
		Grace: cfg.grace, HardStop: cfg.hardStop,
		// Once the token is refused, the runs are canceled already, and
		// nothing they return can be settled: there is no grace to give.
		Cut: wk.refused,
		GraceOver: func() {
			cfg.log.Warn("grace period over; canceling running jobs", "grace", cfg.grace)
		},
		Abandon: func() {
			cfg.log.Error("handlers ignored the cancel of their context; abandoning them", "hard_stop", cfg.hardStop)
		},
	})
	// A refusal may also come from the last acks, after ctx ended.
	if rerr := wk.refusal(); rerr != nil {
		return rerr
	}
	return err
}

// DefaultHardStop is the default of Worker.HardStop.
const DefaultHardStop = 5 * time.Second

// worker is the state of one Run.
type worker struct {
	workerConfig
	base context.Context
	// runs are the running handlers, and their graceful stop.
	runs *runner.Group
	// slots holds a token per running job, so that never more than
	// concurrency jobs are leased at once.
	slots chan struct{}

	// stopLeasing ends the lease loop; refuse calls it.
	stopLeasing context.CancelFunc
	// refused is closed, and refusalErr holds Run's error, once the
	// server has refused the token.
	refused    chan struct{}
	mu         sync.Mutex
	refusalErr error
}

// tokenRefused reports whether err is the server refusing the worker's
// token (401 or 403). No retry fixes that, and every other call would be
// refused alike.
func tokenRefused(err error) bool {
	return errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrForbidden)
}

// refuse stops the worker for good once the server has refused its token
// (err, from any call): leasing stops, the running handlers are canceled
// with the refusal as cause, and no call is made any more — no ack, nack,
// release or give-back, which would be refused the same way. Waiting for
// the handlers would only run work that cannot be acked, while their
// heartbeats fail and their leases run out, after which the server hands
// the jobs to another worker. It returns the error that Run returns.
func (w *worker) refuse(err error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.refusalErr == nil {
		w.refusalErr = fmt.Errorf("worker: the server refused the token: %w", err)
		w.log.Error("the server refused the token; stopping the worker (its jobs run again when their leases expire)", "err", err)
		close(w.refused)
		w.stopLeasing()
		w.runs.CancelAll(w.refusalErr)
	}
	return w.refusalErr
}

// refusal returns the error of refuse, or nil while the token is accepted.
func (w *worker) refusal() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.refusalErr
}

// lease is the leasing loop: it takes as many jobs as there are free slots
// and starts a run for each, until ctx ends.
func (w *worker) lease(ctx context.Context) error {
	backoff := leaseBackoffBase
	for {
		n := w.acquire(ctx)
		if n == 0 {
			return nil // ctx ended
		}
		if ctx.Err() != nil {
			// A slot and the end of ctx came at once, and acquire chose
			// the slot: no lease is sent after the stop.
			w.release(n)
			return nil
		}
		jobs, err := w.c.Lease(ctx, w.queue, LeaseOptions{Max: n, Visibility: w.visibility, Wait: w.wait})
		w.release(n - len(jobs))
		if ctx.Err() != nil {
			// The answer raced with the stop: give the jobs back at once
			// instead of starting work that the shutdown would cut short.
			for _, lj := range jobs {
				w.giveBack(lj)
				w.release(1)
			}
			return nil
		}
		if err != nil {
			if tokenRefused(err) {
				return w.refuse(err)
			}
			if errors.Is(err, job.ErrInvalid) {
				return fmt.Errorf("worker: %w", err)
			}
			w.log.Error("lease failed; backing off", "err", err, "backoff", backoff)
			if sleep(ctx, backoff) != nil {
				return nil
			}
			backoff = min(2*backoff, leaseBackoffMax)
			continue
		}
		backoff = leaseBackoffBase
		for _, lj := range jobs {
			w.runs.Go(func() {
				defer w.release(1)
				w.execute(lj)
			})
		}
	}
}

// acquire takes at least one free slot, waiting for it, and then every
// other free slot (at most a lease's batch); it returns 0 if ctx ends.
func (w *worker) acquire(ctx context.Context) int {
	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	n := 1
	for n < maxLeaseBatch {
		select {
		case w.slots <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}

// release frees n slots.
func (w *worker) release(n int) {
	for range n {
		<-w.slots
	}
}

// giveBack releases a job leased during the shutdown, so that it runs again
// at once elsewhere without an attempt charged.
func (w *worker) giveBack(lj LeasedJob) {
	if w.refusal() != nil {
		return // it would be refused too; the lease expires instead
	}
	ctx, cancel := context.WithTimeout(w.base, w.visibility)
	defer cancel()
	if _, err := w.c.Release(ctx, lj.Ticket, lj.Lease); err != nil {
		if tokenRefused(err) {
			w.refuse(err)
		}
		w.log.Warn("could not give back a job leased during shutdown; it returns when its lease expires",
			"ticket", lj.Ticket, "err", err)
	}
}
