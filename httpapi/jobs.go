package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ticketq/ticketq/job"
)

// getJob answers a job's view. With ?wait=30s it long-polls: it answers as
// soon as the job is final, or with the job as it is when the wait passes.
// A wait that the server's shutdown cuts short (Drain) answers 503
// shutting_down with Retry-After instead: the job may still change, and a
// 200 would read as "the wait passed". A submit token reads only the jobs
// it submitted: any other ticket answers 404 not_found, as an unknown one
// does.
func (s *Server) getJob(q Queue, r *http.Request) (reply, error) {
	t, err := ticketParam(r)
	if err != nil {
		return reply{}, err
	}
	params, err := query(r, "wait")
	if err != nil {
		return reply{}, err
	}
	var wait time.Duration
	if v := params.Get("wait"); v != "" {
		if wait, err = parseDuration("wait", v); err != nil {
			return reply{}, err
		}
		if wait < 0 || wait > s.opts.MaxWait {
			return reply{}, invalidf("invalid_request", "wait %s is outside 0s..%s (this server's --max-wait)", wait, s.opts.MaxWait)
		}
	}
	if r.Method == http.MethodHead {
		// A HEAD's body is thrown away: waiting for it would hold a
		// long-poll place for nothing. The wait is checked as GET's is,
		// so that both answer a bad one alike, and then not waited.
		wait = 0
	}
	if wait == 0 {
		j, err := readable(q, r, t)
		if err != nil {
			return reply{}, err
		}
		return ok(newJobView(j))
	}
	// A submit token's ticket is checked before the wait, so that a
	// foreign one is never waited on (nor takes a long-poll slot) and
	// answers at once, as an unknown one does.
	if ownJobsOnly(r) {
		if _, err := readable(q, r, t); err != nil {
			return reply{}, err
		}
	}

	done, err := s.startLongPoll()
	if err != nil {
		return reply{}, err
	}
	defer done()
	ctx, stop := s.longPollContext(r)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	j, err := q.Wait(ctx, t)
	if err != nil && ctx.Err() != nil {
		// The wait ended before the job did: that is an answer, not an
		// error. Wait returns the job as it was then, if it read it.
		if j == nil {
			j, err = q.Status(r.Context(), t)
		} else {
			err = nil
		}
	}
	if err != nil {
		return reply{}, err
	}
	if !j.State.Final() && errors.Is(context.Cause(ctx), errShuttingDown) {
		return reply{}, errorf(errShuttingDown, "the wait for ticket %s ended before the job did (it is %s); wait again after the restart or on another instance", t, j.State)
	}
	return ok(newJobView(j))
}

// readable returns job t if the request's token may read it (mayRead).
// For a submit token, a job it may not read and an unknown ticket get the
// same error, built here for both, so that no answer tells a foreign
// ticket from a free one.
func readable(q Queue, r *http.Request, t job.Ticket) (*job.Job, error) {
	j, err := q.Status(r.Context(), t)
	switch {
	case err == nil && mayRead(r, j):
		return j, nil
	case err == nil, errors.Is(err, job.ErrNotFound) && ownJobsOnly(r):
		return nil, fmt.Errorf("%w: ticket %s", job.ErrNotFound, t)
	}
	return nil, err
}

// cancel cancels a job; a final one answers 409 already_final. A submit
// token cancels only the jobs it submitted: the client that asked for the
// work is the one that knows it is no longer wanted. Any other ticket
// answers 404 not_found, as an unknown one does, and is left alone.
func (s *Server) cancel(q Queue, r *http.Request) (reply, error) {
	t, err := ticketParam(r)
	if err != nil {
		return reply{}, err
	}
	if _, err := query(r); err != nil {
		return reply{}, err
	}
	// A job's submitter never changes, nor does a ticket name another
	// job, so the check holds for the cancel that follows it.
	if ownJobsOnly(r) {
		if _, err := readable(q, r, t); err != nil {
			return reply{}, err
		}
	}
	j, err := q.Cancel(r.Context(), t)
	if err != nil {
		return reply{}, err
	}
	return ok(newJobView(j))
}

// retry puts a dead or canceled job back in line; other states answer 409
// not_retryable.
func (s *Server) retry(q Queue, r *http.Request) (reply, error) {
	t, err := ticketParam(r)
	if err != nil {
		return reply{}, err
	}
	if _, err := query(r); err != nil {
		return reply{}, err
	}
	if err := readBody(r, &struct{}{}, false); err != nil {
		return reply{}, err
	}
	j, err := q.Retry(r.Context(), t)
	if err != nil {
		return reply{}, err
	}
	return ok(newJobView(j))
}
