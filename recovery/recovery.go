// Package recovery repairs what a crash left behind. It runs inside
// ticketq.Open, before the queue reports ready: every job found running was
// interrupted (the process that ran it is gone), so it goes back to queued
// with the interruption recorded; then the counters of unfinished states are
// rebuilt from the indexes. Jobs leased by pull workers keep their leases
// (the workers are other processes and may still be working), started over
// from now, so that the downtime does not count against them.
//
// Its cost is proportional to the unfinished jobs, not to the history: it
// reads only the running index of each queue and recounts only the queued and
// running indexes.
package recovery

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/internal/logfield"
	"github.com/ticketq/ticketq/job"
)

// Reason is recorded in the error history of every recovered job.
const Reason = "the process stopped while the job was running"

// pageSize is how many running jobs one requeue transaction moves: small
// enough to keep each commit short, large enough to amortize the fsync.
const pageSize = 1000

// Report says what recovery did.
type Report struct {
	// Recovered is the number of interrupted runs put back to queued. Each
	// may run a second time: these are the only possible duplicates.
	Recovered int
	// Leased is the number of pull leases kept, each renewed from now.
	Leased int
	// Queues is the number of queues inspected.
	Queues int
	// Corrected is the number of counters that disagreed with the indexes.
	Corrected int
	// Duration is how long recovery took.
	Duration time.Duration
}

// Run recovers b. It logs progress at most once per second while it works
// and a summary at the end.
func Run(ctx context.Context, b backend.Backend, log zerolog.Logger) (Report, error) {
	log = log.With().Str("component", "recovery").Logger()
	start := time.Now()
	var rep Report
	queues, err := b.Queues(ctx)
	if err != nil {
		return rep, fmt.Errorf("recovery: list queues: %w", err)
	}
	rep.Queues = len(queues)
	lastLog := start
	for _, q := range queues {
		after := job.Ticket(0)
		for {
			page, err := b.Running(ctx, q, after, pageSize)
			if err != nil {
				return rep, fmt.Errorf("recovery: list running jobs of %q: %w", q, err)
			}
			if len(page) == 0 {
				break
			}
			after = page[len(page)-1].Ticket
			// A pull lease belongs to a worker outside this process, which
			// may well still be working: it survives the restart until its
			// deadline, when lease expiry deals with it.
			reqs := make([]backend.Requeue, 0, len(page))
			var kept []backend.LeaseRef
			for _, j := range page {
				if j.LeaseExpiresAt.IsZero() {
					reqs = append(reqs, backend.Requeue{Ticket: j.Ticket, Lease: j.Lease, Reason: Reason})
				} else {
					kept = append(kept, backend.LeaseRef{Ticket: j.Ticket, Lease: j.Lease})
				}
			}
			if len(kept) > 0 {
				// The clock ran on while the server was down; without a
				// fresh deadline, a worker that never stopped would be
				// charged an attempt before its next heartbeat arrives.
				errs, err := b.RenewLeases(ctx, kept)
				if err != nil {
					return rep, fmt.Errorf("recovery: renew leases of %q: %w", q, err)
				}
				for i, e := range errs {
					if e != nil {
						log.Warn().Str("queue", q).Stringer("ticket", kept[i].Ticket).Err(e).Msg("could not renew a kept lease")
						continue
					}
					rep.Leased++
				}
			}
			if len(reqs) == 0 {
				continue
			}
			errs, err := b.Requeue(ctx, reqs)
			if err != nil {
				return rep, fmt.Errorf("recovery: requeue interrupted jobs of %q: %w", q, err)
			}
			for i, e := range errs {
				if e != nil {
					// Nothing else runs during recovery, so this means the
					// index and the record disagree: report it, keep going.
					log.Warn().Str("queue", q).Stringer("ticket", reqs[i].Ticket).Err(e).Msg("could not requeue interrupted job")
					continue
				}
				rep.Recovered++
			}
			if time.Since(lastLog) >= time.Second {
				lastLog = time.Now()
				log.Info().Int("recovered", rep.Recovered).Str("queue", q).Float64("elapsed_ms", logfield.Millis(time.Since(start))).Msg("recovering interrupted jobs")
			}
		}
	}
	rep.Corrected, err = b.RebuildCounts(ctx)
	if err != nil {
		return rep, fmt.Errorf("recovery: rebuild counters: %w", err)
	}
	rep.Duration = time.Since(start)
	log.Info().Int("recovered", rep.Recovered).Int("leases_kept", rep.Leased).Int("queues", rep.Queues).Int("counters_corrected", rep.Corrected).
		Float64("took_ms", logfield.Millis(rep.Duration)).Msg("recovery done")
	return rep, nil
}
