package ticketq

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/dispatcher"
	"github.com/ticketq/ticketq/internal/ratelimit"
	"github.com/ticketq/ticketq/job"
)

// Limits of pull-mode calls.
const (
	MaxLeaseBatch  = 100
	MaxLeaseWait   = 30 * time.Second
	MinVisibility  = time.Second
	MaxVisibility  = 12 * time.Hour
	expiryInterval = time.Second
	expiryBatch    = 1000
)

// inProcess reports whether a handler of this process runs the queue's
// jobs: its own (Handle) or, for a queue without one, HandleDefault's.
// q.mu must be held.
func (q *Queue) inProcess(queue string) bool {
	qs, own := q.queues[queue]
	return (own && qs.handler != nil) || (!own && q.fallback != nil)
}

// Lease takes up to maxJobs due jobs of a pull queue (one without an executor
// in this process) for an external worker. Each job carries a fresh,
// unguessable Lease token and LeaseExpiresAt = now + visibility: the
// worker must Ack, Nack or Extend by then, or the job goes back to queued
// and the attempt counts as failed. When nothing is due, Lease waits up to
// wait for a job to be submitted (a submit wakes it at once) and returns an
// empty list if none comes. Leases beyond the queue's MaxLeases or Rate
// return fewer jobs, never an error. A queue with an in-process executor
// answers ErrHasExecutor.
func (q *Queue) Lease(ctx context.Context, queue string, maxJobs int, visibility, wait time.Duration) ([]*Job, error) {
	switch {
	case q.isClosed():
		return nil, ErrClosed
	case maxJobs < 1 || maxJobs > MaxLeaseBatch:
		return nil, fmt.Errorf("%w: max %d is outside 1..%d", ErrInvalid, maxJobs, MaxLeaseBatch)
	case visibility < MinVisibility || visibility > MaxVisibility:
		return nil, fmt.Errorf("%w: visibility %s is outside %s..%s", ErrInvalid, visibility, MinVisibility, MaxVisibility)
	case wait < 0 || wait > MaxLeaseWait:
		return nil, fmt.Errorf("%w: wait %s is outside 0s..%s", ErrInvalid, wait, MaxLeaseWait)
	}
	if err := job.ValidateQueueName(queue); err != nil {
		return nil, err
	}
	q.mu.Lock()
	inProcess := q.inProcess(queue)
	eff, lim := q.effective(queue), q.limiter(queue, false)
	q.mu.Unlock()
	if inProcess {
		return nil, fmt.Errorf("%w: %q", ErrHasExecutor, queue)
	}

	deadline := q.opts.Clock.Now().Add(wait)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		// Subscribe before looking, so that a submit in between is not missed.
		changed, done := q.readySignal(queue)
		jobs, next, rateWait, err := q.leaseOnce(ctx, queue, maxJobs, visibility, eff.MaxLeases, lim)
		if err != nil || len(jobs) > 0 {
			done()
			return jobs, err
		}
		now := q.opts.Clock.Now()
		left := deadline.Sub(now)
		if left <= 0 {
			done()
			return []*Job{}, nil
		}
		sleep := min(left, rateWait)
		if !next.IsZero() {
			sleep = min(sleep, max(next.Sub(now), 0))
		}
		timer.Reset(sleep)
		select {
		case <-ctx.Done():
			done()
			return []*Job{}, nil
		case <-changed:
		case <-timer.C:
		}
		done()
	}
}

// leaseOnce tries one claim. rateWait is how long until the rate allows a
// start when it allowed none (else the maximum wait).
func (q *Queue) leaseOnce(ctx context.Context, queue string, maxJobs int, visibility time.Duration, maxLeases int, lim *ratelimit.Bucket) (jobs []*Job, next time.Time, rateWait time.Duration, err error) {
	took, wait := lim.Take(q.opts.Clock.Now(), maxJobs)
	if took == 0 {
		return nil, time.Time{}, wait, nil
	}
	// The claim must not be abandoned half-way by a caller that goes away:
	// its outcome would be unknown and its jobs leased to nobody until
	// their visibility passed. It is short; it completes, and jobs the
	// caller can no longer receive are given back.
	res, err := q.b.Claim(context.WithoutCancel(ctx), backend.ClaimRequest{Queue: queue, Max: took, Visibility: visibility, MaxRunning: maxLeases})
	q.noteFailure(err)
	if err != nil {
		lim.Refund(took)
		return nil, time.Time{}, MaxLeaseWait, err
	}
	lim.Refund(took - len(res.Jobs))
	if len(res.Jobs) > 0 && ctx.Err() != nil {
		q.giveBack(res.Jobs, "the lease request ended before its answer")
		return nil, time.Time{}, MaxLeaseWait, ctx.Err()
	}
	return res.Jobs, res.NextRunAt, MaxLeaseWait, nil
}

// giveBack requeues leased jobs nobody received, without charging an attempt.
func (q *Queue) giveBack(jobs []*Job, reason string) {
	reqs := make([]backend.Requeue, len(jobs))
	for i, j := range jobs {
		reqs[i] = backend.Requeue{Ticket: j.Ticket, Lease: j.Lease, Reason: reason}
	}
	_, err := q.b.Requeue(context.Background(), reqs)
	q.noteFailure(err)
	if err != nil {
		q.log.Warn().Err(err).Int("jobs", len(jobs)).Msg("could not give back leased jobs; they return when their lease expires")
	}
}

