package wal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

// Append implements backend.Backend.
func (l *Log) Append(ctx context.Context, req backend.AppendRequest) ([]job.Receipt, error) {
	if err := job.ValidateQueueName(req.Queue); err != nil {
		return nil, err
	}
	if len(req.Jobs) == 0 {
		return nil, fmt.Errorf("%w: a batch needs at least one job", job.ErrInvalid)
	}
	if req.Digests != nil && len(req.Digests) != len(req.Jobs) {
		return nil, fmt.Errorf("%w: %d digests for %d jobs", job.ErrInvalid, len(req.Digests), len(req.Jobs))
	}
	now := l.clock.Now()
	for i := range req.Jobs {
		s := &req.Jobs[i]
		if err := s.Validate(now); err != nil {
			return nil, fmt.Errorf("job %d: %w", i, err)
		}
		if s.MaxAttempts <= 0 {
			return nil, fmt.Errorf("%w: job %d: max_attempts must be resolved before append", job.ErrInvalid, i)
		}
	}
	var receipts []job.Receipt
	err := l.do(ctx, func(w *wtx) error {
		receipts = make([]job.Receipt, len(req.Jobs))
		q, err := w.queue(req.Queue, false)
		if err != nil {
			return err
		}
		// Step: resolve idempotency keys and check capacity before writing
		// anything, so that a refusal leaves the file untouched.
		fresh := 0
		var firstOf map[string]int // only batches with keys need these
		var dupOf []int
		var scoped []byte
		for i := range req.Jobs {
			s := &req.Jobs[i]
			if s.IdempotencyKey == "" {
				fresh++
				continue
			}
			if dupOf == nil {
				firstOf, dupOf = map[string]int{}, make([]int, len(req.Jobs))
				for k := range dupOf {
					dupOf[k] = -1
				}
			}
			scoped = idemKey(scoped[:0], s.Submitter, s.IdempotencyKey)
			if q != nil {
				if v := q.idem.Get(scoped); v != nil {
					orig, _, err := w.load(keyTicket(v))
					if err != nil {
						return fmt.Errorf("idempotency key %q: %w", s.IdempotencyKey, err)
					}
					if !req.Digest(i).Matches(orig.Digest) {
						w.answer(keyReused(req, i, "ticket "+orig.Ticket.String()))
						return nil
					}
					receipts[i] = job.Receipt{Ticket: orig.Ticket, State: orig.State, Duplicate: true}
					continue
				}
			}
			if first, ok := firstOf[string(scoped)]; ok {
				if !req.Digest(i).Matches(req.Digest(first)) {
					w.answer(keyReused(req, i, fmt.Sprintf("job %d of this batch", first)))
					return nil
				}
				dupOf[i] = first
				continue
			}
			firstOf[string(scoped)] = i
			fresh++
		}
		if fresh == 0 {
			return nil
		}
		queued := int64(0)
		if q != nil {
			queued = q.meta.counts[job.Queued]
		}
		if req.MaxQueued > 0 && queued+int64(fresh) > int64(req.MaxQueued) {
			w.answer(fmt.Errorf("%w: %q holds %d queued jobs, the limit is %d", job.ErrQueueFull, req.Queue, queued, req.MaxQueued))
			return nil
		}
		if q == nil {
			if q, err = w.queue(req.Queue, true); err != nil {
				return err
			}
		}
		// Step: store each new job with its index entries.
		for i := range req.Jobs {
			switch {
			case receipts[i].Ticket != 0:
				continue
			case dupOf != nil && dupOf[i] >= 0:
				receipts[i] = receipts[dupOf[i]]
				receipts[i].Duplicate = true
				continue
			}
			s := &req.Jobs[i]
			seq, err := w.jobs.NextSequence()
			if err != nil {
				return fmt.Errorf("next ticket: %w", err)
			}
			j := &job.Job{
				Ticket: job.Ticket(seq), Queue: req.Queue, State: job.Queued,
				Payload: s.Payload, IdempotencyKey: s.IdempotencyKey, Priority: s.Priority,
				MaxAttempts: s.MaxAttempts, Timeout: s.Timeout, Submitter: s.Submitter,
				CreatedAt: w.now, UpdatedAt: w.now, RunAt: later(s.RunAt, w.now),
			}
			if s.IdempotencyKey != "" {
				j.Digest = req.Digest(i)
			}
			if err := w.index(q, j); err != nil {
				return err
			}
			if j.IdempotencyKey != "" {
				// bbolt keeps the key slice until the commit: it comes from
				// the transaction's arena, not from a reused buffer.
				k := idemKey(w.bytes(len(j.Submitter)+1+len(j.IdempotencyKey)), j.Submitter, j.IdempotencyKey)
				if err := q.idem.Put(k, appendTicketKey(w.bytes(8), j.Ticket)); err != nil {
					return fmt.Errorf("put idempotency key: %w", err)
				}
			}
			receipts[i] = job.Receipt{Ticket: j.Ticket, State: job.Queued}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return receipts, nil
}

// keyReused is the refusal of job i of req, whose key names another
// request: what, a stored ticket or an earlier job of the batch.
func keyReused(req backend.AppendRequest, i int, what string) error {
	which := ""
	if len(req.Jobs) > 1 {
		which = fmt.Sprintf(" (job %d)", i)
	}
	return fmt.Errorf("%w: key %q%s names %s, which was submitted with another payload or options; a retry must repeat the request exactly, and other work needs a new key",
		job.ErrIdempotencyKeyReused, req.Jobs[i].IdempotencyKey, which, what)
}

// idemKey appends to dst the key of an entry of a queue's idempotency index
// (queues/<name>/idem). Keys are scoped per submitter, so that one token
// cannot reach another's job, its ticket and state, by reusing or guessing
// its key. An empty submitter keeps the bare key, as files written before
// submitters existed hold it, so those entries and embedded users, who
// submit without one, are unchanged; any other scope is submitter + NUL +
// key. job.Submission.Validate refuses NUL in both, so two scopes never
// produce the same bytes. Every read and write of the index goes through
// here.
func idemKey(dst []byte, submitter, key string) []byte {
	if submitter != "" {
		dst = append(append(dst, submitter...), 0)
	}
	return append(dst, key...)
}

// answer sets the answer of the op currently running in w.
func (w *wtx) answer(err error) { w.current.answer = err }

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Claim implements backend.Backend.
func (l *Log) Claim(ctx context.Context, req backend.ClaimRequest) (backend.ClaimResult, error) {
	if req.Max <= 0 || req.Visibility < 0 || req.MaxRunning < 0 {
		return backend.ClaimResult{}, fmt.Errorf("%w: claim of %d jobs (visibility %s, max running %d)", job.ErrInvalid, req.Max, req.Visibility, req.MaxRunning)
	}
	// Step: peek in a read transaction. An idle pool's poll, or a wake-up
	// when nothing is due, then costs no write transaction and no fsync.
	var peek backend.ClaimResult
	var anyDue bool
	err := l.view(func(tx *bolt.Tx) error {
		q, err := openQueue(tx.Bucket(bucketQueues), req.Queue)
		if err != nil || q == nil || q.meta.paused || room(q, req) == 0 {
			return err
		}
		keys, next, err := dueKeys(q, sortableTime(l.clock.Now()), 1)
		anyDue, peek.NextRunAt = len(keys) > 0, next
		return err
	})
	if err != nil || !anyDue {
		return peek, err
	}
	var res backend.ClaimResult
	err = l.do(ctx, func(w *wtx) error {
		res = backend.ClaimResult{}
		q, err := w.queue(req.Queue, false)
		if err != nil || q == nil || q.meta.paused {
			return err
		}
		n := room(q, req)
		if n == 0 {
			return nil
		}
		keys, next, err := dueKeys(q, sortableTime(w.now), n)
		if err != nil {
			return err
		}
		res.NextRunAt = next
		// Step: move them to running under fresh leases (after the scan:
		// bbolt cursors must not see the bucket change under them).
		for _, k := range keys {
			j, _, err := w.load(keyTicket(k[9:]))
			if err != nil {
				return err
			}
			if j.State != job.Queued {
				return fmt.Errorf("%w: ready index names ticket %s in state %s", ErrCorrupt, j.Ticket, j.State)
			}
			if err := w.unindex(q, j); err != nil {
				return err
			}
			j.State = job.Running
			j.Attempt++
			j.Lease = rand.Text()
			j.StartedAt, j.UpdatedAt = w.now, w.now
			j.LeaseExpiresAt, j.LeaseVisibility = time.Time{}, 0
			if req.Visibility > 0 {
				j.LeaseExpiresAt, j.LeaseVisibility = w.now.Add(req.Visibility), req.Visibility
			}
			if err := w.index(q, j); err != nil {
				return err
			}
			res.Jobs = append(res.Jobs, j)
		}
		return nil
	})
	if err != nil {
		// Results are only safe to read once the committer has answered.
		return backend.ClaimResult{}, err
	}
	return res, nil
}

// room is how many jobs a claim may take: Max, less whatever MaxRunning
// leaves no room for.
func room(q *queueTx, req backend.ClaimRequest) int {
	if req.MaxRunning <= 0 {
		return req.Max
	}
	return int(max(min(int64(req.Max), int64(req.MaxRunning)-q.meta.counts[job.Running]), 0))
}

// dueKeys returns up to max ready keys that are due at now, in claim order,
// and the earliest run-at among the jobs it saw that are not due. Within one
// priority the ready index is sorted by run-at, so the first job that is not
// due ends that priority and the scan seeks to the next one: the cost is
// O(returned + priorities), however many delayed jobs wait.
func dueKeys(q *queueTx, now uint64, max int) (keys [][]byte, next time.Time, err error) {
	c := q.ready.Cursor()
	for k, _ := c.First(); k != nil && len(keys) < max; {
		if len(k) != 17 {
			return nil, next, fmt.Errorf("%w: ready key of %d bytes in queue %q", ErrCorrupt, len(k), q.name)
		}
		if at := binary.BigEndian.Uint64(k[1:9]); at > now {
			if t := fromSortableTime(at); next.IsZero() || t.Before(next) {
				next = t
			}
			if k[0] == 0xff {
				break
			}
			k, _ = c.Seek([]byte{k[0] + 1})
			continue
		}
		keys = append(keys, bytes.Clone(k))
		k, _ = c.Next()
	}
	return keys, next, nil
}

// Settle implements backend.Backend.
func (l *Log) Settle(ctx context.Context, s []backend.Settlement) ([]error, error) {
	for i := range s {
		if s[i].Outcome < backend.Succeeded || s[i].Outcome > backend.Dead {
			return nil, fmt.Errorf("%w: settlement %d has unknown outcome %d", job.ErrInvalid, i, s[i].Outcome)
		}
		if p := s[i].Progress; p != nil && (p.Percent < 0 || p.Percent > 100 || len(p.Message) > job.MaxProgressMessageLen) {
			return nil, fmt.Errorf("%w: settlement %d carries progress out of range", job.ErrInvalid, i)
		}
	}
	return l.eachHeld(ctx, len(s), func(i int) (job.Ticket, string) { return s[i].Ticket, s[i].Lease },
		func(i int, w *wtx, j *job.Job) error {
			st := s[i]
			j.UpdatedAt, j.Lease, j.LeaseExpiresAt, j.LeaseVisibility = w.now, "", time.Time{}, 0
			if p := st.Progress; p != nil {
				j.Progress, j.ProgressMessage, j.ProgressAt = p.Percent, p.Message, p.At
			}
			switch st.Outcome {
			case backend.Succeeded:
				j.State, j.FinishedAt, j.Result = job.Succeeded, w.now, st.Result
			case backend.Retry:
				recordError(j, w.now, st.Error)
				j.State, j.RunAt = job.Queued, later(st.RetryAt, w.now)
			case backend.Dead:
				recordError(j, w.now, st.Error)
				j.State, j.FinishedAt = job.Dead, w.now
			}
			return nil
		})
}

// Requeue implements backend.Backend.
func (l *Log) Requeue(ctx context.Context, r []backend.Requeue) ([]error, error) {
	return l.eachHeld(ctx, len(r), func(i int) (job.Ticket, string) { return r[i].Ticket, r[i].Lease },
		func(i int, w *wtx, j *job.Job) error {
			j.Interrupted++
			recordError(j, w.now, "interrupted: "+r[i].Reason)
			j.State, j.RunAt, j.UpdatedAt = job.Queued, w.now, w.now
			j.Lease, j.LeaseExpiresAt, j.LeaseVisibility = "", time.Time{}, 0
			return nil
		})
}

// eachHeld changes, in one transaction, each of n jobs that is still
// running under the lease ref names. change may refuse a job by returning
// an answer error (before changing it); answers — not found, a lease that no
// longer holds the job — go to the job's slot in the result and leave it
// unchanged, while the others are re-indexed in their new state.
func (l *Log) eachHeld(ctx context.Context, n int, ref func(i int) (job.Ticket, string), change func(i int, w *wtx, j *job.Job) error) ([]error, error) {
	var errs []error
	err := l.do(ctx, func(w *wtx) error {
		errs = make([]error, n)
		for i := range n {
			t, lease := ref(i)
			j, q, err := w.loadHeld(t, lease)
			var old job.Job
			if err == nil {
				old = *j
				err = change(i, w, j)
			}
			if err != nil {
				if isAnswer(err) {
					errs[i] = err
					continue
				}
				return err
			}
			if err := w.unindex(q, &old); err != nil {
				return err
			}
			if err := w.index(q, j); err != nil {
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

// loadHeld loads a job that must be running under lease. Its answer errors
// (not found, lease mismatch) are per-item answers, not batch failures.
func (w *wtx) loadHeld(t job.Ticket, lease string) (*job.Job, *queueTx, error) {
	j, q, err := w.load(t)
	if err != nil {
		return nil, nil, err
	}
	if j.State == job.Canceled {
		return nil, nil, fmt.Errorf("%w: ticket %s", job.ErrLeaseCanceled, t)
	}
	if j.State != job.Running || j.Lease != lease || lease == "" {
		return nil, nil, fmt.Errorf("%w: ticket %s is %s (attempt %d)", job.ErrLeaseMismatch, t, j.State, j.Attempt)
	}
	return j, q, nil
}

// isAnswer reports whether err is an expected per-item answer rather than a
// failure of the store.
func isAnswer(err error) bool {
	return errors.Is(err, job.ErrNotFound) || errors.Is(err, job.ErrConflict) || errors.Is(err, job.ErrInvalid)
}

// recordError keeps the error of the current attempt, trimming the history
// and the message to their limits.
func recordError(j *job.Job, at time.Time, msg string) {
	if len(msg) > job.MaxErrorLen {
		msg = msg[:job.MaxErrorLen]
	}
	j.LastError = msg
	j.Errors = append(j.Errors, job.AttemptError{Attempt: j.Attempt, At: at, Error: msg})
	if n := len(j.Errors) - job.MaxErrorHistory; n > 0 {
		j.Errors = append(j.Errors[:0:0], j.Errors[n:]...)
	}
}

// Cancel implements backend.Backend.
func (l *Log) Cancel(ctx context.Context, t job.Ticket) (job.State, *job.Job, error) {
	var prev job.State
	var out *job.Job
	err := l.do(ctx, func(w *wtx) error {
		prev, out = 0, nil
		j, q, err := w.load(t)
		if err != nil {
			return answerOr(w, err)
		}
		if j.State.Final() {
			w.answer(fmt.Errorf("%w: ticket %s is %s", job.ErrAlreadyFinal, t, j.State))
			return nil
		}
		prev = j.State
		if err := w.unindex(q, j); err != nil {
			return err
		}
		j.State, j.FinishedAt, j.UpdatedAt, j.Lease, j.LeaseExpiresAt, j.LeaseVisibility = job.Canceled, w.now, w.now, "", time.Time{}, 0
		if err := w.index(q, j); err != nil {
			return err
		}
		out = j
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return prev, out, nil
}

// Retry implements backend.Backend.
func (l *Log) Retry(ctx context.Context, t job.Ticket) (*job.Job, error) {
	var out *job.Job
	err := l.do(ctx, func(w *wtx) error {
		out = nil
		j, q, err := w.load(t)
		if err != nil {
			return answerOr(w, err)
		}
		if j.State != job.Dead && j.State != job.Canceled {
			w.answer(fmt.Errorf("%w: ticket %s is %s", job.ErrNotRetryable, t, j.State))
			return nil
		}
		if err := w.unindex(q, j); err != nil {
			return err
		}
		j.State, j.Attempt, j.Interrupted = job.Queued, 0, 0
		j.RunAt, j.UpdatedAt, j.FinishedAt = w.now, w.now, time.Time{}
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

// answerOr turns an expected answer error into the op's answer (nothing was
// written) and passes a store failure up to abort the batch.
func answerOr(w *wtx, err error) error {
	if isAnswer(err) {
		w.answer(err)
		return nil
	}
	return err
}

// Purge implements backend.Backend.
func (l *Log) Purge(ctx context.Context, req backend.PurgeRequest) (int, error) {
	if !req.State.Final() || req.Limit <= 0 {
		return 0, fmt.Errorf("%w: purge needs a final state and a positive limit", job.ErrInvalid)
	}
	var n int
	err := l.do(ctx, func(w *wtx) error {
		n = 0
		stop := sortableTime(req.Before)
		var tickets []job.Ticket
		c := w.finished.Cursor()
		for k, _ := c.Seek([]byte{byte(req.State)}); k != nil && k[0] == byte(req.State) && len(tickets) < req.Limit; k, _ = c.Next() {
			if len(k) != 17 {
				return fmt.Errorf("%w: finished key of %d bytes", ErrCorrupt, len(k))
			}
			if binary.BigEndian.Uint64(k[1:9]) >= stop {
				break
			}
			tickets = append(tickets, keyTicket(k[9:]))
		}
		for _, t := range tickets {
			j, q, err := w.load(t)
			if err != nil {
				return err
			}
			if err := w.unindex(q, j); err != nil {
				return err
			}
			if err := w.jobs.Delete(ticketKey(t)); err != nil {
				return fmt.Errorf("delete %s: %w", t, err)
			}
			if j.IdempotencyKey != "" {
				k := idemKey(nil, j.Submitter, j.IdempotencyKey)
				if v := q.idem.Get(k); v != nil && keyTicket(v) == t {
					if err := q.idem.Delete(k); err != nil {
						return fmt.Errorf("delete idempotency key of %s: %w", t, err)
					}
				}
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
