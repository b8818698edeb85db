package ticketq

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

// progressBuffer coalesces progress reports: only the latest report of each
// job waits in memory, and a flush every ProgressInterval writes them all in
// one transaction, so a chatty job costs at most two writes a second.
type progressBuffer struct {
	mu      sync.Mutex
	pending map[Ticket]backend.Progress
}

// take removes the report waiting for the run of t under lease, so that it
// can be stored with the run's settlement instead of being lost with it.
func (b *progressBuffer) take(t Ticket, lease string) *backend.Progress {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.pending[t]
	if !ok || p.Lease != lease {
		return nil
	}
	delete(b.pending, t)
	return &p
}

// bufferProgress keeps a report of the run holding t under lease.
func (q *Queue) bufferProgress(t Ticket, lease string, percent int, message string) error {
	if percent < 0 || percent > 100 {
		return fmt.Errorf("%w: progress %d is outside 0..100", ErrInvalid, percent)
	}
	if len(message) > job.MaxProgressMessageLen {
		return fmt.Errorf("%w: progress message is %d bytes long; the limit is %d", ErrInvalid, len(message), job.MaxProgressMessageLen)
	}
	q.progress.mu.Lock()
	q.progress.pending[t] = backend.Progress{Ticket: t, Lease: lease, Percent: percent, Message: message, At: q.opts.Clock.Now()}
	q.progress.mu.Unlock()
	return nil
}

// Progress records how far a leased job is (a pull worker's report). The
// fencing is Ack's and is checked now; the write itself is coalesced.
func (q *Queue) Progress(ctx context.Context, t Ticket, lease string, percent int, message string) error {
	if q.isClosed() {
		return ErrClosed
	}
	j, err := q.b.Get(ctx, t)
	q.noteFailure(err)
	if err != nil {
		return err
	}
	if j.State == Canceled {
		return fmt.Errorf("%w: ticket %s", ErrLeaseCanceled, t)
	}
	if j.State != Running || j.Lease != lease || lease == "" {
		return fmt.Errorf("%w: ticket %s is %s (attempt %d)", ErrLeaseMismatch, t, j.State, j.Attempt)
	}
	return q.bufferProgress(t, lease, percent, message)
}

// flushProgressLoop writes buffered reports every ProgressInterval until ctx ends.
func (q *Queue) flushProgressLoop(ctx context.Context) {
	t := time.NewTicker(ProgressInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			q.flushProgress(ctx)
		}
	}
}

// flushProgress writes every buffered report in one transaction. The
// reports stay buffered until the write is done, so that a settlement
// racing with the flush still finds the last report to store with it.
// Reports of runs that no longer hold their job are dropped.
func (q *Queue) flushProgress(ctx context.Context) {
	q.progress.mu.Lock()
	if len(q.progress.pending) == 0 {
		q.progress.mu.Unlock()
		return
	}
	batch := make([]backend.Progress, 0, len(q.progress.pending))
	for _, p := range q.progress.pending {
		batch = append(batch, p)
	}
	q.progress.mu.Unlock()
	_, err := q.b.SetProgress(ctx, batch)
	q.noteFailure(err)
	if err != nil && ctx.Err() == nil {
		q.log.Warn().Err(err).Int("reports", len(batch)).Msg("progress reports not written")
	}
	// Forget what was written, but not a newer report made meanwhile.
	q.progress.mu.Lock()
	for _, p := range batch {
		if cur, ok := q.progress.pending[p.Ticket]; ok && cur == p {
			delete(q.progress.pending, p.Ticket)
		}
	}
	q.progress.mu.Unlock()
}

// overlayProgress shows a report that is still waiting for its flush.
func (q *Queue) overlayProgress(j *Job) {
	q.progress.mu.Lock()
	p, ok := q.progress.pending[j.Ticket]
	q.progress.mu.Unlock()
	if ok && j.State == Running && p.Lease == j.Lease {
		j.Progress, j.ProgressMessage, j.ProgressAt = p.Percent, p.Message, p.At
	}
}

func randFloat() float64 { return rand.Float64() }
