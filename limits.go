package ticketq

import (
	"context"
	"fmt"

	"github.com/ticketq/ticketq/internal/ratelimit"
	"github.com/ticketq/ticketq/job"
)

// QueueOverrides are a queue's limits changed at run time; see
// UpdateLimits. A nil field is not overridden.
type QueueOverrides = job.QueueOverrides

// Limits are the limits in force for a queue: its configured options with
// the run-time overrides applied.
type Limits struct {
	Workers   int
	MaxLeases int
	Rate      float64
	Burst     int
	MaxQueued int
}

// configured returns the options a queue has before overrides: its own,
// the default handler's, or the defaults. q.mu must be held.
func (q *Queue) configured(name string) QueueOptions {
	if qs, ok := q.queues[name]; ok {
		return qs.opts
	}
	if q.fallback != nil {
		return q.fallback.opts
	}
	return q.opts.Queue.withDefaults(QueueOptions{})
}

// effective returns the options in force for a queue. q.mu must be held.
func (q *Queue) effective(name string) QueueOptions {
	return q.configured(name).override(q.overrides[name])
}

// limiter returns the start-rate bucket of a queue, shared by its workers
// and its leases. A queue without a rate gets none unless create is set (a
// pool keeps its bucket for later rate changes): leases may name any queue,
// and memory must not grow with the names. A nil bucket limits nothing.
// q.mu must be held.
func (q *Queue) limiter(name string, create bool) *ratelimit.Bucket {
	b, ok := q.limiters[name]
	if !ok {
		eff := q.effective(name)
		if !create && eff.Rate == 0 {
			return nil
		}
		b = ratelimit.New(eff.Rate, eff.burst())
		q.limiters[name] = b
	}
	return b
}

// loadOverrides reads the run-time limits stored with every queue, once at
// Open, so that they apply before any job starts: O(queues).
func (q *Queue) loadOverrides(ctx context.Context) error {
	names, err := q.b.Queues(ctx)
	if err != nil {
		return fmt.Errorf("list queues: %w", err)
	}
	for _, name := range names {
		st, err := q.b.Stats(ctx, name)
		if err != nil {
			return fmt.Errorf("read limits of queue %q: %w", name, err)
		}
		if o := st.Overrides; o.Workers != nil || o.MaxLeases != nil || o.Rate != nil || o.Burst != nil || o.MaxQueued != nil {
			q.overrides[name] = o
		}
	}
	return nil
}

// UpdateLimits changes a queue's run-time limits: patch edits the current
// overrides (set a field to override it, set it to nil to return to the
// configured value). The change is stored with the queue, so a restart
// keeps it, and applies at once: more workers start jobs immediately, fewer
// take effect as running jobs finish; a lower MaxQueued refuses submits
// from then on and leaves the jobs already queued alone. Overrides beat
// flags and environment.
func (q *Queue) UpdateLimits(ctx context.Context, queue string, patch func(*QueueOverrides)) (QueueStats, error) {
	if q.isClosed() {
		return QueueStats{}, ErrClosed
	}
	if err := job.ValidateQueueName(queue); err != nil {
		return QueueStats{}, err
	}
	// One update at a time, so that two patches cannot lose each other.
	q.limitsMu.Lock()
	defer q.limitsMu.Unlock()
	q.mu.Lock()
	next := cloneOverrides(q.overrides[queue])
	q.mu.Unlock()
	patch(&next)
	if err := next.Validate(); err != nil {
		return QueueStats{}, err
	}
	err := q.b.SetOverrides(ctx, queue, next)
	q.noteFailure(err)
	if err != nil {
		return QueueStats{}, err
	}
	q.mu.Lock()
	q.overrides[queue] = next
	eff := q.effective(queue)
	if b := q.limiter(queue, false); b != nil {
		b.Set(eff.Rate, eff.burst())
	}
	var pool interface{ SetWorkers(int) }
	if qs, ok := q.queues[queue]; ok && qs.pool != nil {
		pool = qs.pool
	}
	q.mu.Unlock()
	if pool != nil {
		pool.SetWorkers(eff.Workers)
	}
	q.signalReady(queue)
	return q.Stats(ctx, queue)
}

func cloneOverrides(o QueueOverrides) QueueOverrides {
	c := QueueOverrides{}
	if o.Workers != nil {
		v := *o.Workers
		c.Workers = &v
	}
	if o.MaxLeases != nil {
		v := *o.MaxLeases
		c.MaxLeases = &v
	}
	if o.Rate != nil {
		v := *o.Rate
		c.Rate = &v
	}
	if o.Burst != nil {
		v := *o.Burst
		c.Burst = &v
	}
	if o.MaxQueued != nil {
		v := *o.MaxQueued
		c.MaxQueued = &v
	}
	return c
}
