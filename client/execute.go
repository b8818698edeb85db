package client

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/ticketq/ticketq/internal/runner"
	"github.com/ticketq/ticketq/internal/strictjson"
	"github.com/ticketq/ticketq/job"
)

// progressInterval is the least time between two progress reports of one
// job; reports in between are coalesced into the latest.
const progressInterval = time.Second

// run is one leased job being worked on.
type run struct {
	w   *worker
	lj  LeasedJob
	log *slog.Logger
	// cancel ends the handler's context with a cause.
	cancel func(cause error)
	// calls bounds the heartbeats and progress reports; it ends when the
	// handler has returned, so that none outlives the run.
	calls context.Context

	mu sync.Mutex
	// lost is why the lease no longer holds the job (nil while it does);
	// ReportProgress returns it.
	lost error
	// pending is the latest progress report not sent yet.
	pending *progressReport
	// kick wakes the progress loop; it holds at most one wake-up.
	kick chan struct{}
}

type progressReport struct {
	percent int
	message string
}

// execute runs the handler on one leased job, keeps the lease alive while
// it runs, and settles the outcome. The handler's context ends (cause
// job.ErrShutdown) when the grace period is over.
func (w *worker) execute(lj LeasedJob) {
	// The server's own runs end at the job's timeout; so do ours.
	hr := runner.Start(w.runs.Context(), lj.Timeout)
	defer hr.End()
	hctx := hr.Context()
	calls, endCalls := context.WithCancel(w.base)
	r := &run{
		w: w, lj: lj, cancel: hr.Cancel, calls: calls, kick: make(chan struct{}, 1),
		log: w.log.With("ticket", lj.Ticket, "attempt", lj.Attempt),
	}
	j := &job.Job{
		Ticket: lj.Ticket, Queue: lj.Queue, State: job.Running, Payload: []byte(lj.Payload),
		Attempt: lj.Attempt, MaxAttempts: lj.MaxAttempts, Timeout: lj.Timeout,
		IdempotencyKey: lj.IdempotencyKey, Lease: lj.Lease, LeaseExpiresAt: lj.LeaseExpiresAt,
	}
	job.WithProgress(j, r.report)

	var helpers sync.WaitGroup
	helpers.Go(r.heartbeat)
	helpers.Go(r.progressLoop)
	r.log.Debug("job started")
	result, err := runner.Call(hctx, w.handler, j)
	endCalls()
	helpers.Wait()

	if lost := r.lostLease(); lost != nil {
		r.log.Info("job dropped: the lease no longer holds it", "cause", lost)
		return
	}
	if w.refusal() != nil {
		// An ack or nack would be refused like the call before it.
		r.log.Warn("job not settled: the server refused the token; it runs again when its lease expires")
		return
	}
	r.flushProgress()
	r.settle(context.Cause(hctx), result, err)
}

// settle acks or nacks the finished run. cause is why the handler's
// context ended, if it did.
func (r *run) settle(cause error, result []byte, err error) {
	// The lease is worth nothing after its visibility, and neither is a
	// settle that takes longer.
	ctx, cancel := context.WithTimeout(r.w.base, r.w.visibility)
	defer cancel()
	var perm *job.PermanentError
	var later *job.RetryAfterError
	var opts NackOptions
	switch {
	case err == nil:
		_, aerr := r.w.c.Ack(ctx, r.lj.Ticket, r.lj.Lease, resultJSON(result))
		r.logSettle("ack", aerr)
		return
	case errors.Is(cause, job.ErrShutdown) && !errors.As(err, &perm):
		// Cut short by the shutdown, not failed: give it back without
		// charging an attempt, so another worker takes it at once.
		_, rerr := r.w.c.Release(ctx, r.lj.Ticket, r.lj.Lease)
		r.logSettle("release", rerr)
		return
	case err != nil && cause != nil && !errors.Is(err, cause):
		// Name the cause (a timeout) in the error the job keeps.
		opts = NackOptions{Error: runner.WithCause(err, cause).Error()}
	case errors.As(err, &perm):
		opts = NackOptions{Error: err.Error(), Permanent: true}
	case errors.As(err, &later):
		opts = NackOptions{Error: err.Error(), RetryIn: later.After}
		if later.After <= 0 {
			opts.RetryIn = RetryNow
		}
	default:
		opts = NackOptions{Error: err.Error()}
	}
	j, nerr := r.w.c.Nack(ctx, r.lj.Ticket, r.lj.Lease, opts)
	r.logSettle("nack", nerr)
	if nerr == nil {
		r.log.Info("job failed", "err", err, "state", j.State)
	}
}

