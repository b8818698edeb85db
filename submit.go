package ticketq

import (
	"context"
	"fmt"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

// MaxBatch is the largest number of jobs one SubmitBatch takes.
const MaxBatch = 10000

// Submit stores one job in queue and returns its receipt. It returns only
// after the job is fsynced: a nil error means the job is durable and will
// reach a final state across any crash. On error the job was not stored,
// except for errors wrapping ErrUnknownOutcome, after which it may have been:
// retry with the same IdempotencyKey to find out safely.
//
// A queue that does not exist yet is created with the default options.
func (q *Queue) Submit(ctx context.Context, queue string, s Submission) (Receipt, error) {
	rs, err := q.SubmitBatch(ctx, queue, []Submission{s})
	if err != nil {
		return Receipt{}, err
	}
	return rs[0], nil
}

// SubmitBatch stores several jobs in queue in one transaction: all of them
// or none, with one fsync. A payload is any bytes, but one that is JSON
// must be strict JSON (job.ValidatePayload): the whole batch is refused
// with ErrInvalid otherwise. The receipts are in the order of subs. A job
// whose idempotency key is already known (stored, or earlier in the batch)
// is a retry when the rest of its submission is the same as the one that
// stored the key (Submission.Digest: payload, priority, max attempts,
// timeout, delay and run-at, as given): it is not stored again, and its
// receipt is the original's, marked Duplicate. When it is not the same,
// nothing is stored and the error wraps ErrIdempotencyKeyReused. If the
// queue's MaxQueued would be exceeded, nothing is stored and the error
// wraps ErrQueueFull.
func (q *Queue) SubmitBatch(ctx context.Context, queue string, subs []Submission) ([]Receipt, error) {
	if q.isClosed() {
		return nil, ErrClosed
	}
	if err := job.ValidateQueueName(queue); err != nil {
		return nil, err // not observed: the name would be a label
	}
	rs, err := q.submitBatch(ctx, queue, subs)
	q.observeSubmit(queue, len(subs), rs, err)
	return rs, err
}

func (q *Queue) submitBatch(ctx context.Context, queue string, subs []Submission) ([]Receipt, error) {
	if len(subs) == 0 {
		return nil, fmt.Errorf("%w: a batch needs at least one job", ErrInvalid)
	}
	if len(subs) > MaxBatch {
		return nil, fmt.Errorf("%w: a batch holds at most %d jobs, got %d", ErrInvalid, MaxBatch, len(subs))
	}
	q.mu.Lock()
	opts := q.effective(queue)
	q.mu.Unlock()
	now := q.opts.Clock.Now()
	jobs := make([]job.Submission, len(subs))
	var digests []job.Digest // only batches with keys need them
	for i, s := range subs {
		if err := s.Validate(now); err != nil {
			return nil, fmt.Errorf("job %d: %w", i, err)
		}
		if err := job.ValidatePayload(s.Payload); err != nil {
			return nil, fmt.Errorf("job %d: %w", i, err)
		}
		// The request as given, before the defaults and the clock resolve
		// it: a retry must match it, however late it comes.
		if s.IdempotencyKey != "" {
			if digests == nil {
				digests = make([]job.Digest, len(subs))
			}
			digests[i] = s.Digest()
		}
		if s.Delay > 0 {
			s.RunAt, s.Delay = now.Add(s.Delay), 0
		}
		if s.MaxAttempts == 0 {
			s.MaxAttempts = opts.MaxAttempts
		}
		if s.Timeout == 0 {
			s.Timeout = opts.Timeout
		}
		jobs[i] = s
	}
	rs, err := q.b.Append(ctx, backend.AppendRequest{Queue: queue, Jobs: jobs, Digests: digests, MaxQueued: opts.MaxQueued})
	q.noteFailure(err)
	return rs, err
}

func (q *Queue) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}
