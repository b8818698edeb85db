package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/ticketq/ticketq/job"
)

// jobFields are the fields of one job in a submit body. Pointers tell an
// absent field from a zero one, so that a body mixing one job's fields with
// "jobs" can be refused instead of half-ignored.
type jobFields struct {
	Payload        json.RawMessage `json:"payload"`
	IdempotencyKey *string         `json:"idempotency_key"`
	Delay          *string         `json:"delay"`
	RunAt          *string         `json:"run_at"`
	Priority       *wholeNumber    `json:"priority"`
	MaxAttempts    *wholeNumber    `json:"max_attempts"`
	Timeout        *string         `json:"timeout"`
}

// submitBody is one job, its fields at the top level, or a batch in "jobs".
type submitBody struct {
	jobFields
	Jobs []jobFields `json:"jobs"`
}

// present reports whether any field of the job was given.
func (f *jobFields) present() bool {
	return f.Payload != nil || f.IdempotencyKey != nil || f.Delay != nil || f.RunAt != nil ||
		f.Priority != nil || f.MaxAttempts != nil || f.Timeout != nil
}

// submissions converts the body; batch tells which form it had. now is
// when the request arrived, the origin of every delay.
func (b *submitBody) submissions(now time.Time) (subs []job.Submission, batch bool, err error) {
	if b.Jobs == nil {
		s, err := b.jobFields.submission(now)
		if err != nil {
			return nil, false, err
		}
		return []job.Submission{s}, false, nil
	}
	if b.jobFields.present() {
		return nil, true, invalidf("invalid_request", `the body has both a job's fields and "jobs"; send one job or a batch`)
	}
	if len(b.Jobs) == 0 {
		return nil, true, invalidf("invalid_request", `"jobs" is empty; a batch needs at least one job`)
	}
	subs = make([]job.Submission, len(b.Jobs))
	for i := range b.Jobs {
		if subs[i], err = b.Jobs[i].submission(now); err != nil {
			return nil, true, fmt.Errorf("jobs[%d]: %w", i, err)
		}
	}
	return subs, true, nil
}

// submission converts one job's fields. Every field that is given is held
// to its rule in package job, the one the embedded queue applies to a
// field that is set: so an explicit 0, "0s" or "" is refused here rather
// than silently meaning the default, and the client learns which field is
// wrong.
func (f *jobFields) submission(now time.Time) (job.Submission, error) {
	// A missing payload is a mistake (often the payload sent at the top
	// level); an explicit null is a job that needs no input.
	if len(f.Payload) == 0 {
		return job.Submission{}, invalidf("invalid_request", "payload is required: any JSON value, null included")
	}
	s := job.Submission{Payload: []byte(f.Payload)}
	if f.IdempotencyKey != nil {
		if err := job.ValidateIdempotencyKey(*f.IdempotencyKey); err != nil {
			return job.Submission{}, err
		}
		s.IdempotencyKey = *f.IdempotencyKey
	}
	if f.Delay != nil && f.RunAt != nil {
		return job.Submission{}, invalidf("invalid_request", "set delay or run_at, not both")
	}
	if f.Delay != nil {
		d, err := parseDuration("delay", *f.Delay)
		if err != nil {
			return job.Submission{}, err
		}
		if err := job.ValidateDelay(d); err != nil {
			return job.Submission{}, err
		}
		// The queue turns the delay into a run-at on its own clock.
		s.Delay = d
	}
	if f.RunAt != nil {
		t, err := time.Parse(time.RFC3339, *f.RunAt)
		if err != nil {
			return job.Submission{}, invalidf("invalid_request", "run_at %q is not an RFC 3339 time such as \"2030-01-02T15:04:05Z\"", clip(*f.RunAt))
		}
		// Go's zero time (0001-01-01) would otherwise mean "no run_at".
		if err := job.ValidateRunAt(t, now); err != nil {
			return job.Submission{}, err
		}
		s.RunAt = t
	}
	if f.Priority != nil {
		s.Priority = int(*f.Priority)
	}
	if f.MaxAttempts != nil {
		if err := job.ValidateMaxAttempts(int(*f.MaxAttempts)); err != nil {
			return job.Submission{}, err
		}
		s.MaxAttempts = int(*f.MaxAttempts)
	}
	if f.Timeout != nil {
		d, err := parseDuration("timeout", *f.Timeout)
		if err != nil {
			return job.Submission{}, err
		}
		if err := job.ValidateTimeout(d); err != nil {
			return job.Submission{}, err
		}
		s.Timeout = d
	}
	if err := s.Validate(now); err != nil {
		return job.Submission{}, err
	}
	return s, nil
}

// submit stores one job (202, or 200 for a known idempotency key) or a
// batch in one transaction (202, or 200 when every job was a duplicate).
func (s *Server) submit(q Queue, r *http.Request) (reply, error) {
	queue, err := queueParam(r)
	if err != nil {
		return reply{}, err
	}
	if _, err := query(r); err != nil {
		return reply{}, err
	}
	var body submitBody
	if err := readBody(r, &body, true); err != nil {
		return reply{}, err
	}
	if len(body.Jobs) > s.opts.MaxBatch {
		return reply{}, invalidf("batch_too_large", "the batch has %d jobs, more than this server's limit of %d (--max-batch); split it", len(body.Jobs), s.opts.MaxBatch)
	}
	subs, batch, err := body.submissions(job.SystemClock{}.Now())
	if err != nil {
		return reply{}, err
	}
	// Every token's name is recorded, not only a submit token's: a
	// submit token reads only its own jobs, and for any job the record
	// says who sent it. Idempotency keys are scoped to it as well.
	if tok := tokenOf(r); tok != nil {
		for i := range subs {
			subs[i].Submitter = tok.name
		}
	}
	rs, err := q.SubmitBatch(r.Context(), queue, subs)
	if err != nil {
		return reply{}, err
	}
	if !batch {
		rc := rs[0]
		rep := reply{status: http.StatusAccepted, location: jobPath(rc.Ticket), body: receiptView{
			Ticket: rc.Ticket.String(), Queue: queue, State: rc.State.String(), Duplicate: rc.Duplicate,
		}}
		if rc.Duplicate {
			rep.status = http.StatusOK
		}
		return rep, nil
	}
	// 202 says "something new was stored"; a batch of known keys stored
	// nothing, like a single duplicate.
	status := http.StatusOK
	view := batchView{Tickets: make([]string, len(rs)), Jobs: make([]batchItem, len(rs))}
	for i, rc := range rs {
		view.Tickets[i] = rc.Ticket.String()
		view.Jobs[i] = batchItem{Ticket: rc.Ticket.String(), State: rc.State.String(), Duplicate: rc.Duplicate}
		if !rc.Duplicate {
			status = http.StatusAccepted
		}
	}
	return reply{status: status, body: view}, nil
}

// jobPath is the URL of a job, for Location.
func jobPath(t job.Ticket) string { return "/v1/jobs/" + t.String() }
