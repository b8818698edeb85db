package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/job"
)

// Defaults of the pull-mode bodies.
const (
	defaultVisibility = job.DefaultVisibility
	defaultLeaseMax   = 1
)

type leaseBody struct {
	Max        *wholeNumber `json:"max"`
	Visibility *string      `json:"visibility"`
	Wait       *string      `json:"wait"`
}

// lease hands out up to max due jobs of a pull queue, waiting up to wait
// for one (a submit wakes it at once). An empty list is a normal answer.
func (s *Server) lease(q Queue, r *http.Request) (reply, error) {
	queue, err := queueParam(r)
	if err != nil {
		return reply{}, err
	}
	if _, err := query(r); err != nil {
		return reply{}, err
	}
	var body leaseBody
	if err := readBody(r, &body, false); err != nil {
		return reply{}, err
	}
	n := defaultLeaseMax
	if body.Max != nil {
		n = int(*body.Max)
	}
	vis, err := optDuration("visibility", body.Visibility, defaultVisibility)
	if err != nil {
		return reply{}, err
	}
	wait, err := optDuration("wait", body.Wait, 0)
	if err != nil {
		return reply{}, err
	}
	if wait > 0 {
		done, err := s.startLongPoll()
		if err != nil {
			return reply{}, err
		}
		defer done()
	}
	// A long-poll ends when the server starts draining, like ?wait= does;
	// jobs leased by then are answered (the worker holds them now), an
	// empty wait is told that the server is going away, not that nothing
	// came.
	ctx, stop := s.longPollContext(r)
	defer stop()
	js, err := q.Lease(ctx, queue, n, vis, wait)
	if len(js) == 0 && errors.Is(context.Cause(ctx), errShuttingDown) {
		return reply{}, errorf(errShuttingDown, "the lease's wait ended before a job came; lease again after the restart or from another instance")
	}
	if err != nil {
		return reply{}, err
	}
	return ok(newLeaseView(js))
}

type ackBody struct {
	Lease  string          `json:"lease"`
	Result json.RawMessage `json:"result"`
}

// ack records a leased job's success.
func (s *Server) ack(q Queue, r *http.Request) (reply, error) {
	var body ackBody
	t, err := settleRequest(r, &body, &body.Lease)
	if err != nil {
		return reply{}, err
	}
	j, err := q.Ack(r.Context(), t, body.Lease, []byte(body.Result))
	if err != nil {
		return reply{}, err
	}
	return ok(newJobView(j))
}

type nackBody struct {
	Lease     string  `json:"lease"`
	Error     string  `json:"error"`
	RetryIn   *string `json:"retry_in"`
	Permanent bool    `json:"permanent"`
}

// nack records a leased job's failure; the queue's retry rules decide
// whether it runs again (after retry_in, if given) or is dead.
func (s *Server) nack(q Queue, r *http.Request) (reply, error) {
	var body nackBody
	t, err := settleRequest(r, &body, &body.Lease)
	if err != nil {
		return reply{}, err
	}
	retryIn, err := optDuration("retry_in", body.RetryIn, -1)
	if err != nil {
		return reply{}, err
	}
	// A negative retry_in is the Go API's "the queue's backoff", which
	// the HTTP API spells by leaving the field out.
	if body.RetryIn != nil && (retryIn < 0 || retryIn > job.MaxDelay) {
		return reply{}, invalidf("invalid_request", "retry_in %s is outside 0s..%s; leave it out for the queue's backoff", retryIn, job.MaxDelay)
	}
	j, err := q.Nack(r.Context(), t, body.Lease, body.Error, retryIn, body.Permanent)
	if err != nil {
		return reply{}, err
	}
	return ok(newJobView(j))
}

type extendBody struct {
	Lease      string  `json:"lease"`
	Visibility *string `json:"visibility"`
}

// extend is a worker's heartbeat: the lease now ends visibility from now.
func (s *Server) extend(q Queue, r *http.Request) (reply, error) {
	var body extendBody
	t, err := settleRequest(r, &body, &body.Lease)
	if err != nil {
		return reply{}, err
	}
	vis, err := optDuration("visibility", body.Visibility, defaultVisibility)
	if err != nil {
		return reply{}, err
	}
	j, err := q.Extend(r.Context(), t, body.Lease, vis)
	if err != nil {
		return reply{}, err
	}
	return ok(newJobView(j))
}

type releaseBody struct {
	Lease string `json:"lease"`
}

// release gives a leased job back without charging an attempt: the worker
// is stopping. The job is queued again at once.
func (s *Server) release(q Queue, r *http.Request) (reply, error) {
	var body releaseBody
	t, err := settleRequest(r, &body, &body.Lease)
	if err != nil {
		return reply{}, err
	}
	j, err := q.Release(r.Context(), t, body.Lease)
	if err != nil {
		return reply{}, err
	}
	return ok(newJobView(j))
}

type progressBody struct {
	Lease    string       `json:"lease"`
	Progress *wholeNumber `json:"progress"`
	Message  string       `json:"message"`
}

type progressView struct {
	Ticket   string `json:"ticket"`
	Progress int    `json:"progress"`
	Message  string `json:"message"`
}

// progress records how far a leased job is; writes are coalesced.
func (s *Server) progress(q Queue, r *http.Request) (reply, error) {
	var body progressBody
	t, err := settleRequest(r, &body, &body.Lease)
	if err != nil {
		return reply{}, err
	}
	if body.Progress == nil {
		return reply{}, invalidf("invalid_request", "progress is required: a whole number from 0 to 100")
	}
	p := int(*body.Progress)
	if err := q.Progress(r.Context(), t, body.Lease, p, body.Message); err != nil {
		return reply{}, err
	}
	return ok(progressView{Ticket: t.String(), Progress: p, Message: body.Message})
}

// settleRequest reads the ticket and a body that must name a lease.
func settleRequest(r *http.Request, body any, lease *string) (ticketq.Ticket, error) {
	t, err := ticketParam(r)
	if err != nil {
		return 0, err
	}
	if _, err := query(r); err != nil {
		return 0, err
	}
	if err := readBody(r, body, true); err != nil {
		return 0, err
	}
	if *lease == "" {
		return 0, invalidf("invalid_request", "lease is required: the token the lease answer gave")
	}
	return t, nil
}

// optDuration parses an optional duration field; def applies when absent.
func optDuration(field string, v *string, def time.Duration) (time.Duration, error) {
	if v == nil {
		return def, nil
	}
	return parseDuration(field, *v)
}
