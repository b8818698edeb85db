package wal

import (
	"context"
	"fmt"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

// SetPaused implements backend.Backend.
func (l *Log) SetPaused(ctx context.Context, queue string, paused bool) error {
	if err := job.ValidateQueueName(queue); err != nil {
		return err
	}
	return l.do(ctx, func(w *wtx) error { return l.setPaused(w, queue, paused) })
}

// setPaused is SetPaused inside a running transaction. Pausing creates an
// unknown queue (so a queue can be paused before its first job); resuming
// one answers job.ErrNotFound, so a typo does not create a queue.
func (l *Log) setPaused(w *wtx, queue string, paused bool) error {
	q, err := w.queue(queue, paused)
	if err != nil {
		return err
	}
	if q == nil {
		w.answer(fmt.Errorf("%w: queue %q", job.ErrNotFound, queue))
		return nil
	}
	if q.meta.paused != paused {
		q.meta.paused, q.dirty = paused, true
	}
	if !paused {
		// Wake dispatchers of this queue: its jobs may be claimed again.
		w.changes = append(w.changes, backend.Change{Queue: queue, State: job.Queued})
	}
	return nil
}

// SetOverrides implements backend.Backend.
func (l *Log) SetOverrides(ctx context.Context, queue string, o job.QueueOverrides) error {
	if err := job.ValidateQueueName(queue); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	return l.do(ctx, func(w *wtx) error {
		q, err := w.queue(queue, true)
		if err != nil {
			return err
		}
		q.meta.overrides, q.dirty = o, true
		// Wake dispatchers: a larger limit may let more jobs start.
		w.changes = append(w.changes, backend.Change{Queue: queue, State: job.Queued})
		return nil
	})
}

// RebuildCounts implements backend.Backend: it recounts the queued and
// running indexes of every queue (O(unfinished jobs)) and fixes the stored
// counters where they disagree. Counters of final states are trusted as
// stored: they change in the same transaction as the jobs they count.
func (l *Log) RebuildCounts(ctx context.Context) (int, error) {
	var corrected int
	err := l.do(ctx, func(w *wtx) error {
		corrected = 0
		var names []string
		c := w.queues.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if v == nil {
				names = append(names, string(k))
			}
		}
		for _, name := range names {
			q, err := w.queue(name, false)
			if err != nil {
				return err
			}
			for _, s := range []job.State{job.Queued, job.Running} {
				n := int64(0)
				sc := q.states[s].Cursor()
				for k, _ := sc.First(); k != nil; k, _ = sc.Next() {
					n++
				}
				if q.meta.counts[s] != n {
					l.log.Warn().Str("queue", name).Stringer("state", s).
						Int64("stored", q.meta.counts[s]).Int64("indexed", n).Msg("counter corrected")
					q.meta.counts[s], q.dirty = n, true
					corrected++
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return corrected, nil
}
