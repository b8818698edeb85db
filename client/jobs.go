package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/ticketq/ticketq/internal/strictjson"
	"github.com/ticketq/ticketq/job"
)

// Submit stores one job in queue (created by its first submit) and returns
// its receipt once the job is on the server's disk. A known idempotency
// key answers the original ticket with Duplicate set when the submission
// is the same as the one that stored it (payload bytes and options); any
// other submission with the key is refused with an error matching
// job.ErrIdempotencyKeyReused (409), and never retried.
//
// Retries: a submit with an IdempotencyKey is repeated on network errors,
// 429 and 503, because the key makes a repeat answer the first ticket. A
// submit without one is repeated only when the server provably stored
// nothing (the connection could not be made; 503 not_ready or
// shutting_down; 429 queue_full): after a lost answer or 503
// outcome_unknown it returns the error, since a repeat could store the job
// twice.
func (c *Client) Submit(ctx context.Context, queue string, s Submission) (Receipt, error) {
	path, err := queuePath(queue, "/jobs")
	if err != nil {
		return Receipt{}, fmt.Errorf("submit to %q: %w", queue, err)
	}
	if err := checkPayload(s.Payload); err != nil {
		return Receipt{}, fmt.Errorf("submit to %q: %w", queue, err)
	}
	var rc Receipt
	_, err = c.do(ctx, request{method: http.MethodPost, path: path, body: s.body(), out: &rc, policy: submitPolicy(s)})
	if err != nil {
		return Receipt{}, fmt.Errorf("submit to %q: %w", queue, err)
	}
	return rc, nil
}

// SubmitBatch stores jobs in queue in one transaction, all or none, and
// returns one receipt per job in order. It is retried like Submit: on every
// retryable failure only when every job has an IdempotencyKey.
func (c *Client) SubmitBatch(ctx context.Context, queue string, subs []Submission) ([]Receipt, error) {
	path, err := queuePath(queue, "/jobs")
	if err != nil {
		return nil, fmt.Errorf("submit batch to %q: %w", queue, err)
	}
	if len(subs) == 0 {
		return nil, fmt.Errorf("submit batch to %q: %w: the batch is empty", queue, job.ErrInvalid)
	}
	body := struct {
		Jobs []submissionBody `json:"jobs"`
	}{Jobs: make([]submissionBody, len(subs))}
	for i, s := range subs {
		if err := checkPayload(s.Payload); err != nil {
			return nil, fmt.Errorf("submit batch to %q: jobs[%d]: %w", queue, i, err)
		}
		body.Jobs[i] = s.body()
	}
	var out struct {
		Jobs []Receipt `json:"jobs"`
	}
	_, err = c.do(ctx, request{method: http.MethodPost, path: path, body: body, out: &out, policy: submitPolicy(subs...)})
	if err != nil {
		return nil, fmt.Errorf("submit batch to %q: %w", queue, err)
	}
	for i := range out.Jobs {
		out.Jobs[i].Queue = queue
	}
	return out.Jobs, nil
}

// submitPolicy allows every retry only when every job carries a key.
func submitPolicy(subs ...Submission) retryPolicy {
	for _, s := range subs {
		if s.IdempotencyKey == "" {
			return retryUnapplied
		}
	}
	return retrySafe
}

// checkPayload refuses a payload the server would refuse before it is
// sent: one that is not JSON, or not strict JSON.
func checkPayload(p json.RawMessage) error {
	return checkJSON("payload", p)
}

// checkJSON refuses a value (field names it) that is not strict JSON, as
// the server would: not JSON, not UTF-8, a key twice in an object, a lone
// surrogate escape (internal/strictjson). nil is no value.
func checkJSON(field string, v json.RawMessage) error {
	if v == nil {
		return nil
	}
	err := strictjson.Check(v)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, strictjson.ErrNotJSON):
		return fmt.Errorf("%w: %s is not valid JSON", job.ErrInvalid, field)
	}
	return fmt.Errorf("%w: %s: %v", job.ErrInvalid, field, err)
}

// Status returns the job as it is now. It is retried on network errors,
// 429 and 503.
func (c *Client) Status(ctx context.Context, t job.Ticket) (Job, error) {
	j, err := c.getJob(ctx, t, 0)
	if err != nil {
		return Job{}, fmt.Errorf("status of %s: %w", t, err)
	}
	return j, nil
}

// getJob reads a job, long-polling for up to wait when wait > 0.
func (c *Client) getJob(ctx context.Context, t job.Ticket, wait time.Duration) (Job, error) {
	path, err := jobPath(t, "")
	if err != nil {
		return Job{}, err
	}
	if wait > 0 {
		path += "?wait=" + url.QueryEscape(wait.String())
	}
	var j Job
	if _, err := c.do(ctx, request{method: http.MethodGet, path: path, out: &j, policy: retrySafe}); err != nil {
		return Job{}, err
	}
	return j, nil
}

