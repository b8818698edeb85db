package wal

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

// Extend implements backend.Backend.
func (l *Log) Extend(ctx context.Context, t job.Ticket, lease string, visibility time.Duration) (*job.Job, error) {
	if visibility <= 0 {
		return nil, fmt.Errorf("%w: visibility %s must be positive", job.ErrInvalid, visibility)
	}
	var out *job.Job
	err := l.do(ctx, func(w *wtx) error {
		out = nil
		j, q, err := w.loadHeld(t, lease)
		if err != nil {
			return answerOr(w, err)
		}
		if !leased(j) {
			// A run inside the server has no deadline; giving it one would
			// let expiry requeue it while it still runs.
			w.answer(fmt.Errorf("%w: ticket %s is run by the server, not leased", job.ErrLeaseMismatch, t))
			return nil
		}
		if err := w.unindex(q, j); err != nil {
			return err
		}
		j.LeaseExpiresAt, j.LeaseVisibility, j.UpdatedAt = w.now.Add(visibility), visibility, w.now
		if err := w.index(q, j); err != nil {
			return err
		}
		out = j
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RenewLeases implements backend.Backend.
func (l *Log) RenewLeases(ctx context.Context, refs []backend.LeaseRef) ([]error, error) {
	return l.eachHeld(ctx, len(refs), func(i int) (job.Ticket, string) { return refs[i].Ticket, refs[i].Lease },
		func(i int, w *wtx, j *job.Job) error {
			if !leased(j) {
				return fmt.Errorf("%w: ticket %s is not leased", job.ErrLeaseMismatch, j.Ticket)
			}
			vis := j.LeaseVisibility
			if vis <= 0 {
				vis = renewFallback // a lease stored before visibilities were kept
			}
			j.LeaseExpiresAt = later(j.LeaseExpiresAt, w.now.Add(vis))
			return nil
		})
}

// renewFallback renews a lease whose visibility is unknown.
const renewFallback = 30 * time.Second

// SetProgress implements backend.Backend.
func (l *Log) SetProgress(ctx context.Context, p []backend.Progress) ([]error, error) {
	for i := range p {
		if p[i].Percent < 0 || p[i].Percent > 100 || len(p[i].Message) > job.MaxProgressMessageLen {
			return nil, fmt.Errorf("%w: progress report %d: percent %d or message of %d bytes out of range", job.ErrInvalid, i, p[i].Percent, len(p[i].Message))
		}
	}
	var errs []error
	err := l.do(ctx, func(w *wtx) error {
		errs = make([]error, len(p))
		for i, r := range p {
			j, _, err := w.loadHeld(r.Ticket, r.Lease)
			if err != nil {
				if isAnswer(err) {
					errs[i] = err
					continue
				}
				return err
			}
			at := r.At
			if at.IsZero() {
				at = w.now
			}
			j.Progress, j.ProgressMessage, j.ProgressAt = r.Percent, r.Message, at
			if err := w.store(j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}

// ExpireLeases implements backend.Backend. The lease index is ordered by
// deadline, so the scan stops at the first lease that is still valid: its
// cost is proportional to the expired leases.
func (l *Log) ExpireLeases(ctx context.Context, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("%w: limit %d", job.ErrInvalid, limit)
	}
	var n int
	err := l.do(ctx, func(w *wtx) error {
		n = 0
		now := sortableTime(w.now)
		var tickets []job.Ticket
		c := w.leases.Cursor()
		for k, _ := c.First(); k != nil && len(tickets) < limit; k, _ = c.Next() {
			if len(k) != 16 {
				return fmt.Errorf("%w: lease key of %d bytes", ErrCorrupt, len(k))
			}
			if binary.BigEndian.Uint64(k[:8]) > now {
				break
			}
			tickets = append(tickets, keyTicket(k[8:]))
		}
		for _, t := range tickets {
			j, q, err := w.load(t)
			if err != nil {
				return err
			}
			if !leased(j) {
				return fmt.Errorf("%w: lease index names ticket %s in state %s", ErrCorrupt, t, j.State)
			}
			if err := w.unindex(q, j); err != nil {
				return err
			}
			recordError(j, w.now, fmt.Sprintf("lease expired at %s without an ack", j.LeaseExpiresAt.UTC().Format(time.RFC3339)))
			j.Lease, j.LeaseExpiresAt, j.LeaseVisibility, j.UpdatedAt = "", time.Time{}, 0, w.now
			if j.Failures() >= j.MaxAttempts {
				j.State, j.FinishedAt = job.Dead, w.now
			} else {
				j.State, j.RunAt = job.Queued, w.now
			}
			if err := w.index(q, j); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
