package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticketq/ticketq/job"
)

// Run is the context of one execution of a job, from Start to End.
type Run struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	stop   context.CancelFunc // of the timeout, if any
	end    func()             // unregisters it, if a Registry started it
}

// Start begins a run whose context is parent's, ended by Cancel with a
// cause and, when timeout is positive, after timeout with a cause matching
// job.ErrTimeout that says how long it was. Call End when the run is over.
func Start(parent context.Context, timeout time.Duration) *Run {
	ctx, cancel := context.WithCancelCause(parent)
	r := &Run{ctx: ctx, cancel: cancel}
	if timeout > 0 {
		r.ctx, r.stop = context.WithTimeoutCause(ctx, timeout, fmt.Errorf("%w after %s", job.ErrTimeout, timeout))
	}
	return r
}

// Context is the context to hand the handler.
func (r *Run) Context() context.Context { return r.ctx }

// Cancel ends the run's context with cause, unless it has ended already.
func (r *Run) Cancel(cause error) { r.cancel(cause) }

// End releases the run's context and, if a Registry started it, removes it
// from the registry. It must be called once, after the handler returned.
func (r *Run) End() {
	if r.end != nil {
		r.end()
	}
	if r.stop != nil {
		r.stop()
	}
	r.cancel(nil)
}

// WithCause returns err naming cause first (as "cause: err"), when cause,
// why the run's context ended, is not in err already: a handler that returns
// ctx.Err() after its timeout says only "context deadline exceeded", and the
// job's error should say that it timed out and after how long.
func WithCause(err, cause error) error {
	if err == nil || cause == nil || errors.Is(err, cause) {
		return err
	}
	return fmt.Errorf("%w: %w", cause, err)
}

// Registry holds the running runs by ticket, so that a run can be canceled
// by its ticket. A ticket can have two runs at once (a canceled run whose
// handler has not returned yet, and the run after a retry); the newer one
// is the one canceled. The zero Registry is empty and ready.
type Registry struct {
	mu      sync.Mutex
	latest  map[job.Ticket]*Run // the latest run of each ticket
	running int                 // runs started and not ended

	// missed counts cancels that found no run of their ticket.
	missed atomic.Uint64
}

// Start begins a run of ticket t, as the package's Start does, and keeps
// it until End.
func (g *Registry) Start(parent context.Context, t job.Ticket, timeout time.Duration) *Run {
	r := Start(parent, timeout)
	g.mu.Lock()
	if g.latest == nil {
		g.latest = make(map[job.Ticket]*Run)
	}
	g.latest[t] = r
	g.running++
	g.mu.Unlock()
	r.end = func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		// Compared by identity: a newer run of t may have taken the entry.
		if g.latest[t] == r {
			delete(g.latest, t)
		}
		g.running--
	}
	return r
}

// Cancel cancels the latest run of t with cause and reports whether there
// was one. A cancel that finds none is counted (see Missed) in the same
// step, so that a run started meanwhile sees it.
func (g *Registry) Cancel(t job.Ticket, cause error) bool {
	g.mu.Lock()
	r, ok := g.latest[t]
	if !ok {
		g.missed.Add(1)
	}
	g.mu.Unlock()
	if ok {
		r.Cancel(cause)
	}
	return ok
}

// Running returns the number of runs started and not ended.
func (g *Registry) Running() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.running
}

// Missed returns how many cancels found no run. A run whose job was taken
// before a cancel may be started after that cancel looked for it: reading
// Missed before taking the job and again after Start tells whether that can
// have happened, so that the caller asks its store only then.
func (g *Registry) Missed() uint64 { return g.missed.Load() }