// Wait limits of the server.
const (
	// DefaultWaitPoll is the long-poll of Wait when it is given none.
	DefaultWaitPoll = 30 * time.Second
	// MaxWaitPoll is the longest long-poll the server takes by default
	// (its --max-wait); Wait never asks for more.
	MaxWaitPoll = job.DefaultMaxWait
)

// Wait returns the job once it is final (succeeded, dead or canceled). It
// long-polls the server with GET ?wait=poll (DefaultWaitPoll when poll is
// zero, at most MaxWaitPoll; a server started with a shorter --max-wait
// needs a shorter poll) and polls again while the job is not final, until
// ctx ends. Then it returns the job as last seen with ctx's error. Each
// poll is retried like Status; an error that outlasts the retries is
// returned.
func (c *Client) Wait(ctx context.Context, t job.Ticket, poll time.Duration) (Job, error) {
	if poll <= 0 {
		poll = DefaultWaitPoll
	}
	poll = min(poll, MaxWaitPoll)
	var last Job
	for {
		w := poll
		if dl, ok := ctx.Deadline(); ok {
			// Ask the server to answer a little before ctx ends, so that
			// the job as it is then reaches the caller.
			left := time.Until(dl)
			w = min(w, left-min(left/10, time.Second))
		}
		if w < time.Millisecond {
			<-ctx.Done()
			return last, fmt.Errorf("wait for %s: %w", t, ctx.Err())
		}
		j, err := c.getJob(ctx, t, w.Truncate(time.Millisecond))
		if err != nil {
			if ctx.Err() != nil && last.Ticket != 0 {
				return last, fmt.Errorf("wait for %s: %w", t, ctx.Err())
			}
			return last, fmt.Errorf("wait for %s: %w", t, err)
		}
		last = j
		if j.State.Final() {
			return j, nil
		}
		if err := ctx.Err(); err != nil {
			return last, fmt.Errorf("wait for %s: %w", t, err)
		}
	}
}

// Cancel cancels a queued or running job and returns it; a final job
// answers an error matching job.ErrAlreadyFinal. It is repeated only when
// the server provably did nothing (see Submit).
func (c *Client) Cancel(ctx context.Context, t job.Ticket) (Job, error) {
	j, err := c.jobCall(ctx, http.MethodDelete, t, "", retryUnapplied)
	if err != nil {
		return Job{}, fmt.Errorf("cancel %s: %w", t, err)
	}
	return j, nil
}

// Retry puts a dead or canceled job back in line with a fresh attempt
// budget; other states answer an error matching job.ErrNotRetryable. It is
// repeated only when the server provably did nothing (see Submit).
func (c *Client) Retry(ctx context.Context, t job.Ticket) (Job, error) {
	j, err := c.jobCall(ctx, http.MethodPost, t, "/retry", retryUnapplied)
	if err != nil {
		return Job{}, fmt.Errorf("retry %s: %w", t, err)
	}
	return j, nil
}

// jobCall sends a bodiless request about a job that answers the job.
func (c *Client) jobCall(ctx context.Context, method string, t job.Ticket, suffix string, p retryPolicy) (Job, error) {
	path, err := jobPath(t, suffix)
	if err != nil {
		return Job{}, err
	}
	var j Job
	if _, err := c.do(ctx, request{method: method, path: path, out: &j, policy: p}); err != nil {
		return Job{}, err
	}
	return j, nil
}

// List returns a page of a queue's jobs in ticket order, without their
// payloads, results and error histories. Pass Page.Next as the next
// ListOptions.After; it is zero on the last page. It is retried on network
// errors, 429 and 503.
func (c *Client) List(ctx context.Context, queue string, opts ListOptions) (Page, error) {
	path, err := queuePath(queue, "/jobs")
	if err != nil {
		return Page{}, fmt.Errorf("list %q: %w", queue, err)
	}
	q := url.Values{}
	if opts.State != 0 {
		q.Set("state", opts.State.String())
	}
	if opts.Limit != 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.After != 0 {
		q.Set("after", opts.After.String())
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out struct {
		Jobs []Job  `json:"jobs"`
		Next string `json:"next"`
	}
	if _, err := c.do(ctx, request{method: http.MethodGet, path: path, out: &out, policy: retrySafe}); err != nil {
		return Page{}, fmt.Errorf("list %q: %w", queue, err)
	}
	p := Page{Jobs: out.Jobs}
	if out.Next != "" {
		if p.Next, err = job.ParseTicket(out.Next); err != nil {
			return Page{}, fmt.Errorf("list %q: next: %w", queue, err)
		}
	}
	return p, nil
}
