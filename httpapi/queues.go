package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/job"
)

// listQueues answers the stats of every known queue, in name order.
func (s *Server) listQueues(q Queue, r *http.Request) (reply, error) {
	if _, err := query(r); err != nil {
		return reply{}, err
	}
	names, err := q.Queues(r.Context())
	if err != nil {
		return reply{}, err
	}
	views := make([]statsView, 0, len(names))
	for _, name := range names {
		st, err := q.Stats(r.Context(), name)
		if errors.Is(err, job.ErrNotFound) {
			continue // gone between the two reads
		}
		if err != nil {
			return reply{}, err
		}
		views = append(views, newStatsView(st))
	}
	return ok(queuesView{Queues: views})
}

// queueStats answers one queue's stats; an unknown queue is 404.
func (s *Server) queueStats(q Queue, r *http.Request) (reply, error) {
	name, err := queueParam(r)
	if err != nil {
		return reply{}, err
	}
	if _, err := query(r); err != nil {
		return reply{}, err
	}
	return s.stats(q, r, name)
}

func (s *Server) stats(q Queue, r *http.Request, name string) (reply, error) {
	st, err := q.Stats(r.Context(), name)
	if err != nil {
		return reply{}, err
	}
	return ok(newStatsView(st))
}

// listJobs answers a page of a queue's jobs in ticket order, optionally of
// one state; "next" is the after= of the following page, "" on the last.
func (s *Server) listJobs(q Queue, r *http.Request) (reply, error) {
	name, err := queueParam(r)
	if err != nil {
		return reply{}, err
	}
	params, err := query(r, "state", "limit", "after")
	if err != nil {
		return reply{}, err
	}
	// Empty values mean "not given", so that a client may pass the "next"
	// of the last page ("") back without special-casing it.
	lq := ticketq.ListQuery{Queue: name, Limit: 100}
	if v := params.Get("state"); v != "" {
		if lq.State, err = job.ParseState(v); err != nil {
			return reply{}, err
		}
	}
	if v := params.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > ticketq.MaxListLimit {
			return reply{}, invalidf("invalid_request", "limit %q is not a number in 1..%d", clip(v), ticketq.MaxListLimit)
		}
		lq.Limit = n
	}
	if v := params.Get("after"); v != "" {
		if lq.After, err = job.ParseTicket(v); err != nil {
			return reply{}, withCode("invalid_ticket", err)
		}
	}
	page, err := q.List(r.Context(), lq)
	if err != nil {
		return reply{}, err
	}
	view := pageView{Jobs: make([]summaryView, len(page.Jobs))}
	for i, j := range page.Jobs {
		view.Jobs[i] = newSummaryView(j)
	}
	if page.Next != 0 {
		view.Next = page.Next.String()
	}
	return ok(view)
}

// pause stops a queue's jobs from starting and answers its stats. An
// unknown queue is created paused (the store's behaviour), so that a queue
// can be paused before its first job arrives.
func (s *Server) pause(q Queue, r *http.Request) (reply, error) {
	return s.setPaused(q, r, q.Pause)
}

// resume lets a paused queue's jobs start again and answers its stats.
func (s *Server) resume(q Queue, r *http.Request) (reply, error) {
	return s.setPaused(q, r, q.Resume)
}

func (s *Server) setPaused(q Queue, r *http.Request, set func(ctx context.Context, queue string) error) (reply, error) {
	name, err := queueParam(r)
	if err != nil {
		return reply{}, err
	}
	if _, err := query(r); err != nil {
		return reply{}, err
	}
	if err := readBody(r, &struct{}{}, false); err != nil {
		return reply{}, err
	}
	if err := set(r.Context(), name); err != nil {
		return reply{}, err
	}
	return s.stats(q, r, name)
}

// patchField is one field of a PATCH body: absent (unchanged), null (the
// override is removed) or a value (the override is set).
type patchField[T int | float64] struct {
	set, null bool
	v         T
}

func (f *patchField[T]) UnmarshalJSON(b []byte) error {
	f.set = true
	if string(b) == "null" {
		f.null = true
		return nil
	}
	v, err := decodeNumber[T](b)
	f.v = v
	return err
}

// apply writes the field into an override.
func (f *patchField[T]) apply(dst **T) {
	switch {
	case !f.set:
	case f.null:
		*dst = nil
	default:
		v := f.v
		*dst = &v
	}
}

type patchBody struct {
	Workers   patchField[int]     `json:"workers"`
	MaxLeases patchField[int]     `json:"max_leases"`
	Rate      patchField[float64] `json:"rate"`
	Burst     patchField[int]     `json:"burst"`
	MaxQueued patchField[int]     `json:"max_queue"`
}

// patchQueue changes a queue's limits at run time. The change is stored with
// the queue (a restart keeps it) and beats the server's flags and
// environment; null returns a limit to the configured value.
func (s *Server) patchQueue(q Queue, r *http.Request) (reply, error) {
	name, err := queueParam(r)
	if err != nil {
		return reply{}, err
	}
	if _, err := query(r); err != nil {
		return reply{}, err
	}
	var body patchBody
	if err := readBody(r, &body, true); err != nil {
		return reply{}, err
	}
	if !body.Workers.set && !body.MaxLeases.set && !body.Rate.set && !body.Burst.set && !body.MaxQueued.set {
		return reply{}, invalidf("invalid_request", "nothing to change: give one or more of workers, max_queue, max_leases, rate, burst (null removes an override)")
	}
	st, err := q.UpdateLimits(r.Context(), name, func(o *ticketq.QueueOverrides) {
		body.Workers.apply(&o.Workers)
		body.MaxLeases.apply(&o.MaxLeases)
		body.Rate.apply(&o.Rate)
		body.Burst.apply(&o.Burst)
		body.MaxQueued.apply(&o.MaxQueued)
	})
	if err != nil {
		return reply{}, err
	}
	return ok(newStatsView(st))
}