// Ack records the success of a leased job with its result, stored as a
// Handler's (job.NormalizeResult). A token that no longer holds the job
// answers an error wrapping ErrLeaseMismatch (ErrLeaseCanceled if the job
// was canceled) and changes nothing.
func (q *Queue) Ack(ctx context.Context, t Ticket, lease string, result []byte) (*Job, error) {
	return q.settle(ctx, backend.Settlement{Ticket: t, Lease: lease, Outcome: backend.Succeeded, Result: job.NormalizeResult(result)}, time.Time{})
}

// Nack records the failure of a leased job. It follows the queue's rules:
// retried after retryIn (or the queue's backoff when retryIn < 0) while
// attempts remain, else dead; permanent makes it dead at once. The fencing
// is Ack's.
func (q *Queue) Nack(ctx context.Context, t Ticket, lease, message string, retryIn time.Duration, permanent bool) (*Job, error) {
	if retryIn > job.MaxDelay {
		return nil, fmt.Errorf("%w: retry_in %s is longer than %s", ErrInvalid, retryIn, job.MaxDelay)
	}
	if q.isClosed() {
		return nil, ErrClosed
	}
	j, err := q.b.Get(ctx, t)
	q.noteFailure(err)
	if err != nil {
		return nil, err
	}
	if j.State == Canceled {
		return nil, fmt.Errorf("%w: ticket %s", ErrLeaseCanceled, t)
	}
	if j.State != Running || j.Lease != lease || lease == "" {
		return nil, fmt.Errorf("%w: ticket %s is %s (attempt %d)", ErrLeaseMismatch, t, j.State, j.Attempt)
	}
	if message == "" {
		message = "failed (no message from the worker)"
	}
	st := backend.Settlement{Ticket: t, Lease: lease, Outcome: backend.Dead, Error: message}
	if !permanent && j.Failures() < j.MaxAttempts {
		q.mu.Lock()
		eff := q.effective(j.Queue)
		q.mu.Unlock()
		delay := retryIn
		if delay < 0 {
			delay = dispatcher.Backoff{Base: eff.BackoffBase, Max: eff.BackoffMax}.Delay(j.Failures(), randFloat())
		}
		st.Outcome, st.RetryAt = backend.Retry, q.opts.Clock.Now().Add(delay)
	}
	return q.settle(ctx, st, j.StartedAt)
}

// settle records a pull worker's outcome and returns the job after it.
// started is the run's start when the caller read the job before; zero
// takes it from the job read after, which is right for a final outcome
// only (a retried job may already run again).
func (q *Queue) settle(ctx context.Context, st backend.Settlement, started time.Time) (*Job, error) {
	if q.isClosed() {
		return nil, ErrClosed
	}
	st.Progress = q.progress.take(st.Ticket, st.Lease)
	errs, err := q.b.Settle(ctx, []backend.Settlement{st})
	q.noteFailure(err)
	if err != nil {
		return nil, err
	}
	if errs[0] != nil {
		return nil, errs[0]
	}
	j, err := q.b.Get(ctx, st.Ticket)
	q.noteFailure(err)
	if err == nil {
		if started.IsZero() {
			started = j.StartedAt
		}
		q.opts.Observer.Ran(j.Queue, runOutcome(st.Outcome), max(q.opts.Clock.Now().Sub(started), 0))
	}
	return j, err
}

// Release gives a leased job back without charging an attempt: its worker
// is stopping and did not finish it. It is queued again, due at once, with
// the run counted as interrupted (like a run cut short by a server
// restart). The fencing is Ack's.
func (q *Queue) Release(ctx context.Context, t Ticket, lease string) (*Job, error) {
	if q.isClosed() {
		return nil, ErrClosed
	}
	errs, err := q.b.Requeue(ctx, []backend.Requeue{{Ticket: t, Lease: lease, Reason: "released by its worker"}})
	q.noteFailure(err)
	if err != nil {
		return nil, err
	}
	if errs[0] != nil {
		return nil, errs[0]
	}
	q.progress.take(t, lease)
	j, err := q.b.Get(ctx, t)
	q.noteFailure(err)
	return j, err
}

// Extend moves a lease's deadline to now + visibility (a worker's
// heartbeat). The fencing is Ack's.
func (q *Queue) Extend(ctx context.Context, t Ticket, lease string, visibility time.Duration) (*Job, error) {
	if q.isClosed() {
		return nil, ErrClosed
	}
	if visibility < MinVisibility || visibility > MaxVisibility {
		return nil, fmt.Errorf("%w: visibility %s is outside %s..%s", ErrInvalid, visibility, MinVisibility, MaxVisibility)
	}
	j, err := q.b.Extend(ctx, t, lease, visibility)
	q.noteFailure(err)
	return j, err
}

// expireLeases puts back the jobs of leases past their deadline, every
// second, until ctx ends. Each pass is a range scan of the deadlines.
func (q *Queue) expireLeases(ctx context.Context) {
	t := time.NewTicker(expiryInterval)
	defer t.Stop()
	for {
		for ctx.Err() == nil {
			n, err := q.b.ExpireLeases(ctx, expiryBatch)
			q.noteFailure(err)
			if err != nil {
				// The store logs a full disk once, not once per tick, and
				// its own failure once (Run is stopping).
				if ctx.Err() == nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrDiskFull) && !errors.Is(err, ErrStoreFailed) {
					q.log.Error().Err(err).Msg("lease expiry failed")
				}
				break
			}
			if n > 0 {
				q.opts.Observer.LeasesExpired(n)
				q.log.Info().Str("component", "leases").Int("expired", n).Msg("leases expired; their jobs are back in line")
			}
			if n < expiryBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
