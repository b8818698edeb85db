package ticketq

import (
	"context"
	"fmt"
	"time"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

// Status returns a job as stored now, with its latest progress report.
func (q *Queue) Status(ctx context.Context, t Ticket) (*Job, error) {
	if q.isClosed() {
		return nil, ErrClosed
	}
	j, err := q.b.Get(ctx, t)
	q.noteFailure(err)
	if err != nil {
		return nil, err
	}
	q.overlayProgress(j)
	return j, nil
}

// Wait returns the job once it is final (succeeded, dead or canceled). If
// ctx ends first, it returns the job as it is then, with ctx's error.
func (q *Queue) Wait(ctx context.Context, t Ticket) (*Job, error) {
	// The commit notification wakes waiters at once; the timer is only a
	// safety net, because correctness must never depend on a wake-up hint.
	recheck := time.NewTimer(0)
	defer recheck.Stop()
	for {
		// Register before reading, so that a change between the read and
		// the wait cannot be missed.
		ch, done := q.addWaiter(t)
		j, err := q.Status(ctx, t)
		if err != nil || j.State.Final() {
			done()
			return j, err
		}
		recheck.Reset(5 * time.Second)
		select {
		case <-ch:
		case <-recheck.C:
		case <-ctx.Done():
			done()
			return j, ctx.Err()
		}
		done()
	}
}

// addWaiter registers interest in a ticket becoming final.
func (q *Queue) addWaiter(t Ticket) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	q.waitMu.Lock()
	q.waiters[t] = append(q.waiters[t], ch)
	q.waitMu.Unlock()
	return ch, func() {
		q.waitMu.Lock()
		defer q.waitMu.Unlock()
		list := q.waiters[t]
		for i, c := range list {
			if c == ch {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(q.waiters, t)
		} else {
			q.waiters[t] = list
		}
	}
}

// wakeWaiters releases every Wait on t.
func (q *Queue) wakeWaiters(t Ticket) {
	q.waitMu.Lock()
	list := q.waiters[t]
	delete(q.waiters, t)
	q.waitMu.Unlock()
	for _, ch := range list {
		close(ch)
	}
}

// Cancel cancels a job. A queued job never runs; a running job's context is
// canceled (with cause ErrJobCanceled) and its result, if any, is discarded.
// The canceled state is durable when Cancel returns. A final job answers
// ErrAlreadyFinal.
func (q *Queue) Cancel(ctx context.Context, t Ticket) (*Job, error) {
	if q.isClosed() {
		return nil, ErrClosed
	}
	prev, j, err := q.b.Cancel(ctx, t)
	q.noteFailure(err)
	if err != nil {
		return nil, err
	}
	if prev == Running {
		if p := q.pool(j.Queue); p != nil {
			p.Cancel(t)
		}
	}
	return j, nil
}

// Retry puts a dead or canceled job back to queued with a fresh attempt
// budget. Other states answer ErrNotRetryable.
func (q *Queue) Retry(ctx context.Context, t Ticket) (*Job, error) {
	if q.isClosed() {
		return nil, ErrClosed
	}
	j, err := q.b.Retry(ctx, t)
	q.noteFailure(err)
	return j, err
}

// MaxListLimit is the largest page List returns.
const MaxListLimit = 1000

// List returns a page of a queue's jobs in ticket order.
func (q *Queue) List(ctx context.Context, query ListQuery) (Page, error) {
	if q.isClosed() {
		return Page{}, ErrClosed
	}
	if query.Limit == 0 {
		query.Limit = 100
	}
	if query.Limit < 0 || query.Limit > MaxListLimit {
		return Page{}, fmt.Errorf("%w: limit %d is outside 1..%d", ErrInvalid, query.Limit, MaxListLimit)
	}
	if err := job.ValidateQueueName(query.Queue); err != nil {
		return Page{}, err
	}
	res, err := q.b.List(ctx, backend.ListRequest{Queue: query.Queue, State: query.State, After: query.After, Limit: query.Limit})
	q.noteFailure(err)
	if err != nil {
		return Page{}, err
	}
	return Page{Jobs: res.Jobs, Next: res.Next}, nil
}

// Stats describes one queue; an unknown queue answers ErrNotFound.
func (q *Queue) Stats(ctx context.Context, queue string) (QueueStats, error) {
	if q.isClosed() {
		return QueueStats{}, ErrClosed
	}
	if err := job.ValidateQueueName(queue); err != nil {
		return QueueStats{}, err
	}
	st, err := q.b.Stats(ctx, queue)
	q.noteFailure(err)
	if err != nil {
		return QueueStats{}, err
	}
	out := QueueStats{QueueStats: st}
	if p := q.pool(queue); p != nil {
		out.InFlight = p.InFlight()
	}
	q.mu.Lock()
	eff := q.effective(queue)
	out.Pull = !q.inProcess(queue)
	q.mu.Unlock()
	out.Limits = Limits{Workers: eff.Workers, MaxLeases: eff.MaxLeases, Rate: eff.Rate, Burst: eff.burst(), MaxQueued: eff.MaxQueued}
	if !st.OldestReadyAt.IsZero() {
		out.OldestReadyAge = max(q.opts.Clock.Now().Sub(st.OldestReadyAt), 0)
	}
	return out, nil
}

// Queues lists the names of every known queue in name order.
func (q *Queue) Queues(ctx context.Context) ([]string, error) {
	if q.isClosed() {
		return nil, ErrClosed
	}
	names, err := q.b.Queues(ctx)
	q.noteFailure(err)
	return names, err
}

// Pause stops jobs of a queue from starting (running ones finish); submits
// are still accepted. It is durable: a restart keeps the queue paused.
func (q *Queue) Pause(ctx context.Context, queue string) error {
	return q.setPaused(ctx, queue, true)
}

// Resume lets a paused queue's jobs start again.
func (q *Queue) Resume(ctx context.Context, queue string) error {
	return q.setPaused(ctx, queue, false)
}

func (q *Queue) setPaused(ctx context.Context, queue string, paused bool) error {
	if q.isClosed() {
		return ErrClosed
	}
	err := q.b.SetPaused(ctx, queue, paused)
	q.noteFailure(err)
	return err
}
