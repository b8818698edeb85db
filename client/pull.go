package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/ticketq/ticketq/job"
)

// Lease takes up to opts.Max due jobs of a pull queue (one the server runs
// no executor for), waiting up to opts.Wait for one to arrive; an empty
// list is a normal answer. Each job must be acked, nacked or extended
// within its visibility, or it goes back in line and the attempt counts as
// failed. A queue with an executor answers an error matching
// job.ErrHasExecutor.
//
// Lease is repeated only when the server provably leased nothing (the
// connection could not be made; 503 not_ready or shutting_down): the
// jobs of a lease whose answer was lost stay leased, and unreachable,
// until their visibility passes.
func (c *Client) Lease(ctx context.Context, queue string, opts LeaseOptions) ([]LeasedJob, error) {
	path, err := queuePath(queue, "/leases")
	if err != nil {
		return nil, fmt.Errorf("lease from %q: %w", queue, err)
	}
	body := struct {
		Max        int    `json:"max,omitempty"`
		Visibility string `json:"visibility,omitempty"`
		Wait       string `json:"wait,omitempty"`
	}{Max: opts.Max, Visibility: durationField(opts.Visibility), Wait: durationField(opts.Wait)}
	var out struct {
		Jobs []LeasedJob `json:"jobs"`
	}
	if _, err := c.do(ctx, request{method: http.MethodPost, path: path, body: body, out: &out, policy: retryUnapplied}); err != nil {
		return nil, fmt.Errorf("lease from %q: %w", queue, err)
	}
	return out.Jobs, nil
}

// durationField is an optional duration of a body: "" (omitted) for zero.
func durationField(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// Ack records the success of a leased job with its result (strict JSON, as
// the server requires: a result that is not is refused before it is sent,
// with job.ErrInvalid; nil stores none) and returns the job. A lease that
// no longer holds the job answers an error matching job.ErrLeaseMismatch,
// or job.ErrLeaseCanceled when the job was canceled.
//
// The lease fences it, so Ack is retried on network errors, 429 and 503.
// When an attempt's outcome was unknown (its answer was lost) and a repeat
// then answers 409 lease_mismatch, the first attempt may be what settled
// the job: Ack reads the job, and if it succeeded returns it as a success.
func (c *Client) Ack(ctx context.Context, t job.Ticket, lease string, result json.RawMessage) (Job, error) {
	if err := checkJSON("result", result); err != nil {
		return Job{}, fmt.Errorf("ack %s: %w", t, err)
	}
	body := struct {
		Lease  string          `json:"lease"`
		Result json.RawMessage `json:"result,omitempty"`
	}{Lease: lease, Result: result}
	j, err := c.settle(ctx, t, "/ack", body, func(s job.State) bool { return s == job.Succeeded })
	if err != nil {
		return Job{}, fmt.Errorf("ack %s: %w", t, err)
	}
	return j, nil
}

// Nack records the failure of a leased job and returns the job: queued
// again (after opts.RetryIn, or the queue's backoff) while attempts remain,
// else dead. The fencing and the retries are Ack's; after an unknown
// outcome, a job found queued or dead counts as nacked.
func (c *Client) Nack(ctx context.Context, t job.Ticket, lease string, opts NackOptions) (Job, error) {
	body := struct {
		Lease     string `json:"lease"`
		Error     string `json:"error,omitempty"`
		RetryIn   string `json:"retry_in,omitempty"`
		Permanent bool   `json:"permanent,omitempty"`
	}{Lease: lease, Error: opts.Error, Permanent: opts.Permanent}
	switch {
	case opts.RetryIn < 0:
		body.RetryIn = "0s"
	case opts.RetryIn > 0:
		body.RetryIn = opts.RetryIn.String()
	}
	j, err := c.settle(ctx, t, "/nack", body, func(s job.State) bool { return s == job.Queued || s == job.Dead })
	if err != nil {
		return Job{}, fmt.Errorf("nack %s: %w", t, err)
	}
	return j, nil
}

// Release gives a leased job back without charging an attempt, because the
// worker is stopping: the job is queued again at once, its run counted as
// interrupted. The fencing and the retries are Nack's.
func (c *Client) Release(ctx context.Context, t job.Ticket, lease string) (Job, error) {
	body := struct {
		Lease string `json:"lease"`
	}{Lease: lease}
	j, err := c.settle(ctx, t, "/release", body, func(s job.State) bool { return s == job.Queued })
	if err != nil {
		return Job{}, fmt.Errorf("release %s: %w", t, err)
	}
	return j, nil
}

// settle sends an ack or nack. settled tells whether a job's state is what
// the call would have produced, for the ambiguity rule of Ack.
func (c *Client) settle(ctx context.Context, t job.Ticket, suffix string, body any, settled func(job.State) bool) (Job, error) {
	path, err := jobPath(t, suffix)
	if err != nil {
		return Job{}, err
	}
	var j Job
	a, err := c.do(ctx, request{method: http.MethodPost, path: path, body: body, out: &j, policy: retrySafe})
	if err == nil {
		return j, nil
	}
	// A repeat can only find the lease gone if something settled the job
	// in between, and an earlier attempt of ours is the likely candidate.
	// The job's state tells whether it ended where this call would have
	// put it. (job_canceled is not ambiguous: a cancel came first.)
	if a.uncertain && apiCode(err) == "lease_mismatch" {
		cur, serr := c.getJob(ctx, t, 0)
		if serr == nil && settled(cur.State) {
			return cur, nil
		}
	}
	return Job{}, err
}

// Extend moves the lease's deadline to visibility from now (zero: the
// server's 30s) and returns the job: a worker's heartbeat. The fencing and
// the retries are Ack's.
func (c *Client) Extend(ctx context.Context, t job.Ticket, lease string, visibility time.Duration) (Job, error) {
	path, err := jobPath(t, "/extend")
	if err != nil {
		return Job{}, fmt.Errorf("extend %s: %w", t, err)
	}
	body := struct {
		Lease      string `json:"lease"`
		Visibility string `json:"visibility,omitempty"`
	}{Lease: lease, Visibility: durationField(visibility)}
	var j Job
	if _, err := c.do(ctx, request{method: http.MethodPost, path: path, body: body, out: &j, policy: retrySafe}); err != nil {
		return Job{}, fmt.Errorf("extend %s: %w", t, err)
	}
	return j, nil
}

// Progress records how far a leased job is (0..100) and what it is doing.
// The server coalesces reports, so Status may show one a moment late. The
// fencing and the retries are Ack's.
func (c *Client) Progress(ctx context.Context, t job.Ticket, lease string, percent int, message string) error {
	path, err := jobPath(t, "/progress")
	if err != nil {
		return fmt.Errorf("progress of %s: %w", t, err)
	}
	body := struct {
		Lease    string `json:"lease"`
		Progress int    `json:"progress"`
		Message  string `json:"message,omitempty"`
	}{Lease: lease, Progress: percent, Message: message}
	if _, err := c.do(ctx, request{method: http.MethodPost, path: path, body: body, policy: retrySafe}); err != nil {
		return fmt.Errorf("progress of %s: %w", t, err)
	}
	return nil
}
