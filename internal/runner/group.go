package runner

import (
	"context"
	"sync"
	"time"

	"github.com/ticketq/ticketq/job"
)

// Group is the runs of one call of a pool's or worker's Run, and their
// graceful stop. Their contexts hang off a root that keeps the caller's
// values but not its end: when the caller's context ends, the loop stops
// taking jobs, but the running jobs go on through the grace period.
type Group struct {
	root   context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
}

// NewGroup returns a group whose root context has ctx's values and ends
// only by CancelAll or Stop.
func NewGroup(ctx context.Context) *Group {
	root, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	return &Group{root: root, cancel: cancel}
}

// Context is the root of the runs' contexts.
func (g *Group) Context() context.Context { return g.root }

// Go runs f in a goroutine that Stop waits for.
func (g *Group) Go(f func()) { g.wg.Go(f) }

// CancelAll ends the root context with cause, and so every run's, now and
// for the runs still to start.
func (g *Group) CancelAll(cause error) { g.cancel(cause) }

// Stopping says how a Group stops. Zero durations stop at once.
type Stopping struct {
	// Grace is how long the runs may go on undisturbed.
	Grace time.Duration
	// HardStop is how long the runs may take to return once canceled;
	// the ones still going then are abandoned.
	HardStop time.Duration
	// Cut, when it is closed, ends the grace period early without a
	// cancel: the caller has canceled the runs itself, with a cause of its
	// own. Nil means never.
	Cut <-chan struct{}
	// GraceOver, if set, is called when the grace period is over with runs
	// still going, just before they are canceled.
	GraceOver func()
	// Abandon, if set, is called when HardStop is over with runs still
	// going.
	Abandon func()
}

// Stop waits for every goroutine of Go to return: for s.Grace, then it
// cancels the runs with cause job.ErrShutdown and waits s.HardStop more.
// The caller must have stopped calling Go. Stop ends the root context in
// every case, so nothing started from it outlives Stop but abandoned runs.
func (g *Group) Stop(s Stopping) {
	defer g.cancel(job.ErrShutdown)
	idle := make(chan struct{})
	go func() { g.wg.Wait(); close(idle) }()
	grace := time.NewTimer(s.Grace)
	defer grace.Stop()
	select {
	case <-idle:
		return
	case <-s.Cut:
	case <-grace.C:
		if s.GraceOver != nil {
			s.GraceOver()
		}
		g.cancel(job.ErrShutdown)
	}
	hard := time.NewTimer(s.HardStop)
	defer hard.Stop()
	select {
	case <-idle:
	case <-hard.C:
		if s.Abandon != nil {
			s.Abandon()
		}
	}
}