// logSettle logs the failure of an ack or nack.
func (r *run) logSettle(op string, err error) {
	switch {
	case err == nil:
		r.log.Debug(op + " sent")
	case errors.Is(err, job.ErrLeaseMismatch):
		// Canceled or expired between the handler's return and now.
		r.log.Info(op+" refused: the lease no longer holds the job", "err", err)
	case tokenRefused(err):
		r.log.Error(op+" refused with the token; the job runs again when its lease expires", "err", err)
		r.w.refuse(err)
	default:
		r.log.Error(op+" failed; the job runs again when its lease expires", "err", err)
	}
}

// resultJSON encodes a handler's result for Ack as the server shows its
// own handlers' results: strict JSON as it is, other bytes as a JSON
// string, nothing as no result. JSON the server refuses (a key twice, a
// lone surrogate escape, as Python's json.dumps writes) would fail every
// ack, and the job would run again until it was dead.
func resultJSON(b []byte) json.RawMessage {
	return strictjson.AsJSON(b)
}

// heartbeat extends the lease every visibility/3 until the handler
// returns or the lease is lost.
func (r *run) heartbeat() {
	t := time.NewTicker(r.w.visibility / 3)
	defer t.Stop()
	for {
		select {
		case <-r.calls.Done():
			return
		case <-t.C:
		}
		_, err := r.w.c.Extend(r.calls, r.lj.Ticket, r.lj.Lease, r.w.visibility)
		if r.calls.Err() != nil {
			return
		}
		if r.noteLoss(err) {
			return
		}
		if tokenRefused(err) {
			r.w.refuse(err) // cancels the handler, which ends this loop
			return
		}
		if err != nil {
			// The lease is still good for a while: the next beat may
			// get through.
			r.log.Warn("lease extension failed", "err", err)
		}
	}
}

// noteLoss checks an answer about the lease; if it says the lease is gone,
// it stops the handler with the matching cause and reports true.
func (r *run) noteLoss(err error) bool {
	var cause, lost error
	switch apiCode(err) {
	case "job_canceled":
		cause, lost = job.ErrJobCanceled, job.ErrLeaseCanceled
	case "lease_mismatch", "not_found":
		cause, lost = ErrLeaseLost, ErrLeaseLost
	default:
		return false
	}
	r.mu.Lock()
	first := r.lost == nil
	if first {
		r.lost = lost
	}
	r.mu.Unlock()
	if first {
		r.log.Info("lease gone; canceling the handler", "cause", cause)
		r.cancel(cause)
	}
	return true
}

// lostLease returns why the lease is gone, or nil.
func (r *run) lostLease() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lost
}

// report is the job's progress hook (job.Job.ReportProgress). It only
// records the report; progressLoop sends it.
func (r *run) report(percent int, message string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lost != nil {
		return r.lost
	}
	r.pending = &progressReport{percent: percent, message: message}
	select {
	case r.kick <- struct{}{}:
	default:
	}
	return nil
}

// take returns the pending report and clears it.
func (r *run) take() *progressReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pending
	r.pending = nil
	return p
}

// progressLoop sends reports, at most one per progressInterval, until the
// handler returns; reports in between are coalesced into the latest.
func (r *run) progressLoop() {
	var last time.Time
	for {
		select {
		case <-r.calls.Done():
			return
		case <-r.kick:
		}
		if wait := time.Until(last.Add(progressInterval)); wait > 0 {
			if sleep(r.calls, wait) != nil {
				return
			}
		}
		p := r.take()
		if p == nil {
			continue
		}
		last = time.Now()
		// A send already on its way finishes even if the handler returns
		// meanwhile: cutting it off would lose the report that the final
		// flush no longer has (take emptied it).
		ctx, cancel := context.WithTimeout(r.w.base, r.w.visibility)
		r.sendProgress(ctx, p)
		cancel()
	}
}

// flushProgress sends the report still pending when the handler returned,
// so that the last one is sent before the ack.
func (r *run) flushProgress() {
	p := r.take()
	if p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.w.base, r.w.visibility)
	defer cancel()
	r.sendProgress(ctx, p)
}

func (r *run) sendProgress(ctx context.Context, p *progressReport) {
	err := r.w.c.Progress(ctx, r.lj.Ticket, r.lj.Lease, p.percent, p.message)
	if tokenRefused(err) {
		r.w.refuse(err)
		return
	}
	if err != nil && !r.noteLoss(err) && ctx.Err() == nil {
		r.log.Warn("progress report failed", "err", err)
	}
}
