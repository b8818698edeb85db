package httpapi

import (
	"context"
	"net/http"
	"time"
)

// getJob answers a job's view. With ?wait=30s it long-polls: it answers as
// soon as the job is final, or with the job as it is when the wait passes,
// the client goes away or the server starts draining.
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
		if wait > s.opts.MaxWait {
			return reply{}, invalidf("invalid_request", "wait %s is longer than this server's limit of %s", wait, s.opts.MaxWait)
		}
	}
	if wait == 0 {
		j, err := q.Status(r.Context(), t)
		if err != nil {
			return reply{}, err
		}
		return ok(newJobView(j))
	}

	done, err := s.startLongPoll()
	if err != nil {
		return reply{}, err
	}
	defer done()
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	stop := context.AfterFunc(s.drained, cancel)
	defer stop()
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
	return ok(newJobView(j))
}

// cancel cancels a job; a final one answers 409 already_final.
func (s *Server) cancel(q Queue, r *http.Request) (reply, error) {
	t, err := ticketParam(r)
	if err != nil {
		return reply{}, err
	}
	if _, err := query(r); err != nil {
		return reply{}, err
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
