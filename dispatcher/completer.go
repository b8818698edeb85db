package dispatcher

import (
	"context"
	"errors"
	"time"

	"github.com/ticketq/ticketq/job"
)

// Done is the decided outcome of one run, waiting to be recorded.
type Done struct {
	Job     *job.Job // carries its lease
	Outcome Outcome
}

// maxCompleteBatch caps the outcomes recorded in one call.
const maxCompleteBatch = 1024

// completer records outcomes in batches. A run hands its outcome over and
// its worker takes the next job at once, instead of waiting for a commit of
// its own: the completer records everything finished since its last call
// in one call, so check-offs share commits however short the jobs are. An
// outcome not yet recorded when the process dies is simply not there: the
// job was still running on disk, and recovery runs it again, which is the
// at-least-once contract.
type completer struct {
	p    *Pool
	in   chan Done
	quit chan struct{} // closed by Run when no more outcomes will come
	gone chan struct{} // closed when the completer has stopped
	// abandon is closed by Run when a stopping pool has waited long
	// enough for a full disk: outcomes still unrecorded are dropped.
	abandon chan struct{}
}

func newCompleter(p *Pool) *completer {
	return &completer{
		p:       p,
		in:      make(chan Done, max(2*p.opts.Workers, 64)),
		quit:    make(chan struct{}),
		gone:    make(chan struct{}),
		abandon: make(chan struct{}),
	}
}

// Waits between attempts to record outcomes refused by a full disk.
const (
	diskFullRetryBase = 100 * time.Millisecond
	diskFullRetryMax  = 2 * time.Second
)

// hand gives one outcome to the completer. A full queue makes the worker
// wait, which bounds the outcomes in memory. After the completer stopped
// (a handler abandoned at hard stop) the outcome is dropped: its job is
// still running on disk and will be replayed.
func (c *completer) hand(d Done) {
	select {
	case c.in <- d:
	case <-c.gone:
	}
}

// run records outcomes until quit, then records what is left and stops.
// Recording uses ctx, which must outlive the pool's stop: a run finished
// during the grace period still has its outcome written.
func (c *completer) run(ctx context.Context) {
	defer close(c.gone)
	batch := make([]Done, 0, maxCompleteBatch)
	for {
		select {
		case d := <-c.in:
			batch = append(batch[:0], d)
		case <-c.quit:
			for {
				batch = c.drain(batch[:0])
				if len(batch) == 0 {
					return
				}
				c.record(ctx, batch)
			}
		}
		batch = c.drain(batch)
		c.record(ctx, batch)
		clear(batch)
	}
}

// drain appends the outcomes already waiting, up to the batch cap.
func (c *completer) drain(batch []Done) []Done {
	for len(batch) < maxCompleteBatch {
		select {
		case d := <-c.in:
			batch = append(batch, d)
		default:
			return batch
		}
	}
	return batch
}

// record records batch. Outcomes refused because the disk is full are
// tried again until they are recorded or the stopping pool abandons them:
// a finished job waits for space instead of being run again. Meanwhile
// new outcomes queue up in c.in, and once it is full, workers wait.
func (c *completer) record(ctx context.Context, batch []Done) {
	var retry []Done
	for n := 0; ; n++ {
		retry = c.recordOnce(ctx, batch, retry[:0])
		if len(retry) == 0 {
			return
		}
		if n == 0 {
			c.p.log.Warn().Int("outcomes", len(retry)).Msg("disk full: outcomes wait for space to be recorded")
		}
		batch = append(batch[:0], retry...)
		t := time.NewTimer(min(diskFullRetryBase<<min(n, 8), diskFullRetryMax))
		select {
		case <-t.C:
		case <-c.abandon:
			t.Stop()
			c.p.log.Error().Int("outcomes", len(batch)).Msg("stopping with the disk still full; these jobs will be replayed at next start")
			return
		}
	}
}

// recordOnce makes one attempt to record batch and appends to retry the
// outcomes that the full disk refused.
func (c *completer) recordOnce(ctx context.Context, batch, retry []Done) []Done {
	errs, err := c.p.src.Finish(ctx, batch)
	if errors.Is(err, job.ErrDiskFull) {
		return append(retry, batch...)
	}
	if err != nil {
		c.p.log.Error().Err(err).Int("outcomes", len(batch)).Msg("recording outcomes failed; their jobs will be replayed")
		return retry
	}
	for i, e := range errs {
		switch {
		case e == nil:
		case errors.Is(e, job.ErrDiskFull):
			retry = append(retry, batch[i])
		case errors.Is(e, job.ErrConflict) || errors.Is(e, job.ErrNotFound):
			// Canceled, retried or (after a cancel) purged meanwhile:
			// there is nothing to record.
			c.p.log.Debug().Stringer("ticket", batch[i].Job.Ticket).Err(e).Msg("outcome not recorded: job changed meanwhile")
		default:
			c.p.log.Error().Stringer("ticket", batch[i].Job.Ticket).Err(e).Msg("recording outcome failed; the job will be replayed")
		}
	}
	return retry
}
