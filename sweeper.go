package ticketq

import (
	"context"
	"errors"
	"time"

	"github.com/ticketq/ticketq/backend"
)

// sweep purges finished jobs past their retention every SweepInterval until
// ctx ends. Each transaction deletes at most SweepBatch jobs, so a large
// backlog of expired jobs never holds the committer for long.
func (q *Queue) sweep(ctx context.Context) {
	t := time.NewTicker(q.opts.SweepInterval)
	defer t.Stop()
	for {
		q.sweepOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepOnce purges every expired job now and returns how many it purged.
func (q *Queue) sweepOnce(ctx context.Context) int {
	total := 0
	now := q.opts.Clock.Now()
	for _, r := range []struct {
		state State
		keep  time.Duration
	}{
		{Succeeded, q.opts.RetainSucceeded},
		{Canceled, q.opts.RetainSucceeded},
		{Dead, q.opts.RetainDead},
	} {
		if r.keep < 0 {
			continue
		}
		for ctx.Err() == nil {
			n, err := q.b.Purge(ctx, backend.PurgeRequest{State: r.state, Before: now.Add(-r.keep), Limit: q.opts.SweepBatch})
			q.noteFailure(err)
			if err != nil {
				// The store logs a full disk, and its own failure, once.
				if ctx.Err() == nil && !errors.Is(err, ErrDiskFull) && !errors.Is(err, ErrStoreFailed) {
					q.log.Error().Err(err).Stringer("state", r.state).Msg("retention sweep failed")
				}
				return total
			}
			total += n
			if n < q.opts.SweepBatch {
				break
			}
		}
	}
	if total > 0 {
		q.log.Info().Str("component", "sweeper").Int("purged", total).Msg("purged finished jobs past retention")
	}
	return total
}
